"""Materialized audience membership.

A row of AudienceMembership exists while a subscriber is in an audience by hand (MANUAL bit), by its rules (RULE
bit), or both. Two writers keep the RULE bits equal to evaluating the rules fresh:
- `audience_materialize`, set-based, after a rules change (in the background) and on the schedule for rules that
  depend on the clock;
- `membership_refresh_subscribers`, for the few subscribers a request just changed, in that same request.
"""

import logging
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import EmptyResultSet
from django.db import DatabaseError, connection
from django.db.models import Exists, F, OuterRef
from django.utils import timezone

from audiences.compiled_rules import CompiledRules, live_plan
from audiences.failures import audience_mark_failed, live_refresh_failure, log_broken_rules, materialize_failure
from audiences.models import Audience, AudienceMembership
from audiences.rules import ListGraph, audience_rules_q, referenced_audience_ids
from core.conditions import Group
from core.db import savepoint_with_statement_timeout
from core.errors import InvalidFilter
from subscribers.models import Subscriber

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


def _apply_rule_matches(audience: Audience) -> None:
    """Make the RULE bits of this audience equal to its rules, set-based, in one transaction (or savepoint) whose
    statements are bounded by settings.AUDIENCE_MATERIALIZE_STATEMENT_TIMEOUT_MS on PostgreSQL."""
    matching = Subscriber.objects.filter(audience_rules_q(audience)).order_by().values_list("id")
    try:
        match_sql, match_params = matching.query.sql_with_params()
    except EmptyResultSet:  # no rules (any more), or rules that can match no one
        match_sql, match_params = None, ()
    with savepoint_with_statement_timeout(settings.AUDIENCE_MATERIALIZE_STATEMENT_TIMEOUT_MS):
        _write_rule_matches(audience, match_sql, match_params)


def _write_rule_matches(audience: Audience, match_sql: str | None, match_params: tuple) -> None:
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
    rules generation than the stored one does nothing (a newer run is queued), and so does a run for a `failed`
    audience. Rules that fail to evaluate (a database error or timeout, or rules that no longer compile) mark the
    audience `failed` with the reason rather than failing the job. Answers whether it ran."""
    audience = Audience.objects.filter(pk=audience_pk).first()
    if audience is None or (generation is not None and generation != audience.rules_generation):
        return False
    if audience.status == Audience.Status.FAILED:
        return False
    Audience.objects.filter(pk=audience.pk).update(status=Audience.Status.MATERIALIZING)
    try:
        _apply_rule_matches(audience)
    except (DatabaseError, InvalidFilter) as error:
        audience_mark_failed(
            audience_pk=audience.pk, generation=audience.rules_generation, reason=materialize_failure(error)
        )
        return True
    except Exception:
        Audience.objects.filter(pk=audience.pk, rules_generation=audience.rules_generation).update(
            status=Audience.Status.PENDING
        )
        raise
    Audience.objects.filter(pk=audience.pk, rules_generation=audience.rules_generation).update(
        status=Audience.Status.READY, materialized_at=timezone.now(), failure_reason=""
    )
    for dependent in _dependents_in_order(audience):
        if dependent.status == Audience.Status.FAILED:
            continue
        try:
            _apply_rule_matches(dependent)
        except InvalidFilter as error:
            log_broken_rules(dependent.public_id, error)
        except DatabaseError as error:
            audience_mark_failed(
                audience_pk=dependent.pk, generation=dependent.rules_generation, reason=materialize_failure(error)
            )
    return True


def membership_refresh_subscribers(subscriber_pks: Iterable[int]) -> None:
    """Move these subscribers in and out of every rule audience now, as their data stands: one query evaluates every
    audience of a dependency level (level 0 refers to no other rule audience; level n refers to levels below n,
    already written), one reads their current bits, and only the differences are written.

    One audience cannot fail the subscriber change: the query runs in a savepoint, each statement bounded by
    settings.AUDIENCE_LIVE_REFRESH_STATEMENT_TIMEOUT_MS on PostgreSQL; when it fails, the level's audiences are
    evaluated one by one, each in its own savepoint, and those that still fail are marked `failed` (and skipped from
    then on) while the others are refreshed. An audience whose rules no longer compile (a list, tag or audience they
    name was deleted since) is left as it is and logged."""
    pks = list(dict.fromkeys(subscriber_pks))
    if not pks:
        return
    levels, generations = live_plan()
    for level in levels:
        _refresh_level(level, pks, generations)


def _refresh_level(entries: list[CompiledRules], pks: list[int], generations: dict[int, int]) -> None:
    matches, failures = _level_matches([entry for entry in entries if entry.sql is not None], pks)
    for audience_pk, reason in failures.items():
        audience_mark_failed(audience_pk=audience_pk, generation=generations[audience_pk], reason=reason)
    entries = [entry for entry in entries if entry.audience_pk not in failures]
    if not entries:
        return
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


def _level_matches(entries: list[CompiledRules], pks: list[int]) -> tuple[set[tuple[int, int]], dict[int, str]]:
    """(audience pk, subscriber pk) of each of these subscribers matching each audience's rules, and the audiences
    whose rules failed to evaluate, with the reason. All audiences in one query first (the common case); only when
    that fails, one by one, to tell the failing ones from the others."""
    if not entries:
        return set(), {}
    try:
        return _matches_of(entries, pks), {}
    except DatabaseError as error:
        if len(entries) == 1:
            return set(), {entries[0].audience_pk: live_refresh_failure(error)}
        logger.warning("Refreshing %d rule audiences together failed (%s); trying them one by one", len(entries), error)
    matches: set[tuple[int, int]] = set()
    failures: dict[int, str] = {}
    for entry in entries:
        try:
            matches |= _matches_of([entry], pks)
        except DatabaseError as error:
            failures[entry.audience_pk] = live_refresh_failure(error)
    return matches, failures


def _matches_of(entries: list[CompiledRules], pks: list[int]) -> set[tuple[int, int]]:
    """One UNION ALL over these audiences, in a savepoint bounded by the live refresh statement timeout."""
    in_pks, pk_params = _in_ids(pks)
    parts, params = [], []
    for entry in entries:
        # entry.sql is Django-compiled from allowlisted fields; every value is in params.
        parts.append(f"SELECT %s, matches.id FROM ({entry.sql}) AS matches WHERE matches.id {in_pks}")  # noqa: S608
        params += [entry.audience_pk, *entry.params, *pk_params]
    with savepoint_with_statement_timeout(settings.AUDIENCE_LIVE_REFRESH_STATEMENT_TIMEOUT_MS):
        with connection.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            return {(audience_pk, subscriber_pk) for audience_pk, subscriber_pk in cursor.fetchall()}


def _in_ids(pks: list[int]) -> tuple[str, list]:
    """`IN` over these ids as one array parameter on PostgreSQL (an import batch of thousands, times every
    audience, would pass its parameter limit), a plain list elsewhere."""
    if connection.vendor == "postgresql":
        return "= ANY(%s)", [pks]
    return f"IN ({', '.join(['%s'] * len(pks))})", list(pks)
