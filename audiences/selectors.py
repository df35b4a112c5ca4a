"""Who is in an audience or a list. Every answer about membership (member pages, counts, filters, search counts)
comes from these functions, so they never disagree."""

from collections.abc import Iterable
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, prefetch_related_objects
from django.db.models.sql.where import AND

from audiences.models import (
    DEFAULT_AUDIENCE_ID,
    Audience,
    AudienceMembership,
    ListChange,
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
    include_lists, include_audiences, exclude_lists, exclude_audiences = _composition(marketing_list)
    if include_lists:
        q |= in_lists_q(include_lists, _trail=trail)
    if include_audiences:
        q |= in_audiences_q(include_audiences)
    if exclude_lists:
        q &= ~in_lists_q(exclude_lists, _trail=trail)
    if exclude_audiences:
        q &= ~in_audiences_q(exclude_audiences)
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
