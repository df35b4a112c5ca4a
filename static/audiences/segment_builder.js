// The segment builder on the audience page. Without this script the rules are edited as JSON in the textarea; with
// it, the textarea is hidden and kept up to date from a builder of nested groups and conditions, and the live count
// and a sample of members come from the admin's preview endpoint (a CSRF-protected POST) as the rules change.
// The field catalogue (fields, the operations each supports, the input their values need, the options of lists,
// audiences, tags and subscription types) comes from the page, rendered by audiences.builder.field_catalogue.
(function () {
  "use strict";

  var catalogueElement = document.getElementById("segment-builder-catalogue");
  var configElement = document.getElementById("segment-builder-config");
  var textarea = document.querySelector("textarea[name=rules]");
  if (!catalogueElement || !configElement || !textarea || !window.fetch || !window.Map) {
    return;
  }
  var catalogue = JSON.parse(catalogueElement.textContent);
  var config = JSON.parse(configElement.textContent);

  var NO_VALUE = new Set(catalogue.no_value_operations);
  var LIST_OPERATIONS = new Set(["in", "nin"]);
  var TEXT_OPERATIONS = new Set(["like", "nlike"]);
  var ALL_OPERATIONS = ["eq", "ne", "like", "nlike", "gt", "lt", "gte", "lte", "in", "nin", "between", "empty", "nempty"];
  var UNITS = ["day", "week", "month", "year", "hour"];
  var RELATIVE = /^\s*(\d{1,5})\s+(minute|hour|day|week|month|year)s?\s+(ago|from now)\s*$/i;
  var WINDOW = /^\s*(\d{1,5})\s*(minute|hour|day|week|month|year)s?\s*$/i;
  var ISO_DAY = /^\d{4}-\d{2}-\d{2}$/;
  var PREVIEW_DELAY_MS = 400;

  var fields = new Map();
  catalogue.fields.forEach(function (field) {
    fields.set(field.name, field);
  });
  var extraFields = []; // fields found in existing rules that the catalogue does not list

  // ---- small DOM helpers ----

  function h(tag, attributes, children) {
    var element = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (value === null || value === undefined || value === false) {
        return;
      }
      if (name === "className") {
        element.className = value;
      } else if (name === "text") {
        element.textContent = value;
      } else if (name.slice(0, 2) === "on") {
        element.addEventListener(name.slice(2), value);
      } else {
        element.setAttribute(name, value === true ? "" : value);
      }
    });
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        element.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return element;
  }

  function option(value, label, selected) {
    return h("option", { value: value, selected: selected }, [label]);
  }

  function button(label, className, onClick, title) {
    return h("button", { type: "button", className: "sb-button " + className, onclick: onClick, title: title }, [
      label,
    ]);
  }

  function plural(count, unit) {
    return count + " " + unit + (count === 1 ? "" : "s");
  }

  function formatNumber(value) {
    return Number(value).toLocaleString();
  }

  // ---- the model: groups and conditions as in the rules JSON ----

  function isGroup(data) {
    return !!data && typeof data === "object" && !Array.isArray(data) && ("conditions" in data || "match" in data);
  }

  function groupNode(data) {
    data = data || {};
    return {
      type: "group",
      match: data.match === "any" ? "any" : "all",
      negate: data.negate === true,
      conditions: (Array.isArray(data.conditions) ? data.conditions : []).map(function (child) {
        return isGroup(child) ? groupNode(child) : conditionNode(child);
      }),
    };
  }

  function conditionNode(data) {
    data = data && typeof data === "object" ? data : {};
    return {
      type: "condition",
      field: typeof data.field === "string" ? data.field : "",
      operation: typeof data.operation === "string" ? data.operation : "",
      value: data.value === undefined ? null : data.value,
      window: typeof data.window === "string" ? data.window : null,
    };
  }

  function fieldFor(name) {
    if (!name) {
      return null;
    }
    if (fields.has(name)) {
      return fields.get(name);
    }
    var fallback = catalogue.custom_fallback;
    var entry;
    if (fallback && name.indexOf(fallback.prefix) === 0) {
      entry = {
        name: name,
        label: name.slice(fallback.prefix.length) + " (no definition)",
        group: fallback.group,
        input: fallback.input,
        window: false,
        operations: fallback.operations,
      };
    } else {
      entry = {
        name: name,
        label: name + " (unknown field)",
        group: "Other",
        input: "text",
        window: false,
        operations: ALL_OPERATIONS.map(function (op) {
          return { value: op, label: op };
        }),
      };
    }
    fields.set(name, entry);
    extraFields.push(entry);
    return entry;
  }

  function isCustom(field) {
    var fallback = catalogue.custom_fallback;
    return !!fallback && field.name.indexOf(fallback.prefix) === 0;
  }

  function serializeCondition(node) {
    var data = { field: node.field, operation: node.operation };
    if (!NO_VALUE.has(node.operation)) {
      data.value = node.value;
    }
    if (node.window) {
      data.window = node.window;
    }
    return data;
  }

  // The rules as JSON, recording each node's path ("rules.conditions.1") so that issues can be shown where they are.
  function serializeGroup(node, path) {
    node.path = path;
    return {
      match: node.match,
      negate: node.negate,
      conditions: node.conditions.map(function (child, index) {
        var childPath = path + ".conditions." + index;
        if (child.type === "group") {
          return serializeGroup(child, childPath);
        }
        child.path = childPath;
        return serializeCondition(child);
      }),
    };
  }

  function serialize() {
    var data = serializeGroup(root, "rules");
    return data.conditions.length === 0 && !data.negate ? null : data;
  }

  function isBlank(value) {
    return value === null || value === undefined || value === "" || (Array.isArray(value) && value.length === 0);
  }

  function incompleteNodes(node, found) {
    node.conditions.forEach(function (child) {
      if (child.type === "group") {
        incompleteNodes(child, found);
        return;
      }
      var missing = !child.field || !child.operation;
      if (!missing && !NO_VALUE.has(child.operation)) {
        missing =
          isBlank(child.value) ||
          (child.operation === "between" && (!Array.isArray(child.value) || child.value.some(isBlank)));
      }
      if (missing) {
        found.push(child);
      }
    });
    return found;
  }

  // ---- value conversions when the operation changes shape (one value, a list, a pair) ----

  function scalarOf(value) {
    return Array.isArray(value) ? (value.length ? value[0] : null) : value;
  }

  function listOf(value) {
    if (Array.isArray(value)) {
      return value;
    }
    return isBlank(value) ? [] : [value];
  }

  function pairOf(value) {
    if (Array.isArray(value)) {
      return [value.length > 0 ? value[0] : null, value.length > 1 ? value[1] : null];
    }
    return [value, null];
  }

  function valueForOperation(value, operation) {
    if (NO_VALUE.has(operation)) {
      return null;
    }
    if (LIST_OPERATIONS.has(operation)) {
      return listOf(value);
    }
    if (operation === "between") {
      return pairOf(value);
    }
    return scalarOf(value);
  }

  // ---- value editors: each returns an element and reports the value in its JSON form through onChange ----

  function textEditor(value, onChange, placeholder) {
    return h("input", {
      type: "text",
      className: "sb-input",
      value: value === null || value === undefined ? "" : String(value),
      placeholder: placeholder || "value",
      "aria-label": "Value",
      oninput: function (event) {
        onChange(event.target.value);
      },
    });
  }

  function toNumber(text) {
    var trimmed = String(text).trim();
    if (trimmed === "") {
      return null;
    }
    var number = Number(trimmed);
    return isFinite(number) ? number : trimmed; // the server names what is wrong with it
  }

  function numberEditor(value, onChange) {
    return h("input", {
      type: "number",
      step: "any",
      className: "sb-input sb-number",
      value: value === null || value === undefined ? "" : String(value),
      placeholder: "number",
      "aria-label": "Value",
      oninput: function (event) {
        onChange(toNumber(event.target.value));
      },
    });
  }

  function listEditor(values, numeric, onChange) {
    return h("input", {
      type: "text",
      className: "sb-input sb-list",
      value: values.join(", "),
      placeholder: numeric ? "numbers, separated by commas" : "values, separated by commas",
      "aria-label": "Values",
      oninput: function (event) {
        var items = event.target.value
          .split(",")
          .map(function (item) {
            return item.trim();
          })
          .filter(function (item) {
            return item !== "";
          });
        onChange(numeric ? items.map(toNumber) : items);
      },
    });
  }

  function withUnknown(options, values) {
    var known = new Set(
      options.map(function (item) {
        return String(item.value);
      })
    );
    var extra = values
      .filter(function (value) {
        return !isBlank(value) && !known.has(String(value));
      })
      .map(function (value) {
        return { value: value, label: String(value) + " (not found)" };
      });
    return options.concat(extra);
  }

  function selectEditor(options, value, onChange, placeholder) {
    var all = withUnknown(options, [value]);
    var select = h(
      "select",
      {
        className: "sb-select",
        "aria-label": "Value",
        onchange: function (event) {
          var index = event.target.selectedIndex - 1;
          onChange(index >= 0 ? all[index].value : null);
        },
      },
      [option("", placeholder || "Choose…", isBlank(value))].concat(
        all.map(function (item) {
          return option(String(item.value), item.label, !isBlank(value) && String(item.value) === String(value));
        })
      )
    );
    return select;
  }

  function booleanEditor(value, onChange) {
    return h(
      "select",
      {
        className: "sb-select",
        "aria-label": "Value",
        onchange: function (event) {
          onChange(event.target.value === "true");
        },
      },
      [option("true", "true", value !== false), option("false", "false", value === false)]
    );
  }

  function checklistEditor(options, values, onChange) {
    var all = withUnknown(options, values);
    var chosen = new Set(
      values.map(function (value) {
        return String(value);
      })
    );
    var summary = h("span", { className: "sb-checklist-summary" });
    function report() {
      var picked = all.filter(function (item) {
        return chosen.has(String(item.value));
      });
      summary.textContent = picked.length ? picked.length + " chosen" : "none chosen";
      onChange(
        picked.map(function (item) {
          return item.value;
        })
      );
    }
    var items = all.map(function (item) {
      var box = h("input", {
        type: "checkbox",
        checked: chosen.has(String(item.value)),
        onchange: function (event) {
          if (event.target.checked) {
            chosen.add(String(item.value));
          } else {
            chosen.delete(String(item.value));
          }
          report();
        },
      });
      return h("label", { className: "sb-checklist-item", "data-label": item.label.toLowerCase() }, [box, " " + item.label]);
    });
    var list = h("div", { className: "sb-checklist-items" }, items);
    var filter = null;
    if (all.length > 8) {
      filter = h("input", {
        type: "search",
        className: "sb-input sb-checklist-filter",
        placeholder: "Filter…",
        "aria-label": "Filter the choices",
        oninput: function (event) {
          var term = event.target.value.trim().toLowerCase();
          items.forEach(function (item) {
            item.hidden = term !== "" && item.getAttribute("data-label").indexOf(term) === -1;
          });
        },
      });
    }
    if (!all.length) {
      list.appendChild(h("span", { className: "sb-muted", text: "Nothing to choose from yet." }));
    }
    summary.textContent = chosen.size ? chosen.size + " chosen" : "none chosen";
    return h("div", { className: "sb-checklist", role: "group", "aria-label": "Values" }, [filter, list, summary]);
  }

  function unitSelect(unit, onChange, label) {
    return h(
      "select",
      { className: "sb-select sb-unit", "aria-label": label, onchange: onChange },
      UNITS.map(function (name) {
        return option(name, name + "s", name === unit);
      })
    );
  }

  // A date: a calendar day, or relative to now ("30 days ago"), which the worker re-evaluates on schedule.
  function dateEditor(value, onChange, preferDate) {
    var mode;
    var amount = "";
    var unit = "day";
    var text = value === null || value === undefined ? "" : String(value);
    var relative = RELATIVE.exec(text);
    if (relative) {
      mode = relative[3].toLowerCase() === "ago" ? "ago" : "ahead";
      amount = relative[1];
      unit = relative[2].toLowerCase();
    } else if (ISO_DAY.test(text)) {
      mode = "date";
    } else if (text === "") {
      mode = preferDate ? "date" : "ago";
    } else {
      mode = "text"; // "today", a timestamp: kept as written
    }
    var wrapper = h("span", { className: "sb-date" });

    function current() {
      if (mode === "date" || mode === "text") {
        return text === "" ? null : text;
      }
      if (amount === "") {
        return null;
      }
      return plural(Number(amount), unit) + (mode === "ago" ? " ago" : " from now");
    }

    function draw() {
      wrapper.textContent = "";
      var modes = [option("date", "the date", mode === "date"), option("ago", "time ago", mode === "ago")];
      modes.push(option("ahead", "time from now", mode === "ahead"));
      if (mode === "text") {
        modes.push(option("text", "as written", true));
      }
      wrapper.appendChild(
        h(
          "select",
          {
            className: "sb-select sb-date-mode",
            "aria-label": "Kind of date",
            onchange: function (event) {
              mode = event.target.value;
              text = "";
              draw();
              onChange(current());
            },
          },
          modes
        )
      );
      if (mode === "date") {
        wrapper.appendChild(
          h("input", {
            type: "date",
            className: "sb-input",
            value: ISO_DAY.test(text) ? text : "",
            "aria-label": "Date",
            oninput: function (event) {
              text = event.target.value;
              onChange(current());
            },
          })
        );
      } else if (mode === "text") {
        wrapper.appendChild(
          textEditor(
            text,
            function (written) {
              text = written;
              onChange(current());
            },
            "2024-03-15 or 30 days ago"
          )
        );
      } else {
        wrapper.appendChild(
          h("input", {
            type: "number",
            min: "0",
            step: "1",
            className: "sb-input sb-small",
            value: amount,
            "aria-label": "How many",
            oninput: function (event) {
              amount = event.target.value.trim();
              onChange(current());
            },
          })
        );
        wrapper.appendChild(
          unitSelect(
            unit,
            function (event) {
              unit = event.target.value;
              onChange(current());
            },
            "Unit"
          )
        );
        wrapper.appendChild(h("span", { className: "sb-muted", text: mode === "ago" ? "ago" : "from now" }));
      }
    }
    draw();
    return wrapper;
  }

  function pairEditor(value, makeOne, onChange) {
    var pair = pairOf(value);
    function part(index) {
      return makeOne(pair[index], function (item) {
        pair[index] = item;
        onChange(pair.slice());
      });
    }
    return h("span", { className: "sb-pair" }, [part(0), h("span", { className: "sb-muted", text: "and" }), part(1)]);
  }

  function valueEditor(field, node, onChange) {
    var operation = node.operation;
    if (!field || !operation || NO_VALUE.has(operation)) {
      return null;
    }
    var input = field.input;
    var options = field.options || [];
    var preferDate = isCustom(field); // a birthday is a date; "created" or "last open" is mostly "… ago"
    function single(value, report) {
      if ((input === "ids" || input === "choice") && !TEXT_OPERATIONS.has(operation)) {
        return selectEditor(options, value, report);
      }
      if (input === "boolean") {
        return booleanEditor(value, report);
      }
      if (input === "number") {
        return numberEditor(value, report);
      }
      if (input === "date" && !TEXT_OPERATIONS.has(operation)) {
        return dateEditor(value, report, preferDate);
      }
      return textEditor(value, report);
    }
    if (operation === "between") {
      return pairEditor(node.value, single, onChange);
    }
    if (LIST_OPERATIONS.has(operation)) {
      if (input === "ids" || input === "choice") {
        return checklistEditor(options, listOf(node.value), onChange);
      }
      if (input === "boolean") {
        var booleans = [
          { value: true, label: "true" },
          { value: false, label: "false" },
        ];
        return checklistEditor(booleans, listOf(node.value), onChange);
      }
      return listEditor(listOf(node.value), input === "number", onChange);
    }
    return single(node.value, onChange);
  }

  // "in the last 30 days" for engagement aggregates; "ever" (no window) counts every event recorded.
  function windowEditor(node, onChange) {
    var parsed = node.window ? WINDOW.exec(node.window) : null;
    var written = node.window && !parsed ? node.window : null; // a window the controls cannot show: kept as text
    var amount = parsed ? parsed[1] : "30";
    var unit = parsed ? parsed[2].toLowerCase() : "day";
    var within = !!node.window;
    var wrapper = h("span", { className: "sb-window" });

    function current() {
      if (!within) {
        return null;
      }
      if (written !== null) {
        return written || null;
      }
      return amount === "" ? null : plural(Number(amount), unit);
    }

    function draw() {
      wrapper.textContent = "";
      wrapper.appendChild(
        h(
          "select",
          {
            className: "sb-select",
            "aria-label": "Time window",
            onchange: function (event) {
              within = event.target.value === "last";
              written = null;
              draw();
              onChange(current());
            },
          },
          [option("ever", "ever", !within), option("last", "in the last", within)]
        )
      );
      if (!within) {
        return;
      }
      if (written !== null) {
        wrapper.appendChild(
          textEditor(
            written,
            function (text) {
              written = text;
              onChange(current());
            },
            "30 days"
          )
        );
        return;
      }
      wrapper.appendChild(
        h("input", {
          type: "number",
          min: "1",
          step: "1",
          className: "sb-input sb-small",
          value: amount,
          "aria-label": "Window length",
          oninput: function (event) {
            amount = event.target.value.trim();
            onChange(current());
          },
        })
      );
      wrapper.appendChild(
        unitSelect(
          unit,
          function (event) {
            unit = event.target.value;
            onChange(current());
          },
          "Window unit"
        )
      );
    }
    draw();
    return wrapper;
  }

  // ---- rendering ----

  function fieldSelect(node, onChange) {
    var select = h("select", { className: "sb-select sb-field", "aria-label": "Field", onchange: onChange }, [
      option("", "Choose a field…", !node.field),
    ]);
    var groups = new Map();
    catalogue.fields.concat(extraFields).forEach(function (field) {
      if (!groups.has(field.group)) {
        groups.set(field.group, h("optgroup", { label: field.group }));
        select.appendChild(groups.get(field.group));
      }
      groups.get(field.group).appendChild(option(field.name, field.label, field.name === node.field));
    });
    return select;
  }

  function defaultOperation(field) {
    var supported = field.operations.map(function (op) {
      return op.value;
    });
    // Counts and times compare as "at least" / "on or after": equality with a timestamp would hardly ever match.
    var preferred = field.window || field.input === "date" ? "gte" : "eq";
    return supported.indexOf(preferred) !== -1 ? preferred : supported[0];
  }

  function defaultValue(field, operation) {
    if (field.input === "boolean" && !LIST_OPERATIONS.has(operation) && !NO_VALUE.has(operation)) {
      return true;
    }
    if (field.window && field.input === "number" && operation === "gte") {
      return 1;
    }
    if (field.input === "date" && !isCustom(field) && ["gt", "gte", "lt", "lte"].indexOf(operation) !== -1) {
      return "30 days ago";
    }
    return valueForOperation(null, operation);
  }

  function renderCondition(node, parent) {
    var row = h("div", { className: "sb-item sb-condition" });
    node.element = row;

    function draw() {
      row.textContent = "";
      var field = fieldFor(node.field);
      var line = h("div", { className: "sb-line" });
      line.appendChild(
        fieldSelect(node, function (event) {
          var previous = fieldFor(node.field);
          var next = fieldFor(event.target.value);
          node.field = event.target.value;
          if (!next) {
            node.operation = "";
            node.value = null;
            node.window = null;
          } else {
            var keeps = previous && previous.input === next.input && previous.options === next.options;
            var supported = next.operations.some(function (op) {
              return op.value === node.operation;
            });
            if (!keeps || !supported) {
              node.operation = defaultOperation(next);
              node.value = defaultValue(next, node.operation);
            }
            node.window = next.window ? node.window || "30 days" : null;
          }
          draw();
          changed();
        })
      );
      if (field) {
        var known = field.operations.some(function (op) {
          return op.value === node.operation;
        });
        var operations = field.operations.slice();
        if (node.operation && !known) {
          operations.push({ value: node.operation, label: node.operation + " (not supported)" });
        }
        line.appendChild(
          h(
            "select",
            {
              className: "sb-select sb-operation",
              "aria-label": "Operation",
              onchange: function (event) {
                node.operation = event.target.value;
                node.value = valueForOperation(node.value, node.operation);
                if (isBlank(node.value)) {
                  node.value = defaultValue(field, node.operation);
                }
                draw();
                changed();
              },
            },
            operations.map(function (op) {
              return option(op.value, op.label, op.value === node.operation);
            })
          )
        );
        var editor = valueEditor(field, node, function (value) {
          node.value = value;
          changed();
        });
        if (editor) {
          line.appendChild(editor);
        }
        if (field.window) {
          line.appendChild(
            windowEditor(node, function (window) {
              node.window = window;
              changed();
            })
          );
        }
      }
      row.appendChild(
        h("div", { className: "sb-condition-body" }, [
          line,
          button(
            "×",
            "sb-remove",
            function () {
              parent.conditions.splice(parent.conditions.indexOf(node), 1);
              redrawGroup(parent);
              changed();
            },
            "Remove this condition"
          ),
        ])
      );
      if (field && field.description) {
        row.title = field.description;
      }
      row.appendChild(h("ul", { className: "sb-issues" }));
    }
    draw();
    return row;
  }

  function renderGroup(node, parent) {
    var box = h("div", { className: "sb-group" + (parent ? " sb-item sb-nested" : " sb-root") });
    node.element = box;
    node.parent = parent;
    redrawGroup(node);
    return box;
  }

  function redrawGroup(node) {
    var box = node.element;
    box.textContent = "";
    box.classList.toggle("sb-negated", node.negate);
    var head = h("div", { className: "sb-group-head" }, [
      h("span", { className: "sb-muted", text: node.parent ? "Subscribers who" : "Members are subscribers who" }),
      h(
        "select",
        {
          className: "sb-select",
          "aria-label": "Match or exclude",
          onchange: function (event) {
            node.negate = event.target.value === "exclude";
            box.classList.toggle("sb-negated", node.negate);
            changed();
          },
        },
        [option("include", "match", !node.negate), option("exclude", "do not match", node.negate)]
      ),
      h(
        "select",
        {
          className: "sb-select",
          "aria-label": "All or any",
          onchange: function (event) {
            node.match = event.target.value;
            children.setAttribute("data-match", node.match);
            changed();
          },
        },
        [option("all", "all", node.match === "all"), option("any", "any", node.match === "any")]
      ),
      h("span", { className: "sb-muted", text: "of these conditions" }),
    ]);
    if (node.parent) {
      head.appendChild(
        button(
          "Remove group",
          "sb-remove-group",
          function () {
            var siblings = node.parent.conditions;
            siblings.splice(siblings.indexOf(node), 1);
            redrawGroup(node.parent);
            changed();
          },
          "Remove this group and its conditions"
        )
      );
    }
    var children = h("div", { className: "sb-children", "data-match": node.match });
    node.conditions.forEach(function (child, index) {
      if (index > 0) {
        children.appendChild(h("div", { className: "sb-connector", "aria-hidden": "true" })); // "and" / "or"
      }
      children.appendChild(child.type === "group" ? renderGroup(child, node) : renderCondition(child, node));
    });
    if (!node.conditions.length) {
      children.appendChild(
        h("p", {
          className: "sb-empty",
          text: node.parent
            ? "An empty group: add a condition or remove it."
            : "No conditions yet: members are only the subscribers added by hand.",
        })
      );
    }
    var actions = h("div", { className: "sb-group-actions" }, [
      button("+ Add condition", "sb-add", function () {
        var condition = conditionNode({});
        node.conditions.push(condition);
        redrawGroup(node);
        changed();
        var select = condition.element.querySelector(".sb-field");
        if (select) {
          select.focus();
        }
      }),
      button("+ Add group", "sb-add", function () {
        var group = groupNode({ match: node.match === "all" ? "any" : "all", conditions: [{}] });
        node.conditions.push(group);
        redrawGroup(node);
        changed();
      }),
    ]);
    box.appendChild(head);
    box.appendChild(h("ul", { className: "sb-issues" }));
    box.appendChild(children);
    box.appendChild(actions);
  }

  // ---- issues (from the preview or from a refused save) shown on the condition they name ----

  function allNodes(node, found) {
    found.push(node);
    if (node.type === "group") {
      node.conditions.forEach(function (child) {
        allNodes(child, found);
      });
    }
    return found;
  }

  function clearMarks() {
    allNodes(root, []).forEach(function (node) {
      if (!node.element) {
        return;
      }
      node.element.classList.remove("sb-invalid", "sb-incomplete");
      var list = node.element.querySelector(":scope > .sb-issues");
      if (list) {
        list.textContent = "";
      }
    });
  }

  function showIssues(issues) {
    serializeGroup(root, "rules"); // fresh paths
    var nodes = allNodes(root, []);
    var unplaced = [];
    issues.forEach(function (issue) {
      var field = issue.field || "";
      var best = null;
      nodes.forEach(function (node) {
        if (node.path && (field === node.path || field.indexOf(node.path + ".") === 0)) {
          if (!best || node.path.length > best.path.length) {
            best = node;
          }
        }
      });
      if (!best || !best.element) {
        unplaced.push(issue);
        return;
      }
      best.element.classList.add("sb-invalid");
      var detail = field.slice(best.path.length).replace(/^\./, "");
      var message = (detail && detail.indexOf("conditions") !== 0 ? detail + ": " : "") + issue.message;
      best.element.querySelector(":scope > .sb-issues").appendChild(h("li", { text: message }));
    });
    return unplaced;
  }

  // ---- preview ----

  var panel = {
    box: h("aside", { className: "sb-preview", "aria-live": "polite" }),
  };
  panel.title = h("h3", { text: "Live preview" });
  panel.count = h("div", { className: "sb-count" });
  panel.details = h("div", { className: "sb-details" });
  panel.state = h("div", { className: "sb-state" });
  panel.sampleTitle = h("h4", { text: "First members", hidden: true });
  panel.sample = h("ol", { className: "sb-sample" });
  [panel.title, panel.count, panel.details, panel.state, panel.sampleTitle, panel.sample].forEach(function (part) {
    panel.box.appendChild(part);
  });

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  var timer = null;
  var controller = null;
  var sequence = 0;

  function setState(text, kind, issues) {
    panel.state.textContent = text || "";
    panel.state.className = "sb-state" + (kind ? " sb-state-" + kind : "");
    if (issues && issues.length) {
      panel.state.appendChild(
        h(
          "ul",
          {},
          issues.map(function (issue) {
            return h("li", { text: (issue.field ? issue.field + ": " : "") + issue.message });
          })
        )
      );
    }
  }

  function schedulePreview() {
    clearTimeout(timer);
    panel.box.classList.add("sb-busy");
    setState("Updating…");
    timer = setTimeout(runPreview, PREVIEW_DELAY_MS);
  }

  function showResult(data) {
    panel.count.textContent = "";
    panel.count.appendChild(h("strong", { text: formatNumber(data.count) }));
    panel.count.appendChild(document.createTextNode(data.count === 1 ? " member" : " members"));
    var details = formatNumber(data.reachable) + " reachable (active)";
    if (data.manual) {
      details += " · " + formatNumber(data.manual) + " added by hand";
    }
    panel.details.textContent = details;
    panel.sample.textContent = "";
    panel.sampleTitle.hidden = !data.sample.length;
    data.sample.forEach(function (member) {
      panel.sample.appendChild(
        h("li", {}, [
          h("a", { href: member.url, target: "_blank", rel: "noopener", text: member.email }),
          member.name ? h("span", { className: "sb-member-name", text: member.name }) : null,
        ])
      );
    });
  }

  function runPreview() {
    clearMarks();
    var rules = mode === "json" ? jsonRules() : serialize();
    if (rules === undefined) {
      panel.box.classList.remove("sb-busy");
      setState("The JSON does not parse yet.", "error");
      return;
    }
    if (rules === null && !config.audience) {
      panel.box.classList.remove("sb-busy");
      panel.count.textContent = "";
      panel.details.textContent = "";
      panel.sample.textContent = "";
      panel.sampleTitle.hidden = true;
      setState("Add a condition to see who matches.");
      return;
    }
    if (mode === "builder") {
      var incomplete = incompleteNodes(root, []);
      if (incomplete.length) {
        incomplete.forEach(function (node) {
          node.element.classList.add("sb-incomplete");
        });
        panel.box.classList.remove("sb-busy");
        setState("Finish the highlighted condition" + (incomplete.length > 1 ? "s" : "") + " to update the count.");
        return;
      }
    }
    if (controller) {
      controller.abort();
    }
    controller = window.AbortController ? new AbortController() : null;
    var mine = ++sequence;
    fetch(config.previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: JSON.stringify({ rules: rules, audience: config.audience }),
      signal: controller ? controller.signal : undefined,
    })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return null;
          })
          .then(function (data) {
            if (mine !== sequence) {
              return;
            }
            panel.box.classList.remove("sb-busy");
            if (response.ok && data) {
              showResult(data);
              setState("");
              return;
            }
            var message = data && data.message ? data.message : "The preview is unavailable (HTTP " + response.status + ").";
            var unplaced = data && data.issues ? (mode === "builder" ? showIssues(data.issues) : data.issues) : [];
            if (mode === "builder" && data && data.issues && data.issues.length > unplaced.length) {
              message += ": see the highlighted conditions.";
            }
            setState(message, "error", unplaced);
          });
      })
      .catch(function (error) {
        if (error && error.name === "AbortError") {
          return;
        }
        panel.box.classList.remove("sb-busy");
        setState("The preview is unavailable: the server could not be reached.", "error");
      });
  }

  // ---- the page: builder or JSON, kept in the textarea ----

  var mode = "builder";
  var root;
  var builderBox = h("div", { className: "sb-builder" });
  var jsonNote = h("p", { className: "sb-json-note" });
  var toggle = button("Edit as JSON", "sb-toggle", function () {
    if (mode === "builder") {
      syncTextarea();
      setMode("json");
    } else {
      var rules = jsonRules();
      if (rules === undefined || (rules !== null && !isGroup(rules))) {
        jsonNote.textContent = 'These rules are not a group such as {"match": "all", "conditions": [...]}; fix them first.';
        return;
      }
      loadRules(rules);
      setMode("builder");
    }
    schedulePreview();
  });

  function jsonRules() {
    var text = textarea.value.trim();
    if (!text) {
      return null;
    }
    try {
      return JSON.parse(text);
    } catch (error) {
      return undefined;
    }
  }

  function syncTextarea() {
    var rules = serialize();
    textarea.value = rules === null ? "" : JSON.stringify(rules, null, 2);
  }

  function changed() {
    syncTextarea();
    schedulePreview();
  }

  function setMode(next) {
    mode = next;
    document.body.classList.toggle("sb-mode-json", mode === "json");
    builderBox.hidden = mode !== "builder";
    textarea.hidden = mode === "builder";
    toggle.textContent = mode === "builder" ? "Edit as JSON" : "Back to the builder";
    if (mode === "builder") {
      jsonNote.textContent = "";
    }
  }

  function loadRules(rules) {
    root = groupNode(rules || { match: "all", conditions: [] });
    builderBox.textContent = "";
    builderBox.appendChild(renderGroup(root, null));
  }

  var layout = h("div", { className: "segment-builder" }, [
    h("div", { className: "sb-main" }, [h("div", { className: "sb-toolbar" }, [toggle, jsonNote]), builderBox]),
    panel.box,
  ]);
  textarea.parentNode.insertBefore(layout, textarea);
  layout.querySelector(".sb-main").appendChild(textarea);
  document.body.classList.add("segment-builder-active");

  var placedIssues = false;
  var initial = jsonRules();
  if (initial === undefined || (initial !== null && !isGroup(initial))) {
    loadRules(null);
    setMode("json");
    jsonNote.textContent = "These rules could not be read into the builder; fix the JSON below.";
  } else {
    loadRules(initial);
    setMode("builder");
    if (config.issues && config.issues.length) {
      var unplaced = showIssues(config.issues);
      placedIssues = unplaced.length < config.issues.length;
      document.body.classList.toggle("sb-issues-placed", !unplaced.length);
    }
  }
  textarea.addEventListener("input", schedulePreview);
  if (placedIssues) {
    setState("Saving was refused: see the highlighted conditions.", "error");
  } else {
    schedulePreview();
  }
})();
