"""Compile filters and rule groups into a Django Q.

Invariant: no user text reaches SQL except as a parameter; fields and operations come from allowlists.
Every error raises InvalidFilter naming the path of the offending condition (`filters.email`,
`rules.conditions.2.conditions.0`).
"""

from functools import reduce
from operator import and_, or_
from typing import Any

from django.db.models import Q
from pydantic import ValidationError

from core.conditions.fields import FieldRegistry, match_all, match_none
from core.conditions.schema import CHILD_TAGS, Condition, Group
from core.conditions.values import as_window_start
from core.errors import InvalidFilter, Issue

MAX_DEPTH = 8


def compile_condition(condition: Condition, registry: FieldRegistry, *, path: str) -> Q:
    try:
        kind = registry.resolve(condition.field)
    except ValueError as error:
        raise InvalidFilter(issues=[Issue(path, f"{condition.field}: {error}")]) from None
    if condition.window is not None:
        if not hasattr(kind, "with_window"):
            raise InvalidFilter(issues=[Issue(path, f"{condition.field}: a window applies to engagement fields only")])
        try:
            kind = kind.with_window(as_window_start(condition.window))
        except ValueError as error:
            raise InvalidFilter(issues=[Issue(f"{path}.window", str(error))]) from None
    if not kind.supports(condition.operation):
        message = f"operation '{condition.operation}' is not supported; use one of {', '.join(kind.supported())}"
        raise InvalidFilter(issues=[Issue(path, message)])
    try:
        q = kind.build(condition.operation, condition.value)
    except ValueError as error:
        raise InvalidFilter(issues=[Issue(path, f"{condition.operation}: {error}")]) from None
    # `Q()` would mean "every row" only until it is negated or OR-ed; spell it out.
    return q or match_all()


def compile_group(group: Group, registry: FieldRegistry, *, path: str = "rules", depth: int = 0) -> Q:
    """A group's Q: all (or any) of its conditions, negated when it says so. An empty "all" matches every row,
    an empty "any" none."""
    if depth > MAX_DEPTH:
        raise InvalidFilter(issues=[Issue(path, f"groups nest at most {MAX_DEPTH} deep")])
    children = []
    for index, child in enumerate(group.conditions):
        child_path = f"{path}.conditions.{index}"
        if isinstance(child, Group):
            children.append(compile_group(child, registry, path=child_path, depth=depth + 1))
        else:
            children.append(compile_condition(child, registry, path=child_path))
    if children:
        q = reduce(and_ if group.match == "all" else or_, children)
    else:
        q = match_all() if group.match == "all" else match_none()
    return ~q if group.negate else q


def parse_group(data: Any, *, path: str = "rules") -> Group:
    _check_depth(data, path)
    try:
        return Group.model_validate(data)
    except ValidationError as error:
        raise InvalidFilter(issues=_pydantic_issues(error, path)) from None


def compile_filters(filters: Any, registry: FieldRegistry, *, path: str = "filters") -> Q:
    """The seeds' filter object, `{"<field>": {"operation": "...", "value": ...}}` (a field may also take a list of
    such conditions, all of which must hold), or a rule group `{"match": ..., "conditions": [...]}`."""
    if filters is None:
        return Q()
    if not isinstance(filters, dict):
        raise InvalidFilter(
            issues=[Issue(path, 'expected an object such as {"email": {"operation": "eq", "value": ...}}')]
        )
    if "conditions" in filters:
        return compile_group(parse_group(filters, path=path), registry, path=path)
    q = Q()
    for name, spec in filters.items():
        specs = spec if isinstance(spec, list) else [spec]
        for index, item in enumerate(specs):
            item_path = f"{path}.{name}" if not isinstance(spec, list) else f"{path}.{name}.{index}"
            if not isinstance(item, dict) or "field" in item:
                raise InvalidFilter(issues=[Issue(item_path, "expected an object with 'operation' and 'value'")])
            try:
                condition = Condition.model_validate({**item, "field": name})
            except ValidationError as error:
                raise InvalidFilter(issues=_pydantic_issues(error, item_path)) from None
            q &= compile_condition(condition, registry, path=item_path)
    return q


def filters_name(filters: Any, field: str) -> bool:
    """Whether a filter object (or rule group) has a condition on `field`, at any depth. Reads the body as sent,
    before validation: a resource whose list has a default for a field (tags: active ones) drops it when asked."""
    if not isinstance(filters, dict):
        return False
    if "conditions" not in filters:
        return field in filters
    pending: list[Any] = [filters]
    while pending:
        node = pending.pop()
        if not isinstance(node, dict):
            continue
        if node.get("field") == field:
            return True
        children = node.get("conditions")
        if isinstance(children, list):
            pending.extend(children)
    return False


def _check_depth(data: Any, path: str) -> None:
    """Refuse deep nesting before validating, so that the error names the first group too deep rather than
    a path thousands of segments long."""
    pending = [(data, path, 0)]
    while pending:
        node, node_path, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise InvalidFilter(issues=[Issue(node_path, f"groups nest at most {MAX_DEPTH} deep")])
        children = node.get("conditions") if isinstance(node, dict) else None
        if isinstance(children, list):
            pending.extend(
                (child, f"{node_path}.conditions.{index}", depth + 1)
                for index, child in enumerate(children)
                if isinstance(child, dict) and "conditions" in child
            )


def _pydantic_issues(error: ValidationError, path: str) -> list[Issue]:
    issues = []
    for detail in error.errors():
        location = ".".join(str(part) for part in detail["loc"] if part not in CHILD_TAGS)
        message = detail["msg"]
        if detail["type"] == "enum":
            message = f"unknown operation; expected one of {detail['ctx']['expected']}"
        issues.append(Issue(f"{path}.{location}" if location else path, message))
    return issues[:20]
