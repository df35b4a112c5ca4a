from django.db.models import Prefetch, QuerySet

from audiences.models import AudienceMembership, ListMembership
from core.errors import NotFound
from core.ids import is_storable_public_id
from subscribers.models import CustomField, Subscriber, SubscriptionPreference, SubscriptionType, Tag


class SubscriberNotFound(NotFound):
    code = "SUBSCRIBER_NOT_FOUND"
    default_message = "Subscriber not found"


def subscribers_with_relations(queryset: QuerySet[Subscriber] | None = None) -> QuerySet[Subscriber]:
    """Subscribers with everything their API representation shows, in a fixed number of queries."""
    queryset = Subscriber.objects.all() if queryset is None else queryset
    return queryset.prefetch_related(
        Prefetch("audience_memberships", queryset=AudienceMembership.objects.select_related("audience").order_by("pk")),
        Prefetch("list_memberships", queryset=ListMembership.objects.select_related("marketing_list").order_by("pk")),
        Prefetch(
            "preferences",
            queryset=SubscriptionPreference.objects.select_related("subscription_type").order_by(
                "subscription_type__name"
            ),
        ),
        Prefetch("tags", queryset=Tag.objects.order_by("name")),
    )


def subscriber_get(public_id: str) -> Subscriber:
    subscriber = Subscriber.objects.filter(public_id=public_id).first() if is_storable_public_id(public_id) else None
    if subscriber is None:
        raise SubscriberNotFound()
    return subscriber


def subscription_type_list() -> QuerySet[SubscriptionType]:
    return SubscriptionType.objects.all()


def custom_field_list() -> QuerySet[CustomField]:
    return CustomField.objects.all()


def tag_list() -> QuerySet[Tag]:
    return Tag.objects.all()
