"""Audience rules compiled to SQL for live membership refresh (audiences.membership), kept between calls.

Compiling 50 rule trees to SQL costs far more than evaluating them for one subscriber (Django builds a query per
list, tag and audience condition). So each audience's SQL is kept, keyed by its rules and by everything else its
compilation reads (`_rules_context`: custom-field types, lists and their composition, tags, subscription types,
audience ids), which is read in six small queries per call: any change to those makes a new key.
Rules that depend on the clock (windows, relative dates) bake "now" into their parameters; their SQL is reused
for at most RELATIVE_RULES_MAX_AGE seconds, well inside the hourly scheduled refresh that keeps them current.
"""

import itertools
import json
import time
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db.models import Value

from audiences.failures import log_broken_rules
from audiences.models import Audience, MarketingList
from audiences.rules import ListGraph, is_time_relative, referenced_audience_ids
from core.conditions import Group, compile_group
from core.errors import InvalidFilter
from subscribers.filters import subscriber_registry
from subscribers.models import CustomField, Subscriber, SubscriptionType, Tag

RELATIVE_RULES_MAX_AGE = 60.0


@dataclass(frozen=True)
class CompiledRules:
    audience_pk: int
    rules: str  # the rules it was compiled from, as canonical JSON
    compiles: bool  # False: the rules name a list, tag or audience deleted since (the audience is left as it is)
    sql: str | None  # the ids of matching subscribers; None when the rules match no one or do not compile
    params: tuple
    references: frozenset[str]
    time_relative: bool
    compiled_at: float


# Keyed by (context generation, audience pk), holding the rules they were compiled from: a request that read another
# context than the latest one never serves it, and only the latest compilation of each audience is kept.
_compiled_rules: dict[tuple, CompiledRules] = {}
_compiled_context: tuple[tuple | None, int] = (None, 0)
_context_generations = itertools.count(1)


def _rules_context() -> tuple:
    """What compiling rules reads besides the rules themselves (see `subscriber_registry` and audiences.selectors)."""
    through = [getattr(MarketingList, name).through.objects for name in _LIST_RELATIONS]
    edges = through[0].annotate(kind=Value(0)).values_list("kind", "marketinglist_id", "audience_id")
    edges = edges.union(
        through[1].annotate(kind=Value(1)).values_list("kind", "marketinglist_id", "audience_id"),
        through[2].annotate(kind=Value(2)).values_list("kind", "from_marketinglist_id", "to_marketinglist_id"),
        through[3].annotate(kind=Value(3)).values_list("kind", "from_marketinglist_id", "to_marketinglist_id"),
        all=True,
    )
    return (
        tuple(CustomField.objects.order_by("name").values_list("name", "field_type")),
        tuple(MarketingList.objects.order_by("pk").values_list("pk", "public_id", "mode", "audience_id", "composed")),
        tuple(sorted(edges)),
        tuple(Tag.objects.order_by("pk").values_list("pk", "public_id", "name")),
        tuple(SubscriptionType.objects.order_by("pk").values_list("pk", "public_id")),
    )


_LIST_RELATIONS = ("include_audiences", "exclude_audiences", "include_lists", "exclude_lists")


def live_plan() -> tuple[list[list[CompiledRules]], dict[int, int]]:
    """The compiled rules of every rule audience not marked failed, grouped by dependency level, and the rules
    generation of each audience."""
    global _compiled_context
    rows = Audience.objects.order_by("pk").values_list("pk", "public_id", "rules", "status", "rules_generation")
    rows = list(rows)
    generations = {pk: generation for pk, _, _, _, generation in rows}
    audiences = [(pk, public_id, rules) for pk, public_id, rules, status, _ in rows if status != Audience.Status.FAILED]
    context = (_rules_context(), tuple((pk, public_id) for pk, public_id, *_ in rows))
    current = _compiled_context
    if context != current[0]:
        current = (context, next(_context_generations))
        _compiled_rules.clear()
        _compiled_context = current
    generation = current[1]
    now = time.monotonic()
    registry, graph = None, None
    entries: dict[str, CompiledRules] = {}
    for pk, public_id, rules in audiences:
        if not (rules and rules.get("conditions")):
            continue
        key, canonical = (generation, pk), json.dumps(rules, sort_keys=True)
        entry = _compiled_rules.get(key)
        if (
            entry is None
            or entry.rules != canonical
            or (entry.time_relative and now - entry.compiled_at > RELATIVE_RULES_MAX_AGE)
        ):
            if registry is None:
                registry, graph = subscriber_registry(), ListGraph()
            entry = _compile_rules(pk, public_id, canonical, rules, registry, graph, now)
            _compiled_rules[key] = entry
        if entry.compiles:
            entries[public_id] = entry
    return _levels(entries), generations


def _compile_rules(
    pk: int, public_id: str, canonical: str, rules: dict, registry, graph: ListGraph, now: float
) -> CompiledRules:
    group = Group.model_validate(rules)
    try:
        matching = compile_group(group, registry, path="rules")
    except InvalidFilter as error:
        log_broken_rules(public_id, error)
        return CompiledRules(pk, canonical, False, None, (), frozenset(), False, now)
    try:
        sql, params = Subscriber.objects.filter(matching).order_by().values_list("id").query.sql_with_params()
    except EmptyResultSet:
        sql, params = None, ()
    return CompiledRules(
        audience_pk=pk,
        rules=canonical,
        compiles=True,
        sql=sql,
        params=tuple(params),
        references=frozenset(referenced_audience_ids(group, lists=graph)),
        time_relative=is_time_relative(group),
        compiled_at=now,
    )


def _levels(entries: dict[str, CompiledRules]) -> list[list[CompiledRules]]:
    """Audiences grouped so that each comes after every rule audience it refers to (a cycle, which validation
    refuses, is cut where it closes)."""
    level: dict[str, int] = {}

    def place(public_id: str, trail: frozenset[str]) -> int:
        if public_id not in level:
            below = [
                place(other, trail | {public_id})
                for other in entries[public_id].references
                if other in entries and other not in trail and other != public_id
            ]
            level[public_id] = 1 + max(below, default=-1)
        return level[public_id]

    levels: list[list[CompiledRules]] = []
    for public_id in entries:
        depth = place(public_id, frozenset())
        levels.extend([] for _ in range(depth + 1 - len(levels)))
        levels[depth].append(entries[public_id])
    return levels


def clear_cache() -> None:
    """Forget every compiled rule tree (the next refresh compiles them afresh); for benchmarks."""
    _compiled_rules.clear()
