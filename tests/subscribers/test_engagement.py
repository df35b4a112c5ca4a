"""Engagement through the API: POST /api/engagements/events and the seed's POST /api/subscribers/{id}/engagements."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from preferences.models import MarketingEmail
from preferences.services import preference_center_update
from preferences.tokens import Purpose, make_token
from subscribers.models import ConsentRecord, Engagement, EngagementEvent, Subscriber, SubscriptionType
from subscribers.services import ConsentSource
from subscribers.services.engagement import EngagementEventInput, _record_group, _Target
from tests.api_assertions import TIMESTAMP, assert_error
from tests.factories import SubscriberFactory, SubscriptionTypeFactory

EVENTS = "/api/engagements/events"
SEED_KEYS = [
    "subscriber_id", "campaign_code", "marketing_email_id", "email_sent_at", "email_delivered_at", "delivery_status",
    "first_opened_at", "last_opened_at", "open_count", "first_clicked_at", "last_clicked_at", "click_count",
    "unique_click_count", "clicked_links", "unsubscribed_at", "first_page_view_at", "last_page_view_at",
    "page_view_count", "total_engagement_time_seconds", "first_purchase_at", "last_purchase_at", "purchase_count",
    "total_purchase_amount", "engagement_score", "updated_at", "campaign_metadata",
]  # fmt: skip
SALE_URL = "https://shop.example.com/summer-sale"
TOWEL_URL = "https://shop.example.com/products/beach-towel"


def at(text: str) -> str:
    """'06-15 14:31' -> '2024-06-15T14:31:00Z'; '06-15 14:31:30' keeps its seconds."""
    day, time = text.split()
    return f"2024-{day}T{time if time.count(':') == 2 else time + ':00'}Z"


@pytest.fixture
def world(db):
    promotional = SubscriptionTypeFactory(name="Promotional")
    return {
        "subscriber": SubscriberFactory(email="john.doe@example.com"),
        "promotional": promotional,
        "sale": MarketingEmail.objects.create(
            name="Summer sale",
            subject="Summer Sale - Up to 50% Off!",
            campaign_code="SUMMER-SALE-2024",
            subscription_type=promotional,
            sent_at=dt.datetime(2024, 6, 15, 10, tzinfo=dt.UTC),
        ),
        "winter": MarketingEmail.objects.create(name="Winter sale", subject="Winter", campaign_code="WINTER-2024"),
    }


def post_events(client, events: list[dict], status: int = 200) -> dict:
    response = client.post(EVENTS, {"events": events})
    assert response.status_code == status, response.content
    return response.json()


def engagements(client, subscriber: Subscriber, body: dict | None = None):
    return client.post(f"/api/subscribers/{subscriber.public_id}/engagements", body or {"page": 1, "limit": 10})


def seed_events(subscriber: Subscriber, email: MarketingEmail) -> list[dict]:
    """The seed's example engagement, event by event."""
    base = {"subscriber_id": subscriber.public_id, "marketing_email_id": email.public_id}
    events = [
        {"type": "sent", "occurred_at": at("06-15 10:00")},
        {"type": "delivered", "occurred_at": at("06-15 10:00:15")},
        {"type": "opened", "occurred_at": at("06-15 14:30")},
        {"type": "opened", "occurred_at": at("06-16 09:15")},
        {"type": "opened", "occurred_at": at("06-15 20:00")},
        {"type": "clicked", "url": SALE_URL, "occurred_at": at("06-15 14:35")},
        {"type": "clicked", "url": TOWEL_URL, "occurred_at": at("06-15 14:33")},
        {"type": "clicked", "url": SALE_URL, "occurred_at": at("06-15 14:31")},
        {"type": "clicked", "url": TOWEL_URL, "occurred_at": at("06-15 14:32")},
        {"type": "clicked", "url": SALE_URL, "occurred_at": at("06-15 14:34")},
        {"type": "purchase", "amount": 129.99, "occurred_at": at("06-15 14:42")},
        {"type": "page_view", "duration_seconds": 70, "occurred_at": at("06-15 14:31:30")},
        {"type": "page_view", "duration_seconds": 70, "occurred_at": at("06-15 14:45")},
    ]
    events += [{"type": "page_view", "duration_seconds": 70, "occurred_at": at("06-15 14:40")} for _ in range(10)]
    return [{**base, **event, "event_id": f"evt-{index}"} for index, event in enumerate(events)]


# The seed's example


def test_the_seed_example_built_from_events(api, world):
    subscriber, sale = world["subscriber"], world["sale"]

    outcome = post_events(api, seed_events(subscriber, sale))
    response = engagements(api, subscriber, {"page": 1, "limit": 10, "filters": {"campaignCode": "SUMMER-SALE-2024"}})

    assert outcome == {"accepted": 23, "duplicates": 0, "invalid": []}
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"results", "total", "totalPages"}
    assert (body["total"], body["totalPages"]) == (1, 1)
    [record] = body["results"]
    assert list(record) == SEED_KEYS
    assert TIMESTAMP.match(record.pop("updated_at"))
    assert record == {
        "subscriber_id": subscriber.public_id,
        "campaign_code": "SUMMER-SALE-2024",
        "marketing_email_id": sale.public_id,
        "email_sent_at": "2024-06-15T10:00:00.000Z",
        "email_delivered_at": "2024-06-15T10:00:15.000Z",
        "delivery_status": "DELIVERED",
        "first_opened_at": "2024-06-15T14:30:00.000Z",
        "last_opened_at": "2024-06-16T09:15:00.000Z",
        "open_count": 3,
        "first_clicked_at": "2024-06-15T14:31:00.000Z",
        "last_clicked_at": "2024-06-15T14:35:00.000Z",
        "click_count": 5,
        "unique_click_count": 2,
        "clicked_links": [
            {
                "url": SALE_URL,
                "count": 3,
                "first_clicked_at": "2024-06-15T14:31:00.000Z",
                "last_clicked_at": "2024-06-15T14:35:00.000Z",
            },
            {
                "url": TOWEL_URL,
                "count": 2,
                "first_clicked_at": "2024-06-15T14:32:00.000Z",
                "last_clicked_at": "2024-06-15T14:33:00.000Z",
            },
        ],
        "unsubscribed_at": None,
        "first_page_view_at": "2024-06-15T14:31:30.000Z",
        "last_page_view_at": "2024-06-15T14:45:00.000Z",
        "page_view_count": 12,
        "total_engagement_time_seconds": 840,
        "first_purchase_at": "2024-06-15T14:42:00.000Z",
        "last_purchase_at": "2024-06-15T14:42:00.000Z",
        "purchase_count": 1,
        "total_purchase_amount": 129.99,
        "engagement_score": 8.5,
        "campaign_metadata": {
            "send_date": "2024-06-15T10:00:00.000Z",
            "subscription_type": world["promotional"].public_id,
            "subject_line": "Summer Sale - Up to 50% Off!",
        },
    }


def test_the_same_batch_twice_changes_nothing_the_second_time(api, world):
    subscriber, sale = world["subscriber"], world["sale"]
    events = seed_events(subscriber, sale)
    post_events(api, events)
    first = engagements(api, subscriber).json()

    again = post_events(api, events)

    assert again == {"accepted": 0, "duplicates": len(events), "invalid": []}
    assert engagements(api, subscriber).json() == first
    assert EngagementEvent.objects.count() == len(events)


def test_an_event_id_repeated_within_a_batch_counts_once(api, world):
    event = {"event_id": "open-1", "type": "opened", "subscriber_id": world["subscriber"].public_id}

    outcome = post_events(api, [event, event, {**event, "type": "clicked", "url": SALE_URL}])

    assert outcome == {"accepted": 1, "duplicates": 2, "invalid": []}
    assert Engagement.objects.get().open_count == 1


def test_an_event_recorded_by_a_concurrent_request_is_a_duplicate(world):
    """The unique event_id is what makes ingestion idempotent: when another request inserted an id after the
    duplicate check, the batch insert fails and the group is replayed one event at a time."""
    subscriber, sale = world["subscriber"], world["sale"]
    engagement = Engagement.objects.create(
        subscriber=subscriber, marketing_email=sale, campaign_code=sale.campaign_code
    )
    when = dt.datetime(2024, 6, 15, 14, tzinfo=dt.UTC)
    EngagementEvent.objects.create(
        event_id="raced", engagement=engagement, subscriber=subscriber, event_type="opened", occurred_at=when
    )
    events = [
        EngagementEventInput(
            event_id=event_id, event_type="opened", subscriber_id=subscriber.public_id, occurred_at=when
        )
        for event_id in ("raced", "new")
    ]

    accepted, duplicates = _record_group(_Target(subscriber, sale, sale.campaign_code), events)

    assert (accepted, duplicates) == (1, 1)
    engagement.refresh_from_db()
    assert engagement.open_count == 1
    assert set(EngagementEvent.objects.values_list("event_id", flat=True)) == {"raced", "new"}


# What each event does


def test_events_by_email_ignore_case_and_campaign_code_comes_from_the_email(api, world):
    outcome = post_events(
        api,
        [
            {
                "event_id": "a",
                "type": "opened",
                "email": "JOHN.DOE@Example.com",
                "marketing_email_id": world["sale"].public_id,
            },
            {"event_id": "b", "type": "opened", "email": "john.doe@example.com", "campaign_code": "SUMMER-SALE-2024"},
        ],
    )

    assert outcome["accepted"] == 2
    rows = {(e.marketing_email_id, e.campaign_code, e.open_count) for e in Engagement.objects.all()}
    # The same campaign named with and without its email makes two records: an email names one send.
    assert rows == {(world["sale"].pk, "SUMMER-SALE-2024", 1), (None, "SUMMER-SALE-2024", 1)}


def test_score_is_capped_at_ten_and_zero_after_a_complaint(api, world):
    subscriber = world["subscriber"]
    base = {"subscriber_id": subscriber.public_id, "campaign_code": "BIG"}
    purchases = [{**base, "event_id": f"p{i}", "type": "purchase", "amount": "10.00"} for i in range(6)]

    post_events(api, purchases)
    assert Engagement.objects.get().engagement_score == 10.0
    assert float(Engagement.objects.get().total_purchase_amount) == 60.0

    post_events(api, [{**base, "event_id": "spam", "type": "complained"}])
    record = engagements(api, subscriber).json()["results"][0]
    assert (record["engagement_score"], record["delivery_status"]) == (0.0, "COMPLAINED")


@pytest.mark.parametrize(
    ("events", "score"),
    [
        ([("opened", {})], 0.5),
        ([("clicked", {"url": SALE_URL}), ("clicked", {"url": SALE_URL})], 1.0),  # one link clicked twice
        ([("clicked", {"url": SALE_URL}), ("clicked", {"url": TOWEL_URL})], 2.0),
        ([("page_view", {}), ("page_view", {})], 0.5),
        ([("purchase", {"amount": 5})], 2.0),
        ([("sent", {}), ("delivered", {}), ("unsubscribed", {})], 0.0),
    ],
)
def test_score_formula(api, world, events, score):
    base = {"subscriber_id": world["subscriber"].public_id, "campaign_code": "C"}
    post_events(api, [{**base, "event_id": str(i), "type": kind, **extra} for i, (kind, extra) in enumerate(events)])

    assert Engagement.objects.get().engagement_score == score


def test_delivery_status_only_moves_forward(api, world):
    base = {"subscriber_id": world["subscriber"].public_id, "campaign_code": "C"}
    post_events(api, [{**base, "event_id": "d", "type": "delivered"}, {**base, "event_id": "s", "type": "sent"}])
    assert Engagement.objects.get().delivery_status == "DELIVERED"

    post_events(api, [{**base, "event_id": "soft", "type": "bounced", "bounce_type": "soft"}])
    assert Engagement.objects.get().delivery_status == "DELIVERED"


def test_unsubscribed_keeps_the_first_time(api, world):
    base = {"subscriber_id": world["subscriber"].public_id, "campaign_code": "C"}
    post_events(
        api,
        [
            {**base, "event_id": "u2", "type": "unsubscribed", "occurred_at": "2024-06-16T10:00:00Z"},
            {**base, "event_id": "u1", "type": "unsubscribed", "occurred_at": "2024-06-15T10:00:00Z"},
        ],
    )

    assert engagements(api, world["subscriber"]).json()["results"][0]["unsubscribed_at"] == "2024-06-15T10:00:00.000Z"


# Bounces and complaints


@pytest.mark.parametrize(
    ("event", "reason", "source"),
    [
        ({"type": "bounced", "bounce_type": "hard"}, "Hard bounce - Invalid email", "bounce"),
        ({"type": "bounced"}, "Hard bounce - Invalid email", "bounce"),  # hard unless said soft
        ({"type": "bounced", "reason": "hard"}, "Hard bounce - Invalid email", "bounce"),
        ({"type": "complained"}, "Spam complaint", "complaint"),
    ],
)
def test_a_hard_bounce_or_a_complaint_makes_the_subscriber_inactive(api, world, event, reason, source):
    subscriber, sale = world["subscriber"], world["sale"]

    outcome = post_events(
        api, [{"event_id": "e1", "subscriber_id": subscriber.public_id, "marketing_email_id": sale.public_id, **event}]
    )

    assert outcome["accepted"] == 1
    subscriber.refresh_from_db()
    assert (subscriber.active, subscriber.inactive_reason) == (False, reason)
    record = ConsentRecord.objects.get(subscriber=subscriber)
    assert (record.action, record.source, record.reason, record.marketing_email) == (
        "deactivated",
        source,
        reason,
        sale,
    )
    detail = api.get(f"/api/subscribers/{subscriber.public_id}").json()
    assert (detail["active"], detail["inactive_reason"]) == (False, reason)


def test_a_soft_bounce_leaves_the_subscriber_active(api, world):
    subscriber = world["subscriber"]

    post_events(api, [{"event_id": "e1", "subscriber_id": subscriber.public_id, "type": "bounced", "reason": "soft"}])

    subscriber.refresh_from_db()
    assert subscriber.active
    assert not ConsentRecord.objects.exists()
    assert Engagement.objects.get().delivery_status == "SENT"


def subscribed_types(api, subscriber: Subscriber) -> dict[str, bool]:
    detail = api.get(f"/api/subscribers/{subscriber.public_id}").json()
    return {s["subscription_type_id"]: s["subscribed"] for s in detail["subscription_preferences"]}


def test_a_reported_unsubscribe_withdraws_consent_to_the_emails_type(api, world):
    subscriber, sale, promotional = world["subscriber"], world["sale"], world["promotional"]
    newsletter = SubscriptionTypeFactory(name="Newsletter")
    subscribe = [{"subscription_type_id": t.public_id, "subscribe": True} for t in (promotional, newsletter)]
    api.put(f"/api/subscribers/{subscriber.public_id}", {"subscription_updates": subscribe})

    event = {"event_id": "esp-u1", "subscriber_id": subscriber.public_id, "marketing_email_id": sale.public_id}
    assert post_events(api, [{**event, "type": "unsubscribed"}])["accepted"] == 1

    assert subscribed_types(api, subscriber) == {promotional.public_id: False, newsletter.public_id: True}
    subscriber.refresh_from_db()
    assert subscriber.active
    record = ConsentRecord.objects.filter(subscriber=subscriber).latest("pk")
    assert (record.action, record.source, record.subscription_type, record.marketing_email) == (
        "unsubscribed",
        "reported_unsubscribe",
        promotional,
        sale,
    )


def test_a_reported_unsubscribe_without_a_type_unsubscribes_from_everything(api, world):
    subscriber, winter, promotional = world["subscriber"], world["winter"], world["promotional"]
    subscribe = [{"subscription_type_id": promotional.public_id, "subscribe": True}]
    api.put(f"/api/subscribers/{subscriber.public_id}", {"subscription_updates": subscribe})

    event = {"event_id": "esp-u2", "subscriber_id": subscriber.public_id, "marketing_email_id": winter.public_id}
    post_events(api, [{**event, "type": "unsubscribed"}])

    assert subscribed_types(api, subscriber) == {promotional.public_id: False}
    subscriber.refresh_from_db()
    assert (subscriber.active, subscriber.inactive_reason) == (False, "Unsubscribed (reported by the sending platform)")


def test_a_repeated_bounce_records_consent_once(api, world):
    subscriber = world["subscriber"]
    bounce = {"subscriber_id": subscriber.public_id, "type": "bounced"}

    post_events(api, [{**bounce, "event_id": "b1"}, {**bounce, "event_id": "b2", "campaign_code": "OTHER"}])
    post_events(api, [{**bounce, "event_id": "b1"}])

    assert ConsentRecord.objects.filter(subscriber=subscriber).count() == 1


# Invalid events


def test_invalid_events_are_reported_by_index_and_the_valid_ones_apply(api, world):
    subscriber = world["subscriber"]
    ok = {"subscriber_id": subscriber.public_id, "campaign_code": "C"}
    events = [
        {**ok, "event_id": "good-1", "type": "opened"},
        {**ok, "event_id": "bad-type", "type": "forwarded"},
        {"event_id": "no-subscriber", "type": "opened"},
        {**ok, "event_id": "no-url", "type": "clicked"},
        "not an object",
        {**ok, "type": "opened"},
        {"event_id": "ghost", "type": "opened", "subscriber_id": "sub_doesnotexist"},
        {"event_id": "stranger", "type": "opened", "email": "nobody@example.com"},
        {**ok, "event_id": "bad-email", "type": "opened", "marketing_email_id": "memail_nope"},
        {**ok, "event_id": "refund", "type": "purchase", "amount": -5},
        {**ok, "event_id": "wrong-campaign", "type": "opened", "marketing_email_id": world["sale"].public_id},
        {**ok, "event_id": "when", "type": "opened", "occurred_at": "yesterday"},
        {**ok, "event_id": "good-2", "type": "clicked", "url": SALE_URL},
    ]

    outcome = post_events(api, events)

    assert (outcome["accepted"], outcome["duplicates"]) == (2, 0)
    invalid = {entry["index"]: entry for entry in outcome["invalid"]}
    assert sorted(invalid) == list(range(1, 12))
    assert [entry["index"] for entry in outcome["invalid"]] == sorted(invalid)
    assert invalid[1]["event_id"] == "bad-type" and "type" in invalid[1]["reason"]
    assert "subscriber_id" in invalid[2]["reason"]
    assert "url" in invalid[3]["reason"]
    assert invalid[4]["event_id"] is None
    assert invalid[5]["event_id"] is None and "event_id" in invalid[5]["reason"]
    assert invalid[6]["reason"] == "subscriber not found"
    assert invalid[7]["reason"] == "no subscriber with this email"
    assert invalid[8]["reason"] == "marketing email not found"
    assert "amount" in invalid[9]["reason"]
    assert "campaign_code" in invalid[10]["reason"]
    assert "occurred_at" in invalid[11]["reason"]
    record = Engagement.objects.get()
    assert (record.open_count, record.click_count) == (1, 1)


@pytest.mark.parametrize(
    "body",
    [{}, {"events": []}, {"events": "nope"}, {"events": [{}] * 1001}, ["events"]],
)
def test_a_batch_that_is_not_a_list_of_up_to_1000_events_is_refused(api, world, body):
    assert_error(api.post(EVENTS, body), 400, "VALIDATION_ERROR")


def test_posting_events_needs_the_write_scope(make_client, world):
    event = {"event_id": "e", "type": "opened", "subscriber_id": world["subscriber"].public_id}

    assert_error(make_client("subscribers:read").post(EVENTS, {"events": [event]}), 403, "FORBIDDEN")
    assert make_client("subscribers:write").post(EVENTS, {"events": [event]}).status_code == 200


# The engagements page


@pytest.fixture
def history(api, world):
    """Engagement with three campaigns: the summer sale (its email), the winter sale (its email), and a code alone."""
    subscriber = world["subscriber"]
    base = {"subscriber_id": subscriber.public_id, "type": "sent"}
    post_events(
        api,
        [
            {**base, "event_id": "1", "marketing_email_id": world["sale"].public_id, "occurred_at": at("06-15 10:00")},
            {
                **base,
                "event_id": "2",
                "marketing_email_id": world["winter"].public_id,
                "occurred_at": at("12-01 10:00"),
            },
            {**base, "event_id": "3", "campaign_code": "SPRING-2024", "occurred_at": at("03-01 10:00")},
        ],
    )
    return subscriber


def codes(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [record["campaign_code"] for record in response.json()["results"]]


def test_engagements_latest_send_first(api, history):
    assert codes(engagements(api, history)) == ["WINTER-2024", "SUMMER-SALE-2024", "SPRING-2024"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"campaignCode": "SPRING-2024"}, ["SPRING-2024"]),
        ({"campaignCode": "NONE"}, []),
        ({}, ["WINTER-2024", "SUMMER-SALE-2024", "SPRING-2024"]),
        ({"campaignCode": "", "marketingEmailId": None}, ["WINTER-2024", "SUMMER-SALE-2024", "SPRING-2024"]),
    ],
)
def test_engagements_filters(api, history, filters, expected):
    assert codes(engagements(api, history, {"page": 1, "limit": 10, "filters": filters})) == expected


def test_engagements_filter_by_marketing_email(api, world, history):
    body = {"page": 1, "limit": 10, "filters": {"marketingEmailId": world["winter"].public_id}}

    response = engagements(api, history, body)

    assert codes(response) == ["WINTER-2024"]
    assert response.json()["results"][0]["marketing_email_id"] == world["winter"].public_id


def test_engagements_pages(api, history):
    first = engagements(api, history, {"page": 1, "limit": 2, "filters": {}}).json()
    second = engagements(api, history, {"page": 2, "limit": 2, "filters": {}}).json()
    beyond = engagements(api, history, {"page": 9, "limit": 2, "filters": {}}).json()

    assert (first["total"], first["totalPages"], len(first["results"])) == (3, 2, 2)
    assert (second["total"], second["totalPages"], len(second["results"])) == (3, 2, 1)
    assert beyond == {"results": [], "total": 3, "totalPages": 2}


def test_engagements_of_a_subscriber_without_any(api, world):
    other = SubscriberFactory()

    assert engagements(api, other).json() == {"results": [], "total": 0, "totalPages": 0}


@pytest.mark.parametrize("subscriber_id", ["sub_doesnotexist", "x" * 300])
def test_engagements_of_an_unknown_subscriber(api, world, subscriber_id):
    response = api.post(f"/api/subscribers/{subscriber_id}/engagements", {"page": 1, "limit": 10, "filters": {}})

    assert_error(response, 404, "SUBSCRIBER_NOT_FOUND")


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"page": 1, "limit": 10, "filters": {"campaign": "X"}}, "INVALID_FILTER", "filters.campaign"),
        ({"page": 0, "limit": 10}, "VALIDATION_ERROR", "page"),
        ({"page": 1, "limit": 10, "filters": "X"}, "VALIDATION_ERROR", "filters"),
        ({"page": 1, "limit": 10, "filters": {"campaignCode": ["X"]}}, "VALIDATION_ERROR", "filters.campaignCode"),
    ],
)
def test_engagements_bad_requests(api, history, body, code, field):
    assert_error(engagements(api, history, body), 400, code, field)


def test_engagements_need_the_read_scope(make_client, history):
    assert engagements(make_client("subscribers:read"), history).status_code == 200
    assert_error(engagements(make_client("lists:read"), history), 403, "FORBIDDEN")


def test_engagements_page_takes_a_fixed_number_of_queries(api, world, django_assert_max_num_queries):
    subscriber = world["subscriber"]

    def send(codes: range) -> None:
        post_events(api, [{"event_id": f"s{i}", "type": "sent", "subscriber_id": subscriber.public_id,
                           "campaign_code": f"C{i}"} for i in codes])  # fmt: skip

    send(range(2))
    with CaptureQueriesContext(connection) as few:
        engagements(api, subscriber, {"page": 1, "limit": 50})
    few_queries = len(few)  # read now: the next request resets the connection's query log
    send(range(2, 40))
    with django_assert_max_num_queries(few_queries):
        response = engagements(api, subscriber, {"page": 1, "limit": 50})

    assert len(response.json()["results"]) == 40


# Unsubscribing through Roster's own link


def test_one_click_unsubscribe_records_the_unsubscribe_on_the_emails_engagement(anonymous, world):
    subscriber, sale = world["subscriber"], world["sale"]
    token = make_token(Purpose.UNSUBSCRIBE, subscriber, marketing_email=sale)

    for _ in range(2):  # mail clients retry
        response = anonymous.post(
            f"/unsubscribe/{token}",
            "List-Unsubscribe=One-Click",
            format=None,
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code in (200, 202, 204), response.content

    record = Engagement.objects.get(subscriber=subscriber, marketing_email=sale)
    assert record.unsubscribed_at is not None
    assert record.campaign_code == "SUMMER-SALE-2024"
    assert EngagementEvent.objects.filter(engagement=record, event_type="unsubscribed").count() == 1


def test_unsubscribing_from_everything_in_the_preference_center_records_it_on_the_emails_engagement(anonymous, world):
    subscriber, sale = world["subscriber"], world["sale"]
    token = make_token(Purpose.PREFERENCES, subscriber, marketing_email=sale)

    response = anonymous.put(
        f"/api/subscribers/preferences/{token}",
        {"subscription_updates": [], "replace_all": False, "subscriber_updates": {"mark_inactive": True}},
    )

    assert response.status_code == 200, response.content
    record = Engagement.objects.get(subscriber=subscriber, marketing_email=sale)
    assert record.unsubscribed_at is not None


def test_a_bounce_after_unsubscribing_keeps_the_subscriber_from_coming_back(api, world):
    subscriber, sale = world["subscriber"], world["sale"]
    page = ConsentSource(source="preference_center")
    preference_center_update(subscriber=subscriber, updates=[], replace_all=True, mark_inactive=True, source=page)

    post_events(api, [{"event_id": "b1", "subscriber_id": subscriber.public_id, "type": "bounced"}])
    post_events(api, [{"event_id": "b2", "subscriber_id": subscriber.public_id, "type": "bounced"}])

    subscriber.refresh_from_db()
    assert (subscriber.active, subscriber.inactive_reason) == (False, "Hard bounce - Invalid email")
    assert ConsentRecord.objects.filter(subscriber=subscriber, source="bounce").count() == 1
    stype = sale.subscription_type or SubscriptionType.objects.create(name="News")
    outcome = preference_center_update(
        subscriber=subscriber,
        updates=[{"subscription_type_id": stype.public_id, "subscribe": True}],
        replace_all=False,
        source=page,
    )
    subscriber.refresh_from_db()
    assert outcome.reactivation_refused and not subscriber.active
