"""Read-side helpers for the admin's segment builder: the catalogue of fields a rule can use (with the operations
each supports and the input that suits its values), the live preview of a rule tree, and the growth chart's geometry.

The catalogue is derived from `subscriber_registry()`, the same allowlist the rule compiler resolves fields with,
so the builder never offers a field or an operation that saving would refuse.
"""

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, OuterRef, Q

from audiences.models import DEFAULT_AUDIENCE_ID, Audience, AudienceMembership, MarketingList
from audiences.rules import audience_rules_q, validate_rules
from audiences.selectors import daily_counts, reachable
from core.conditions import values
from core.conditions.fields import (
    AggregateKind,
    BooleanKind,
    DateTimeKind,
    FieldKind,
    JsonKeyKind,
    MembershipKind,
    NumberKind,
)
from core.conditions.schema import Operation
from core.db import database_error_text, is_statement_timeout
from core.errors import Conflict, Issue
from subscribers.filters import subscriber_registry
from subscribers.models import CustomField, Subscriber, SubscriptionType, Tag

# More choices than this in one select would not be usable; past it the builder offers the first ones by name.
MAX_OPTIONS = 1000
SAMPLE_SIZE = 10
PREVIEW_TIMEOUT_MS = 5000

SUBSCRIBER, CUSTOM, MEMBERSHIP, ENGAGEMENT = "Subscriber", "Custom fields", "Membership and consent", "Engagement"

FIELD_LABELS = {
    "id": "Subscriber ID",
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "active": "Active",
    "inactive_reason": "Inactive reason",
    "created_at": "Created",
    "updated_at": "Last updated",
    "version": "Version",
    "audiences": "Audiences",
    "lists": "Lists",
    "tags": "Tags",
    "subscriptions": "Consent to subscription types",
    "engagement.opens": "Opens",
    "engagement.clicks": "Clicks",
    "engagement.page_views": "Page views",
    "engagement.purchases": "Purchases",
    "engagement.purchase_amount": "Purchase amount",
    "engagement.last_open_at": "Last open",
    "engagement.last_click_at": "Last click",
    "engagement.last_activity_at": "Last activity",
}

_COMPARISONS = {
    Operation.EQ: "is",
    Operation.NE: "is not",
    Operation.LIKE: "contains",
    Operation.NLIKE: "does not contain",
    Operation.IN: "is any of",
    Operation.NIN: "is none of",
    Operation.BETWEEN: "is between",
    Operation.EMPTY: "is empty",
    Operation.NEMPTY: "is not empty",
}
OPERATION_LABELS: dict[str, dict[Operation, str]] = {
    "text": {
        **_COMPARISONS,
        Operation.GT: "sorts after",
        Operation.LT: "sorts before",
        Operation.GTE: "sorts on or after",
        Operation.LTE: "sorts on or before",
    },
    "number": {
        **_COMPARISONS,
        Operation.EQ: "equals",
        Operation.NE: "does not equal",
        Operation.GT: "is greater than",
        Operation.LT: "is less than",
        Operation.GTE: "is at least",
        Operation.LTE: "is at most",
    },
    "date": {
        **_COMPARISONS,
        Operation.EQ: "is on",
        Operation.NE: "is not on",
        Operation.GT: "is after",
        Operation.LT: "is before",
        Operation.GTE: "is on or after",
        Operation.LTE: "is on or before",
        Operation.EMPTY: "never / not set",
        Operation.NEMPTY: "is set",
    },
    "membership": {
        Operation.EQ: "is in",
        Operation.NE: "is not in",
        Operation.IN: "is in any of",
        Operation.NIN: "is in none of",
        Operation.EMPTY: "is in none at all",
        Operation.NEMPTY: "is in at least one",
    },
    "tags": {
        Operation.EQ: "has",
        Operation.NE: "does not have",
        Operation.IN: "has any of",
        Operation.NIN: "has none of",
        Operation.EMPTY: "has no tags",
        Operation.NEMPTY: "has any tag",
    },
    "subscriptions": {
        Operation.EQ: "consents to",
        Operation.NE: "does not consent to",
        Operation.IN: "consents to any of",
        Operation.NIN: "consents to none of",
        Operation.EMPTY: "consents to nothing",
        Operation.NEMPTY: "consents to something",
    },
}
OPERATION_LABELS["boolean"] = OPERATION_LABELS["choice"] = OPERATION_LABELS["text"]


def _options(pairs: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"value": value, "label": label} for value, label in pairs]


def _membership_options(field: str, *, editing: Audience | None) -> list[dict[str, str]] | None:
    """The things a membership field names, by public id with their names as labels."""
    if field == "audiences":
        audiences = Audience.objects.exclude(public_id=DEFAULT_AUDIENCE_ID)  # everyone is in it: no use in a rule
        if editing is not None and editing.pk:
            audiences = audiences.exclude(pk=editing.pk)  # a rule on itself is a cycle
        return _options(audiences.order_by("name").values_list("public_id", "name")[:MAX_OPTIONS])
    if field == "lists":
        lists = MarketingList.objects.order_by("name").values_list("public_id", "name", "mode", "is_suppression")
        return _options(
            (public_id, f"{name} (suppression)" if suppression else f"{name} (dynamic)" if mode == "dynamic" else name)
            for public_id, name, mode, suppression in lists[:MAX_OPTIONS]
        )
    if field == "tags":
        return _options(Tag.objects.order_by("name").values_list("public_id", "name")[:MAX_OPTIONS])
    if field == "subscriptions":
        return _options(SubscriptionType.objects.order_by("name").values_list("public_id", "name")[:MAX_OPTIONS])
    return None


def _is_date_aggregate(kind: AggregateKind) -> bool:
    return getattr(kind.coerce, "__func__", kind.coerce) is values.as_datetime


def _input_for(kind: FieldKind) -> str:
    """How the builder asks for a value of this kind: text, number, date, boolean, ids (membership)."""
    if isinstance(kind, MembershipKind):
        return "ids"
    if isinstance(kind, BooleanKind):
        return "boolean"
    if isinstance(kind, DateTimeKind):
        return "date"
    if isinstance(kind, NumberKind):
        return "number"
    if isinstance(kind, AggregateKind):
        return "date" if _is_date_aggregate(kind) else "number"
    return "text"


def _operations(kind: FieldKind, labels: dict[Operation, str]) -> list[dict[str, str]]:
    return [{"value": op, "label": labels.get(Operation(op), op)} for op in kind.supported()]


def _entry(name: str, kind: FieldKind, *, group: str, editing: Audience | None) -> dict[str, Any]:
    input_type = _input_for(kind)
    entry: dict[str, Any] = {
        "name": name,
        "label": FIELD_LABELS.get(name, name.replace("_", " ").replace(".", ": ").capitalize()),
        "group": group,
        "input": input_type,
        "window": isinstance(kind, AggregateKind),
    }
    if input_type == "ids":
        labels = OPERATION_LABELS.get(name, OPERATION_LABELS["membership"])
        entry["options"] = _membership_options(name, editing=editing) or []
    else:
        labels = OPERATION_LABELS[input_type]
    entry["operations"] = _operations(kind, labels)
    return entry


_CUSTOM_INPUTS = {"string": "text", "number": "number", "date": "date", "boolean": "boolean", "dropdown": "choice"}


def _custom_field_entry(definition: CustomField, column: str) -> dict[str, Any] | None:
    try:
        kind = JsonKeyKind(column, definition.name, definition.field_type)
    except ValueError:
        return None  # a legacy name the condition language cannot address
    input_type = _CUSTOM_INPUTS.get(definition.field_type, "text")
    entry: dict[str, Any] = {
        "name": f"{column}.{definition.name}",
        "label": definition.name,
        "description": definition.description
        or ("Found in subscriber data; its type is inferred from the values" if definition.discovered else ""),
        "group": CUSTOM,
        "input": input_type,
        "window": False,
        "operations": _operations(kind, OPERATION_LABELS[input_type]),
    }
    if input_type == "choice":
        entry["options"] = _options((str(value), str(value)) for value in definition.values or [])
    return entry


def field_catalogue(*, editing: Audience | None = None) -> dict[str, Any]:
    """Every field a rule may use, grouped for display, plus `custom_fallback`: how to show a custom-field key that
    has no definition (found in existing rules). `editing` is left out of the audiences a rule may refer to."""
    registry = subscriber_registry()
    fields = []
    for name, kind in registry.fields.items():
        if isinstance(kind, MembershipKind):
            group = MEMBERSHIP
        elif isinstance(kind, AggregateKind):
            group = ENGAGEMENT
        else:
            group = SUBSCRIBER
        fields.append(_entry(name, kind, group=group, editing=editing))
    fallback = None
    if registry.json_column:
        column = registry.json_column
        for definition in CustomField.objects.order_by("name"):
            entry = _custom_field_entry(definition, column)
            if entry is not None:
                fields.append(entry)
        untyped = JsonKeyKind(column, "key")
        fallback = {
            "prefix": f"{column}.",
            "group": CUSTOM,
            "input": "text",
            "window": False,
            "operations": _operations(untyped, OPERATION_LABELS["text"]),
        }
    order = {SUBSCRIBER: 0, CUSTOM: 1, MEMBERSHIP: 2, ENGAGEMENT: 3}
    fields.sort(key=lambda entry: order[entry["group"]])  # stable: registry order within a group
    return {"fields": fields, "custom_fallback": fallback, "no_value_operations": [Operation.EMPTY, Operation.NEMPTY]}


class PreviewTimeout(Exception):
    """Counting took longer than the preview allows; the saved audience is counted in the background instead."""


@dataclass(frozen=True)
class Preview:
    count: int
    reachable: int
    manual: int
    sample: list[dict[str, str]]

    def as_dict(self) -> dict[str, Any]:
        return {"count": self.count, "reachable": self.reachable, "manual": self.manual, "sample": self.sample}


def _manual_members_q(audience: Audience | None) -> Q:
    if audience is None or audience.pk is None:
        return Q(pk__in=[])
    manual = AudienceMembership.objects.filter(
        audience=audience,
        subscriber=OuterRef("pk"),
        source__in=(AudienceMembership.MANUAL, AudienceMembership.MANUAL | AudienceMembership.RULE),
    )
    return Q(Exists(manual))


def rules_preview(rules: Any, *, audience: Audience | None = None, timeout_ms: int = PREVIEW_TIMEOUT_MS) -> Preview:
    """Who the audience would hold with these rules: subscribers matching them plus, for an existing audience, those
    added by hand, as materialization would make it. Raises InvalidFilter (with paths) for bad rules, Conflict
    (INVALID_AUDIENCE) for rules the database cannot evaluate, and PreviewTimeout when counting takes longer than
    `timeout_ms` on PostgreSQL."""
    if rules is None:
        matching = Q(pk__in=[])
    else:
        group, _ = validate_rules(rules, audience=audience)
        matching = audience_rules_q(Audience(rules=group.model_dump()))
    manual = _manual_members_q(audience)
    members = Subscriber.objects.filter(matching | manual)
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    # Ends with this transaction (or savepoint): a costly rule cannot hold the admin's worker.
                    cursor.execute(f"SET LOCAL statement_timeout = {int(timeout_ms)}")
            count = members.count()
            reachable_count = reachable(members).count() if count else 0
            manual_count = Subscriber.objects.filter(manual).count() if audience is not None and count else 0
            sample = list(
                members.order_by("pk").values("pk", "public_id", "email", "first_name", "last_name")[:SAMPLE_SIZE]
            )
    except DatabaseError as error:
        if is_statement_timeout(error):
            raise PreviewTimeout from error
        # Rules the database cannot evaluate (SQL too complex for SQLite, ...): say so, as saving them would end
        # with the audience `failed`.
        raise Conflict(
            "The rules could not be evaluated",
            code="INVALID_AUDIENCE",
            issues=[Issue("rules", f"The database could not evaluate these rules: {database_error_text(error)}")],
        ) from None
    return Preview(
        count=count,
        reachable=reachable_count,
        manual=manual_count,
        sample=[
            {
                "pk": row["pk"],
                "id": row["public_id"],
                "email": row["email"],
                "name": f"{row['first_name']} {row['last_name']}".strip(),
            }
            for row in sample
        ],
    )


# Growth chart geometry (SVG user units; the SVG scales to its container).
CHART_WIDTH, CHART_HEIGHT = 720, 220
CHART_LEFT, CHART_RIGHT, CHART_TOP, CHART_BOTTOM = 56, 16, 16, 28
CHART_DAYS = 90


def _tick_step(value: int, ticks: int = 4) -> int:
    """A round whole step (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^n) such that `ticks` steps reach `value`."""
    raw = max(value, 1) / ticks
    magnitude = 10 ** max(math.floor(math.log10(raw)), 0)
    for factor in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        step = factor * magnitude
        if step >= raw and abs(step - round(step)) < 1e-9:
            return round(step)
    return int(10 * magnitude)


def growth_chart(
    target: Audience | MarketingList, *, days: int = CHART_DAYS, today: dt.date | None = None
) -> dict[str, Any] | None:
    """Points and axes for the audience's (or list's) daily member and reachable counts over the last `days` days, or
    None when the worker has recorded none yet. The counts are `audiences.selectors.daily_counts`, which the API's
    growth endpoints answer too."""
    rows = daily_counts(target, days=days, today=today)
    if not rows:
        return None
    first_day, last_day = rows[0][0], rows[-1][0]
    span = max((last_day - first_day).days, 1)
    step = _tick_step(max(members for _, members, _ in rows))
    top = step * 4
    plot_width = CHART_WIDTH - CHART_LEFT - CHART_RIGHT
    plot_height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    bottom = CHART_TOP + plot_height

    def x(day: dt.date) -> float:
        if len(rows) == 1:
            return CHART_LEFT + plot_width / 2
        return round(CHART_LEFT + plot_width * (day - first_day).days / span, 1)

    def y(count: int) -> float:
        return round(bottom - plot_height * count / top, 1)

    points = [
        {
            "x": x(day),
            "y": y(members),
            "ry": y(reach),
            "day": day,
            "title": f"{day:%a %d %b %Y}: {members:,} members, {reach:,} reachable",
        }
        for day, members, reach in rows
    ]
    members_line = " ".join(f"{p['x']},{p['y']}" for p in points)
    reachable_line = " ".join(f"{p['x']},{p['ry']}" for p in points)
    area = f"M{points[0]['x']},{bottom} L{members_line.replace(' ', ' L')} L{points[-1]['x']},{bottom} Z"
    ticks = [{"label": f"{step * i:,}", "y": y(step * i)} for i in range(5)]
    if len(points) == 1:
        labels = [(points[0], "middle")]
    elif len(points) == 2:
        labels = [(points[0], "start"), (points[-1], "end")]
    else:
        labels = [(points[0], "start"), (points[len(points) // 2], "middle"), (points[-1], "end")]
    first, last = rows[0][1], rows[-1][1]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "right": CHART_WIDTH - CHART_RIGHT,
        "top": CHART_TOP,
        "bottom": bottom,
        "points": points,
        "members_line": members_line,
        "reachable_line": reachable_line,
        "area": area,
        "ticks": ticks,
        "tick_x": CHART_LEFT - 8,
        "label_y": CHART_HEIGHT - 6,
        "x_labels": [{"x": p["x"], "day": p["day"], "anchor": anchor} for p, anchor in labels],
        "first_day": first_day,
        "last_day": last_day,
        "change": f"{last - first:+,}",
        "days": len(rows),
        "point_radius": 2 if len(rows) > 45 else 3,
    }
