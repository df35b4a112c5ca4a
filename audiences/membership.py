"""Materialized audience membership.

A row of AudienceMembership exists while a subscriber is in an audience by hand (MANUAL bit), by its rules (RULE
bit), or both. Two writers keep the RULE bits equal to evaluating the rules fresh:
- `audience_materialize`, set-based, after a rules change (in the background) and on the schedule for rules that
  depend on the clock;
- `membership_refresh_subscribers`, for the few subscribers a request just changed, in that same request.
"""

import itertools
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Value
from django.utils import timezone

from audiences.models import Audience, AudienceMembership, MarketingList
from audiences.rules import ListGraph, audience_rules_q, is_time_relative, referenced_audience_ids
from core.conditions import Group, compile_group
from core.errors import InvalidFilter
from subscribers.filters import subscriber_registry
from subscribers.models import CustomField, Subscriber, SubscriptionType, Tag

logger = logging.getLogger(__name__)

RULE = AudienceMembership.RULE
MANUAL = AudienceMembership.MANUAL
_TABLE = AudienceMembership._meta.db_table


def _rule_audiences_with_references() -> list[tuple[Audience, set[str]]]:
    """Audiences with rules, each after the audiences its rules refer to, with the public ids of those audiences."""
    audiences = [a for a in Audience.objects.exclude(rules=None).order_by("pk") if a.has_rules]
    graph = ListGraph()
    references = {a.public_id: referenced_audience_ids(Group.model_validate(a.rules), lists=graph) for a in audiences}
    by_public_id = {a.public_id: a for a in audiences}
    ordered: list[tuple[Audience, set[str]]] = []
    placed: set[str] = set()

    def place(audience: Audience, trail: frozenset[str]) -> None:
        if audience.public_id in placed or audience.public_id in trail:
            return
        for public_id in sorted(references[audience.public_id]):
            if public_id in by_public_id:
                place(by_public_id[public_id], trail | {audience.public_id})
        placed.add(audience.public_id)
        ordered.append((audience, references[audience.public_id]))

    for audience in audiences:
        place(audience, frozenset())
    return ordered


def rule_audiences_in_dependency_order() -> list[Audience]:
    """Audiences with rules, each after the audiences its rules refer to (directly or through lists)."""
    return [audience for audience, _ in _rule_audiences_with_references()]


def _dependents_in_order(audience: Audience) -> list[Audience]:
    """Rule audiences whose membership depends on this audience's, directly or through others, in the order in which
    they can be recomputed."""
    affected = {audience.public_id}
    dependents = []
    for other, references in _rule_audiences_with_references():
        if other.pk != audience.pk and references & affected:
            affected.add(other.public_id)
            dependents.append(other)
    return dependents


# After this many changed rows the membership table is analyzed at once: until autovacuum gets to it the planner
# would not know the audience's new rows (10,000 rows estimated as 58 made a members page 125 ms instead of 0.2 ms).
ANALYZE_AFTER_CHANGED_ROWS = 10_000
_MATCHES = "audience_rule_matches"


@transaction.atomic
def _apply_rule_matches(audience: Audience) -> None:
    """Make the RULE bits of this audience equal to its rules, set-based."""
    matching = Subscriber.objects.filter(audience_rules_q(audience)).order_by().values_list("id")
    try:
        match_sql, match_params = matching.query.sql_with_params()
    except EmptyResultSet:  # no rules (any more), or rules that can match no one
        match_sql, match_params = None, ()
    if connection.vendor == "postgresql":
        changed = _apply_rule_matches_postgresql(audience, match_sql, match_params)
        if changed >= ANALYZE_AFTER_CHANGED_ROWS:
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {_TABLE}")
        return
    if match_sql is not None:
        with connection.cursor() as cursor:
            # Add the RULE bit to every matching subscriber (a new row, or an existing manual one). `WHERE true`
            # lets SQLite tell the upsert's ON CONFLICT from a join condition.
            cursor.execute(
                f"INSERT INTO {_TABLE} (audience_id, subscriber_id, source, created_at) "  # noqa: S608 - no user text
                f"SELECT %s, matches.id, {RULE}, %s FROM ({match_sql}) AS matches WHERE true "
                f"ON CONFLICT (audience_id, subscriber_id) DO UPDATE SET source = {_TABLE}.source | {RULE} "
                f"WHERE ({_TABLE}.source & {RULE}) = 0",
                (audience.pk, timezone.now(), *match_params),
            )
    # Take it from those who no longer match, then drop rows that keep neither bit.
    stale = AudienceMembership.objects.filter(audience=audience, source__in=(RULE, RULE | MANUAL))
    if match_sql is not None:
        # An anti-join (NOT EXISTS) rather than NOT IN: PostgreSQL cannot hash a NOT IN over a million rows that
        # does not fit work_mem, and falls back to rescanning the subquery for every membership row.
        still_matching = Subscriber.objects.filter(audience_rules_q(audience)).filter(pk=OuterRef("subscriber_id"))
        stale = stale.exclude(Exists(still_matching))
    stale.filter(source=RULE | MANUAL).update(source=MANUAL)
    stale.filter(source=RULE).delete()


def _apply_rule_matches_postgresql(audience: Audience, match_sql: str | None, match_params: tuple) -> int:
    """The rules are evaluated once, into a temporary table with a primary key (without it the anti-joins below
    become nested loops) and fresh statistics; then only the differences are written. Answers the rows changed."""
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_MATCHES}")
        if match_sql is None:
            cursor.execute(f"CREATE TEMPORARY TABLE {_MATCHES} (id bigint PRIMARY KEY) ON COMMIT DROP")
        else:
            cursor.execute(f"CREATE TEMPORARY TABLE {_MATCHES} ON COMMIT DROP AS {match_sql}", match_params)
            cursor.execute(f"ALTER TABLE {_MATCHES} ADD PRIMARY KEY (id)")
        cursor.execute(f"ANALYZE {_MATCHES}")
        has_rows = AudienceMembership.objects.filter(audience=audience).exists()
        # New members. Into an audience without rows (a first materialization) that is the whole answer, written
        # in one INSERT ... SELECT; ON CONFLICT covers a live update or manual addition racing with it (a manual row
        # committed meanwhile gains its RULE bit here, since the UPDATEs below are skipped then).
        member = f"SELECT 1 FROM {_TABLE} AS m WHERE m.audience_id = %s AND m.subscriber_id = r.id"  # noqa: S608
        new_rows = f"WHERE NOT EXISTS ({member})"
        cursor.execute(
            f"INSERT INTO {_TABLE} (audience_id, subscriber_id, source, created_at) "  # noqa: S608 - no user text
            f"SELECT %s, r.id, {RULE}, %s FROM {_MATCHES} AS r {new_rows if has_rows else ''} "
            f"ON CONFLICT (audience_id, subscriber_id) DO UPDATE SET source = {_TABLE}.source | {RULE} "
            f"WHERE ({_TABLE}.source & {RULE}) = 0",
            (audience.pk, now, audience.pk) if has_rows else (audience.pk, now),
        )
        changed = cursor.rowcount
        if has_rows:
            # Manual members who now match; members by rule who no longer match (keeping a manual bit, or not).
            matches = f"EXISTS (SELECT 1 FROM {_MATCHES} AS r WHERE r.id = {_TABLE}.subscriber_id)"  # noqa: S608
            table, rows, both = _TABLE, "audience_id = %s AND source", RULE | MANUAL
            for sql in (
                f"UPDATE {table} SET source = {both} WHERE {rows} = {MANUAL} AND {matches}",  # noqa: S608
                f"UPDATE {table} SET source = {MANUAL} WHERE {rows} = {both} AND NOT {matches}",  # noqa: S608
                f"DELETE FROM {table} WHERE {rows} = {RULE} AND NOT {matches}",  # noqa: S608
            ):
                cursor.execute(sql, (audience.pk,))
                changed += cursor.rowcount
        cursor.execute(f"DROP TABLE {_MATCHES}")
    return changed


def audience_materialize(*, audience_pk: int, generation: int | None = None) -> bool:
    """Recompute an audience's rule matches, then those of the audiences whose rules depend on it. A run for an older
    rules generation than the stored one does nothing (a newer run is queued). Answers whether it ran."""
    audience = Audience.objects.filter(pk=audience_pk).first()
    if audience is None or (generation is not None and generation != audience.rules_generation):
        return False
    Audience.objects.filter(pk=audience.pk).update(status=Audience.Status.MATERIALIZING)
    try:
        _apply_rule_matches(audience)
    except Exception:
        Audience.objects.filter(pk=audience.pk, rules_generation=audience.rules_generation).update(
            status=Audience.Status.PENDING
        )
        raise
    Audience.objects.filter(pk=audience.pk, rules_generation=audience.rules_generation).update(
        status=Audience.Status.READY, materialized_at=timezone.now()
    )
    for dependent in _dependents_in_order(audience):
        try:
            _apply_rule_matches(dependent)
        except InvalidFilter as error:
            _log_broken_rules(dependent.public_id, error)
    return True


def _log_broken_rules(public_id: str, error: InvalidFilter) -> None:
    problems = "; ".join(f"{issue.field}: {issue.message}" for issue in error.issues)
    logger.warning("Audience %s is left as it is: its rules no longer compile (%s)", public_id, problems)


def membership_refresh_subscribers(subscriber_pks: Iterable[int]) -> None:
    """Move these subscribers in and out of every rule audience now, as their data stands: one query evaluates every
    audience of a dependency level (level 0 refers to no other rule audience; level n refers to levels below n,
    already written), one reads their current bits, and only the differences are written.

    An audience whose rules no longer compile (a list, tag or audience they name was deleted since) is left as it
    is and logged, rather than failing every subscriber change."""
    pks = list(dict.fromkeys(subscriber_pks))
    if not pks:
        return
    for level in _live_plan():
        _refresh_level(level, pks)


# --- compiled rules, kept between calls -------------------------------------------------------------------------------
#
# Compiling 50 rule trees to SQL costs far more than evaluating them for one subscriber (Django builds a query per
# list, tag and audience condition). So each audience's SQL is kept, keyed by its rules and by everything else its
# compilation reads (`_rules_context`: custom-field types, lists and their composition, tags, subscription types,
# audience ids), which is read in six small queries per call: any change to those makes a new key.
# Rules that depend on the clock (windows, relative dates) bake "now" into their parameters; their SQL is reused
# for at most RELATIVE_RULES_MAX_AGE seconds, well inside the hourly scheduled refresh that keeps them current.

RELATIVE_RULES_MAX_AGE = 60.0


@dataclass(frozen=True)
class _CompiledRules:
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
_compiled_rules: dict[tuple, _CompiledRules] = {}
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


def _live_plan() -> list[list[_CompiledRules]]:
    """Every rule audience's compiled rules, grouped by dependency level."""
    global _compiled_context
    audiences = list(Audience.objects.order_by("pk").values_list("pk", "public_id", "rules"))
    context = (_rules_context(), tuple((pk, public_id) for pk, public_id, _ in audiences))
    current = _compiled_context
    if context != current[0]:
        current = (context, next(_context_generations))
        _compiled_rules.clear()
        _compiled_context = current
    generation = current[1]
    now = time.monotonic()
    registry, graph = None, None
    entries: dict[str, _CompiledRules] = {}
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
    return _levels(entries)


def _compile_rules(
    pk: int, public_id: str, canonical: str, rules: dict, registry, graph: ListGraph, now: float
) -> _CompiledRules:
    group = Group.model_validate(rules)
    try:
        matching = compile_group(group, registry, path="rules")
    except InvalidFilter as error:
        _log_broken_rules(public_id, error)
        return _CompiledRules(pk, canonical, False, None, (), frozenset(), False, now)
    try:
        sql, params = Subscriber.objects.filter(matching).order_by().values_list("id").query.sql_with_params()
    except EmptyResultSet:
        sql, params = None, ()
    return _CompiledRules(
        audience_pk=pk,
        rules=canonical,
        compiles=True,
        sql=sql,
        params=tuple(params),
        references=frozenset(referenced_audience_ids(group, lists=graph)),
        time_relative=is_time_relative(group),
        compiled_at=now,
    )


def _levels(entries: dict[str, _CompiledRules]) -> list[list[_CompiledRules]]:
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

    levels: list[list[_CompiledRules]] = []
    for public_id in entries:
        depth = place(public_id, frozenset())
        levels.extend([] for _ in range(depth + 1 - len(levels)))
        levels[depth].append(entries[public_id])
    return levels


def _refresh_level(entries: list[_CompiledRules], pks: list[int]) -> None:
    if not entries:
        return
    in_pks, pk_params = _in_ids(pks)
    parts, params = [], []
    for entry in entries:
        if entry.sql is not None:
            # entry.sql is Django-compiled from allowlisted fields; every value is in params.
            parts.append(f"SELECT %s, matches.id FROM ({entry.sql}) AS matches WHERE matches.id {in_pks}")  # noqa: S608
            params += [entry.audience_pk, *entry.params, *pk_params]
    matches: set[tuple[int, int]] = set()
    if parts:
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            matches = {(audience_pk, subscriber_pk) for audience_pk, subscriber_pk in cursor.fetchall()}
    current = {
        (audience_pk, subscriber_pk): (pk, source)
        for pk, audience_pk, subscriber_pk, source in AudienceMembership.objects.filter(
            audience_id__in=[entry.audience_pk for entry in entries], subscriber_id__in=pks
        ).values_list("pk", "audience_id", "subscriber_id", "source")
    }
    joining = [key for key in matches if key not in current]
    regaining = [current[key][0] for key in matches if key in current and not current[key][1] & RULE]
    leaving = [pk for key, (pk, source) in current.items() if source & RULE and key not in matches]
    if joining:
        AudienceMembership.objects.bulk_create(
            [AudienceMembership(audience_id=a, subscriber_id=sub, source=RULE) for a, sub in joining],
            ignore_conflicts=True,
        )
    if regaining:
        AudienceMembership.objects.filter(pk__in=regaining).update(source=F("source").bitor(RULE))
    if leaving:
        AudienceMembership.objects.filter(pk__in=leaving, source=RULE | MANUAL).update(source=MANUAL)
        AudienceMembership.objects.filter(pk__in=leaving, source=RULE).delete()


def _in_ids(pks: list[int]) -> tuple[str, list]:
    """`IN` over these ids as one array parameter on PostgreSQL (an import batch of thousands, times every
    audience, would pass its parameter limit), a plain list elsewhere."""
    if connection.vendor == "postgresql":
        return "= ANY(%s)", [pks]
    return f"IN ({', '.join(['%s'] * len(pks))})", list(pks)
