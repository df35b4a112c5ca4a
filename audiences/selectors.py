"""Who is in an audience or a list. Every answer about membership (member pages, counts, filters, search counts)
comes from these functions, so they never disagree."""

import datetime as dt
from collections.abc import Iterable
from typing import Any, NamedTuple

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    When,
    prefetch_related_objects,
)
from django.db.models.sql.where import AND
from django.utils import timezone

from audiences.models import (
    DEFAULT_AUDIENCE_ID,
    Audience,
    AudienceDailyCount,
    AudienceMembership,
    ListChange,
    ListDailyCount,
    ListMembership,
    MarketingList,
)
from core.api.fields import format_timestamp
from subscribers.models import Subscriber

COMPOSITION = (
    Prefetch("include_lists", queryset=MarketingList.objects.select_related("audience")),
    "include_audiences",
    Prefetch("exclude_lists", queryset=MarketingList.objects.select_related("audience")),
    "exclude_audiences",
)


def audiences_by_public_ids(public_ids: Iterable[str]) -> tuple[dict[str, Audience], list[str]]:
    """The audiences named, and the ids that name none."""
    ids = list(dict.fromkeys(public_ids))
    found = {a.public_id: a for a in Audience.objects.filter(public_id__in=ids)}
    return found, [i for i in ids if i not in found]


def lists_by_public_ids(public_ids: Iterable[str]) -> tuple[dict[str, MarketingList], list[str]]:
    ids = list(dict.fromkeys(public_ids))
    lists = list(MarketingList.objects.filter(public_id__in=ids).select_related("audience"))
    prefetch_related_objects([lst for lst in lists if lst.composed], *COMPOSITION)
    found = {lst.public_id: lst for lst in lists}
    return found, [i for i in ids if i not in found]


def in_audiences_q(audiences: Iterable[Audience]) -> Q:
    """Subscribers in any of these audiences."""
    audiences = list(audiences)
    if any(a.public_id == DEFAULT_AUDIENCE_ID for a in audiences):
        return Q(pk__isnull=False)  # everyone; unlike Q(), its negation matches no one
    if not audiences:
        return Q(pk__in=[])
    members = AudienceMembership.objects.filter(subscriber=OuterRef("pk"), audience__in=[a.pk for a in audiences])
    return Q(Exists(members))


def in_any_audience_q() -> Q:
    """Subscribers in at least one audience besides "All Subscribers" (which everyone is in)."""
    return Q(Exists(AudienceMembership.objects.filter(subscriber=OuterRef("pk"))))


def in_lists_q(lists: Iterable[MarketingList], *, _trail: frozenset[int] = frozenset()) -> Q:
    """Subscribers in any of these lists. A list's members are its own (a static list's rows, a dynamic list's
    audience), plus those of the lists and audiences it includes, minus those of the ones it excludes."""
    lists = [lst for lst in lists if lst.pk not in _trail]
    plain_static = []
    q = Q(pk__in=[])
    for lst in lists:
        if lst.is_dynamic or lst.composed:
            q |= _list_q(lst, _trail | {lst.pk})
        else:
            plain_static.append(lst.pk)
    if plain_static:
        q |= Q(Exists(ListMembership.objects.filter(subscriber=OuterRef("pk"), marketing_list__in=plain_static)))
    return q


def _composition(marketing_list: MarketingList) -> tuple[list, list, list, list]:
    return (
        list(marketing_list.include_lists.all()),
        list(marketing_list.include_audiences.all()),
        list(marketing_list.exclude_lists.all()),
        list(marketing_list.exclude_audiences.all()),
    )


def _list_q(marketing_list: MarketingList, trail: frozenset[int]) -> Q:
    if marketing_list.is_dynamic:
        q = in_audiences_q([marketing_list.audience])
    else:
        q = Q(Exists(ListMembership.objects.filter(subscriber=OuterRef("pk"), marketing_list=marketing_list.pk)))
    if not marketing_list.composed:
        return q
    _, _, exclude_lists, exclude_audiences = _composition(marketing_list)
    included = _included_q(marketing_list, trail)
    if included is not None:
        q |= included
    if exclude_lists:
        q &= ~in_lists_q(exclude_lists, _trail=trail)
    if exclude_audiences:
        q &= ~in_audiences_q(exclude_audiences)
    return q


def _included_q(marketing_list: MarketingList, trail: frozenset[int]) -> Q | None:
    """Subscribers a composed list takes from the lists and audiences it includes (None: it includes none)."""
    include_lists, include_audiences, _, _ = _composition(marketing_list)
    q = None
    if include_lists:
        q = in_lists_q(include_lists, _trail=trail)
    if include_audiences:
        q = q | in_audiences_q(include_audiences) if q is not None else in_audiences_q(include_audiences)
    return q


def in_any_list_q() -> Q:
    static = Q(Exists(ListMembership.objects.filter(subscriber=OuterRef("pk"))))
    composed = MarketingList.objects.filter(Q(mode=MarketingList.Mode.DYNAMIC) | Q(composed=True))
    composed = list(composed.select_related("audience").prefetch_related(*COMPOSITION))
    return static | in_lists_q(composed) if composed else static


def suppressed_q() -> Q:
    """Subscribers on any suppression list."""
    suppression = MarketingList.objects.filter(is_suppression=True).select_related("audience")
    suppression = list(suppression.prefetch_related(*COMPOSITION))
    return in_lists_q(suppression) if suppression else Q(pk__in=[])


class MembersQuerySet(QuerySet):
    """The subscribers of one audience or plain static list. Until something narrows them (a filter, an exclusion,
    a slice...), their count is the count of the membership rows, an index-only scan, rather than a semi-join with
    every subscriber row: the same answer, since a membership row's subscriber always exists (the foreign key
    cascades)."""

    _membership_rows: QuerySet | None = None
    _membership_clause: Any = None

    def _clone(self) -> "MembersQuerySet":
        clone = super()._clone()
        clone._membership_rows, clone._membership_clause = self._membership_rows, self._membership_clause
        return clone

    def _counts_membership_rows(self) -> bool:
        query = self.query
        where = query.where
        return (
            self._membership_rows is not None
            and len(where.children) == 1
            and where.children[0] is self._membership_clause
            and where.connector == AND
            and not where.negated
            and not (query.is_sliced or query.distinct or query.combinator or query.extra or query.annotations)
        )

    def count(self) -> int:
        if self._result_cache is None and self._counts_membership_rows():
            return self._membership_rows.count()
        return super().count()


def _members(clause: Q, membership_rows: QuerySet) -> QuerySet[Subscriber]:
    members = MembersQuerySet(model=Subscriber).filter(clause)
    members._membership_rows = membership_rows
    members._membership_clause = members.query.where.children[0] if len(members.query.where.children) == 1 else None
    return members


def audience_members(audience: Audience) -> QuerySet[Subscriber]:
    if audience.is_default:
        return Subscriber.objects.filter(in_audiences_q([audience]))
    return _members(in_audiences_q([audience]), AudienceMembership.objects.filter(audience=audience.pk))


def list_members(marketing_list: MarketingList) -> QuerySet[Subscriber]:
    if marketing_list.is_dynamic or marketing_list.composed:
        return Subscriber.objects.filter(in_lists_q([marketing_list]))
    # A plain static list's Q, as in_lists_q builds it.
    members = _list_q(marketing_list, frozenset({marketing_list.pk}))
    return _members(members, ListMembership.objects.filter(marketing_list=marketing_list.pk))


def list_member_counts(lists: Iterable[MarketingList]) -> dict[int, int]:
    """How many members each list has, by pk: `list_members(lst).count()` for each, in one query whatever the number
    of lists (a scalar subquery each), so that a page of lists costs the same as one list."""
    lists = list(lists)
    prefetch_related_objects([lst for lst in lists if lst.composed], *COMPOSITION)
    counts: dict[int, int] = {}
    parts: list[str] = []
    params: list[Any] = []
    counted: list[int] = []
    for lst in lists:
        members = list_members(lst)
        # The rows MembersQuerySet.count() would count: the membership rows while nothing narrows the members.
        if isinstance(members, MembersQuerySet) and members._counts_membership_rows():
            members = members._membership_rows
        try:
            sql, sql_params = members.order_by().values("pk").query.sql_with_params()
        except EmptyResultSet:  # a Q that can match no one
            counts[lst.pk] = 0
            continue
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS members_{len(parts)})")  # noqa: S608 - Django-compiled
        params.extend(sql_params)
        counted.append(lst.pk)
    if parts:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(parts)}", params)  # noqa: S608 - Django-compiled, values in params
            counts.update(zip(counted, cursor.fetchone(), strict=True))
    return counts


def list_changes_of(marketing_list: MarketingList) -> QuerySet[ListChange]:
    """A list's history, newest first."""
    return ListChange.objects.filter(marketing_list=marketing_list).order_by("-created_at", "-pk")


def reachable(members: QuerySet[Subscriber], *, subscription_type_pk: int | None = None) -> QuerySet[Subscriber]:
    """Members who can be sent to: active, on no suppression list, and consenting to the subscription type when one
    is named."""
    members = members.filter(active=True).exclude(suppressed_q())
    if subscription_type_pk is not None:
        members = members.filter(preferences__subscription_type_id=subscription_type_pk, preferences__subscribed=True)
    return members


# How a subscriber is in an audience or a list (`subscriber_memberships`).
DEFAULT, MANUAL, RULE, DYNAMIC, INCLUDED = "default", "manual", "rule", "dynamic", "included"
_AUDIENCE_SOURCES = ((AudienceMembership.MANUAL, MANUAL), (AudienceMembership.RULE, RULE))


def subscriber_memberships(subscriber_pks: Iterable[int]) -> dict[int, dict[str, list[dict[str, Any]]]]:
    """Every audience and list each of these subscribers is in, by subscriber pk: `{"audiences": [{"id", "name",
    "how"}], "lists": [{"id", "name", "how", "suppression"}]}`, each sorted by name. `how` says every way the subscriber
    is in it: an audience by `default` (aud_default: everyone), `manual` and/or `rule` (the materialized row's bits);
    a list by `manual` (a static list's own row), `dynamic` (a dynamic list's audience) and/or `included` (a list or
    audience the list includes). Suppression lists are lists like the others, flagged.

    The answer is the members selectors' (`audience_members`, `list_members`): a plain list's members are its rows or
    its audience's rows, read here for the whole page at once, and a composed list's (includes and excludes) are
    `in_lists_q` itself, evaluated for the page's subscribers in one query. Queries: four, plus five when composed
    lists exist (and four for each composed list another one includes or excludes): as many for one subscriber as
    for a page of a hundred. Items that are the same for every subscriber (aud_default, a plain dynamic list) are one
    object shared between them: read them, do not change them."""
    pks = list(dict.fromkeys(subscriber_pks))
    found: dict[int, dict[str, list[dict[str, Any]]]] = {pk: {"audiences": [], "lists": []} for pk in pks}
    if not pks:
        return found
    default = Audience.objects.filter(public_id=DEFAULT_AUDIENCE_ID).values_list("pk", "name").first()
    # Audiences each subscriber is in (aud_default, which holds everyone, has no rows).
    in_audiences: dict[int, set[int]] = {pk: {default[0]} if default else set() for pk in pks}
    if default is not None:
        everyone = {"id": DEFAULT_AUDIENCE_ID, "name": default[1], "how": [DEFAULT]}
        for pk in pks:
            found[pk]["audiences"].append(everyone)
    for subscriber_pk, audience_pk, public_id, name, source in AudienceMembership.objects.filter(
        subscriber_id__in=pks
    ).values_list("subscriber_id", "audience_id", "audience__public_id", "audience__name", "source"):
        how = [label for bit, label in _AUDIENCE_SOURCES if source & bit]
        found[subscriber_pk]["audiences"].append({"id": public_id, "name": name, "how": how})
        in_audiences[subscriber_pk].add(audience_pk)

    # Static lists' own rows: a plain list's members; a composed list's own part.
    own_rows: dict[int, set[int]] = {pk: set() for pk in pks}
    for subscriber_pk, list_pk, public_id, name, suppression, composed in ListMembership.objects.filter(
        subscriber_id__in=pks
    ).values_list(
        "subscriber_id", "marketing_list_id", "marketing_list__public_id", "marketing_list__name",
        "marketing_list__is_suppression", "marketing_list__composed",
    ):  # fmt: skip
        own_rows[subscriber_pk].add(list_pk)
        if not composed:
            item = {"id": public_id, "name": name, "how": [MANUAL], "suppression": suppression}
            found[subscriber_pk]["lists"].append(item)

    others = MarketingList.objects.filter(Q(mode=MarketingList.Mode.DYNAMIC) | Q(composed=True)).order_by("pk")
    others = list(others.select_related("audience"))
    # Plain dynamic lists: their audience's members.
    dynamic_by_audience: dict[int, list[dict[str, Any]]] = {}
    for lst in others:
        if not lst.composed:
            dynamic_by_audience.setdefault(lst.audience_id, []).append(_list_item(lst, [DYNAMIC]))
    for pk in pks:
        for audience_pk in in_audiences[pk]:
            found[pk]["lists"] += dynamic_by_audience.get(audience_pk, ())
    # Composed lists: what in_lists_q says, and how.
    composed = [lst for lst in others if lst.composed]
    evaluated = _composed_memberships(composed, pks)
    for pk in pks:
        for lst in composed:
            member, included = evaluated[pk].get(lst.pk, (False, False))
            if not member:
                continue
            if lst.is_dynamic:
                how = [DYNAMIC] if lst.audience_id in in_audiences[pk] else []
            else:
                how = [MANUAL] if lst.pk in own_rows[pk] else []
            found[pk]["lists"].append(_list_item(lst, [*how, INCLUDED] if included else how))

    for memberships in found.values():
        for items in memberships.values():
            items.sort(key=lambda item: (item["name"].casefold(), item["id"]))
    return found


def _list_item(marketing_list: MarketingList, how: list[str]) -> dict[str, Any]:
    return {"id": marketing_list.public_id, "name": marketing_list.name, "how": how,
            "suppression": marketing_list.is_suppression}  # fmt: skip


def _flag(q: Q | None) -> Case:
    return Case(When(q, then=Value(True)), default=Value(False), output_field=BooleanField()) if q else Value(False)


def _composed_memberships(lists: list[MarketingList], pks: list[int]) -> dict[int, dict[int, tuple[bool, bool]]]:
    """For each subscriber and composed list: (a member, as `in_lists_q` says; in what the list includes)."""
    answer: dict[int, dict[int, tuple[bool, bool]]] = {pk: {} for pk in pks}
    if not lists:
        return answer
    prefetch_related_objects(lists, *COMPOSITION)
    flags = {}
    for lst in lists:
        flags[f"member_{lst.pk}"] = _flag(in_lists_q([lst]))
        flags[f"included_{lst.pk}"] = _flag(_included_q(lst, frozenset({lst.pk})))
    rows = Subscriber.objects.filter(pk__in=pks).order_by().annotate(**flags).values_list("pk", *flags)
    for pk, *values in rows:
        answer[pk] = {lst.pk: (bool(values[2 * i]), bool(values[2 * i + 1])) for i, lst in enumerate(lists)}
    return answer


def audience_list() -> QuerySet[Audience]:
    return Audience.objects.all()


def marketing_list_list() -> QuerySet[MarketingList]:
    return MarketingList.objects.select_related("audience")


def audiences_with_member_counts() -> QuerySet[Audience]:
    return Audience.objects.annotate(member_count=Count("memberships"))


def audience_status(audience: Audience) -> dict:
    return {
        "id": audience.public_id,
        "status": audience.status,
        "materialized_at": format_timestamp(audience.materialized_at),
        "has_rules": audience.has_rules,
        "failure_reason": audience.failure_reason or None,
    }


class DailyCount(NamedTuple):
    day: dt.date
    members: int
    reachable: int


def daily_counts(target: Audience | MarketingList, *, days: int, today: dt.date | None = None) -> list[DailyCount]:
    """The member and reachable counts the worker recorded for an audience or a list on each of the last `days` days
    (today included), oldest first. A day the worker recorded nothing for (it did not run, or the list did not exist
    yet) has no entry: nothing is made up. The admin's growth chart and the API's growth endpoints both read this."""
    today = today or timezone.localdate()
    if isinstance(target, Audience):
        rows = AudienceDailyCount.objects.filter(audience=target)
    else:
        rows = ListDailyCount.objects.filter(marketing_list=target)
    rows = rows.filter(day__gt=today - dt.timedelta(days=days), day__lte=today).order_by("day")
    return [DailyCount(*row) for row in rows.values_list("day", "member_count", "reachable_count")]
