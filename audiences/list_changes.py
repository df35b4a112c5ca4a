"""Changes to what a list is that keep its members: a mode switch, and the deletion of its audience. Each is recorded
in the list's history (ListChange), in the transaction that makes it.

ListChange is a stopgap, kept small: when the `events` app's change log arrives, `list_change_record` writes an event
instead and the history endpoint reads the log.

Members move set-based (INSERT ... SELECT, DELETE ... WHERE): a list may hold millions."""

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.utils import timezone

from audiences.models import Audience, ListChange, ListMembership, MarketingList
from audiences.selectors import list_member_counts, list_members
from core.actors import Actor
from core.versioning import lock_for_change, mark_changed
from subscribers.models import Subscriber

_MEMBERSHIP = ListMembership._meta.db_table
_SUBSCRIBER = Subscriber._meta.db_table


def list_change_record(
    *, marketing_list: MarketingList, kind: str, actor: Actor, details: dict[str, Any] | None = None
) -> ListChange:
    return ListChange.objects.create(
        marketing_list=marketing_list,
        kind=kind,
        actor_type=actor.kind,
        actor_name=actor.name,
        details=details or {},
    )


def member_count(marketing_list: MarketingList) -> int:
    return list_member_counts([marketing_list])[marketing_list.pk]


def _touch_static_members(marketing_list: MarketingList) -> None:
    """Bump the version of every subscriber with a membership row in the list: their `lists` change."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_SUBSCRIBER} SET version = version + 1, updated_at = %s "  # noqa: S608 - no user text
            f"WHERE id IN (SELECT subscriber_id FROM {_MEMBERSHIP} WHERE marketing_list_id = %s)",
            [timezone.now(), marketing_list.pk],
        )


def list_materialize_members(marketing_list: MarketingList) -> int:
    """Give the list a membership row for each of its members now, as `list_members` answers them (its audience's for
    a dynamic list, with its inclusions and exclusions). Call it before the list becomes static. Answers the rows
    added."""
    members = list_members(marketing_list).order_by().values("id")
    try:
        sql, params = members.query.sql_with_params()
    except EmptyResultSet:  # members that can be no one
        return 0
    with connection.cursor() as cursor:
        # `WHERE true` lets SQLite tell the upsert's ON CONFLICT from a join condition.
        cursor.execute(
            f"INSERT INTO {_MEMBERSHIP} (marketing_list_id, subscriber_id, created_at) "  # noqa: S608 - no user text
            f"SELECT %s, members.id, %s FROM ({sql}) AS members WHERE true "
            "ON CONFLICT (marketing_list_id, subscriber_id) DO NOTHING",
            [marketing_list.pk, timezone.now(), *params],
        )
        added = cursor.rowcount
    if added:
        _touch_static_members(marketing_list)
    return added


def list_drop_static_members(marketing_list: MarketingList) -> int:
    """Remove the list's membership rows (a list becoming dynamic: its members become its audience's). Answers how
    many were removed."""
    rows = ListMembership.objects.filter(marketing_list_id=marketing_list.pk)
    if not rows.exists():
        return 0
    _touch_static_members(marketing_list)
    removed, _ = rows.delete()
    return removed


def list_switch_mode(marketing_list: MarketingList, mode: str) -> dict[str, Any]:
    """Switch a locked list's mode (the caller saves it). To dynamic: its membership rows go, its members become its
    audience's. To static: it keeps the members it has, as rows. Answers the details its history records."""
    details: dict[str, Any] = {"members_before": member_count(marketing_list)}
    if mode == MarketingList.Mode.DYNAMIC:
        details["static_members_removed"] = list_drop_static_members(marketing_list)
    else:  # before the mode changes, while the members are still the dynamic ones
        details["static_members_added"] = list_materialize_members(marketing_list)
    details["previous_audience_id"] = marketing_list.audience.public_id
    marketing_list.mode = mode
    return details


def list_switch_record(*, marketing_list: MarketingList, details: dict[str, Any], actor: Actor) -> ListChange:
    """Record a mode switch once the list is saved, with the members it has after it (on its new audience)."""
    dynamic = marketing_list.is_dynamic
    return list_change_record(
        marketing_list=marketing_list,
        kind=ListChange.Kind.SWITCHED_TO_DYNAMIC if dynamic else ListChange.Kind.SWITCHED_TO_STATIC,
        actor=actor,
        details={
            **details,
            "audience_id": marketing_list.audience.public_id,
            "members_after": member_count(marketing_list),
        },
    )


def lists_release_audience(*, audience: Audience, default: Audience, actor: Actor) -> list[ListChange]:
    """Before `audience` is deleted: its static lists move to `default` (All Subscribers) with their members; its
    dynamic lists become static lists on `default` holding the members they have now. Answers the changes recorded."""
    changes = []
    for marketing_list in MarketingList.objects.filter(audience=audience).order_by("pk"):
        marketing_list = lock_for_change(marketing_list, expected_version=None)
        details: dict[str, Any] = {"audience_id": audience.public_id, "audience_name": audience.name}
        if marketing_list.is_dynamic:
            details["members"] = member_count(marketing_list)
            details["static_members_added"] = list_materialize_members(marketing_list)
            kind = ListChange.Kind.AUDIENCE_DELETED_MADE_STATIC
            marketing_list.mode = MarketingList.Mode.STATIC
        else:
            details["members"] = member_count(marketing_list)
            kind = ListChange.Kind.AUDIENCE_DELETED_MOVED_TO_DEFAULT
        marketing_list.audience = default
        mark_changed(marketing_list, ["mode", "audience"])
        changes.append(list_change_record(marketing_list=marketing_list, kind=kind, actor=actor, details=details))
    return changes
