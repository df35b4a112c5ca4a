"""Materialized membership kept up to date (issue 4, point 2): a subscriber created, changed or deleted moves in and
out of rule audiences in the same request, with no worker run; manual additions and rule matches are two separate
sources; rules that depend on the clock are refreshed by the scheduled task."""

import datetime as dt

import pytest
from django.utils import timezone

from audiences.models import DEFAULT_AUDIENCE_ID, Audience, AudienceMembership
from audiences.tasks import refresh_time_relative_audiences
from preferences.tokens import Purpose, make_token
from subscribers.models import EngagementEvent, Subscriber
from tests.api_assertions import created_id
from tests.audiences.conftest import (
    audiences_of,
    cond,
    count,
    create_audience,
    create_subscriber,
    fresh_matches,
    group,
    member_ids,
    set_rules,
    stored_members,
    update_subscriber,
)

MANUAL, RULE = AudienceMembership.MANUAL, AudienceMembership.RULE
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def rule_audiences(api, catalog, segments_worker) -> dict[str, str]:
    """Rule audiences over every kind of field, one that names another audience, one that names a dynamic list and
    one negated; materialized by the worker, which then has nothing left to do."""
    ids = {}
    premium = group(cond("additional_fields_data.customer_type", "eq", "premium"))
    ids["premium"] = create_audience(api, "Premium", premium)
    ids["vip"] = create_audience(api, "VIP", group(cond("tags", "eq", catalog["vip_tag"])))
    ids["newsletter"] = create_audience(api, "Newsletter", group(cond("subscriptions", "eq", catalog["newsletter"])))
    ids["listed"] = create_audience(api, "Listed", group(cond("lists", "in", [catalog["static_list"]])))
    ids["valuable"] = create_audience(
        api,
        "Valuable and active",
        group(cond("active", "eq", True), cond("additional_fields_data.lifetime_value", "gte", 1000)),
    )
    ids["premium_not_vip"] = create_audience(
        api,
        "Premium, not VIP",
        group(cond("audiences", "eq", ids["premium"]), cond("tags", "nin", [catalog["vip_tag"]])),
    )
    ids["not_premium"] = create_audience(api, "Not premium", group(premium, negate=True))
    premium_list = created_id(
        api.post("/api/lists", {"name": "Premium list", "mode": "dynamic", "audience_id": ids["premium"]})
    )
    ids["premium_list_newsletter"] = create_audience(
        api,
        "Premium list with newsletter",
        group(cond("lists", "eq", premium_list), cond("subscriptions", "in", [catalog["newsletter"]])),
    )
    segments_worker.run()
    assert segments_worker.waiting == 0
    return ids


def assert_in_exactly(subscriber_id: str, names: set[str], audiences: dict[str, str], worker) -> None:
    """The subscriber's stored audiences are these, they agree with the rules evaluated fresh, and no job was needed."""
    assert worker.waiting == 0, "a subscriber change must not need the worker"
    stored = {name for name, audience_id in audiences.items() if audience_id in audiences_of(subscriber_id)}
    assert stored == names
    for audience_id in audiences.values():
        assert (audience_id in audiences_of(subscriber_id)) == (
            subscriber_id in fresh_matches(audience_id) or stored_members(audience_id).get(subscriber_id, 0) & MANUAL
        )


def test_a_subscriber_moves_in_and_out_of_rule_audiences_in_the_same_request(
    api, catalog, rule_audiences, segments_worker
):
    sue = create_subscriber(
        api, "sue@example.com", additional_fields_data={"customer_type": "standard", "lifetime_value": 500}
    )
    assert_in_exactly(sue, {"not_premium"}, rule_audiences, segments_worker)
    assert count(api, rule_audiences["not_premium"]) == 1
    assert member_ids(api, rule_audiences["not_premium"]) == {sue}

    update_subscriber(api, sue, additional_fields_data={"customer_type": "premium", "lifetime_value": 1500})
    assert_in_exactly(sue, {"premium", "valuable", "premium_not_vip"}, rule_audiences, segments_worker)
    assert count(api, rule_audiences["not_premium"]) == 0
    assert member_ids(api, rule_audiences["premium_not_vip"]) == {sue}

    update_subscriber(api, sue, tags=[catalog["vip_tag"]])
    assert_in_exactly(sue, {"premium", "valuable", "vip"}, rule_audiences, segments_worker)

    update_subscriber(
        api, sue, subscription_updates=[{"subscription_type_id": catalog["newsletter"], "subscribe": True}]
    )
    assert_in_exactly(
        sue, {"premium", "valuable", "vip", "newsletter", "premium_list_newsletter"}, rule_audiences, segments_worker
    )

    response = api.post(f"/api/lists/{catalog['static_list']}/subscribers", {"subscriber_id": sue})
    assert response.status_code == 200, response.json()
    assert_in_exactly(
        sue,
        {"premium", "valuable", "vip", "newsletter", "premium_list_newsletter", "listed"},
        rule_audiences,
        segments_worker,
    )

    update_subscriber(api, sue, active=False, inactive_reason="bounced")
    assert_in_exactly(
        sue, {"premium", "vip", "newsletter", "premium_list_newsletter", "listed"}, rule_audiences, segments_worker
    )
    assert api.get(f"/api/audiences/{rule_audiences['premium']}/count").json()["reachable"] == 0

    response = api.delete(f"/api/lists/{catalog['static_list']}/subscribers/{sue}")
    assert response.status_code == 200, response.json()
    assert_in_exactly(sue, {"premium", "vip", "newsletter", "premium_list_newsletter"}, rule_audiences, segments_worker)

    update_subscriber(
        api, sue, subscription_updates=[{"subscription_type_id": catalog["newsletter"], "subscribe": False}]
    )
    assert_in_exactly(sue, {"premium", "vip"}, rule_audiences, segments_worker)

    update_subscriber(api, sue, tags=[], active=True)
    assert_in_exactly(sue, {"premium", "premium_not_vip", "valuable"}, rule_audiences, segments_worker)

    response = api.delete(f"/api/subscribers/{sue}")
    assert response.status_code == 200, response.json()
    assert not AudienceMembership.objects.exists()
    for audience_id in rule_audiences.values():
        assert count(api, audience_id) == 0
    assert segments_worker.waiting == 0


def test_a_subscriber_created_with_everything_is_in_every_matching_audience_at_once(
    api, catalog, rule_audiences, segments_worker
):
    sue = create_subscriber(
        api,
        "sue@example.com",
        additional_fields_data={"customer_type": "premium", "lifetime_value": 1000},
        tags=[catalog["churn_tag"]],
        lists=[catalog["static_list"]],
        subscription_updates=[{"subscription_type_id": catalog["newsletter"], "subscribe": True}],
    )

    assert_in_exactly(
        sue,
        {"premium", "valuable", "premium_not_vip", "newsletter", "listed", "premium_list_newsletter"},
        rule_audiences,
        segments_worker,
    )


def test_contacts_added_in_a_batch_join_rule_audiences_at_once(api, catalog, rule_audiences, segments_worker):
    response = api.post(
        "/api/subscribers/batch",
        {
            "data": [
                {"email": "one@example.com", "first_name": "One", "custom_fields": {"customer_type": "premium"}},
                {"email": "two@example.com", "first_name": "Two", "custom_fields": {"customer_type": "basic"}},
            ],
            "list_id": catalog["static_list"],
            "tags": [catalog["vip_tag"]],
        },
    )
    assert response.status_code == 200, response.json()
    one, two = (row["id"] for row in response.json()["valid_contacts"])

    assert_in_exactly(one, {"premium", "vip", "listed"}, rule_audiences, segments_worker)
    assert_in_exactly(two, {"not_premium", "vip", "listed"}, rule_audiences, segments_worker)


def test_consent_changed_on_the_preference_api_moves_the_subscriber_at_once(
    api, anonymous, catalog, rule_audiences, segments_worker
):
    sue = create_subscriber(api, "sue@example.com", additional_fields_data={"customer_type": "premium"})
    token = make_token(Purpose.PREFERENCES, Subscriber.objects.get(public_id=sue))

    response = anonymous.put(
        f"/api/subscribers/preferences/{token}",
        {
            "subscription_updates": [{"subscription_type_id": catalog["newsletter"], "subscribe": True}],
            "replace_all": False,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert_in_exactly(
        sue, {"premium", "premium_not_vip", "newsletter", "premium_list_newsletter"}, rule_audiences, segments_worker
    )

    response = anonymous.put(
        f"/api/subscribers/preferences/{token}",
        {
            "subscription_updates": [],
            "replace_all": True,
            "subscriber_updates": {"mark_inactive": True, "inactive_reason": "User requested global unsubscribe"},
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert_in_exactly(sue, {"premium", "premium_not_vip"}, rule_audiences, segments_worker)


# --- manual additions and rule matches -------------------------------------------------------------------------


def add(api, audience_id: str, subscriber_id: str) -> None:
    response = api.post(f"/api/audiences/{audience_id}/subscribers", {"subscriber_id": subscriber_id})
    assert response.status_code == 200, response.json()


def remove(api, audience_id: str, subscriber_id: str) -> None:
    response = api.delete(f"/api/audiences/{audience_id}/subscribers/{subscriber_id}")
    assert response.status_code == 200, response.json()


def test_a_manual_addition_and_a_rule_match_are_kept_apart(api, catalog, rule_audiences, segments_worker):
    premium = rule_audiences["premium"]
    sue = create_subscriber(api, "sue@example.com", additional_fields_data={"customer_type": "standard"})

    add(api, premium, sue)  # by hand, although the rules say no
    assert stored_members(premium) == {sue: MANUAL}
    assert premium in api.get(f"/api/subscribers/{sue}").json()["audiences"]
    # An audience that names Premium follows its members, whatever made them members.
    assert_in_exactly(sue, {"premium", "premium_not_vip", "not_premium"}, rule_audiences, segments_worker)

    update_subscriber(api, sue, additional_fields_data={"customer_type": "premium"})
    assert stored_members(premium) == {sue: MANUAL | RULE}

    remove(api, premium, sue)  # the manual addition goes; the rule match stays
    assert stored_members(premium) == {sue: RULE}
    assert member_ids(api, premium) == {sue}

    update_subscriber(api, sue, additional_fields_data={"customer_type": "standard"})
    assert stored_members(premium) == {}
    assert_in_exactly(sue, {"not_premium"}, rule_audiences, segments_worker)

    add(api, premium, sue)
    remove(api, premium, sue)
    assert stored_members(premium) == {}


def test_manual_members_survive_a_rules_change(api, catalog, segments_worker):
    sue = create_subscriber(api, "sue@example.com", additional_fields_data={"customer_type": "standard"})
    ann = create_subscriber(api, "ann@example.com", additional_fields_data={"customer_type": "premium"})
    audience_id = create_audience(api, "Premium", group(cond("additional_fields_data.customer_type", "eq", "premium")))
    segments_worker.run()
    add(api, audience_id, sue)
    add(api, audience_id, ann)

    set_rules(api, audience_id, group(cond("email", "like", "nobody")))
    segments_worker.run()

    assert stored_members(audience_id) == {sue: MANUAL, ann: MANUAL}
    assert count(api, audience_id) == 2


def test_a_put_echoing_the_audiences_it_was_shown_changes_no_membership(api, catalog, rule_audiences, segments_worker):
    sue = create_subscriber(api, "sue@example.com", additional_fields_data={"customer_type": "premium"})
    manual_only = create_audience(api, "Hand-picked")
    add(api, manual_only, sue)
    add(api, rule_audiences["vip"], sue)  # manual, not matching
    add(api, rule_audiences["premium"], sue)  # manual and matching
    shown = api.get(f"/api/subscribers/{sue}").json()
    # `audiences` are the manual additions (and aud_default); `memberships` says every audience and how.
    assert shown["audiences"][0] == DEFAULT_AUDIENCE_ID
    assert set(shown["audiences"][1:]) == {manual_only, rule_audiences["vip"], rule_audiences["premium"]}
    assert {a["id"]: a["how"] for a in shown["memberships"]["audiences"]} == {
        DEFAULT_AUDIENCE_ID: ["default"],
        manual_only: ["manual"],
        rule_audiences["vip"]: ["manual"],
        rule_audiences["premium"]: ["manual", "rule"],
        rule_audiences["premium_not_vip"]: ["rule"],
    }
    before = sorted(AudienceMembership.objects.values_list("audience_id", "subscriber_id", "source"))

    update_subscriber(api, sue, audiences=shown["audiences"], version=shown["version"])

    assert sorted(AudienceMembership.objects.values_list("audience_id", "subscriber_id", "source")) == before
    assert api.get(f"/api/subscribers/{sue}").json()["version"] == shown["version"]

    # Sending none removes the manual additions only: the rules keep their members.
    update_subscriber(api, sue, audiences=[])
    assert stored_members(rule_audiences["premium"]) == {sue: RULE}
    assert stored_members(rule_audiences["premium_not_vip"]) == {sue: RULE}
    assert stored_members(rule_audiences["vip"]) == {}
    assert stored_members(manual_only) == {}
    assert segments_worker.waiting == 0


# --- something that rules name is deleted ---------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["list", "tag", "subscription type", "audience"])
def test_deleting_what_rules_name_never_breaks_subscriber_changes(api, catalog, rule_audiences, segments_worker, kind):
    """Either it cannot be deleted while rules name it, or its deletion leaves subscriber writes working and the
    other audiences live."""
    hand_picked = create_audience(api, "Hand-picked")
    named = create_audience(api, "Names hand-picked", group(cond("audiences", "nin", [hand_picked])))
    path = {
        "list": f"/api/lists/{catalog['static_list']}",
        "tag": f"/api/tags/{catalog['churn_tag']}",
        "subscription type": f"/api/subscription-types/{catalog['offers']}",
        "audience": f"/api/audiences/{hand_picked}",
    }[kind]
    if kind in ("tag", "subscription type"):
        field = "tags" if kind == "tag" else "subscriptions"
        value = catalog["churn_tag"] if kind == "tag" else catalog["offers"]
        set_rules(api, named, group(cond(field, "ne", value)))
    segments_worker.run()

    response = api.delete(path)
    assert response.status_code in (200, 409), response.json()

    sue = create_subscriber(api, "sue@example.com", additional_fields_data={"customer_type": "premium"})
    update_subscriber(api, sue, tags=[catalog["vip_tag"]])

    assert {rule_audiences["premium"], rule_audiences["vip"]} <= audiences_of(sue)
    assert rule_audiences["premium_not_vip"] not in audiences_of(sue)
    assert segments_worker.waiting == 0


# --- rules that depend on the clock ------------------------------------------------------------------------------


def opened(api, subscriber_id: str, event_id: str) -> None:
    response = api.post(
        "/api/engagements/events",
        {"events": [{"event_id": event_id, "type": "opened", "subscriber_id": subscriber_id, "campaign_code": "c"}]},
    )
    assert response.status_code == 200, response.json()
    assert response.json()["accepted"] == 1


def test_members_age_out_of_time_relative_audiences_when_the_schedule_runs(api, catalog, segments_worker):
    sue = create_subscriber(api, "sue@example.com", additional_fields_data={"customer_type": "premium"})
    bob = create_subscriber(api, "bob@example.com", additional_fields_data={"customer_type": "premium"})
    opened(api, sue, "sue-open")
    opened(api, bob, "bob-open")
    lately = create_audience(api, "Opened lately", group(cond("engagement.opens", "gte", 1, window="30 days")))
    last_open = create_audience(api, "Last open lately", group(cond("engagement.last_open_at", "gt", "30 days ago")))
    recent = create_audience(api, "Joined this week", group(cond("created_at", "gt", "7 days ago")))
    ever = create_audience(api, "Opened ever", group(cond("engagement.opens", "gte", 1)))
    plain = create_audience(api, "Premium", group(cond("additional_fields_data.customer_type", "eq", "premium")))
    engaged_premium = create_audience(
        api, "Engaged premium", group(cond("audiences", "eq", lately), cond("audiences", "in", [plain]))
    )
    segments_worker.run()
    clock = {a: Audience.objects.get(public_id=a).rules_are_time_relative for a in (lately, last_open, recent, plain)}
    assert clock == {lately: True, last_open: True, recent: True, plain: False}
    for audience_id in (lately, last_open, recent, ever, engaged_premium):
        assert member_ids(api, audience_id) == {sue, bob}

    # Time passes for sue: her open is now 31 days old, and she joined 8 days ago.
    month_ago = timezone.now() - dt.timedelta(days=31)
    EngagementEvent.objects.filter(subscriber__public_id=sue).update(occurred_at=month_ago)
    Subscriber.objects.filter(public_id=sue).update(created_at=timezone.now() - dt.timedelta(days=8))
    assert member_ids(api, lately) == {sue, bob}  # until the schedule runs
    materialized_before = Audience.objects.get(public_id=lately).materialized_at

    assert refresh_time_relative_audiences() == Audience.objects.filter(rules_are_time_relative=True).count()

    assert member_ids(api, lately) == {bob}
    assert member_ids(api, last_open) == {bob}
    assert member_ids(api, recent) == {bob}
    assert member_ids(api, ever) == {sue, bob}
    assert member_ids(api, plain) == {sue, bob}
    assert member_ids(api, engaged_premium) == {bob}  # follows the audience it names
    assert count(api, lately) == 1
    refreshed = Audience.objects.get(public_id=lately)
    assert refreshed.status == Audience.Status.READY
    assert refreshed.materialized_at > materialized_before
    for audience_id in (lately, last_open, recent, ever, plain, engaged_premium):
        assert set(stored_members(audience_id)) == fresh_matches(audience_id)


def test_live_updates_follow_what_rules_name_even_when_the_rules_stay_the_same(api, catalog, segments_worker):
    """Live updates keep each audience's compiled rules between requests; a change to a list's composition or to a
    custom field's type, with the rules untouched, must still be seen by the next subscriber change."""
    partners = created_id(api.post("/api/lists", {"name": "Partners", "mode": "static", "audience_id": "aud_default"}))
    listed = create_audience(api, "Listed", group(cond("lists", "in", [catalog["static_list"]])))
    scored = create_audience(api, "Scored", group(cond("additional_fields_data.score", "gt", 5)))
    segments_worker.run()
    sue = create_subscriber(api, "sue@example.com", additional_fields_data={"score": 10})
    assert audiences_of(sue) == {scored}  # an undefined key compares as the condition's value does: 10 > 5

    response = api.put(f"/api/lists/{catalog['static_list']}/composition", {"include_lists": [partners]})
    assert response.status_code == 200, response.json()
    segments_worker.run()
    assert api.post(f"/api/lists/{partners}/subscribers", {"subscriber_id": sue}).status_code == 200
    assert audiences_of(sue) == {scored, listed}

    created_id(api.post("/api/custom-fields", {"name": "score", "type": "string"}))
    update_subscriber(api, sue, first_name="Sue")
    assert audiences_of(sue) == {listed}  # as text, "10" sorts before "5"
    assert sue not in fresh_matches(scored)
