"""What audience rules name cannot be deleted from under them, and engagement moves subscribers at once."""

import pytest

from audiences.models import Audience, MarketingList
from subscribers.models import SubscriptionType, Tag
from tests.api_assertions import assert_error, created_id

pytestmark = pytest.mark.django_db


def audience_with(api, name: str, *conditions: dict) -> str:
    return created_id(
        api.post("/api/audiences", {"name": name, "rules": {"match": "all", "conditions": list(conditions)}})
    )


def test_lists_tags_types_and_audiences_named_by_rules_cannot_be_deleted(api):
    static = created_id(api.post("/api/lists", {"name": "Customers", "mode": "static", "audience_id": "aud_default"}))
    tag = created_id(api.post("/api/tags", {"name": "vip"}))
    stype = created_id(api.post("/api/subscription-types", {"name": "News"}))
    base = created_id(api.post("/api/audiences", {"name": "Base"}))
    audience_with(
        api,
        "Named",
        {"field": "lists", "operation": "in", "value": [static]},
        {"field": "tags", "operation": "in", "value": ["vip"]},
        {"field": "subscriptions", "operation": "in", "value": [stype]},
        {"field": "audiences", "operation": "in", "value": [base]},
    )

    assert_error(api.delete(f"/api/lists/{static}"), 409, "INVALID_AUDIENCE", "id")
    assert_error(api.delete(f"/api/tags/{tag}"), 409, "INVALID_AUDIENCE", "id")  # named by its name
    assert_error(api.delete(f"/api/subscription-types/{stype}"), 409, "INVALID_AUDIENCE", "id")
    assert_error(api.delete(f"/api/audiences/{base}"), 409, "INVALID_AUDIENCE", "id")
    assert MarketingList.objects.filter(public_id=static).exists()
    assert Tag.objects.filter(public_id=tag).exists()
    assert SubscriptionType.objects.filter(public_id=stype).exists()
    assert Audience.objects.filter(public_id=base).exists()

    Audience.objects.filter(name="Named").update(rules=None)
    assert api.delete(f"/api/lists/{static}").status_code == 200
    assert api.delete(f"/api/tags/{tag}").status_code == 200


def test_engagement_events_move_subscribers_into_engagement_audiences_at_once(api):
    subscriber = created_id(api.post("/api/subscribers", {"first_name": "O", "email": "opener@example.com"}))
    audience = audience_with(
        api, "Openers", {"field": "engagement.opens", "operation": "gte", "value": 2, "window": "30 days"}
    )

    events = [
        {"event_id": f"o{index}", "type": "opened", "subscriber_id": subscriber, "campaign_code": "C"}
        for index in range(2)
    ]
    assert api.post("/api/engagements/events", {"events": events[:1]}).json()["accepted"] == 1
    assert api.get(f"/api/audiences/{audience}/count").json()["count"] == 0
    assert api.post("/api/engagements/events", {"events": events}).json()["accepted"] == 1

    assert api.get(f"/api/audiences/{audience}/count").json()["count"] == 1
    assert api.get(f"/api/audiences/{audience}/members/{subscriber}/explain").json()["stored_member"] is True
