"""What GET answers can be sent back (issue 8, point 7): for subscribers, subscription types, custom fields and tags,
a body read with GET is accepted by PUT unchanged (and changes nothing), and by POST with its name or email changed
(and creates the same thing). Unknown keys: tests/core/test_request_bodies.py."""

import pytest

from subscribers.models import ConsentRecord, SubscriptionPreference
from tests.api_assertions import assert_error, created_id

RECORD_KEYS = ("id", "created_at", "updated_at", "version")


def without(body: dict, *names: str) -> dict:
    return {key: value for key, value in body.items() if key not in names}


@pytest.fixture
def full_subscriber(api) -> dict:
    """A subscriber with something in every field GET answers."""
    news = created_id(api.post("/api/subscription-types", {"name": "News"}))
    offers = created_id(api.post("/api/subscription-types", {"name": "Offers"}))
    created_id(api.post("/api/custom-fields", {"name": "plan", "type": "dropdown", "values": ["gold", "free"]}))
    manual = created_id(api.post("/api/audiences", {"name": "Hand-picked"}))
    ruled = created_id(
        api.post(
            "/api/audiences",
            {"name": "Gold", "rules": {"match": "all", "conditions": [
                {"field": "additional_fields_data.plan", "operation": "eq", "value": "gold"}]}},
        )
    )  # fmt: skip
    static_list = created_id(api.post("/api/lists", {"name": "VIP", "mode": "static", "audience_id": manual}))
    tag = created_id(api.post("/api/tags", {"name": "vip"}))
    subscriber = created_id(
        api.post(
            "/api/subscribers",
            {
                "first_name": "Ann",
                "last_name": "Lee",
                "email": "ann@example.com",
                "audiences": [manual],
                "lists": [static_list],
                "tags": [tag],
                "additional_fields_data": {"plan": "gold", "company": "Acme", "seats": 12},
                "subscription_updates": [
                    {"subscription_type_id": news, "subscribe": True},
                    {"subscription_type_id": offers, "subscribe": False},
                ],
            },
        )
    )
    return {"id": subscriber, "news": news, "offers": offers, "manual": manual, "ruled": ruled}


def test_a_subscriber_read_with_get_is_taken_back_by_put_unchanged(api, full_subscriber):
    path = f"/api/subscribers/{full_subscriber['id']}"
    body = api.get(path).json()
    assert body["subscription_preferences"] and body["lists"] and body["tags"] and body["audiences"]
    consent_before = ConsentRecord.objects.count()

    assert created_id(api.put(path, body)) == full_subscriber["id"]

    assert api.get(path).json() == body  # same version: nothing changed
    assert ConsentRecord.objects.count() == consent_before


def test_a_subscriber_read_with_get_creates_the_same_subscriber_with_another_email(api, full_subscriber):
    body = api.get(f"/api/subscribers/{full_subscriber['id']}").json()

    twin_id = created_id(api.post("/api/subscribers", {**body, "email": "twin@example.com"}))

    twin = api.get(f"/api/subscribers/{twin_id}").json()
    assert twin_id != body["id"] and twin["version"] == 1
    same = ("first_name", "last_name", "active", "inactive_reason", "lists", "tags", "additional_fields_data")
    assert {name: twin[name] for name in same} == {name: body[name] for name in same}
    assert set(twin["audiences"]) == set(body["audiences"])

    def consent(answer: dict) -> dict:
        return {p["subscription_type_id"]: p["subscribed"] for p in answer["subscription_preferences"]}

    assert consent(twin) == consent(body) == {full_subscriber["news"]: True, full_subscriber["offers"]: False}


def test_subscription_preferences_on_create_store_consent(api):
    """The defect reported: the shape GET answers was accepted and its consent silently dropped."""
    news = created_id(api.post("/api/subscription-types", {"name": "News"}))

    subscriber = created_id(
        api.post(
            "/api/subscribers",
            {
                "first_name": "Bo",
                "email": "bo@example.com",
                "subscription_preferences": [
                    {
                        "subscription_type_id": news,
                        "subscribed": True,
                        "subscribed_date": None,
                        "unsubscribed_date": None,
                    }
                ],
            },
        )
    )

    preferences = api.get(f"/api/subscribers/{subscriber}").json()["subscription_preferences"]
    assert [(p["subscription_type_id"], p["subscribed"]) for p in preferences] == [(news, True)]
    assert preferences[0]["subscribed_date"] is not None  # the server's date, not the body's null


def test_subscription_preferences_on_update_change_consent_as_subscription_updates_do(api, full_subscriber):
    path = f"/api/subscribers/{full_subscriber['id']}"
    body = api.get(path).json()
    for preference in body["subscription_preferences"]:
        preference["subscribed"] = not preference["subscribed"]

    assert api.put(path, body).status_code == 200

    stored = dict(SubscriptionPreference.objects.values_list("subscription_type__public_id", "subscribed"))
    assert stored == {full_subscriber["news"]: False, full_subscriber["offers"]: True}
    assert api.get(path).json()["version"] == body["version"] + 1


def test_subscription_preferences_contradicting_subscription_updates_are_refused(api, full_subscriber):
    news = full_subscriber["news"]
    body = {
        "subscription_preferences": [{"subscription_type_id": news, "subscribed": True}],
        "subscription_updates": [{"subscription_type_id": news, "subscribe": False}],
    }

    assert_error(
        api.put(f"/api/subscribers/{full_subscriber['id']}", body),
        400,
        "INVALID_SUBSCRIBER",
        "subscription_preferences.0.subscribed",
    )


def test_an_unknown_subscription_type_in_subscription_preferences_keeps_the_seed_code(api):
    body = {
        "first_name": "Bo",
        "email": "bo@example.com",
        "subscription_preferences": [{"subscription_type_id": "stype_missing", "subscribed": True}],
    }

    assert_error(api.post("/api/subscribers", body), 400, "INVALID_PREFERENCE")


@pytest.mark.parametrize(
    ("collection", "body", "changed"),
    [
        ("subscription-types", {"name": "News", "description": "Monthly"}, {"name": "Offers"}),
        (
            "custom-fields",
            {
                "name": "tier",
                "type": "dropdown",
                "values": ["gold", "free"],
                "required": True,
                "default": "free",
                "description": "Plan",
            },
            {"name": "level"},
        ),  # fmt: skip
        ("tags", {"name": "vip", "status": 2}, {"name": "big"}),
    ],
)
def test_a_settings_resource_read_with_get_round_trips(api, collection, body, changed):
    resource = created_id(api.post(f"/api/{collection}", body))
    path = f"/api/{collection}/{resource}"
    read = api.get(path).json()

    assert created_id(api.put(path, read)) == resource
    assert api.get(path).json() == read

    copy = created_id(api.post(f"/api/{collection}", {**read, **changed}))
    assert without(api.get(f"/api/{collection}/{copy}").json(), *RECORD_KEYS) == without(
        {**read, **changed}, *RECORD_KEYS
    )
