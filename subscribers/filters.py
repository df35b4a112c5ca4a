"""The fields subscribers can be filtered on (list filters now, audience rules later), for the condition compiler."""

from decimal import Decimal

from django.db.models import DecimalField, Exists, Func, IntegerField, Max, OuterRef, Q, Subquery, Sum, Value
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Coalesce

from audiences.selectors import (
    audiences_by_public_ids,
    in_any_audience_q,
    in_any_list_q,
    in_audiences_q,
    in_lists_q,
    lists_by_public_ids,
)
from core.conditions import FieldRegistry, values
from core.conditions.fields import (
    AggregateKind,
    BooleanKind,
    DateTimeKind,
    MembershipKind,
    NumberKind,
    PublicIdKind,
    StringKind,
)
from subscribers.models import CustomField, EngagementEvent, Subscriber, SubscriptionPreference, SubscriptionType, Tag

Event = EngagementEvent.EventType


def _unknown(kind: str, missing: list[str]) -> ValueError:
    return ValueError(f"unknown {kind}: {', '.join(missing)}")


def _in_audiences(public_ids: list[str]) -> Q:
    found, missing = audiences_by_public_ids(public_ids)
    if missing:
        raise _unknown("audience", missing)
    return in_audiences_q(found.values())


def _in_lists(public_ids: list[str]) -> Q:
    found, missing = lists_by_public_ids(public_ids)
    if missing:
        raise _unknown("list", missing)
    return in_lists_q(found.values())


def _has_tags(ids_or_names: list[str]) -> Q:
    tags = list(Tag.objects.filter(Q(public_id__in=ids_or_names) | Q(name__in=ids_or_names)))
    known = {t.public_id for t in tags} | {t.name for t in tags}
    missing = [value for value in ids_or_names if value not in known]
    if missing:
        raise _unknown("tag", missing)
    tagged = Subscriber.tags.through.objects.filter(subscriber_id=OuterRef("pk"), tag_id__in=[t.pk for t in tags])
    return Q(Exists(tagged))


def _has_any_tag() -> Q:
    return Q(Exists(Subscriber.tags.through.objects.filter(subscriber_id=OuterRef("pk"))))


def _subscribed_to(public_ids: list[str]) -> Q:
    found = dict(SubscriptionType.objects.filter(public_id__in=public_ids).values_list("public_id", "pk"))
    missing = [public_id for public_id in public_ids if public_id not in found]
    if missing:
        raise _unknown("subscription type", missing)
    consents = SubscriptionPreference.objects.filter(
        subscriber_id=OuterRef("pk"), subscription_type_id__in=found.values(), subscribed=True
    )
    return Q(Exists(consents))


def _subscribed_to_any() -> Q:
    return Q(Exists(SubscriptionPreference.objects.filter(subscriber_id=OuterRef("pk"), subscribed=True)))


def _events(event_types: tuple[str, ...], since) -> "EngagementEvent.objects":
    events = EngagementEvent.objects.filter(subscriber_id=OuterRef("pk"), event_type__in=event_types)
    return events.filter(occurred_at__gte=since) if since is not None else events


class _CountAll(Func):
    """`COUNT(*)` that Django does not treat as an aggregate, so a subquery selecting it has no GROUP BY: it always
    answers one row (0 when nothing matches, so no COALESCE), and reading only indexed columns it can be an
    index-only scan on (subscriber, event_type, occurred_at)."""

    template = "COUNT(*)"
    output_field = IntegerField()


def _event_count(*event_types: str):
    def expression(since):
        return Subquery(_events(event_types, since).order_by().annotate(n=_CountAll()).values("n"))

    return expression


def _last_event_at(*event_types: str):
    def expression(since):
        latest = _events(event_types, since).order_by().values("subscriber_id").annotate(at=Max("occurred_at"))
        return Subquery(latest.values("at"))

    return expression


def _purchase_amount(since):
    # The engagement service stores amounts as decimal text (no float rounding) after validating them.
    amount = Cast(KT("data__amount"), DecimalField(max_digits=14, decimal_places=2))
    summed = (
        _events((Event.PURCHASE,), since).order_by().values("subscriber_id").annotate(total=Sum(amount)).values("total")
    )
    return Coalesce(Subquery(summed), Value(Decimal(0)), output_field=DecimalField(max_digits=14, decimal_places=2))


def _engagement_fields() -> dict[str, AggregateKind]:
    """Engagement aggregates over events, each optionally within the condition's `window` ("opens in 30 days")."""
    return {
        "engagement.opens": AggregateKind(_event_count(Event.OPENED), nullable=False),
        "engagement.clicks": AggregateKind(_event_count(Event.CLICKED), nullable=False),
        "engagement.page_views": AggregateKind(_event_count(Event.PAGE_VIEW), nullable=False),
        "engagement.purchases": AggregateKind(_event_count(Event.PURCHASE), nullable=False),
        "engagement.purchase_amount": AggregateKind(_purchase_amount, nullable=False),
        "engagement.last_open_at": AggregateKind(_last_event_at(Event.OPENED), coerce=values.as_datetime),
        "engagement.last_click_at": AggregateKind(_last_event_at(Event.CLICKED), coerce=values.as_datetime),
        "engagement.last_activity_at": AggregateKind(
            _last_event_at(Event.OPENED, Event.CLICKED, Event.PAGE_VIEW, Event.PURCHASE), coerce=values.as_datetime
        ),
    }


def _custom_field_types() -> dict[str, str]:
    return dict(CustomField.objects.values_list("name", "field_type"))


def subscriber_registry() -> FieldRegistry:
    """A fresh registry per request: custom-field types are read once, when first needed."""
    return FieldRegistry(
        fields={
            "id": PublicIdKind("public_id"),
            "email": StringKind("email", case_insensitive=True),
            "first_name": StringKind("first_name"),
            "last_name": StringKind("last_name"),
            "active": BooleanKind("active"),
            "inactive_reason": StringKind("inactive_reason"),
            "created_at": DateTimeKind("created_at"),
            "updated_at": DateTimeKind("updated_at", nullable=True),
            "version": NumberKind("version"),
            "audiences": MembershipKind(_in_audiences, in_any_audience_q),
            "lists": MembershipKind(_in_lists, in_any_list_q),
            "tags": MembershipKind(_has_tags, _has_any_tag),
            "subscriptions": MembershipKind(_subscribed_to, _subscribed_to_any),
            **_engagement_fields(),
        },
        json_column="additional_fields_data",
        json_types=_custom_field_types,
    )


SUBSCRIBER_SORT_FIELDS = ("id", "email", "first_name", "last_name", "created_at", "updated_at", "active")
