"""Audience rules through the API (issue 4, point 1; seed 002 "Audience Rules"; seed 000 "Advanced Segmentation
Strategies"): rules set on create, PUT and POST /rules, read back with GET /rules, recomputed by the worker
(`pending` -> `ready` with `materialized_at`), and every kind of bad rules refused with INVALID_FILTER naming the path
of the bad condition, leaving everything as it was."""

import datetime as dt

import pytest
from django.utils import timezone

from audiences.models import Audience, AudienceMembership
from core.conditions import Group
from tests.api_assertions import TIMESTAMP, assert_error, created_id
from tests.audiences.conftest import (
    cond,
    count,
    create_audience,
    create_subscriber,
    fresh_matches,
    group,
    list_member_ids,
    member_ids,
    set_rules,
    stored_members,
)

MANUAL, RULE = AudienceMembership.MANUAL, AudienceMembership.RULE
with_worker = pytest.mark.django_db(transaction=True, serialized_rollback=True)

PREMIUM = group(cond("additional_fields_data.customer_type", "eq", "premium"))
STANDARD = group(cond("additional_fields_data.customer_type", "eq", "standard"))


def at(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def same_rules(stored: dict | None, sent: dict | None) -> bool:
    """Rules read back mean what was sent (defaults such as `negate: false` may be spelled out)."""
    if stored is None or sent is None:
        return stored is sent
    return Group.model_validate(stored) == Group.model_validate(sent)


def status(api, audience_id: str) -> dict:
    response = api.get(f"/api/audiences/{audience_id}/status")
    assert response.status_code == 200, response.json()
    assert set(response.json()) == {"id", "status", "materialized_at", "has_rules", "failure_reason"}
    return response.json()


def get_rules(api, audience_id: str) -> dict | None:
    response = api.get(f"/api/audiences/{audience_id}/rules")
    assert response.status_code == 200, response.json()
    assert response.json()["id"] == audience_id
    return response.json()["rules"]


def customers(api) -> dict[str, str]:
    """ann and cat are premium (cat inactive), bob is standard, dan has no customer type."""
    return {
        "ann": create_subscriber(api, "ann@example.com", additional_fields_data={"customer_type": "premium"}),
        "bob": create_subscriber(api, "bob@example.com", additional_fields_data={"customer_type": "standard"}),
        "cat": create_subscriber(
            api,
            "cat@example.com",
            active=False,
            inactive_reason="bounced",
            additional_fields_data={"customer_type": "premium"},
        ),
        "dan": create_subscriber(api, "dan@example.com"),
    }


# --- setting and reading rules ---------------------------------------------------------------------------------


@with_worker
def test_rules_given_at_create_are_read_back_and_materialized_by_the_worker(api, catalog, segments_worker):
    people = customers(api)
    before = timezone.now()

    audience_id = create_audience(api, "Premium", PREMIUM)

    assert same_rules(get_rules(api, audience_id), PREMIUM)
    assert status(api, audience_id) == {
        "id": audience_id,
        "status": "pending",
        "materialized_at": None,
        "has_rules": True,
        "failure_reason": None,
    }
    assert api.get(f"/api/audiences/{audience_id}/count").json() == {
        "id": audience_id,
        "count": 0,
        "reachable": 0,
        "status": "pending",
    }

    assert segments_worker.run() == 1

    ready = status(api, audience_id)
    assert ready["status"] == "ready"
    assert TIMESTAMP.match(ready["materialized_at"])
    assert before - dt.timedelta(seconds=1) <= at(ready["materialized_at"]) <= timezone.now()
    assert api.get(f"/api/audiences/{audience_id}/count").json() == {
        "id": audience_id,
        "count": 2,
        "reachable": 1,  # cat is inactive
        "status": "ready",
    }
    assert member_ids(api, audience_id) == {people["ann"], people["cat"]}
    assert stored_members(audience_id) == {people["ann"]: RULE, people["cat"]: RULE}


@with_worker
def test_put_replaces_name_and_rules_in_one_change(api, catalog, segments_worker):
    people = customers(api)
    audience_id = create_audience(api, "Premium", PREMIUM)
    segments_worker.run()
    first_run = at(status(api, audience_id)["materialized_at"])

    response = api.put(f"/api/audiences/{audience_id}", {"name": "Standard", "rules": STANDARD})

    assert response.status_code == 200, response.json()
    assert response.json() == {"id": audience_id}
    got = api.get(f"/api/audiences/{audience_id}").json()
    assert (got["name"], got["version"]) == ("Standard", 2)
    assert same_rules(get_rules(api, audience_id), STANDARD)
    pending = status(api, audience_id)
    assert pending["status"] == "pending"
    assert at(pending["materialized_at"]) == first_run  # the time of the last run, until the next one
    assert member_ids(api, audience_id) == {people["ann"], people["cat"]}  # the old answer until the worker runs

    assert segments_worker.run() == 1

    ready = status(api, audience_id)
    assert ready["status"] == "ready"
    assert at(ready["materialized_at"]) > first_run
    assert member_ids(api, audience_id) == {people["bob"]}
    assert count(api, audience_id) == 1


@with_worker
def test_put_without_rules_keeps_them_and_queues_nothing(api, catalog, segments_worker):
    customers(api)
    audience_id = create_audience(api, "Premium", PREMIUM)
    segments_worker.run()

    response = api.put(f"/api/audiences/{audience_id}", {"name": "Premium customers"})

    assert response.status_code == 200, response.json()
    assert same_rules(get_rules(api, audience_id), PREMIUM)
    assert status(api, audience_id)["status"] == "ready"
    assert segments_worker.waiting == 0
    assert count(api, audience_id) == 2


@with_worker
@pytest.mark.parametrize("wrapped", [False, True], ids=["bare-group", "rules-wrapper"])
def test_post_rules_takes_the_group_or_a_rules_wrapper(api, catalog, segments_worker, wrapped):
    people = customers(api)
    audience_id = create_audience(api, "Customers")
    assert get_rules(api, audience_id) is None
    assert status(api, audience_id)["status"] == "ready"

    response = api.post(f"/api/audiences/{audience_id}/rules", {"rules": PREMIUM} if wrapped else PREMIUM)

    assert response.status_code == 200, response.json()
    assert response.json() == {
        "id": audience_id,
        "status": "pending",
        "materialized_at": None,
        "has_rules": True,
        "failure_reason": None,
    }
    assert same_rules(get_rules(api, audience_id), PREMIUM)
    assert api.get(f"/api/audiences/{audience_id}").json()["version"] == 2

    segments_worker.run()

    assert status(api, audience_id)["status"] == "ready"
    assert member_ids(api, audience_id) == {people["ann"], people["cat"]}


@with_worker
def test_the_same_rules_again_change_nothing(api, catalog, segments_worker):
    customers(api)
    audience_id = create_audience(api, "Premium", PREMIUM)
    segments_worker.run()
    before = audience_state(audience_id)

    body = set_rules(api, audience_id, PREMIUM)

    assert body["status"] == "ready"
    assert audience_state(audience_id) == before
    assert segments_worker.waiting == 0


@with_worker
@pytest.mark.parametrize("how", ["DELETE /rules", "POST null"])
def test_removing_rules_keeps_the_manual_members_only(api, catalog, segments_worker, how):
    people = customers(api)
    audience_id = create_audience(api, "Premium", PREMIUM)
    segments_worker.run()
    for name in ("ann", "dan"):  # ann also matches the rules, dan does not
        response = api.post(f"/api/audiences/{audience_id}/subscribers", {"subscriber_id": people[name]})
        assert response.status_code == 200, response.json()
    assert stored_members(audience_id) == {people["ann"]: MANUAL | RULE, people["cat"]: RULE, people["dan"]: MANUAL}

    if how == "DELETE /rules":
        response = api.delete(f"/api/audiences/{audience_id}/rules")
    else:
        response = api.post(f"/api/audiences/{audience_id}/rules", {"rules": None})

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "pending"
    assert response.json()["has_rules"] is False
    assert get_rules(api, audience_id) is None

    assert segments_worker.run() == 1

    assert status(api, audience_id)["status"] == "ready"
    assert stored_members(audience_id) == {people["ann"]: MANUAL, people["dan"]: MANUAL}
    assert member_ids(api, audience_id) == {people["ann"], people["dan"]}
    assert count(api, audience_id) == 2


@with_worker
def test_a_newer_rules_change_supersedes_a_run_still_queued(api, catalog, segments_worker):
    people = customers(api)
    audience_id = create_audience(api, "Customers", PREMIUM)
    set_rules(api, audience_id, STANDARD)
    set_rules(api, audience_id, group(cond("additional_fields_data.customer_type", "empty")))

    assert segments_worker.run() == 3

    assert status(api, audience_id)["status"] == "ready"
    assert member_ids(api, audience_id) == {people["dan"]}
    assert stored_members(audience_id) == {people["dan"]: RULE}


@with_worker
def test_a_rules_change_recomputes_the_audiences_that_depend_on_it(api, catalog, segments_worker):
    """B names A; C names a dynamic list built on A; D names a static list that includes A. When A's rules change,
    the worker brings B, C and D up to date too, in the order they depend on each other."""
    people = customers(api)
    a = create_audience(api, "A", PREMIUM)
    b = create_audience(api, "B", group(cond("audiences", "eq", a), cond("active", "eq", True)))
    on_a = created_id(api.post("/api/lists", {"name": "On A", "mode": "dynamic", "audience_id": a}))
    c = create_audience(api, "C", group(cond("lists", "in", [on_a])))
    including_a = created_id(api.post("/api/lists", {"name": "Has A", "mode": "static", "audience_id": "aud_default"}))
    response = api.put(f"/api/lists/{including_a}/composition", {"include_audiences": [a]})
    assert response.status_code == 200, response.json()
    d = create_audience(api, "D", group(cond("lists", "eq", including_a), negate=True))
    segments_worker.run()
    everyone = set(people.values())
    assert member_ids(api, b) == {people["ann"]}
    assert member_ids(api, c) == {people["ann"], people["cat"]}
    assert member_ids(api, d) == everyone - {people["ann"], people["cat"]}

    set_rules(api, a, STANDARD)
    segments_worker.run()

    assert member_ids(api, a) == {people["bob"]}
    assert member_ids(api, b) == {people["bob"]}
    assert member_ids(api, c) == {people["bob"]}
    assert member_ids(api, d) == everyone - {people["bob"]}
    for audience_id in (a, b, c, d):
        assert set(stored_members(audience_id)) == fresh_matches(audience_id)


# --- refused rules ---------------------------------------------------------------------------------------------

# Each bad condition is put at rules.conditions.1.conditions.0 of otherwise good rules, and must be named there.
BAD_AT = "rules.conditions.1.conditions.0"


def with_bad(bad) -> dict:
    return group(cond("first_name", "ne", "nobody"), group(bad, cond("active", "eq", True), match="any"))


BAD_CONDITIONS = {
    "unknown field": (lambda ids: cond("favourite_colour", "eq", "blue"), ""),
    "custom field key not a name": (lambda ids: cond("additional_fields_data.bad-key", "eq", 1), ""),
    "unknown operation": (lambda ids: cond("email", "contains", "x"), ".operation"),
    "missing operation": (lambda ids: {"field": "email", "value": "x"}, ".operation"),
    "missing field": (lambda ids: {"operation": "eq", "value": "x"}, ".field"),
    "unknown key in a condition": (lambda ids: cond("email", "eq", "x", weight=3), ".weight"),
    "operation the field does not support": (lambda ids: cond("active", "gt", True), ""),
    "like on a number custom field": (lambda ids: cond("additional_fields_data.lifetime_value", "like", "10"), ""),
    "text for a number custom field": (lambda ids: cond("additional_fields_data.lifetime_value", "gt", "lots"), ""),
    "text for a boolean custom field": (lambda ids: cond("additional_fields_data.vip", "eq", "maybe"), ""),
    "not a date for a date custom field": (lambda ids: cond("additional_fields_data.signup_day", "gt", "soon"), ""),
    "text for an engagement count": (lambda ids: cond("engagement.opens", "gt", "many", window="30 days"), ""),
    "not a date": (lambda ids: cond("created_at", "gt", "last tuesday"), ""),
    "object as a value": (lambda ids: cond("first_name", "eq", {"$ne": None}), ""),
    "between with one bound": (lambda ids: cond("engagement.purchase_amount", "between", [1]), ""),
    "in without a list": (lambda ids: cond("first_name", "in", "Ann"), ""),
    "bad window": (lambda ids: cond("engagement.opens", "gt", 5, window="a month"), ".window"),
    "window too long": (lambda ids: cond("engagement.opens", "gt", 5, window="200 years"), ".window"),
    "window on a field that is not engagement": (lambda ids: cond("email", "like", "x", window="30 days"), ""),
    "condition not an object": (lambda ids: "email = x", ""),
    "group with a bad match": (lambda ids: {"match": "most", "conditions": []}, ".match"),
    "group whose conditions are not a list": (lambda ids: {"match": "all", "conditions": "x"}, ".conditions"),
    "unknown list": (lambda ids: cond("lists", "eq", "list_doesnotexist"), ""),
    "unknown list among known ones": (lambda ids: cond("lists", "in", [ids["static_list"], "list_nope"]), ""),
    "unknown audience": (lambda ids: cond("audiences", "in", ["aud_doesnotexist"]), ""),
    "unknown subscription type": (lambda ids: cond("subscriptions", "eq", "stype_doesnotexist"), ""),
    "unknown tag": (lambda ids: cond("tags", "in", ["tag_doesnotexist"]), ""),
    "in any audience (would include itself)": (lambda ids: cond("audiences", "nempty"), ""),
    "in no audience (would include itself)": (lambda ids: cond("audiences", "empty"), ""),
}

NOT_A_GROUP = {
    "a string": ("premium customers", "rules"),
    "a list": ([cond("email", "like", "x")], "rules"),
    "a number": (7, "rules"),
    "conditions not a list": ({"match": "all", "conditions": {"field": "email"}}, "rules.conditions"),
    "unknown key in the group": ({"match": "all", "conditions": [], "limit": 5}, "rules.limit"),
}


def audience_state(audience_id: str) -> tuple:
    """What a refused rules change must leave alone."""
    audience = Audience.objects.get(public_id=audience_id)
    rows = sorted(AudienceMembership.objects.filter(audience=audience).values_list("subscriber_id", "source"))
    return (
        audience.name,
        audience.rules,
        audience.version,
        audience.updated_at,
        audience.status,
        audience.rules_generation,
        audience.materialized_at,
        audience.rules_are_time_relative,
        rows,
    )


def refuse(api, how: str, audience_id: str | None, rules) -> dict:
    if how == "create":
        response = api.post("/api/audiences", {"name": "Refused", "rules": rules})
    elif how == "put":
        response = api.put(f"/api/audiences/{audience_id}", {"name": "Renamed", "rules": rules})
    else:
        response = api.post(f"/api/audiences/{audience_id}/rules", {"rules": rules})
    return response


@pytest.fixture
def existing(api, catalog) -> str:
    """An audience that already has rules and a manual member, so that a refused change has something to keep."""
    audience_id = create_audience(api, "Existing", PREMIUM)
    subscriber_id = create_subscriber(api, "kept@example.com")
    assert api.post(f"/api/audiences/{audience_id}/subscribers", {"subscriber_id": subscriber_id}).status_code == 200
    return audience_id


def assert_refused(api, how, existing, rules, field, django_capture_on_commit_callbacks) -> dict:
    before = audience_state(existing)
    audiences_before = Audience.objects.count()
    with django_capture_on_commit_callbacks() as scheduled:
        body = assert_error(refuse(api, how, existing, rules), 400, "INVALID_FILTER", field)
    assert scheduled == []  # no materialization queued
    assert audience_state(existing) == before
    assert Audience.objects.count() == audiences_before
    assert not Audience.objects.filter(name__in=["Refused", "Renamed"]).exists()
    return body


@pytest.mark.parametrize("how", ["post-rules", "put", "create"])
@pytest.mark.parametrize("case", list(BAD_CONDITIONS))
def test_a_bad_condition_is_refused_naming_its_path_and_changes_nothing(
    api, catalog, existing, django_capture_on_commit_callbacks, how, case
):
    make, suffix = BAD_CONDITIONS[case]

    body = assert_refused(
        api, how, existing, with_bad(make(catalog)), BAD_AT + suffix, django_capture_on_commit_callbacks
    )

    assert all(issue["field"].startswith(BAD_AT) for issue in body["issues"]), body


@pytest.mark.parametrize("how", ["post-rules", "put", "create"])
@pytest.mark.parametrize("case", list(NOT_A_GROUP))
def test_rules_that_are_not_a_group_are_refused(api, existing, django_capture_on_commit_callbacks, how, case):
    rules, field = NOT_A_GROUP[case]

    assert_refused(api, how, existing, rules, field, django_capture_on_commit_callbacks)


@pytest.mark.parametrize("how", ["post-rules", "put", "create"])
def test_a_nul_character_in_a_value_is_refused_naming_its_path(api, existing, django_capture_on_commit_callbacks, how):
    before = audience_state(existing)
    with django_capture_on_commit_callbacks() as scheduled:
        response = refuse(api, how, existing, with_bad(cond("first_name", "eq", "a\x00b")))

    assert response.status_code == 400, response.json()
    assert response.json()["code"] in ("INVALID_FILTER", "INVALID_AUDIENCE")  # refused by the request parser
    assert all(issue["field"].startswith(BAD_AT) for issue in response.json()["issues"])
    assert scheduled == []
    assert audience_state(existing) == before


@pytest.mark.parametrize("how", ["post-rules", "put", "create"])
def test_rules_nested_too_deep_are_refused_at_the_first_group_too_deep(
    api, existing, django_capture_on_commit_callbacks, how
):
    rules = cond("email", "like", "x")
    for _ in range(12):
        rules = group(cond("active", "eq", True), rules)

    body = assert_refused(api, how, existing, rules, None, django_capture_on_commit_callbacks)

    too_deep = "rules" + ".conditions.1" * 9
    assert [issue["field"] for issue in body["issues"]] == [too_deep]


def test_rules_as_deep_as_allowed_are_accepted(api, existing):
    rules = cond("email", "like", "x")
    for _ in range(8):
        rules = group(cond("active", "eq", True), rules)

    assert set_rules(api, existing, group(rules))["status"] == "pending"


@pytest.mark.parametrize("how", ["post-rules", "put"])
def test_the_default_audience_takes_no_rules(api, catalog, django_capture_on_commit_callbacks, how):
    before = audience_state("aud_default")
    with django_capture_on_commit_callbacks() as scheduled:
        if how == "put":
            response = api.put("/api/audiences/aud_default", {"name": "All Subscribers", "rules": PREMIUM})
        else:
            response = api.post("/api/audiences/aud_default/rules", PREMIUM)

    assert_error(response, 400, "INVALID_FILTER", "rules")
    assert scheduled == []
    assert audience_state("aud_default") == before
    assert get_rules(api, "aud_default") is None


# --- audiences that would refer back to themselves ---------------------------------------------------------------


def test_an_audience_naming_itself_is_refused(api, existing, django_capture_on_commit_callbacks):
    assert_refused(
        api,
        "post-rules",
        existing,
        with_bad(cond("audiences", "eq", existing)),
        BAD_AT,
        django_capture_on_commit_callbacks,
    )


@pytest.mark.parametrize("operation", ["eq", "in", "nin", "ne"])
@pytest.mark.parametrize("how", ["post-rules", "put"])
def test_an_audience_referring_back_through_another_is_refused(
    api, catalog, django_capture_on_commit_callbacks, operation, how
):
    a = create_audience(api, "A", PREMIUM)
    b = create_audience(api, "B", group(cond("audiences", "eq", a)))  # B refers to A: fine
    value = [b] if operation in ("in", "nin") else b

    body = assert_refused(
        api, how, a, with_bad(cond("audiences", operation, value)), BAD_AT, django_capture_on_commit_callbacks
    )

    assert a in body["issues"][0]["message"]


def test_a_longer_loop_is_refused_and_a_chain_is_not(api, catalog, django_capture_on_commit_callbacks):
    a = create_audience(api, "A", PREMIUM)
    b = create_audience(api, "B", group(cond("audiences", "eq", a)))
    c = create_audience(api, "C", group(cond("audiences", "in", [b]), cond("active", "eq", True)))
    d = create_audience(api, "D")

    set_rules(api, d, group(cond("audiences", "in", [c, a])))  # a chain: D -> C -> B -> A
    assert_refused(
        api, "post-rules", a, with_bad(cond("audiences", "in", [d])), BAD_AT, django_capture_on_commit_callbacks
    )
    assert_refused(
        api, "put", b, group(cond("active", "eq", True), cond("audiences", "nin", [c])), "rules.conditions.1",
        django_capture_on_commit_callbacks,
    )  # fmt: skip


def test_an_audience_referring_back_through_a_dynamic_list_is_refused(api, catalog, django_capture_on_commit_callbacks):
    a = create_audience(api, "A", PREMIUM)
    on_a = created_id(api.post("/api/lists", {"name": "On A", "mode": "dynamic", "audience_id": a}))
    b = create_audience(api, "B", group(cond("lists", "eq", on_a)))

    # A naming its own dynamic list, or an audience that names that list.
    assert_refused(
        api, "post-rules", a, with_bad(cond("lists", "in", [on_a])), BAD_AT, django_capture_on_commit_callbacks
    )
    assert_refused(
        api, "post-rules", a, with_bad(cond("audiences", "eq", b)), BAD_AT, django_capture_on_commit_callbacks
    )
    # "in any list" includes the dynamic list on A.
    assert_refused(api, "post-rules", a, with_bad(cond("lists", "nempty")), BAD_AT, django_capture_on_commit_callbacks)


def test_an_audience_referring_back_through_a_composed_list_is_refused(
    api, catalog, django_capture_on_commit_callbacks
):
    a = create_audience(api, "A", PREMIUM)
    excluding_a = created_id(api.post("/api/lists", {"name": "Not A", "mode": "static", "audience_id": "aud_default"}))
    response = api.put(f"/api/lists/{excluding_a}/composition", {"exclude_audiences": [a]})
    assert response.status_code == 200, response.json()
    outer = created_id(api.post("/api/lists", {"name": "Outer", "mode": "static", "audience_id": "aud_default"}))
    response = api.put(f"/api/lists/{outer}/composition", {"include_lists": [excluding_a]})
    assert response.status_code == 200, response.json()

    assert_refused(
        api, "post-rules", a, with_bad(cond("lists", "eq", outer)), BAD_AT, django_capture_on_commit_callbacks
    )


def test_rules_naming_other_audiences_and_lists_without_a_loop_are_accepted(api, catalog):
    a = create_audience(api, "A", PREMIUM)
    on_a = created_id(api.post("/api/lists", {"name": "On A", "mode": "dynamic", "audience_id": a}))
    b = create_audience(
        api, "B", group(cond("audiences", "nin", [a]), cond("lists", "in", [on_a, catalog["static_list"]]))
    )
    c = create_audience(api, "C", group(cond("lists", "nempty"), cond("audiences", "eq", b)))

    assert same_rules(get_rules(api, c), group(cond("lists", "nempty"), cond("audiences", "eq", b)))


# --- the seed's example audience ---------------------------------------------------------------------------------


def record_events(api, events: list[dict]) -> None:
    response = api.post("/api/engagements/events", {"events": events})
    assert response.status_code == 200, response.json()
    assert response.json()["invalid"] == [], response.json()
    assert response.json()["accepted"] == len(events)


@with_worker
def test_the_seed_engaged_premium_customers_audience(api, catalog, segments_worker):
    """Seed 000, "Dynamic Audience with Behavioral Rules": customer type premium, more than 5 email opens in the last
    30 days, more than $1000 purchased (purchases recorded as events, or a lifetime value kept in a custom field), and
    not in the suppression list; then a dynamic list on it."""
    suppression = created_id(
        api.post("/api/lists", {"name": "Suppression", "mode": "static", "audience_id": "aud_default"})
    )
    response = api.put(f"/api/lists/{suppression}/composition", {"is_suppression": True})
    assert response.status_code == 200, response.json()

    now = timezone.now()
    recent, old = now - dt.timedelta(days=3), now - dt.timedelta(days=45)

    def customer(name: str, *, kind="premium", opens=6, old_opens=0, purchases=(), lifetime=None, **fields) -> str:
        data = {"customer_type": kind, **({"lifetime_value": lifetime} if lifetime is not None else {})}
        subscriber_id = create_subscriber(api, f"{name}@example.com", additional_fields_data=data, **fields)
        events = [
            {"event_id": f"{name}-open-{i}", "type": "opened", "subscriber_id": subscriber_id,
             "campaign_code": "spring", "occurred_at": (old if i < old_opens else recent).isoformat()}
            for i in range(opens)
        ] + [
            {"event_id": f"{name}-buy-{i}", "type": "purchase", "subscriber_id": subscriber_id,
             "campaign_code": "spring", "amount": amount, "occurred_at": recent.isoformat()}
            for i, amount in enumerate(purchases)
        ]  # fmt: skip
        if events:
            record_events(api, events)
        return subscriber_id

    people = {
        "ann": customer("ann", purchases=(600, 500.5)),  # in, by what she bought
        "ben": customer("ben", opens=7, lifetime=1500),  # in, by lifetime value
        "hal": customer("hal", lifetime=2000, active=False, inactive_reason="bounced"),  # in, but not reachable
        "cal": customer("cal", opens=6, old_opens=2, lifetime=5000),  # only 4 opens in the last 30 days
        "dee": customer("dee", opens=5, lifetime=1500),  # 5 opens is not more than 5
        "eve": customer("eve", kind="standard", opens=10, lifetime=9000),  # not premium
        "fay": customer("fay", purchases=(400, 600)),  # exactly 1000 is not more than 1000
        "gus": customer("gus", lifetime=2000, lists=[suppression]),  # suppressed
    }

    # Step 1: create the audience; step 2: define its rules.
    audience_id = create_audience(api, "Engaged Premium Customers")
    rules = group(
        cond("additional_fields_data.customer_type", "eq", "premium"),
        cond("engagement.opens", "gt", 5, window="30 days"),
        group(
            cond("engagement.purchase_amount", "gt", 1000),
            cond("additional_fields_data.lifetime_value", "gt", 1000),
            match="any",
        ),
        cond("lists", "nin", [suppression]),
    )
    set_rules(api, audience_id, rules)
    assert Audience.objects.get(public_id=audience_id).rules_are_time_relative
    segments_worker.run()

    # Step 3: a dynamic list linked to the audience.
    list_id = created_id(
        api.post("/api/lists", {"name": "Active Premium Segment", "mode": "dynamic", "audience_id": audience_id})
    )

    # One answer everywhere: the stored members, the dynamic list's members, the counts and the search counts.
    members = member_ids(api, audience_id)
    assert members == fresh_matches(audience_id)
    assert list_member_ids(api, list_id) == members
    reachable = len(members - {people["hal"]})
    assert api.get(f"/api/audiences/{audience_id}/count").json() == {
        "id": audience_id,
        "count": len(members),
        "reachable": reachable,
        "status": "ready",
    }
    by_list = api.post(
        "/api/subscribers/search",
        {"payload": {"queryName": "getSubscribersCountByListIds", "vars": {"listIds": [list_id]}}},
    )
    assert by_list.status_code == 200, by_list.json()
    assert by_list.json() == {"subscribersCountByListId": {list_id: reachable}}
    by_audience = api.post(
        "/api/subscribers/search",
        {"payload": {"queryName": "getSubscribersCountByAudienceIds", "vars": {"audienceIds": [audience_id]}}},
    )
    assert by_audience.json() == {"subscribersCountByAudienceId": {audience_id: reachable}}

    # Why cal is out: the opens condition, and nothing else.
    explained = api.get(f"/api/audiences/{audience_id}/members/{people['cal']}/explain").json()
    assert explained["member"] is False
    assert [node["met"] for node in explained["rules"]["conditions"]] == [True, False, True, True]

    # And the right people: ann by her purchases, ben by his lifetime value, hal although he cannot be sent to.
    assert {name for name, subscriber_id in people.items() if subscriber_id in members} == {"ann", "ben", "hal"}


@with_worker
def test_purchases_recorded_through_the_events_api_count_in_purchase_amount(api, segments_worker):
    """`engagement.purchase_amount` sums the amounts of purchase events recorded with POST /api/engagements/events."""
    buyer = create_subscriber(api, "buyer@example.com")
    record_events(
        api,
        [
            {"event_id": "buy-1", "type": "purchase", "subscriber_id": buyer, "campaign_code": "c", "amount": 600},
            {"event_id": "buy-2", "type": "purchase", "subscriber_id": buyer, "campaign_code": "c", "amount": "500.50"},
        ],
    )
    big_spenders = create_audience(api, "Big spenders", group(cond("engagement.purchase_amount", "gt", 1000)))
    exact = create_audience(api, "Exactly", group(cond("engagement.purchase_amount", "eq", 1100.5)))
    segments_worker.run()

    assert member_ids(api, big_spenders) == {buyer}
    assert member_ids(api, exact) == {buyer}


@with_worker
def test_premium_customers_who_opened_in_the_last_30_days_as_a_dynamic_list(api, catalog, segments_worker):
    """The issue's walk-through: build the audience, and find it as a dynamic list's members through the API."""
    now = timezone.now()
    people = {
        name: create_subscriber(api, f"{name}@example.com", additional_fields_data={"customer_type": kind})
        for name, kind in (("ann", "premium"), ("bob", "premium"), ("cat", "standard"), ("dan", "premium"))
    }
    record_events(
        api,
        [
            {
                "event_id": f"{name}-open",
                "type": "opened",
                "subscriber_id": people[name],
                "campaign_code": "spring",
                "occurred_at": (now - dt.timedelta(days=days)).isoformat(),
            }
            for name, days in (("ann", 2), ("bob", 40), ("cat", 1))
        ],  # fmt: skip
    )
    audience_id = create_audience(
        api,
        "Premium openers",
        group(
            cond("additional_fields_data.customer_type", "eq", "premium"),
            cond("engagement.last_open_at", "gt", "30 days ago"),
        ),
    )
    list_id = created_id(
        api.post("/api/lists", {"name": "Premium openers", "mode": "dynamic", "audience_id": audience_id})
    )
    assert list_member_ids(api, list_id) == set()  # pending: the worker has not run yet

    segments_worker.run()

    assert list_member_ids(api, list_id) == {people["ann"]}
    assert member_ids(api, audience_id) == {people["ann"]}
    assert count(api, audience_id) == 1


def test_rules_need_the_audiences_write_scope_to_change(api, make_client, existing):
    reader = make_client("audiences:read")
    before = audience_state(existing)

    assert reader.get(f"/api/audiences/{existing}/rules").status_code == 200
    assert reader.get(f"/api/audiences/{existing}/status").status_code == 200
    assert reader.get(f"/api/audiences/{existing}/count").status_code == 200
    assert_error(reader.post(f"/api/audiences/{existing}/rules", STANDARD), 403, "FORBIDDEN")
    assert_error(reader.delete(f"/api/audiences/{existing}/rules"), 403, "FORBIDDEN")
    assert_error(reader.put(f"/api/audiences/{existing}", {"name": "X", "rules": STANDARD}), 403, "FORBIDDEN")
    assert_error(make_client("lists:write").get(f"/api/audiences/{existing}/rules"), 403, "FORBIDDEN")
    assert audience_state(existing) == before
