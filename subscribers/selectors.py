import functools
from collections.abc import Iterable

from django.db.models import F, JSONField, OuterRef, QuerySet, Subquery
from django.db.models.functions import JSONObject

from audiences.models import AudienceMembership, ListMembership
from audiences.selectors import subscriber_memberships
from core.errors import NotFound
from core.ids import is_storable_public_id
from subscribers.models import CustomField, Subscriber, SubscriptionPreference, SubscriptionType, Tag


class SubscriberNotFound(NotFound):
    code = "SUBSCRIBER_NOT_FOUND"
    default_message = "Subscriber not found"


class RelatedList(Subquery):
    """The subquery's one column, `item`, as a list in the subquery's order ([] when it has no rows).

    PostgreSQL: ARRAY() keeps the order of its subquery; psycopg reads a text[] into a list itself, and an array of
    JSON items goes out as one JSON document. SQLite (the embedded mode) has no arrays: json_group_array over the
    ordered subquery, which SQLite does not flatten into the aggregate, so the order holds there too; JSON items lose
    their JSON type on the way out of the subquery there, hence json()."""

    template = "ARRAY(%(subquery)s)"
    json_template = "to_jsonb(ARRAY(%(subquery)s))"
    sqlite_template = '(SELECT json_group_array("item") FROM (%(subquery)s))'
    sqlite_json_template = '(SELECT json_group_array(json("item")) FROM (%(subquery)s))'
    output_field = JSONField()

    def __init__(self, queryset: QuerySet, *, json_items: bool = False) -> None:
        super().__init__(queryset)
        self.json_items = json_items

    def as_postgresql(self, compiler, connection, **extra_context):
        template = self.json_template if self.json_items else self.template
        return self.as_sql(compiler, connection, template=template, **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        template = self.sqlite_json_template if self.json_items else self.sqlite_template
        return self.as_sql(compiler, connection, template=template, **extra_context)

    def get_db_converters(self, connection):
        if connection.vendor == "postgresql" and not self.json_items:
            return []  # already a list of str
        return super().get_db_converters(connection)


@functools.cache
def _relation_lists() -> dict[str, RelatedList]:
    """Built once: annotating resolves a copy of each, so they are shared safely."""
    subscriber = OuterRef("pk")
    return {
        # The audiences a write names: manual additions (rule matches are in `memberships`).
        "audience_public_ids": RelatedList(
            AudienceMembership.objects.filter(
                subscriber=subscriber,
                source__in=(AudienceMembership.MANUAL, AudienceMembership.MANUAL | AudienceMembership.RULE),
            )
            .order_by("pk")
            .values(item=F("audience__public_id"))
        ),
        "list_public_ids": RelatedList(
            ListMembership.objects.filter(subscriber=subscriber)
            .order_by("pk")
            .values(item=F("marketing_list__public_id"))
        ),
        "tag_public_ids": RelatedList(
            Subscriber.tags.through.objects.filter(subscriber=subscriber)
            .order_by("tag__name")
            .values(item=F("tag__public_id"))
        ),
        "preference_items": RelatedList(
            SubscriptionPreference.objects.filter(subscriber=subscriber)
            .order_by("subscription_type__name")
            .values(
                item=JSONObject(
                    subscription_type_id=F("subscription_type__public_id"),
                    subscribed=F("subscribed"),
                    subscribed_date=F("subscribed_date"),
                    unsubscribed_date=F("unsubscribed_date"),
                )
            ),
            json_items=True,
        ),
    }


def subscribers_with_relations(subscribers: Iterable[Subscriber]) -> list[Subscriber]:
    """Subscribers already read, with everything else their API representation shows, in one query for them all:
    four lists, set on each, in the order the API gives them (`SubscriberOutputSerializer` reads them):
    `audience_public_ids` (manual additions) and `list_public_ids` (static lists) by membership, `tag_public_ids` by
    tag name, and `preference_items` by subscription type name, each {subscription_type_id, subscribed,
    subscribed_date, unsubscribed_date} with the dates as ISO 8601 text. Then `memberships`, every audience and list
    each is in and how, from `audiences.selectors.subscriber_memberships` (a few queries for the whole page).

    Plain lists rather than prefetched related instances: building ~500 model instances made a page of 100 cost
    several times its SQL. Read for the page's rows by primary key rather than annotated onto the paged queryset:
    that keeps the lists out of the page's count (and a members' count on its membership rows alone, see
    `audiences.selectors.MembersQuerySet`), and PostgreSQL would build them for every row an OFFSET skips."""
    subscribers = list(subscribers)
    names = list(_relation_lists())
    rows = (
        Subscriber.objects.filter(pk__in=[subscriber.pk for subscriber in subscribers])
        .order_by()
        .annotate(**_relation_lists())
        .values_list("pk", *names)
    )
    lists = {pk: values for pk, *values in rows}
    gone = [[] for _ in names]  # deleted since its page was read
    memberships = subscriber_memberships(subscriber.pk for subscriber in subscribers)
    for subscriber in subscribers:
        for name, value in zip(names, lists.get(subscriber.pk, gone), strict=True):
            setattr(subscriber, name, value)
        subscriber.memberships = memberships[subscriber.pk]
    return subscribers


def subscriber_get(public_id: str) -> Subscriber:
    subscriber = Subscriber.objects.filter(public_id=public_id).first() if is_storable_public_id(public_id) else None
    if subscriber is None:
        raise SubscriberNotFound()
    return subscriber


def subscriber_list() -> QuerySet[Subscriber]:
    """Subscribers; their representation reads its relations for a page at a time (`subscribers_with_relations`)."""
    return Subscriber.objects.all()


def subscription_type_list() -> QuerySet[SubscriptionType]:
    return SubscriptionType.objects.all()


def custom_field_list() -> QuerySet[CustomField]:
    return CustomField.objects.all()


def tag_list() -> QuerySet[Tag]:
    return Tag.objects.all()
