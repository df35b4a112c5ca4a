"""Consent: subscription types (CRUD) and per-subscriber preferences given and withdrawn via subscription_updates."""

import datetime as dt
import re

import pytest

from subscribers.models import Subscriber, SubscriptionPreference, SubscriptionType
from tests.api_assertions import TIMESTAMP, assert_error, created_id


def types_stored() -> list[dict]:
    return list(SubscriptionType.objects.order_by("pk").values())


def consent_stored() -> dict:
    return {
        "subscribers": list(Subscriber.objects.order_by("pk").values()),
        "preferences": list(SubscriptionPreference.objects.order_by("pk").values()),
    }


def make_stype(api, name: str, description: str = "") -> str:
    return created_id(api.post("/api/subscription-types", {"name": name, "description": description}))


def make_subscriber(api, email: str, **fields) -> str:
    return created_id(api.post("/api/subscribers", {"first_name": "Sam", "email": email, **fields}))


def preferences(api, subscriber_id: str) -> dict[str, dict]:
    body = api.get(f"/api/subscribers/{subscriber_id}").json()
    return {p["subscription_type_id"]: p for p in body["subscription_preferences"]}


def update(api, subscriber_id: str, *changes: tuple[str, bool], **extra):
    updates = [{"subscription_type_id": type_id, "subscribe": subscribe} for type_id, subscribe in changes]
    return api.put(f"/api/subscribers/{subscriber_id}", {"subscription_updates": updates, **extra})


# Subscription types


def test_create_and_get_a_subscription_type(api):
    type_id = make_stype(api, "Promotional Emails", "Special offers, sales, and exclusive deals")

    response = api.get(f"/api/subscription-types/{type_id}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "name", "description", "created_at", "updated_at", "version"}
    assert re.match(r"^stype_[A-Za-z0-9]+$", body["id"])
    assert (body["name"], body["description"]) == ("Promotional Emails", "Special offers, sales, and exclusive deals")
    assert TIMESTAMP.match(body["created_at"])
    assert (body["updated_at"], body["version"]) == (None, 1)
    assert SubscriptionType.objects.get(public_id=type_id).name == "Promotional Emails"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 151}, "name"),
        ({"name": "NEWSLETTER"}, "name"),
        ({"name": ["Newsletter"]}, "name"),
        ({"name": "Other", "description": "x" * 2001}, "description"),
    ],
)
def test_create_a_bad_subscription_type_is_400_and_stores_nothing(api, payload, field):
    make_stype(api, "Newsletter")
    before = types_stored()

    response = api.post("/api/subscription-types", payload)

    assert_error(response, 400, "VALIDATION_ERROR", field)
    assert types_stored() == before


def test_list_subscription_types_with_search_filters_and_pages(api):
    for name, description in [("Newsletter", "Monthly news"), ("Promotions", "Offers"), ("Product updates", "News")]:
        make_stype(api, name, description)

    def names(request: dict) -> tuple[list[str], int, int]:
        response = api.post("/api/subscription-types/list", {"page": 1, "limit": 10, **request})
        assert response.status_code == 200, response.json()
        body = response.json()
        return [row["name"] for row in body["results"]], body["total"], body["totalPages"]

    assert names({}) == (["Newsletter", "Product updates", "Promotions"], 3, 1)
    assert names({"search": "news"}) == (["Newsletter", "Product updates"], 2, 1)
    assert names({"filters": {"name": {"operation": "like", "value": "pro"}}}) == (
        ["Product updates", "Promotions"],
        2,
        1,
    )
    assert names({"limit": 2, "page": 2}) == (["Promotions"], 3, 2)
    assert names({"sort": "-name", "limit": 1}) == (["Promotions"], 3, 3)
    bad = api.post("/api/subscription-types/list", {"page": 1, "limit": 10, "filters": {"colour": {"operation": "eq"}}})
    assert_error(bad, 400, "INVALID_FILTER", "filters.colour")


def test_update_a_subscription_type_bumps_version_and_checks_it(api):
    type_id = make_stype(api, "Newsletter", "Old")
    make_stype(api, "Promotions")

    created_id(api.put(f"/api/subscription-types/{type_id}", {"name": "Newsletter", "description": "New"}))

    stored = SubscriptionType.objects.get(public_id=type_id)
    assert (stored.description, stored.version) == ("New", 2)
    assert stored.updated_at is not None
    before = types_stored()
    refused = [
        api.put(f"/api/subscription-types/{type_id}", {"name": "promotions"}),
        api.put(f"/api/subscription-types/{type_id}", {"name": "Renamed", "version": 1}),
        api.put(f"/api/subscription-types/{type_id}", {"name": "Renamed"}, HTTP_IF_MATCH='"1"'),
        api.put("/api/subscription-types/stype_unknown", {"name": "Renamed"}),
    ]
    assert_error(refused[0], 400, "VALIDATION_ERROR", "name")
    assert_error(refused[1], 409, "VERSION_CONFLICT")
    assert_error(refused[2], 409, "VERSION_CONFLICT")
    assert_error(refused[3], 404, "NOT_FOUND")
    assert types_stored() == before


def test_delete_a_subscription_type(api):
    type_id = make_stype(api, "Newsletter")
    kept = make_stype(api, "Kept")

    response = api.delete(f"/api/subscription-types/{type_id}")

    assert response.status_code == 200
    assert response.json() == {"id": type_id}
    assert_error(api.get(f"/api/subscription-types/{type_id}"), 404, "NOT_FOUND")
    assert_error(api.delete(f"/api/subscription-types/{type_id}"), 404, "NOT_FOUND")
    assert list(SubscriptionType.objects.values_list("public_id", flat=True)) == [kept]


def test_subscription_types_need_the_settings_scope(make_client):
    subscribers_only = make_client("subscribers:write")
    read_only = make_client("settings:read")

    assert_error(subscribers_only.post("/api/subscription-types", {"name": "X"}), 403, "FORBIDDEN")
    assert_error(read_only.post("/api/subscription-types", {"name": "X"}), 403, "FORBIDDEN")
    assert read_only.post("/api/subscription-types/list", {"page": 1, "limit": 10}).status_code == 200
    assert SubscriptionType.objects.count() == 0


# Preferences through subscription_updates


def test_create_with_subscription_updates_records_consent_and_its_date(api):
    promo = make_stype(api, "Promotional")
    news = make_stype(api, "Newsletter")

    subscriber_id = make_subscriber(
        api,
        "a@example.com",
        subscription_updates=[
            {"subscription_type_id": promo, "subscribe": True},
            {"subscription_type_id": news, "subscribe": False},
        ],
    )

    prefs = preferences(api, subscriber_id)
    assert set(prefs) == {promo, news}
    assert set(prefs[promo]) == {"subscription_type_id", "subscribed", "subscribed_date", "unsubscribed_date"}
    assert prefs[promo]["subscribed"] is True
    assert TIMESTAMP.match(prefs[promo]["subscribed_date"])
    assert prefs[promo]["unsubscribed_date"] is None
    assert prefs[news]["subscribed"] is False
    assert prefs[news]["subscribed_date"] is None
    assert TIMESTAMP.match(prefs[news]["unsubscribed_date"])
    assert Subscriber.objects.get(public_id=subscriber_id).version == 1


def test_subscribe_then_unsubscribe_then_resubscribe_keeps_both_dates(api):
    promo = make_stype(api, "Promotional")
    subscriber_id = make_subscriber(api, "a@example.com")

    created_id(update(api, subscriber_id, (promo, True)))
    subscribed = preferences(api, subscriber_id)[promo]
    assert subscribed["subscribed"] is True
    assert subscribed["unsubscribed_date"] is None
    assert Subscriber.objects.get(public_id=subscriber_id).version == 2

    created_id(update(api, subscriber_id, (promo, False)))
    unsubscribed = preferences(api, subscriber_id)[promo]
    assert unsubscribed["subscribed"] is False
    assert unsubscribed["subscribed_date"] == subscribed["subscribed_date"]
    assert TIMESTAMP.match(unsubscribed["unsubscribed_date"])
    assert unsubscribed["unsubscribed_date"] >= subscribed["subscribed_date"]
    subscriber = Subscriber.objects.get(public_id=subscriber_id)
    assert subscriber.version == 3
    assert subscriber.updated_at is not None

    created_id(update(api, subscriber_id, (promo, True)))
    resubscribed = preferences(api, subscriber_id)[promo]
    assert resubscribed["subscribed"] is True
    assert resubscribed["subscribed_date"] >= unsubscribed["unsubscribed_date"]
    assert resubscribed["unsubscribed_date"] == unsubscribed["unsubscribed_date"]
    assert SubscriptionPreference.objects.filter(subscriber__public_id=subscriber_id).count() == 1


def test_repeating_the_current_choice_changes_nothing(api):
    promo = make_stype(api, "Promotional")
    subscriber_id = make_subscriber(
        api, "a@example.com", subscription_updates=[{"subscription_type_id": promo, "subscribe": True}]
    )
    before = consent_stored()

    created_id(update(api, subscriber_id, (promo, True)))

    assert consent_stored() == before


def test_preferences_not_named_stay_as_they_are(api):
    promo = make_stype(api, "Promotional")
    news = make_stype(api, "Newsletter")
    subscriber_id = make_subscriber(
        api, "a@example.com", subscription_updates=[{"subscription_type_id": promo, "subscribe": True}]
    )

    created_id(update(api, subscriber_id, (news, True)))

    prefs = preferences(api, subscriber_id)
    assert prefs[promo]["subscribed"] is True
    assert prefs[news]["subscribed"] is True


def test_an_unknown_type_is_invalid_preference_and_nothing_changes(api):
    promo = make_stype(api, "Promotional")
    subscriber_id = make_subscriber(api, "a@example.com")
    before = consent_stored()

    response = update(api, subscriber_id, (promo, True), ("stype_unknown", False), first_name="Changed")

    body = assert_error(response, 400, "INVALID_PREFERENCE", "subscription_updates")
    assert "stype_unknown" in " ".join(issue["message"] for issue in body["issues"])
    assert promo not in " ".join(issue["message"] for issue in body["issues"])
    assert consent_stored() == before


def test_an_unknown_type_on_create_stores_no_subscriber(api):
    before = consent_stored()

    response = api.post(
        "/api/subscribers",
        {
            "first_name": "A",
            "email": "a@example.com",
            "subscription_updates": [{"subscription_type_id": "stype_unknown", "subscribe": True}],
        },
    )

    assert_error(response, 400, "INVALID_PREFERENCE", "subscription_updates")
    assert consent_stored() == before


@pytest.mark.parametrize(
    ("updates", "field"),
    [
        ([{"subscription_type_id": "stype_x"}], "subscription_updates.0.subscribe"),
        ([{"subscribe": True}], "subscription_updates.0.subscription_type_id"),
        ([{"subscription_type_id": "stype_x", "subscribe": "sometimes"}], "subscription_updates.0.subscribe"),
        ({"subscription_type_id": "stype_x", "subscribe": True}, "subscription_updates"),
        (["stype_x"], "subscription_updates.0"),
    ],
)
def test_malformed_subscription_updates_are_400_and_nothing_changes(api, updates, field):
    subscriber_id = make_subscriber(api, "a@example.com")
    before = consent_stored()

    response = api.put(f"/api/subscribers/{subscriber_id}", {"subscription_updates": updates})

    assert_error(response, 400, "INVALID_SUBSCRIBER", field)
    assert consent_stored() == before


def test_deleting_a_subscription_type_removes_it_from_subscribers(api):
    promo = make_stype(api, "Promotional")
    news = make_stype(api, "Newsletter")
    subscriber_id = make_subscriber(
        api,
        "a@example.com",
        subscription_updates=[
            {"subscription_type_id": promo, "subscribe": True},
            {"subscription_type_id": news, "subscribe": True},
        ],
    )

    assert api.delete(f"/api/subscription-types/{promo}").status_code == 200

    assert set(preferences(api, subscriber_id)) == {news}


def test_preference_dates_are_the_stored_ones_in_utc_with_milliseconds(api):
    promo = make_stype(api, "Promotional")
    subscriber_id = make_subscriber(
        api, "a@example.com", subscription_updates=[{"subscription_type_id": promo, "subscribe": True}]
    )
    SubscriptionPreference.objects.filter(subscriber__public_id=subscriber_id).update(
        subscribed_date=dt.datetime(2024, 3, 15, 10, 30, 0, 123456, tzinfo=dt.UTC),
        unsubscribed_date=dt.datetime(2024, 3, 18, 11, 0, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    )

    prefs = preferences(api, subscriber_id)

    assert prefs[promo]["subscribed_date"] == "2024-03-15T10:30:00.123Z"
    assert prefs[promo]["unsubscribed_date"] == "2024-03-18T09:00:00.000Z"
