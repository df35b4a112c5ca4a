"""Member pages and explanations (issue 4, point 3; seed 002 "Get Audience Members"): cursor pages with `first` (at
most 100), `after` and `search`, for audiences and for static, dynamic and composed lists; and
GET /api/audiences/{id}/members/{subscriber_id}/explain, whose per-condition answers agree with membership."""

import base64

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audiences.models import AudienceMembership
from tests.api_assertions import assert_error, created_id
from tests.audiences.conftest import (
    cond,
    create_audience,
    create_subscriber,
    fresh_matches,
    group,
    list_member_ids,
    member_ids,
    stored_members,
    update_subscriber,
    walk_members,
)
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db

MANUAL, RULE = AudienceMembership.MANUAL, AudienceMembership.RULE
SUBSCRIBER_KEYS = {
    "version", "created_at", "updated_at", "id", "first_name", "last_name", "email", "active",
    "inactive_reason", "audiences", "lists", "memberships", "tags", "subscription_preferences",
    "additional_fields_data",
}  # fmt: skip
PREMIUM = group(cond("additional_fields_data.customer_type", "eq", "premium"))


def page(api, path: str, **params) -> dict:
    response = api.get(path, params)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"results", "total", "pageInfo"}
    assert set(body["pageInfo"]) == {"hasNextPage", "endCursor"}
    return body


@pytest.fixture
def premium_members(api, catalog) -> tuple[str, list[str]]:
    """A rule audience (created first, so that each subscriber joins it live as it is created) with 23 members in
    order of creation, and 5 subscribers outside it."""
    audience_id = create_audience(api, "Premium", PREMIUM)
    members = [
        create_subscriber(api, f"member{i:02d}@example.com", additional_fields_data={"customer_type": "premium"})
        for i in range(23)
    ]
    for i in range(5):
        create_subscriber(api, f"other{i}@example.com", additional_fields_data={"customer_type": "basic"})
    return audience_id, members


# --- cursor pages ------------------------------------------------------------------------------------------------


def test_pages_of_seven_walk_every_member_once_in_a_stable_order(api, premium_members):
    audience_id, members = premium_members
    path = f"/api/audiences/{audience_id}/members"
    seen, sizes, after = [], [], None

    while True:
        body = page(api, path, first=7, **({"after": after} if after else {}))
        assert body["total"] == 23
        sizes.append(len(body["results"]))
        seen += [row["id"] for row in body["results"]]
        if not body["pageInfo"]["hasNextPage"]:
            break
        after = body["pageInfo"]["endCursor"]
        assert isinstance(after, str) and after

    assert sizes == [7, 7, 7, 2]
    assert seen == members  # each once, oldest first
    assert set(body["results"][0]) == SUBSCRIBER_KEYS
    # Members by its rules: `memberships` says so (`audiences` holds the manual additions a write sets).
    shown = body["results"][0]
    assert {"id": audience_id, "name": "Premium", "how": ["rule"]} in shown["memberships"]["audiences"]
    assert audience_id not in shown["audiences"]


def test_the_page_size_defaults_to_20_and_is_capped_at_100(api):
    SubscriberFactory.create_batch(105)
    path = "/api/audiences/aud_default/members"

    assert len(page(api, path)["results"]) == 20
    capped = page(api, path, first=150)
    assert len(capped["results"]) == 100
    assert capped["total"] == 105
    assert capped["pageInfo"]["hasNextPage"] is True
    rest = page(api, path, first=150, after=capped["pageInfo"]["endCursor"])
    assert len(rest["results"]) == 5
    assert rest["pageInfo"]["hasNextPage"] is False
    assert len({row["id"] for row in capped["results"] + rest["results"]}) == 105


def test_an_empty_audience_answers_an_empty_page(api, catalog):
    audience_id = create_audience(api, "Nobody", PREMIUM)

    assert page(api, f"/api/audiences/{audience_id}/members") == {
        "results": [],
        "total": 0,
        "pageInfo": {"hasNextPage": False, "endCursor": None},
    }


def test_members_joining_and_leaving_between_pages_are_neither_repeated_nor_skipped(api, premium_members):
    audience_id, members = premium_members
    path = f"/api/audiences/{audience_id}/members"
    first = page(api, path, first=10)

    # One seen already leaves, one not yet seen leaves, and a newcomer joins.
    update_subscriber(api, members[2], additional_fields_data={"customer_type": "basic"})
    update_subscriber(api, members[15], additional_fields_data={"customer_type": "basic"})
    newcomer = create_subscriber(api, "newcomer@example.com", additional_fields_data={"customer_type": "premium"})
    rest = walk_members(api, path, first=10, after=first["pageInfo"]["endCursor"])

    assert [row["id"] for row in rest] == [*members[10:15], *members[16:], newcomer]


@pytest.mark.parametrize(
    "after",
    [
        "garbage!!",
        base64.urlsafe_b64encode(b"pk:abc").decode(),
        base64.urlsafe_b64encode(b"pk:-5").decode(),
        base64.urlsafe_b64encode(b"id:5").decode(),
        base64.urlsafe_b64encode(b"pk:" + b"9" * 30).decode(),
        "A" * 101,
        "%00",
    ],
    ids=["not-base64", "not-a-number", "negative", "another-prefix", "huge", "too-long", "nul"],
)
@pytest.mark.parametrize("kind", ["audience", "list"])
def test_a_cursor_this_api_did_not_give_out_is_refused(api, premium_members, catalog, kind, after):
    owner = f"audiences/{premium_members[0]}" if kind == "audience" else f"lists/{catalog['static_list']}"
    path = f"/api/{owner}/members"

    response = api.get(f"{path}?first=5&after={after}")

    body = assert_error(response, 400, "INVALID_AUDIENCE" if kind == "audience" else "VALIDATION_ERROR", "after")
    assert len(body["issues"]) == 1


@pytest.mark.parametrize("first", ["0", "-3", "ten", "1.5"])
def test_a_bad_page_size_is_refused(api, premium_members, first):
    response = api.get(f"/api/audiences/{premium_members[0]}/members?first={first}")

    assert_error(response, 400, "INVALID_AUDIENCE", "first")


def test_a_members_page_costs_the_same_queries_whatever_its_size(api, catalog, premium_members):
    audience_id, members = premium_members
    for subscriber_id in members:
        update_subscriber(
            api,
            subscriber_id,
            tags=[catalog["vip_tag"], catalog["churn_tag"]],
            lists=[catalog["static_list"]],
            subscription_updates=[{"subscription_type_id": catalog["newsletter"], "subscribe": True}],
        )
    path = f"/api/audiences/{audience_id}/members"

    def queries(first: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert len(page(api, path, first=first)["results"]) == first
        return len(captured)

    assert queries(2) == queries(20)


def test_unknown_audience_or_list_is_not_found(api):
    assert_error(api.get("/api/audiences/aud_nope/members"), 404, "NOT_FOUND")
    assert_error(api.get("/api/lists/list_nope/members"), 404, "LIST_NOT_FOUND")


# --- search ------------------------------------------------------------------------------------------------------


@pytest.fixture
def named_members(api, catalog) -> tuple[str, dict[str, str]]:
    audience_id = create_audience(api, "Premium", PREMIUM)
    premium = {"customer_type": "premium"}
    people = {
        "ann": create_subscriber(
            api, "ann.lee@shop.example", first_name="Ann", last_name="Lee", additional_fields_data=premium
        ),
        "anna": create_subscriber(
            api, "anna@example.com", first_name="Anna", last_name="Smith", additional_fields_data=premium
        ),
        "bob": create_subscriber(
            api, "bob@shop.example", first_name="Bob", last_name="Annis", additional_fields_data=premium
        ),
        "carl": create_subscriber(
            api, "carl@example.com", first_name="Carl", last_name="Lee", additional_fields_data=premium
        ),
    }
    create_subscriber(api, "ann.outsider@shop.example", first_name="Ann", additional_fields_data={"customer_type": "x"})
    return audience_id, people


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("ann", {"ann", "anna", "bob"}),  # first name, last name (Annis) and email
        ("ANN", {"ann", "anna", "bob"}),
        ("shop.example", {"ann", "bob"}),
        ("lee", {"ann", "carl"}),
        ("ann lee", {"ann"}),  # every word must match somewhere
        ("carl@example.com", {"carl"}),
        ("nobody", set()),
        ("", {"ann", "anna", "bob", "carl"}),
    ],
)
def test_search_by_email_or_name_within_the_members(api, named_members, search, expected):
    audience_id, people = named_members

    body = page(api, f"/api/audiences/{audience_id}/members", search=search)

    assert {row["id"] for row in body["results"]} == {people[name] for name in expected}
    assert body["total"] == len(expected)


def test_search_pages_with_a_cursor(api, named_members):
    audience_id, people = named_members

    rows = walk_members(api, f"/api/audiences/{audience_id}/members", first=1, search="ann")

    assert [row["id"] for row in rows] == [people["ann"], people["anna"], people["bob"]]


# --- list members ------------------------------------------------------------------------------------------------


def test_list_members_for_static_dynamic_and_composed_lists(api, catalog):
    premium_audience = create_audience(api, "Premium", PREMIUM)
    hand_picked = create_audience(api, "Hand-picked")
    people = {
        name: create_subscriber(api, f"{name}@example.com", additional_fields_data={"customer_type": kind})
        for name, kind in (("ann", "premium"), ("bob", "premium"), ("cat", "basic"), ("dan", "basic"))
    }
    response = api.post(f"/api/audiences/{hand_picked}/subscribers", {"subscriber_id": people["dan"]})
    assert response.status_code == 200, response.json()

    static = catalog["static_list"]
    for name in ("bob", "cat"):
        response = api.post(f"/api/lists/{static}/subscribers", {"subscriber_id": people[name]})
        assert response.status_code == 200, response.json()
    dynamic = created_id(
        api.post("/api/lists", {"name": "Premium list", "mode": "dynamic", "audience_id": premium_audience})
    )
    composed = created_id(api.post("/api/lists", {"name": "Composed", "mode": "static", "audience_id": "aud_default"}))
    response = api.put(
        f"/api/lists/{composed}/composition",
        {"include_lists": [dynamic], "include_audiences": [hand_picked], "exclude_lists": [static]},
    )
    assert response.status_code == 200, response.json()

    assert list_member_ids(api, static) == {people["bob"], people["cat"]}
    assert list_member_ids(api, dynamic) == {people["ann"], people["bob"]} == member_ids(api, premium_audience)
    assert list_member_ids(api, composed) == {people["ann"], people["dan"]}  # premium + hand-picked - static

    # Pages and search work the same on lists.
    rows = walk_members(api, f"/api/lists/{dynamic}/members", first=1)
    assert [row["id"] for row in rows] == [people["ann"], people["bob"]]
    body = page(api, f"/api/lists/{composed}/members", search="dan")
    assert ([row["id"] for row in body["results"]], body["total"]) == ([people["dan"]], 1)

    # A dynamic list follows its audience at once.
    update_subscriber(api, people["cat"], additional_fields_data={"customer_type": "premium"})
    assert list_member_ids(api, dynamic) == {people["ann"], people["bob"], people["cat"]}
    assert list_member_ids(api, composed) == {people["ann"], people["dan"]}  # cat is in the excluded static list

    search = api.post(
        "/api/subscribers/search",
        {"payload": {"queryName": "getSubscribersCountByListIds", "vars": {"listIds": [static, dynamic, composed]}}},
    )
    assert search.status_code == 200, search.json()
    assert search.json() == {"subscribersCountByListId": {static: 2, dynamic: 3, composed: 2}}


# --- explain -----------------------------------------------------------------------------------------------------


def explain(api, audience_id: str, subscriber_id: str) -> dict:
    response = api.get(f"/api/audiences/{audience_id}/members/{subscriber_id}/explain")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["audience_id"] == audience_id
    assert body["subscriber_id"] == subscriber_id
    return body


def mets(node: dict) -> dict[str, bool]:
    """path -> met, for every group and condition of an explained rule tree."""
    found = {node["path"]: node["met"]}
    for child in node.get("conditions", []):
        found |= mets(child)
    return found


@pytest.fixture
def explained(api, catalog) -> dict[str, str]:
    """An audience: premium, and (VIP-tagged or lifetime value >= 1000), and not opened in the last 30 days."""
    rules = group(
        cond("additional_fields_data.customer_type", "eq", "premium"),
        group(
            cond("tags", "in", [catalog["vip_tag"]]),
            cond("additional_fields_data.lifetime_value", "gte", 1000),
            match="any",
        ),
        group(cond("engagement.opens", "gte", 1, window="30 days"), negate=True),
    )
    ids = {"audience": create_audience(api, "Explained", rules)}
    ids["member"] = create_subscriber(
        api, "member@example.com", tags=[catalog["vip_tag"]], additional_fields_data={"customer_type": "premium"}
    )
    ids["opener"] = create_subscriber(
        api, "opener@example.com", additional_fields_data={"customer_type": "premium", "lifetime_value": 5000}
    )
    response = api.post(
        "/api/engagements/events",
        {"events": [{"event_id": "open-1", "type": "opened", "subscriber_id": ids["opener"], "campaign_code": "c"}]},
    )
    assert response.status_code == 200, response.json()
    # The event changes no subscriber field; bring the stored membership up to date explicitly.
    update_subscriber(api, ids["opener"], first_name="Opener")
    ids["manual"] = create_subscriber(api, "manual@example.com", additional_fields_data={"customer_type": "basic"})
    response = api.post(f"/api/audiences/{ids['audience']}/subscribers", {"subscriber_id": ids["manual"]})
    assert response.status_code == 200, response.json()
    return ids


def test_explain_a_member(api, explained):
    body = explain(api, explained["audience"], explained["member"])

    assert (body["member"], body["stored_member"], body["manual"], body["matches_rules"]) == (True, True, False, True)
    assert mets(body["rules"]) == {
        "rules": True,
        "rules.conditions.0": True,
        "rules.conditions.1": True,
        "rules.conditions.1.conditions.0": True,
        "rules.conditions.1.conditions.1": False,  # no lifetime value
        "rules.conditions.2": True,  # negated: has not opened
        "rules.conditions.2.conditions.0": False,
    }
    first = body["rules"]["conditions"][0]
    assert (first["field"], first["operation"], first["value"]) == (
        "additional_fields_data.customer_type",
        "eq",
        "premium",
    )
    opens = body["rules"]["conditions"][2]["conditions"][0]
    assert (opens["field"], opens["window"]) == ("engagement.opens", "30 days")
    assert body["rules"]["conditions"][2]["negate"] is True
    assert body["rules"]["conditions"][1]["match"] == "any"


def test_explain_a_non_member_names_the_conditions_not_met(api, explained):
    body = explain(api, explained["audience"], explained["opener"])

    assert (body["member"], body["stored_member"], body["manual"], body["matches_rules"]) == (
        False,
        False,
        False,
        False,
    )
    assert mets(body["rules"]) == {
        "rules": False,
        "rules.conditions.0": True,
        "rules.conditions.1": True,
        "rules.conditions.1.conditions.0": False,
        "rules.conditions.1.conditions.1": True,
        "rules.conditions.2": False,
        "rules.conditions.2.conditions.0": True,  # opened within the window
    }
    assert "rules.conditions.2" in body["reason"]
    assert "rules.conditions.0" not in body["reason"]


def test_explain_a_manual_member_who_does_not_match(api, explained):
    body = explain(api, explained["audience"], explained["manual"])

    assert (body["member"], body["stored_member"], body["manual"], body["matches_rules"]) == (True, True, True, False)
    assert mets(body["rules"])["rules.conditions.0"] is False
    assert "hand" in body["reason"].lower()


def test_explain_agrees_with_membership_for_everyone(api, explained):
    audience_id = explained["audience"]
    members = member_ids(api, audience_id)
    stored = stored_members(audience_id)
    matches = fresh_matches(audience_id)

    for subscriber_id in (explained["member"], explained["opener"], explained["manual"]):
        body = explain(api, audience_id, subscriber_id)
        assert body["stored_member"] == (subscriber_id in members)
        assert body["member"] == (subscriber_id in members)
        assert body["matches_rules"] == (subscriber_id in matches) == mets(body["rules"])["rules"]
        assert body["manual"] == bool(stored.get(subscriber_id, 0) & MANUAL)


def test_explain_before_the_worker_has_run_tells_the_stored_answer_apart(api, catalog):
    ann = create_subscriber(api, "ann@example.com", additional_fields_data={"customer_type": "premium"})
    audience_id = create_audience(api, "Premium", PREMIUM)  # pending: nobody is stored yet

    body = explain(api, audience_id, ann)

    assert (body["member"], body["matches_rules"], body["stored_member"]) == (True, True, False)


def test_explain_the_default_audience_and_an_audience_without_rules(api, catalog):
    ann = create_subscriber(api, "ann@example.com")
    hand_picked = create_audience(api, "Hand-picked")

    default = explain(api, "aud_default", ann)
    assert (default["member"], default["stored_member"], default["manual"]) == (True, True, False)
    assert default["rules"] is None
    assert default["matches_rules"] is None

    body = explain(api, hand_picked, ann)
    assert (body["member"], body["stored_member"], body["manual"], body["rules"]) == (False, False, False, None)
    assert api.post(f"/api/audiences/{hand_picked}/subscribers", {"subscriber_id": ann}).status_code == 200
    body = explain(api, hand_picked, ann)
    assert (body["member"], body["stored_member"], body["manual"]) == (True, True, True)


def test_explain_unknown_audience_or_subscriber_is_not_found(api, explained):
    assert_error(api.get(f"/api/audiences/aud_nope/members/{explained['member']}/explain"), 404, "NOT_FOUND")
    assert_error(
        api.get(f"/api/audiences/{explained['audience']}/members/sub_nope/explain"), 404, "SUBSCRIBER_NOT_FOUND"
    )
