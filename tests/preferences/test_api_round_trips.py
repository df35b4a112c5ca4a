"""What GET answers can be sent back (issue 8, point 7): marketing emails, and the token-authorized preferences
(`subscriber.subscriptions` as GET answers them stand for `subscription_updates`). Unknown keys:
tests/core/test_request_bodies.py."""

from preferences.tokens import Purpose, make_token
from subscribers.models import ConsentRecord, SubscriptionPreference
from subscribers.services import preferences_apply
from tests.api_assertions import assert_error, created_id
from tests.factories import SubscriberFactory, SubscriptionTypeFactory

RECORD_KEYS = ("id", "created_at", "updated_at", "version")


def without(body: dict, *names: str) -> dict:
    return {key: value for key, value in body.items() if key not in names}


def test_a_marketing_email_read_with_get_round_trips(api):
    stype = created_id(api.post("/api/subscription-types", {"name": "News"}))
    email = created_id(
        api.post(
            "/api/marketing-emails",
            {"name": "Welcome", "subject": "Hi {{ first_name }}", "campaign_code": "W-1",
             "subscription_type_id": stype, "html_content": "<p>Hi</p>", "sent_at": "2024-06-15T10:00:00Z"},
        )
    )  # fmt: skip
    path = f"/api/marketing-emails/{email}"
    read = api.get(path).json()

    assert created_id(api.put(path, read)) == email
    assert api.get(path).json() == read

    copy = created_id(api.post("/api/marketing-emails", {**read, "name": "Welcome again"}))
    assert without(api.get(f"/api/marketing-emails/{copy}").json(), *RECORD_KEYS) == {
        **without(read, *RECORD_KEYS),
        "name": "Welcome again",
    }


def test_preferences_read_with_get_are_taken_back_by_put(anonymous, db):
    news, offers = SubscriptionTypeFactory(), SubscriptionTypeFactory()
    subscriber = SubscriberFactory()
    preferences_apply(subscriber=subscriber, updates=[{"subscription_type_id": news.public_id, "subscribe": True}])
    path = f"/api/subscribers/preferences/{make_token(Purpose.PREFERENCES, subscriber)}"
    read = anonymous.get(path).json()
    consent = ConsentRecord.objects.count()

    assert anonymous.put(path, read).json() == {"success": True}
    assert anonymous.get(path).json() == read
    assert ConsentRecord.objects.count() == consent  # nothing changed

    for state in read["subscriber"]["subscriptions"]:
        state["subscribed"] = not state["subscribed"]
    assert anonymous.put(path, read).json() == {"success": True}
    stored = dict(SubscriptionPreference.objects.values_list("subscription_type_id", "subscribed"))
    assert stored == {news.pk: False, offers.pk: True}


def test_preferences_may_not_give_both_shapes(anonymous, db):
    subscriber = SubscriberFactory()
    path = f"/api/subscribers/preferences/{make_token(Purpose.PREFERENCES, subscriber)}"
    body = {"subscription_updates": [], "replace_all": False, "subscriber": {"subscriptions": []}}

    assert_error(anonymous.put(path, body), 400, "VALIDATION_ERROR", "subscriber.subscriptions")


def test_preferences_sent_back_leave_a_type_added_since_as_it_is(anonymous, db):
    news = SubscriptionTypeFactory()
    subscriber = SubscriberFactory()
    path = f"/api/subscribers/preferences/{make_token(Purpose.PREFERENCES, subscriber)}"
    read = anonymous.get(path).json()
    later = SubscriptionTypeFactory()
    preferences_apply(subscriber=subscriber, updates=[{"subscription_type_id": later.public_id, "subscribe": True}])

    read["subscriber"]["subscriptions"][0]["subscribed"] = True
    assert anonymous.put(path, read).json() == {"success": True}

    stored = dict(SubscriptionPreference.objects.values_list("subscription_type_id", "subscribed"))
    assert stored == {news.pk: True, later.pk: True}
