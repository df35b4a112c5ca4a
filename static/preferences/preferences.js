// Progressive enhancement for the preference center. Without this script the forms post and the server redirects
// back to the page with the confirmation; with it, the same POST (same URL, same fields, the CSRF token among them)
// goes through fetch and the page's main content is replaced by the server's answer, without a reload.
(function () {
  "use strict";

  if (!window.fetch || !window.FormData || !window.DOMParser || !document.addEventListener) {
    return;
  }

  function formDataWithSubmitter(form, submitter) {
    var data = new FormData(form);
    if (submitter && submitter.name) {
      data.append(submitter.name, submitter.value);
    }
    return data;
  }

  function setBusy(form, busy) {
    var buttons = form.querySelectorAll("button[type=submit]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].disabled = busy;
    }
    form.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function focusConfirmation(main) {
    var target = main.querySelector("[data-focus-on-load]") || main;
    target.focus();
    if (target.scrollIntoView) {
      target.scrollIntoView({ block: "center" });
    }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-enhance")) {
      return;
    }
    event.preventDefault();
    var submitter = event.submitter || form.querySelector("button[type=submit]");
    var body = formDataWithSubmitter(form, submitter);
    setBusy(form, true);

    // Not form.action: the form's own "action" button shadows that property.
    fetch(form.getAttribute("action") || window.location.pathname, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      redirect: "follow",
      headers: { Accept: "text/html" },
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (html) {
        // Parse from <body> on: the answer's <head> holds its own nonce'd <style>, which this page's CSP would refuse.
        var bodyStart = html.search(/<body[\s>]/i);
        var next = new DOMParser().parseFromString(bodyStart >= 0 ? html.slice(bodyStart) : html, "text/html");
        var nextMain = next.querySelector("main");
        var main = document.querySelector("main");
        if (!nextMain || !main) {
          throw new Error("Unexpected answer");
        }
        main.replaceWith(nextMain);
        var footer = document.querySelector(".page-footer");
        var nextFooter = next.querySelector(".page-footer");
        if (footer && nextFooter) {
          footer.replaceWith(nextFooter);
        }
        focusConfirmation(nextMain);
      })
      .catch(function () {
        // Fall back to the ordinary form post, which works without this script.
        setBusy(form, false);
        form.removeAttribute("data-enhance");
        if (submitter && submitter.name) {
          var hidden = document.createElement("input");
          hidden.type = "hidden";
          hidden.name = submitter.name;
          hidden.value = submitter.value;
          form.appendChild(hidden);
        }
        form.submit();
      });
  });
})();
