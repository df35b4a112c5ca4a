"""Materialized audience membership.

A row of AudienceMembership exists while a subscriber is in an audience by hand (MANUAL bit), by its rules (RULE
bit), or both. Two writers keep the RULE bits equal to evaluating the rules fresh:
- `audience_materialize`, set-based, after a rules change (in the background) and on the schedule for rules that
  depend on the clock;
- `membership_refresh_subscribers`, for the few subscribers a request just changed, in that same request.
"""

import logging
from collections.abc import Iterable

from django.core.exceptions import EmptyResultSet
from django.db import connection, transaction
from django.db.models import BooleanField, Exists, ExpressionWrapper, F, OuterRef, Q
from django.utils import timezone

from audiences.models import Audience, AudienceMembership
from audiences.rules import ListGraph, audience_rules_q, referenced_audience_ids
from core.conditions import Group
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


@transaction.atomic
def _apply_rule_matches(audience: Audience) -> None:
    """Make the RULE bits of this audience equal to its rules, in three set-based statements."""
    matching = Subscriber.objects.filter(audience_rules_q(audience)).order_by().values("pk")
    try:
        match_sql, match_params = matching.query.sql_with_params()
    except EmptyResultSet:  # no rules (any more), or rules that can match no one
        match_sql = None
    if match_sql is not None:
        with connection.cursor() as cursor:
            # Add the RULE bit to every matching subscriber (a new row, or an existing manual one). `WHERE true`
            # lets SQLite tell the upsert's ON CONFLICT from a join condition.
            cursor.execute(
                f"INSERT INTO {_TABLE} (audience_id, subscriber_id, source, created_at) "  # noqa: S608 - no user text
                f"SELECT %s, matches.pk, {RULE}, %s FROM ({match_sql}) AS matches WHERE true "
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
            _log_broken_rules(dependent, error)
    return True


def _log_broken_rules(audience: Audience, error: InvalidFilter) -> None:
    problems = "; ".join(f"{issue.field}: {issue.message}" for issue in error.issues)
    logger.warning("Audience %s is left as it is: its rules no longer compile (%s)", audience.public_id, problems)


def membership_refresh_subscribers(subscriber_pks: Iterable[int]) -> None:
    """Move these subscribers in and out of every rule audience now, as their data stands. One query evaluates all
    the audiences that do not depend on other audiences; each that does is evaluated after those it refers to.

    An audience whose rules no longer compile (a list, tag or audience they name was deleted since) is left as it
    is and logged, rather than failing every subscriber change."""
    pks = list(dict.fromkeys(subscriber_pks))
    if not pks:
        return
    pending: list[tuple[Audience, Q]] = []
    for audience, references in _rule_audiences_with_references():
        try:
            matching = audience_rules_q(audience)
        except InvalidFilter as error:
            _log_broken_rules(audience, error)
            continue
        if references:
            _refresh(pending, pks)
            pending = []
            _refresh([(audience, matching)], pks)
        else:
            pending.append((audience, matching))
    _refresh(pending, pks)


def _refresh(compiled: list[tuple[Audience, Q]], pks: list[int]) -> None:
    if not compiled:
        return
    audiences = [audience for audience, _ in compiled]
    annotations = {
        f"in_{audience.pk}": ExpressionWrapper(matching, output_field=BooleanField()) for audience, matching in compiled
    }
    rows = Subscriber.objects.filter(pk__in=pks).order_by().annotate(**annotations).values("pk", *annotations)
    matches = {(audience.pk, row["pk"]) for row in rows for audience in audiences if row[f"in_{audience.pk}"]}
    current = {
        (m["audience_id"], m["subscriber_id"]): m["source"]
        for m in AudienceMembership.objects.filter(audience__in=audiences, subscriber_id__in=pks).values(
            "audience_id", "subscriber_id", "source"
        )
    }
    joining = [key for key in matches if not current.get(key, 0) & RULE]
    leaving = [key for key, source in current.items() if source & RULE and key not in matches]
    AudienceMembership.objects.bulk_create(
        [
            AudienceMembership(audience_id=a, subscriber_id=sub, source=RULE)
            for a, sub in joining
            if (a, sub) not in current
        ],
        ignore_conflicts=True,
    )
    for audience_pk, subscriber_pk in joining:
        if (audience_pk, subscriber_pk) in current:
            AudienceMembership.objects.filter(audience_id=audience_pk, subscriber_id=subscriber_pk).update(
                source=F("source").bitor(RULE)
            )
    for audience_pk, subscriber_pk in leaving:
        rows = AudienceMembership.objects.filter(audience_id=audience_pk, subscriber_id=subscriber_pk)
        if current[(audience_pk, subscriber_pk)] & MANUAL:
            rows.update(source=MANUAL)
        else:
            rows.delete()
