"""Audience rules: validation (shape, fields, values, no audience that refers back to itself) and compilation into
the Q that materialization and live updates evaluate."""

import json
import re
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import Q

from audiences.errors import InvalidAudience
from audiences.models import Audience, MarketingList
from core.conditions import Condition, Group, Operation, compile_group
from core.conditions.compiler import parse_group
from core.errors import Conflict, InvalidFilter, Issue
from subscribers.filters import subscriber_registry

_RELATIVE_VALUE = re.compile(r"\b(ago|from now|now|today)\b", re.IGNORECASE)


def _conditions(group: Group, path: str = "rules") -> Iterable[tuple[Condition, str]]:
    for index, child in enumerate(group.conditions):
        child_path = f"{path}.conditions.{index}"
        if isinstance(child, Group):
            yield from _conditions(child, child_path)
        else:
            yield child, child_path


class ListGraph:
    """What each list's membership is computed from: the audiences it reads directly (a dynamic list's audience,
    included and excluded audiences) and the lists it includes or excludes. Read in five queries, whatever the number
    of lists, on first use: one graph can serve many rule trees, and trees that name no list never read it."""

    def __init__(self) -> None:
        self._audiences: dict[str, set[str]] | None = None
        self._lists: dict[str, set[str]] = {}

    def _load(self) -> dict[str, set[str]]:
        if self._audiences is not None:
            return self._audiences
        audiences: dict[str, set[str]] = {}
        rows = MarketingList.objects.values_list("public_id", "mode", "audience__public_id")
        for public_id, mode, audience_id in rows:
            audiences[public_id] = {audience_id} if mode == MarketingList.Mode.DYNAMIC else set()
        for relation, source, target, edges in (
            ("include_audiences", "marketinglist", "audience", audiences),
            ("exclude_audiences", "marketinglist", "audience", audiences),
            ("include_lists", "from_marketinglist", "to_marketinglist", self._lists),
            ("exclude_lists", "from_marketinglist", "to_marketinglist", self._lists),
        ):
            through = getattr(MarketingList, relation).through.objects
            for list_id, other_id in through.values_list(f"{source}__public_id", f"{target}__public_id"):
                edges.setdefault(list_id, set()).add(other_id)
        self._audiences = audiences
        return audiences

    def audiences_behind(self, list_ids: Iterable[str] | None) -> set[str]:
        """Audiences that the members of these lists (every list for None) depend on, through nested lists too."""
        audiences = self._load()
        pending = list(audiences if list_ids is None else list_ids)
        seen: set[str] = set()
        found: set[str] = set()
        while pending:
            list_id = pending.pop()
            if list_id in seen:
                continue
            seen.add(list_id)
            found |= audiences.get(list_id, set())
            pending.extend(self._lists.get(list_id, ()))
        return found


def referenced_audience_ids(group: Group, *, lists: ListGraph | None = None) -> set[str]:
    """Public ids of the audiences whose membership a rule tree depends on: those named by `audiences` conditions,
    and those behind the lists named by `lists` conditions (a dynamic list's audience, and the audiences a list
    includes or excludes, followed through the lists it includes or excludes). `lists` empty/nempty reads every list.
    `lists` is the list graph when the caller already has it."""
    ids: set[str] = set()
    list_ids: set[str] = set()
    every_list = False
    for condition, _ in _conditions(group):
        if condition.field == "audiences":
            ids.update(_named_ids(condition.value))
        elif condition.field == "lists":
            if condition.operation in (Operation.EMPTY, Operation.NEMPTY):
                every_list = True
            list_ids.update(_named_ids(condition.value))
    if every_list or list_ids:
        ids |= (lists or ListGraph()).audiences_behind(None if every_list else list_ids)
    return ids


def _named_ids(value: Any) -> list[str]:
    return [item for item in (value if isinstance(value, list) else [value]) if isinstance(item, str)]


def is_time_relative(group: Group) -> bool:
    """Whether membership can change with the clock alone: engagement windows and relative dates."""
    for condition, _ in _conditions(group):
        if condition.window is not None or condition.field.startswith("engagement."):
            return True
        values = condition.value if isinstance(condition.value, list) else [condition.value]
        if any(isinstance(value, str) and _RELATIVE_VALUE.search(value) for value in values):
            return True
    return False


def _check_references(audience: Audience | None, group: Group) -> None:
    """Refuse rules through which an audience would contain itself: `audiences` empty/nempty (being in any audience
    includes being in this one), or a condition naming this audience, directly, through other audiences' rules or
    through lists built on it. The issue names the path of the condition that leads back."""
    graph = ListGraph()
    for condition, path in _conditions(group):
        if condition.field == "audiences" and condition.operation in (Operation.EMPTY, Operation.NEMPTY):
            raise InvalidFilter(
                "Audience rules refer back to the audience itself",
                issues=[Issue(path, "in any audience would include this audience itself; name the audiences instead")],
            )
        if audience is None or condition.field not in ("audiences", "lists"):
            continue
        if _leads_back(audience.public_id, referenced_audience_ids(Group(conditions=[condition]), lists=graph), graph):
            raise InvalidFilter(
                "Audience rules refer back to the audience itself",
                issues=[Issue(path, f"{audience.public_id} would depend on itself through this condition")],
            )


def _leads_back(public_id: str, start: set[str], graph: ListGraph) -> bool:
    seen: set[str] = set()
    pending = list(start)
    while pending:
        current = pending.pop()
        if current == public_id:
            return True
        if current in seen:
            continue
        seen.add(current)
        other = Audience.objects.filter(public_id=current).values_list("rules", flat=True).first()
        if other and other.get("conditions"):
            pending.extend(referenced_audience_ids(Group.model_validate(other), lists=graph))
    return False


def count_conditions(data: Any) -> int:
    """Conditions in a raw rule tree, over every group and nesting level (anything in a group's `conditions` that is
    not itself a group counts as one). Walks the input as sent, before it is validated."""
    total = 0
    pending = [data]
    while pending:
        node = pending.pop()
        children = node.get("conditions") if isinstance(node, dict) else None
        if not isinstance(children, list):
            continue
        for child in children:
            if isinstance(child, dict) and ("conditions" in child or "match" in child):
                pending.append(child)
            else:
                total += 1
    return total


def _check_size(data: Any) -> None:
    """Refuse a rule tree with more conditions than settings.AUDIENCE_MAX_RULE_CONDITIONS: every subscriber change
    evaluates every audience's rules within its request, so one huge tree would slow down or break them all."""
    limit = settings.AUDIENCE_MAX_RULE_CONDITIONS
    total = count_conditions(data)
    if total > limit:
        raise InvalidAudience(
            "Audience rules are too large",
            issues=[
                Issue("rules", f"A rule tree may hold at most {limit} conditions in all groups; this one has {total}")
            ],
        )


def validate_rules(data: Any, *, audience: Audience | None = None) -> tuple[Group, bool]:
    """Parse and compile the rules (raising INVALID_FILTER naming the bad condition's path, or INVALID_AUDIENCE for a
    tree over the size limit) and answer the group and whether it depends on the clock."""
    if not isinstance(data, dict):
        raise InvalidFilter(issues=[Issue("rules", 'expected a group such as {"match": "all", "conditions": [...]}')])
    _check_size(data)
    group = parse_group(data, path="rules")
    if audience is not None and audience.is_default:
        raise InvalidFilter(issues=[Issue("rules", "The default audience contains everyone and takes no rules")])
    compile_group(group, subscriber_registry(), path="rules")
    _check_references(audience, group)
    return group, is_time_relative(group)


def audience_rules_q(audience: Audience) -> Q:
    """The Q of subscribers matching the audience's rules (no rows when it has none)."""
    if not audience.has_rules:
        return Q(pk__in=[])
    return compile_group(Group.model_validate(audience.rules), subscriber_registry(), path="rules")


def audiences_naming(public_id: str) -> list[Audience]:
    """Audiences whose rules name this list, audience, tag or subscription type. Public ids are long random strings,
    so finding one in the rules' JSON text cannot mistake anything else for it."""
    needle = json.dumps(public_id)
    return [a for a in Audience.objects.exclude(rules=None).order_by("pk") if needle in json.dumps(a.rules)]


def refuse_if_named_by_rules(public_id: str, *, field: str = "id") -> None:
    """Deleting what rules name would freeze those audiences: refuse with 409 naming them."""
    naming = audiences_naming(public_id)
    if naming:
        names = ", ".join(f"{a.public_id} ({a.name})" for a in naming[:10])
        raise Conflict(
            "Audience rules refer to it",
            code="INVALID_AUDIENCE",
            issues=[Issue(field, f"Change the rules of these audiences first: {names}")],
        )


def audiences_with_list_conditions() -> list[Audience]:
    """Rule audiences with a `lists` condition: what a change to any list's composition, mode or audience can move."""
    return [
        audience
        for audience in Audience.objects.exclude(rules=None).order_by("pk")
        if audience.has_rules
        and any(condition.field == "lists" for condition, _ in _conditions(Group.model_validate(audience.rules)))
    ]
