"""Size limits of static lists (seed 003: "Exceeding the size limit of a single list – 409", "Exceeding the size limit
of all the lists – 409").

A static list holds at most `max_members` (else settings.LIST_MAX_MEMBERS) members: LIST_SIZE_LIMIT_EXCEEDED; all
static lists together hold at most settings.TOTAL_MAX_SUBSCRIBERS memberships: TOTAL_SIZE_LIMIT_EXCEEDED.

Invariant: every way into a static list (single adds, subscriber creates and updates with `lists`, batches, contact
files, imports, the admin, which calls the same services) asks `list_room` once for all the members it is about to
add, inside the transaction that adds them and after `lists_lock_for_adding` has locked the list rows, and adds no
more than it allows. Two adders of one list therefore take its last places one after the other; adders of
different lists close to the total limit queue on one advisory lock (PostgreSQL) before they count.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from audiences.models import ListMembership, MarketingList
from core.errors import Conflict, Issue

# Only an upper bound of the memberships is needed while they are far below the limits: PostgreSQL's statistics
# answer it without counting tens of millions of rows. They can lag behind the last commits (and never see the
# current transaction's rows), so counting starts this far from a limit: 10% of the estimate, and at least this many.
ESTIMATE_MARGIN_ROWS = 10_000
# Transaction-level advisory lock taken by adders that must count all memberships (close to the total limit).
_TOTAL_LIMIT_LOCK = 0x526F73746572  # "Roster"


class ListSizeLimitExceeded(Conflict):
    code = "LIST_SIZE_LIMIT_EXCEEDED"
    default_message = "The list would exceed its size limit"


class TotalSizeLimitExceeded(Conflict):
    code = "TOTAL_SIZE_LIMIT_EXCEEDED"
    default_message = "The lists would exceed their total size limit"


@dataclass(frozen=True)
class ListRoom:
    """How many of the new members asked for may join a list, and the 409 that refuses the others (None: all fit)."""

    fits: int
    refusal: Conflict | None = None
    # Why the others cannot join, said of one of them (an import's error report gives it for each row left out).
    reason: str = ""


def list_limit(marketing_list: MarketingList) -> int:
    return marketing_list.max_members if marketing_list.max_members is not None else settings.LIST_MAX_MEMBERS


def lists_lock_for_adding(lists: Iterable[MarketingList]) -> list[MarketingList]:
    """Lock the rows of the lists about to get members (SELECT ... FOR UPDATE), in primary-key order so that two
    adders of the same lists cannot deadlock; answers them as stored now. Held until the transaction ends."""
    pks = {marketing_list.pk for marketing_list in lists}
    if not pks:
        return []
    return list(MarketingList.objects.select_for_update().filter(pk__in=pks).order_by("pk"))


def _memberships_upper_estimate() -> int | None:
    """All list memberships as PostgreSQL's statistics know them (None elsewhere)."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT GREATEST(reltuples, pg_stat_get_live_tuples(oid)) FROM pg_class WHERE oid = %s::regclass",
            [ListMembership._meta.db_table],
        )
        row = cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else None


def _far_below(estimate: int | None, adding: int, limit: int) -> bool:
    return estimate is not None and estimate + adding + max(estimate // 10, ESTIMATE_MARGIN_ROWS) <= limit


def list_room(marketing_list: MarketingList, *, adding: int, field: str) -> ListRoom:
    """Room for `adding` new members in a static list under both limits, counted once. Call it inside the
    transaction that adds, after `lists_lock_for_adding`, before adding anything; `field` is what the refusal's issue
    names (`csv`, `lists`, `list_id`)."""
    if adding <= 0:
        return ListRoom(fits=0)
    limit = list_limit(marketing_list)
    total_limit = settings.TOTAL_MAX_SUBSCRIBERS
    # A list's members are some of all memberships: far below both limits, nothing needs counting.
    estimate = _memberships_upper_estimate()
    if _far_below(estimate, adding, min(limit, total_limit)):
        return ListRoom(fits=adding)
    fits, refusal, reason = adding, None, ""
    current = ListMembership.objects.filter(marketing_list_id=marketing_list.pk).count()
    if current + adding > limit:
        fits = max(limit - current, 0)
        message = (
            f"List {marketing_list.public_id} holds {current} members; adding {adding} would pass its limit of {limit}"
        )
        refusal = ListSizeLimitExceeded(issues=[Issue(field, message)])
        reason = f"List {marketing_list.public_id} is full: it may hold {limit} members (LIST_MAX_MEMBERS)"
    if _far_below(estimate, adding, total_limit):
        return ListRoom(fits=fits, refusal=refusal, reason=reason)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_TOTAL_LIMIT_LOCK])
    total = ListMembership.objects.count()
    if total + adding > total_limit and max(total_limit - total, 0) < fits:
        fits = max(total_limit - total, 0)
        message = f"All static lists hold {total} members; adding {adding} would pass the limit of {total_limit}"
        refusal = TotalSizeLimitExceeded(issues=[Issue(field, message)])
        reason = f"All static lists together are full: they may hold {total_limit} members (TOTAL_MAX_SUBSCRIBERS)"
    return ListRoom(fits=fits, refusal=refusal, reason=reason)


def check_list_capacity(marketing_list: MarketingList, adding: int, *, field: str) -> None:
    """Refuse (409) adding `adding` new members when that would pass either limit; see `list_room`. A refusal
    comes before any change, so the caller's transaction can leave everything as it was."""
    room = list_room(marketing_list, adding=adding, field=field)
    if room.refusal is not None:
        raise room.refusal
