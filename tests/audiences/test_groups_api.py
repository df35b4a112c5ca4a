"""Audience groups and loyalty tiers through the API (seed 002; issue 4, point 5): tiers over a number custom field,
each subscriber with a value in exactly one tier, boundaries, overlaps settled by priority, updates that create,
change and remove tiers, group members with the audienceId filter, delete, and bad input of every kind.

Tests that need membership run the segments queue with a real RQ worker, in-process (`segments_worker`)."""

from collections import Counter

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audiences.models import Audience, AudienceGroup, AudienceMembership, MarketingList
from subscribers.models import Subscriber
from tests.api_assertions import TIMESTAMP, assert_error
from tests.factories import SubscriberFactory

worker_db = pytest.mark.django_db(transaction=True, serialized_rollback=True)

STANDARD_TIERS = [
    {"name": "Bronze", "min": 0},
    {"name": "Silver", "min": 1000},
    {"name": "Gold", "min": 5000},
]

# lifetime value per subscriber; None: no value stored. Boundaries on purpose: 999.99, 1000, 4999.5, 5000.
VALUES = {
    "none": None,
    "below": -5,
    "zero": 0,
    "b500": 500,
    "b999": 999.99,
    "s1000": 1000,
    "s2500": 2500,
    "s4999": 4999.5,
    "g5000": 5000,
    "g100k": 100_000,
}
EXPECTED = {
    "Bronze": {"zero", "b500", "b999"},
    "Silver": {"s1000", "s2500", "s4999"},
    "Gold": {"g5000", "g100k"},
}


@pytest.fixture
def lifetime_value(api) -> str:
    response = api.post("/api/custom-fields", {"name": "lifetime_value", "type": "number"})
    assert response.status_code == 200, response.json()
    return "additional_fields_data.lifetime_value"


@pytest.fixture
def customers(api, lifetime_value) -> dict[str, str]:
    """Subscribers named by VALUES' keys (their email is <key>@example.com): key -> subscriber id."""
    ids = {}
    for key, value in VALUES.items():
        fields = {} if value is None else {"lifetime_value": value}
        body = {"first_name": key, "email": f"{key}@example.com", "additional_fields_data": fields}
        response = api.post("/api/subscribers", body)
        assert response.status_code == 200, response.json()
        ids[key] = response.json()["id"]
    return ids


def create_tiers(api, tiers: list[dict], *, name: str = "Loyalty", value_field: str | None = None) -> dict:
    body = {"name": name, "value_field": value_field or "additional_fields_data.lifetime_value", "tiers": tiers}
    response = api.post("/api/audiences/loyalty-tiers", body)
    assert response.status_code == 200, response.json()
    return response.json()


def group_detail(api, group_id: str) -> dict:
    response = api.get(f"/api/audiences/groups/{group_id}")
    assert response.status_code == 200, response.json()
    return response.json()


def member_keys(api, path: str, **params) -> list[str]:
    """Every member on every cursor page, as VALUES' keys (in page order)."""
    keys, after = [], None
    while True:
        query = {"first": 3, **params, **({"after": after} if after else {})}
        response = api.get(path, query)
        assert response.status_code == 200, response.json()
        body = response.json()
        keys += [row["email"].split("@")[0] for row in body["results"]]
        if not body["pageInfo"]["hasNextPage"]:
            return keys
        after = body["pageInfo"]["endCursor"]


def tier_members(api, group_id: str) -> dict[str, set[str]]:
    """Tier name -> member keys, read through the group's members endpoint with the audienceId filter."""
    detail = group_detail(api, group_id)
    return {
        tier["name"]: set(member_keys(api, f"/api/audiences/groups/{group_id}/members", audienceId=tier["id"]))
        for tier in detail["audiences"]
    }


def stored() -> tuple:
    """Everything stored about groups and audiences, to show that a refused request changed nothing."""
    return (
        list(AudienceGroup.objects.order_by("pk").values_list("public_id", "name", "value_field", "version")),
        list(
            Audience.objects.order_by("pk").values_list(
                "public_id", "name", "rules", "priority", "tier_min", "tier_max", "group_id", "version"
            )
        ),
        list(AudienceMembership.objects.order_by("pk").values_list("audience_id", "subscriber_id", "source")),
    )


# --- create, materialize, read ------------------------------------------------------------------------------------


@worker_db
def test_tiers_put_every_subscriber_with_a_value_in_exactly_one_tier(api, segments_worker, customers):
    body = create_tiers(api, STANDARD_TIERS)

    assert set(body) == {"id", "audiences"}
    assert body["id"].startswith("agrp_")
    assert [(t["name"], t["min"], t["max"], t["priority"]) for t in body["audiences"]] == [
        ("Bronze", 0, 1000, 1),
        ("Silver", 1000, 5000, 2),
        ("Gold", 5000, None, 3),
    ]
    assert all(t["id"].startswith("aud_") for t in body["audiences"])
    assert {a["status"] for a in group_detail(api, body["id"])["audiences"]} == {"pending"}

    segments_worker.run()

    detail = group_detail(api, body["id"])
    assert detail["name"] == "Loyalty"
    assert detail["kind"] == "loyalty_tiers"
    assert detail["value_field"] == "additional_fields_data.lifetime_value"
    assert detail["version"] == 1 and detail["updated_at"] is None and TIMESTAMP.match(detail["created_at"])
    assert [(a["name"], a["count"], a["status"]) for a in detail["audiences"]] == [
        ("Bronze", 3, "ready"),
        ("Silver", 3, "ready"),
        ("Gold", 2, "ready"),
    ]
    assert tier_members(api, body["id"]) == EXPECTED
    # Exactly one tier for each subscriber with a value in range; none for no value or one below every tier.
    memberships = AudienceMembership.objects.filter(audience__group__public_id=body["id"])
    per_subscriber = Counter(email.split("@")[0] for email in memberships.values_list("subscriber__email", flat=True))
    assert per_subscriber == {key: 1 for keys in EXPECTED.values() for key in keys}
    # Each tier's own endpoints agree with the group's.
    for tier in detail["audiences"]:
        count = api.get(f"/api/audiences/{tier['id']}/count").json()["count"]
        assert count == tier["count"] == len(member_keys(api, f"/api/audiences/{tier['id']}/members"))


@worker_db
def test_group_members_are_every_tier_member_once_in_cursor_pages(api, segments_worker, customers):
    group_id = create_tiers(api, STANDARD_TIERS)["id"]
    segments_worker.run()

    keys = member_keys(api, f"/api/audiences/groups/{group_id}/members")

    assert len(keys) == len(set(keys)) == 8
    assert set(keys) == set().union(*EXPECTED.values())
    first = api.get(f"/api/audiences/groups/{group_id}/members", {"first": 2}).json()
    assert first["total"] == 8 and len(first["results"]) == 2 and first["pageInfo"]["hasNextPage"] is True
    assert first["results"][0]["id"].startswith("sub_")


@worker_db
def test_group_members_search_and_audience_filter(api, segments_worker, customers):
    body = create_tiers(api, STANDARD_TIERS)
    segments_worker.run()
    group_id, silver_id = body["id"], body["audiences"][1]["id"]
    members = f"/api/audiences/groups/{group_id}/members"

    assert member_keys(api, members, search="s1000") == ["s1000"]
    assert member_keys(api, members, search="s", audienceId=silver_id) == ["s1000", "s2500", "s4999"]
    assert member_keys(api, members, search="b500", audienceId=silver_id) == []


def test_audience_filter_outside_the_group_is_400_and_unknown_group_404(api, lifetime_value):
    group_id = create_tiers(api, STANDARD_TIERS)["id"]
    other = create_tiers(api, [{"name": "Other tier", "min": 0}], name="Other")
    outsider = api.post("/api/audiences", {"name": "Outsider"}).json()["id"]

    for audience_id in (other["audiences"][0]["id"], outsider, "aud_missing"):
        response = api.get(f"/api/audiences/groups/{group_id}/members", {"audienceId": audience_id})
        assert_error(response, 400, "INVALID_AUDIENCE", "audienceId")
    assert_error(api.get("/api/audiences/groups/agrp_missing"), 404, "NOT_FOUND")
    assert_error(api.get("/api/audiences/groups/agrp_missing/members"), 404, "NOT_FOUND")
    assert_error(api.delete("/api/audiences/groups/agrp_missing"), 404, "NOT_FOUND")
    assert_error(api.put("/api/audiences/loyalty-tiers/agrp_missing", {"tiers": STANDARD_TIERS}), 404, "NOT_FOUND")
    assert_error(api.get(f"/api/audiences/groups/{group_id}/members", {"first": 0}), 400, "INVALID_AUDIENCE", "first")


@worker_db
def test_a_subscriber_changing_value_moves_tier_in_the_same_request(api, segments_worker, customers):
    group_id = create_tiers(api, STANDARD_TIERS)["id"]
    segments_worker.run()

    response = api.put(
        f"/api/subscribers/{customers['b500']}",
        {"first_name": "b500", "email": "b500@example.com", "additional_fields_data": {"lifetime_value": 7000}},
    )
    assert response.status_code == 200, response.json()

    members = tier_members(api, group_id)
    assert members["Gold"] == {"g5000", "g100k", "b500"}
    assert members["Bronze"] == {"zero", "b999"}


@worker_db
def test_tiers_given_in_any_order_take_the_next_higher_min_as_max(api, segments_worker, customers):
    body = create_tiers(
        api, [{"name": "Gold", "min": 5000}, {"name": "Bronze", "min": 0}, {"name": "Silver", "min": 1000}]
    )

    assert [(t["name"], t["min"], t["max"]) for t in body["audiences"]] == [
        ("Gold", 5000, None),
        ("Bronze", 0, 1000),
        ("Silver", 1000, 5000),
    ]
    segments_worker.run()
    assert tier_members(api, body["id"]) == EXPECTED


# --- overlaps and priority ----------------------------------------------------------------------------------------


@worker_db
def test_overlapping_tiers_give_the_overlap_to_the_higher_priority(api, segments_worker, customers):
    # Default priorities are positions: "Promo" (2) wins 2000..5000 inside "Regular" (1), which keeps both sides.
    body = create_tiers(
        api, [{"name": "Regular", "min": 0, "max": 10_000}, {"name": "Promo", "min": 2000, "max": 5000}]
    )
    segments_worker.run()

    assert tier_members(api, body["id"]) == {
        "Regular": {"zero", "b500", "b999", "s1000", "g5000"},
        "Promo": {"s2500", "s4999"},
    }
    regular = Audience.objects.get(public_id=body["audiences"][0]["id"])
    assert regular.rules["match"] == "any" and len(regular.rules["conditions"]) == 2


@worker_db
def test_an_explicit_priority_beats_the_order_given(api, segments_worker, customers):
    body = create_tiers(
        api,
        [
            {"name": "Early", "min": 0, "max": 2500, "priority": 10},
            {"name": "Late", "min": 1000, "priority": 1},
        ],
    )
    segments_worker.run()

    assert tier_members(api, body["id"]) == {
        "Early": {"zero", "b500", "b999", "s1000"},
        "Late": {"s2500", "s4999", "g5000", "g100k"},
    }
    assert [(t["name"], t["max"], t["priority"]) for t in body["audiences"]] == [("Early", 2500, 10), ("Late", None, 1)]


@pytest.mark.parametrize(
    ("tiers", "field"),
    [
        # "Inner" lies inside "Outer", which has the higher priority.
        ([{"name": "Inner", "min": 10, "max": 20}, {"name": "Outer", "min": 0, "max": 100}], "tiers.0"),
        # Same min, no max: the later tier takes the whole range.
        ([{"name": "A", "min": 0}, {"name": "B", "min": 0}], "tiers.0"),
    ],
)
def test_a_tier_entirely_covered_by_higher_priority_tiers_is_refused(api, lifetime_value, tiers, field):
    before = stored()
    response = api.post("/api/audiences/loyalty-tiers", {"name": "G", "value_field": lifetime_value, "tiers": tiers})
    assert_error(response, 400, "INVALID_AUDIENCE", field)
    assert stored() == before


# --- update -------------------------------------------------------------------------------------------------------


@worker_db
def test_put_creates_updates_and_removes_tiers(api, segments_worker, customers):
    body = create_tiers(api, STANDARD_TIERS)
    group_id = body["id"]
    bronze_id, silver_id, gold_id = (t["id"] for t in body["audiences"])
    segments_worker.run()

    response = api.put(
        f"/api/audiences/loyalty-tiers/{group_id}",
        {
            "name": "Loyalty 2025",
            "tiers": [
                {"id": silver_id, "name": "Silver Plus", "min": 500},  # updated by id: renamed, wider
                {"name": "gold", "min": 5000},  # updated by name (case-insensitive)
                {"name": "Platinum", "min": 50_000},  # new
            ],  # Bronze removed
        },
    )

    assert response.status_code == 200, response.json()
    answer = response.json()
    assert answer["id"] == group_id
    assert [(t["id"], t["name"], t["min"], t["max"], t["priority"]) for t in answer["audiences"]] == [
        (silver_id, "Silver Plus", 500, 5000, 1),
        (gold_id, "gold", 5000, 50_000, 2),
        (answer["audiences"][2]["id"], "Platinum", 50_000, None, 3),
    ]
    assert answer["audiences"][2]["id"] not in (bronze_id, silver_id, gold_id)
    assert not Audience.objects.filter(public_id=bronze_id).exists()
    assert not AudienceMembership.objects.filter(audience__public_id=bronze_id).exists()

    segments_worker.run()

    detail = group_detail(api, group_id)
    assert detail["name"] == "Loyalty 2025" and detail["version"] == 2 and TIMESTAMP.match(detail["updated_at"])
    assert tier_members(api, group_id) == {
        "Silver Plus": {"b500", "b999", "s1000", "s2500", "s4999"},
        "gold": {"g5000"},
        "Platinum": {"g100k"},
    }
    assert {a["status"] for a in detail["audiences"]} == {"ready"}


@worker_db
def test_put_can_swap_tier_names_and_change_the_value_field(api, segments_worker, customers):
    body = create_tiers(api, [{"name": "Low", "min": 0}, {"name": "High", "min": 1000}])
    low_id, high_id = (t["id"] for t in body["audiences"])
    SubscriberFactory(email="opener@example.com", additional_fields_data={"lifetime_value": 1})
    segments_worker.run()

    response = api.put(
        f"/api/audiences/loyalty-tiers/{body['id']}",
        {
            "value_field": "engagement.opens",
            "tiers": [{"id": low_id, "name": "High", "min": 1}, {"id": high_id, "name": "Low", "min": 0, "max": 1}],
        },
    )

    assert response.status_code == 200, response.json()
    segments_worker.run()
    assert Audience.objects.get(public_id=low_id).name == "High"
    assert Audience.objects.get(public_id=high_id).name == "Low"
    assert group_detail(api, body["id"])["value_field"] == "engagement.opens"
    members = tier_members(api, body["id"])
    assert members["High"] == set() and len(members["Low"]) == len(VALUES) + 1  # nobody has opened anything


@worker_db
def test_put_that_changes_nothing_keeps_versions_and_queues_nothing(api, segments_worker, customers):
    body = create_tiers(api, STANDARD_TIERS)
    segments_worker.run()
    before = stored()

    response = api.put(f"/api/audiences/loyalty-tiers/{body['id']}", {"tiers": STANDARD_TIERS})

    assert response.status_code == 200, response.json()
    assert [t["id"] for t in response.json()["audiences"]] == [t["id"] for t in body["audiences"]]
    assert stored() == before
    assert segments_worker.waiting == 0


def test_put_removing_a_tier_a_list_uses_is_409_naming_the_list_and_changes_nothing(api, lifetime_value):
    body = create_tiers(api, STANDARD_TIERS)
    bronze_id = body["audiences"][0]["id"]
    list_id = api.post("/api/lists", {"name": "Bronze newsletter", "mode": "dynamic", "audience_id": bronze_id})
    list_id = list_id.json()["id"]
    before = stored()

    response = api.put(f"/api/audiences/loyalty-tiers/{body['id']}", {"tiers": STANDARD_TIERS[1:]})

    issue = assert_error(response, 409, "INVALID_AUDIENCE", "id")["issues"][0]["message"]
    assert list_id in issue and bronze_id in issue
    assert stored() == before


def test_put_with_a_stale_version_is_409_and_changes_nothing(api, lifetime_value):
    group_id = create_tiers(api, STANDARD_TIERS)["id"]
    renamed = api.put(f"/api/audiences/loyalty-tiers/{group_id}", {"name": "Renamed", "tiers": STANDARD_TIERS})
    assert renamed.status_code == 200
    before = stored()

    response = api.put(f"/api/audiences/loyalty-tiers/{group_id}", {"version": 1, "tiers": STANDARD_TIERS[:1]})

    assert_error(response, 409, "VERSION_CONFLICT")
    assert stored() == before


# --- delete -------------------------------------------------------------------------------------------------------


@worker_db
def test_delete_removes_the_group_its_audiences_and_their_memberships(api, segments_worker, customers):
    body = create_tiers(api, STANDARD_TIERS)
    other = create_tiers(api, [{"name": "Other", "min": 0}], name="Other")
    segments_worker.run()

    response = api.delete(f"/api/audiences/groups/{body['id']}")

    assert response.status_code == 200 and response.json() == {"id": body["id"]}
    assert_error(api.get(f"/api/audiences/groups/{body['id']}"), 404, "NOT_FOUND")
    tier_ids = [t["id"] for t in body["audiences"]]
    assert not Audience.objects.filter(public_id__in=tier_ids).exists()
    assert not AudienceMembership.objects.filter(audience__public_id__in=tier_ids).exists()
    assert group_detail(api, other["id"])["audiences"][0]["count"] == 8
    assert Subscriber.objects.count() == len(VALUES)


def test_delete_is_refused_while_a_list_or_a_rule_uses_a_tier(api, lifetime_value):
    body = create_tiers(api, STANDARD_TIERS)
    gold_id = body["audiences"][2]["id"]
    api.post("/api/lists", {"name": "Gold club", "mode": "dynamic", "audience_id": gold_id})
    list_id = MarketingList.objects.get(name="Gold club").public_id
    rules = {"match": "all", "conditions": [{"field": "audiences", "operation": "eq", "value": gold_id}]}
    dependent = api.post("/api/audiences", {"name": "Gold openers", "rules": rules}).json()["id"]
    before = stored()

    response = api.delete(f"/api/audiences/groups/{body['id']}")

    messages = " ".join(issue["message"] for issue in assert_error(response, 409, "INVALID_AUDIENCE", "id")["issues"])
    assert list_id in messages and dependent in messages and gold_id in messages
    assert stored() == before


# --- bad input ----------------------------------------------------------------------------------------------------


def tiers_with(**changes) -> list[dict]:
    return [{**STANDARD_TIERS[0], **changes}, *STANDARD_TIERS[1:]]


OMIT = object()  # the key is left out of the body

BAD_REQUESTS = {
    "no name": ({"name": OMIT}, "name"),
    "blank name": ({"name": "  "}, "name"),
    "name not text": ({"name": {"a": 1}}, "name"),
    "no value field": ({"value_field": OMIT}, "value_field"),
    "unknown field": ({"value_field": "lifetime_value"}, "value_field"),
    "undefined custom field": ({"value_field": "additional_fields_data.nope"}, "value_field"),
    "string custom field": ({"value_field": "additional_fields_data.city"}, "value_field"),
    "bad custom field key": ({"value_field": "additional_fields_data.a-b"}, "value_field"),
    "text column": ({"value_field": "email"}, "value_field"),
    "date aggregate": ({"value_field": "engagement.last_open_at"}, "value_field"),
    "membership field": ({"value_field": "audiences"}, "value_field"),
    "no tiers": ({"tiers": OMIT}, "tiers"),
    "empty tiers": ({"tiers": []}, "tiers"),
    "tiers not a list": ({"tiers": {"name": "Bronze", "min": 0}}, "tiers"),
    "too many tiers": ({"tiers": [{"name": f"T{i}", "min": i} for i in range(21)]}, "tiers"),
    "tier not an object": ({"tiers": ["Bronze"]}, "tiers.0"),
    "tier without name": ({"tiers": [{"min": 0}]}, "tiers.0.name"),
    "tier with blank name": ({"tiers": tiers_with(name=" ")}, "tiers.0.name"),
    "tier without min": ({"tiers": [{"name": "Bronze"}]}, "tiers.0.min"),
    "min as text": ({"tiers": tiers_with(min="abc")}, "tiers.0.min"),
    "min as numeric text": ({"tiers": tiers_with(min="0")}, "tiers.0.min"),
    "min as boolean": ({"tiers": tiers_with(min=True)}, "tiers.0.min"),
    "min null": ({"tiers": tiers_with(min=None)}, "tiers.0.min"),
    "huge min": ({"tiers": tiers_with(min=10**400)}, "tiers.0.min"),
    "max equal to min": ({"tiers": tiers_with(max=0)}, "tiers.0.max"),
    "max below min": ({"tiers": tiers_with(max=-10)}, "tiers.0.max"),
    "max as text": ({"tiers": tiers_with(max="1000")}, "tiers.0.max"),
    "priority as text": ({"tiers": tiers_with(priority="high")}, "tiers.0.priority"),
    "priority out of range": ({"tiers": tiers_with(priority=10**12)}, "tiers.0.priority"),
    "duplicate priority": ({"tiers": tiers_with(priority=2)}, "tiers.1.priority"),
    "duplicate name": ({"tiers": [*STANDARD_TIERS, {"name": "silver", "min": 9000}]}, "tiers.3.name"),
    "name of an existing audience": ({"tiers": tiers_with(name="VIP")}, "tiers.0.name"),
    "name too long": ({"tiers": tiers_with(name="x" * 201)}, "tiers.0.name"),
}
# An update may leave out the group's name and value field (they stay as they are).
BAD_UPDATES = {
    case: request
    for case, request in BAD_REQUESTS.items()
    if not (request[0].get("name") is OMIT or request[0].get("value_field") is OMIT)
}


@pytest.fixture
def name_and_field_in_use(api, lifetime_value) -> None:
    """A string custom field "city" and an audience "vip", for the requests that clash with them."""
    assert api.post("/api/custom-fields", {"name": "city", "type": "string"}).status_code == 200
    assert api.post("/api/audiences", {"name": "vip"}).status_code == 200


def with_changes(body: dict, changes: dict) -> dict:
    return {key: value for key, value in {**body, **changes}.items() if value is not OMIT}


@pytest.mark.parametrize(("changes", "field"), BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_create_is_400_naming_the_field_and_stores_nothing(api, name_and_field_in_use, changes, field):
    before = stored()
    body = {"name": "Loyalty", "value_field": "additional_fields_data.lifetime_value", "tiers": STANDARD_TIERS}

    response = api.post("/api/audiences/loyalty-tiers", with_changes(body, changes))

    assert_error(response, 400, "INVALID_AUDIENCE", field)
    assert stored() == before
    assert not AudienceGroup.objects.exists()


@pytest.mark.parametrize(("changes", "field"), BAD_UPDATES.values(), ids=BAD_UPDATES.keys())
def test_bad_update_is_400_naming_the_field_and_changes_nothing(api, name_and_field_in_use, changes, field):
    group_id = create_tiers(api, STANDARD_TIERS)["id"]
    before = stored()

    response = api.put(f"/api/audiences/loyalty-tiers/{group_id}", with_changes({"tiers": STANDARD_TIERS}, changes))

    assert_error(response, 400, "INVALID_AUDIENCE", field)
    assert stored() == before


def test_update_refuses_ids_that_are_not_tiers_of_the_group(api, lifetime_value):
    body = create_tiers(api, STANDARD_TIERS)
    other = create_tiers(api, [{"name": "Elsewhere", "min": 0}], name="Other")
    silver_id = body["audiences"][1]["id"]
    before = stored()

    for tiers, field in (
        ([{"id": other["audiences"][0]["id"], "name": "Bronze", "min": 0}], "tiers.0.id"),
        ([{"id": "aud_missing", "name": "Bronze", "min": 0}], "tiers.0.id"),
        ([{"id": silver_id, "name": "A", "min": 0}, {"id": silver_id, "name": "B", "min": 10}], "tiers.1.id"),
    ):
        response = api.put(f"/api/audiences/loyalty-tiers/{body['id']}", {"tiers": tiers})
        assert_error(response, 400, "INVALID_AUDIENCE", field)
    assert stored() == before


def test_a_body_that_is_not_an_object_is_400(api):
    assert_error(api.post("/api/audiences/loyalty-tiers", ["x"]), 400, "INVALID_AUDIENCE", "body")
    assert not AudienceGroup.objects.exists()


def test_engagement_amount_is_a_valid_value_field(api):
    body = create_tiers(api, STANDARD_TIERS, value_field="engagement.purchase_amount")

    audience = Audience.objects.get(public_id=body["audiences"][0]["id"])
    assert audience.rules_are_time_relative is True
    assert audience.rules["conditions"][0]["field"] == "engagement.purchase_amount"


def test_group_reads_take_the_same_number_of_queries_however_many_tiers_and_members(api, lifetime_value):
    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get(path).status_code == 200
        return len(captured)

    def fill(group: dict, members: int) -> None:
        audiences = list(Audience.objects.filter(group__public_id=group["id"]))
        for index in range(members):
            subscriber = SubscriberFactory()
            audience = audiences[index % len(audiences)]
            AudienceMembership.objects.create(audience=audience, subscriber=subscriber, source=AudienceMembership.RULE)

    few = create_tiers(api, STANDARD_TIERS[:2], name="Few")
    fill(few, 2)
    small = (queries(f"/api/audiences/groups/{few['id']}"), queries(f"/api/audiences/groups/{few['id']}/members"))
    many = create_tiers(api, [{"name": f"Tier {i}", "min": i * 10} for i in range(12)], name="Many")
    fill(many, 40)

    large = (queries(f"/api/audiences/groups/{many['id']}"), queries(f"/api/audiences/groups/{many['id']}/members"))

    assert large == small
    assert api.get(f"/api/audiences/groups/{many['id']}/members").json()["total"] == 40


# --- scopes -------------------------------------------------------------------------------------------------------


def test_scopes(make_client, anonymous):
    writer = make_client("audiences:write", "subscribers:write")
    reader = make_client("audiences:read")
    group_id = create_tiers(writer, STANDARD_TIERS, value_field="engagement.purchase_amount")["id"]

    assert reader.get(f"/api/audiences/groups/{group_id}").status_code == 200
    assert reader.get(f"/api/audiences/groups/{group_id}/members").status_code == 200
    assert_error(reader.post("/api/audiences/loyalty-tiers", {}), 403, "FORBIDDEN")
    assert_error(reader.put(f"/api/audiences/loyalty-tiers/{group_id}", {}), 403, "FORBIDDEN")
    assert_error(reader.delete(f"/api/audiences/groups/{group_id}"), 403, "FORBIDDEN")
    assert_error(anonymous.get(f"/api/audiences/groups/{group_id}"), 401, "UNAUTHORIZED")
    assert AudienceGroup.objects.filter(public_id=group_id).exists()
