"""A subscriber's representation on every page that answers subscribers (list, get, audience, list and group member
pages): the same body as reading each relation through the ORM, in a number of queries that does not grow with the
page or with the relations on it."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audiences.models import DEFAULT_AUDIENCE_ID, Audience, AudienceMembership, ListMembership
from core.api.fields import format_timestamp
from subscribers.api.serializers import SubscriberOutputSerializer
from subscribers.models import Subscriber, SubscriptionPreference
from tests.factories import (
    AudienceFactory,
    MarketingListFactory,
    SubscriberFactory,
    SubscriptionTypeFactory,
    TagFactory,
)
from tests.subscribers.memberships_reference import memberships_by_hand

pytestmark = pytest.mark.django_db

KEYS = [
    "version", "created_at", "updated_at", "id", "first_name", "last_name", "email", "active",
    "inactive_reason", "audiences", "lists", "memberships", "tags", "subscription_preferences",
    "additional_fields_data",
]  # fmt: skip


def test_the_schema_names_the_keys_the_representation_gives():
    assert list(SubscriberOutputSerializer.Meta.fields) == KEYS
    assert list(SubscriberOutputSerializer().fields) == KEYS


def expected(subscriber: Subscriber) -> dict:
    """The representation read relation by relation, in the API's orders: aud_default, then memberships as made,
    tags and preferences by name, and every audience and list the members selectors put the subscriber in."""
    return {
        "version": subscriber.version,
        "created_at": format_timestamp(subscriber.created_at),
        "updated_at": format_timestamp(subscriber.updated_at),
        "id": subscriber.public_id,
        "first_name": subscriber.first_name,
        "last_name": subscriber.last_name,
        "email": subscriber.email,
        "active": subscriber.active,
        "inactive_reason": subscriber.inactive_reason or None,
        "audiences": [
            DEFAULT_AUDIENCE_ID,
            *(
                m.audience.public_id
                for m in AudienceMembership.objects.filter(subscriber=subscriber).order_by("pk")
                if m.is_manual
            ),
        ],
        "lists": [
            m.marketing_list.public_id for m in ListMembership.objects.filter(subscriber=subscriber).order_by("pk")
        ],
        "memberships": memberships_by_hand(subscriber),
        "tags": [t.public_id for t in subscriber.tags.order_by("name")],
        "subscription_preferences": [
            {
                "subscription_type_id": p.subscription_type.public_id,
                "subscribed": p.subscribed,
                "subscribed_date": format_timestamp(p.subscribed_date),
                "unsubscribed_date": format_timestamp(p.unsubscribed_date),
            }
            for p in SubscriptionPreference.objects.filter(subscriber=subscriber).order_by("subscription_type__name")
        ],
        "additional_fields_data": subscriber.additional_fields_data,
    }


@pytest.fixture
def related() -> dict:
    """An audience, a static list and a tier group's audience (all manual members), with subscribers whose relations
    were made out of name order, with dates to the microsecond and missing ones, and one subscriber with none."""
    audiences = [AudienceFactory(name=name) for name in ("Zeta", "Alpha", "Mid")]
    lists = [MarketingListFactory(name=name, audience=audiences[0]) for name in ("Zed list", "A list")]
    tags = [TagFactory(name=name) for name in ("zebra", "apple", "mango")]
    types = [SubscriptionTypeFactory(name=name) for name in ("Weekly", "Alerts", "Offers")]
    when = dt.datetime(2024, 3, 15, 10, 30, 0, 123456, tzinfo=dt.UTC)
    subscribers = []
    for i in range(6):
        subscriber = SubscriberFactory(
            first_name=f"Sam{i}",
            active=i % 2 == 0,
            inactive_reason="" if i % 2 == 0 else "bounced",
            additional_fields_data={"n": i, "nested": {"a": [1, "x"]}} if i else {},
        )
        subscribers.append(subscriber)
        if i == 5:
            continue  # no relations at all
        for audience in (audiences[2], audiences[0], audiences[1])[: 1 + i % 3]:
            AudienceMembership.objects.create(audience=audience, subscriber=subscriber)
        for marketing_list in (lists[0], lists[1])[: 1 + i % 2]:
            ListMembership.objects.create(marketing_list=marketing_list, subscriber=subscriber)
        subscriber.tags.add(*(tags[(i + k) % 3] for k in range(1 + i % 3)))
        for k, subscription_type in enumerate(types[: 1 + i % 3]):
            SubscriptionPreference.objects.create(
                subscriber=subscriber,
                subscription_type=subscription_type,
                subscribed=k % 2 == 0,
                subscribed_date=when + dt.timedelta(days=i, microseconds=k * 999),
                unsubscribed_date=None if k % 2 == 0 else when + dt.timedelta(days=40, hours=k),
            )
    # The first subscriber, with the most relations, is in every audience and list of the pages below.
    for audience in audiences:
        AudienceMembership.objects.get_or_create(audience=audience, subscriber=subscribers[0])
    # Lists whose members are not rows of their own (`memberships`): dynamic ones, on an audience and on everyone, and
    # a composed suppression list (Mid's members and A list's, minus Alpha's).
    lists.append(MarketingListFactory(name="Dynamic Zeta", mode="dynamic", audience=audiences[0]))
    lists.append(
        MarketingListFactory(name="Everyone", mode="dynamic", audience=Audience.objects.get(public_id="aud_default"))
    )
    composed = MarketingListFactory(name="Composed", audience=audiences[0], is_suppression=True, composed=True)
    composed.include_audiences.set([audiences[2]])
    composed.include_lists.set([lists[1]])
    composed.exclude_audiences.set([audiences[1]])
    lists.append(composed)
    return {"subscribers": subscribers, "audiences": audiences, "lists": lists}


def assert_represented(rows: list[dict]) -> None:
    assert rows
    by_id = {s.public_id: s for s in Subscriber.objects.filter(public_id__in=[row["id"] for row in rows])}
    for row in rows:
        assert list(row) == KEYS
        assert row == expected(by_id[row["id"]])


def test_every_subscriber_page_answers_the_relations_as_stored(api, related):
    everyone = api.post("/api/subscribers/list", {"page": 1, "limit": 100, "filters": {}}).json()["results"]
    assert len(everyone) == len(related["subscribers"])
    assert_represented(everyone)
    assert any(len(row["subscription_preferences"]) == 3 for row in everyone)
    assert any(row["subscription_preferences"] == [] and row["tags"] == [] for row in everyone)

    for subscriber in related["subscribers"]:
        response = api.get(f"/api/subscribers/{subscriber.public_id}")
        assert response.status_code == 200
        assert_represented([response.json()])

    for audience in related["audiences"]:
        assert_represented(api.get(f"/api/audiences/{audience.public_id}/members").json()["results"])
    for marketing_list in related["lists"]:
        assert_represented(api.get(f"/api/lists/{marketing_list.public_id}/members").json()["results"])


def test_pages_take_the_same_queries_however_long_and_related(api, related):
    """A page of one subscriber without relations and a page of all of them, the richest included."""
    plain = related["subscribers"][5]
    audience = related["audiences"][0].public_id

    def queries(path: str, method: str = "get", **data) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = getattr(api, method)(path, data)
            assert response.status_code == 200, response.json()
        return len(captured)

    queries("/api/subscribers/list", "post")  # the key's first use is recorded once
    assert queries(f"/api/subscribers/{plain.public_id}") == queries(
        f"/api/subscribers/{related['subscribers'][0].public_id}"
    )
    one = queries("/api/subscribers/list", "post", page=1, limit=1, search=plain.email)
    assert one == queries("/api/subscribers/list", "post", page=1, limit=100)
    assert queries(f"/api/audiences/{audience}/members", first=1) == queries(
        f"/api/audiences/{audience}/members", first=100
    )


def test_counting_a_page_leaves_the_relation_lists_out(api, related):
    """Cursor and numbered pages count their rows: that count builds no lists, and a members' count stays on the
    membership rows alone."""
    with CaptureQueriesContext(connection) as captured:
        api.get(f"/api/audiences/{related['audiences'][0].public_id}/members", {"first": 2})
        api.post("/api/subscribers/list", {"page": 1, "limit": 2})
    relation_lists = "to_jsonb(ARRAY(" if connection.vendor == "postgresql" else "json_group_array("
    counts = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 2 and len([q for q in captured if relation_lists in q["sql"]]) == 2
    assert not any(relation_lists in sql for sql in counts)
    assert 'FROM "audiences_audiencemembership"' in counts[0]
