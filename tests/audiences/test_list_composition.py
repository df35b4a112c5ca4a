"""Suppression lists, unions and exclusions of lists (issue 4, point 4): one selector answers who is in a list for
member pages, filters and search counts, so they agree."""

import pytest

from audiences.models import MarketingList
from tests.api_assertions import assert_error, created_id

pytestmark = pytest.mark.django_db


def make_list(api, name: str, mode: str = "static", audience_id: str = "aud_default") -> str:
    return created_id(api.post("/api/lists", {"name": name, "mode": mode, "audience_id": audience_id}))


def make_subscriber(api, email: str, *, lists=(), audiences=(), active=True) -> str:
    body = {"first_name": email.split("@")[0], "email": email, "lists": list(lists), "audiences": list(audiences)}
    if not active:
        body |= {"active": False, "inactive_reason": "Hard bounce - Invalid email"}
    return created_id(api.post("/api/subscribers", body))


def member_emails(api, list_id: str) -> set[str]:
    response = api.get(f"/api/lists/{list_id}/members?first=100")
    assert response.status_code == 200, response.content
    return {row["email"] for row in response.json()["results"]}


def filtered_emails(api, list_id: str) -> set[str]:
    body = {"page": 1, "limit": 100, "filters": {"lists": {"operation": "in", "value": [list_id]}}}
    return {row["email"] for row in api.post("/api/subscribers/list", body).json()["results"]}


def reachable_count(api, list_id: str) -> int:
    body = {"payload": {"queryName": "getSubscribersCountByListIds", "vars": {"listIds": [list_id]}}}
    return api.post("/api/subscribers/search", body).json()["subscribersCountByListId"][list_id]


@pytest.fixture
def world(api):
    customers = make_list(api, "Customers")
    prospects = make_list(api, "Prospects")
    vips = created_id(api.post("/api/audiences", {"name": "VIP"}))
    make_subscriber(api, "ann@example.com", lists=[customers])
    make_subscriber(api, "bob@example.com", lists=[customers, prospects])
    make_subscriber(api, "cat@example.com", lists=[prospects], audiences=[vips])
    make_subscriber(api, "dan@example.com", audiences=[vips])
    return {"customers": customers, "prospects": prospects, "vips": vips}


def test_a_list_unions_other_lists_and_audiences_minus_exclusions(api, world):
    campaign = make_list(api, "Campaign")
    make_subscriber(api, "eve@example.com", lists=[campaign])
    response = api.put(
        f"/api/lists/{campaign}/composition",
        {
            "include_lists": [world["customers"]],
            "include_audiences": [world["vips"]],
            "exclude_lists": [world["prospects"]],
        },
    )
    assert response.status_code == 200, response.content
    assert response.json()["include_lists"] == [world["customers"]]

    expected = {"eve@example.com", "ann@example.com", "dan@example.com"}
    assert member_emails(api, campaign) == expected
    assert filtered_emails(api, campaign) == expected
    assert reachable_count(api, campaign) == 3
    assert api.get(f"/api/lists/{campaign}/composition").json()["exclude_lists"] == [world["prospects"]]


def test_excluding_an_audience_removes_its_members(api, world):
    response = api.put(f"/api/lists/{world['prospects']}/composition", {"exclude_audiences": [world["vips"]]})
    assert response.status_code == 200
    assert member_emails(api, world["prospects"]) == {"bob@example.com"}


def test_suppression_list_members_are_never_reachable(api, world):
    suppression = make_list(api, "Do not contact")
    make_subscriber(api, "bob2@example.com", lists=[suppression, world["customers"]])
    assert reachable_count(api, world["customers"]) == 3

    assert api.put(f"/api/lists/{suppression}/composition", {"is_suppression": True}).status_code == 200

    assert reachable_count(api, world["customers"]) == 2
    audience_counts = api.post(
        "/api/subscribers/search",
        {"payload": {"queryName": "getSubscribersCountByAudienceIds", "vars": {"audienceIds": ["aud_default"]}}},
    ).json()["subscribersCountByAudienceId"]
    assert audience_counts["aud_default"] == 4  # five subscribers, one suppressed
    assert "bob2@example.com" in member_emails(api, world["customers"])  # still a member, just not reachable


def test_a_list_cannot_include_itself_directly_or_through_others(api, world):
    before = MarketingList.objects.get(public_id=world["customers"]).version
    assert_error(
        api.put(f"/api/lists/{world['customers']}/composition", {"include_lists": [world["customers"]]}),
        400,
        "VALIDATION_ERROR",
        "include_lists",
    )
    assert (
        api.put(f"/api/lists/{world['customers']}/composition", {"include_lists": [world["prospects"]]}).status_code
        == 200
    )
    assert_error(
        api.put(f"/api/lists/{world['prospects']}/composition", {"exclude_lists": [world["customers"]]}),
        400,
        "VALIDATION_ERROR",
        "include_lists",
    )
    prospects = MarketingList.objects.get(public_id=world["prospects"])
    assert list(prospects.exclude_lists.all()) == []
    assert MarketingList.objects.get(public_id=world["customers"]).version == before + 1


def test_unknown_ids_and_stale_versions_change_nothing(api, world):
    customers = world["customers"]
    assert_error(
        api.put(f"/api/lists/{customers}/composition", {"include_lists": ["list_missing"]}),
        400,
        "VALIDATION_ERROR",
        "include_lists",
    )
    assert_error(
        api.put(f"/api/lists/{customers}/composition", {"exclude_audiences": ["aud_missing"]}),
        400,
        "VALIDATION_ERROR",
        "exclude_audiences",
    )
    assert_error(
        api.put(f"/api/lists/{customers}/composition", {"is_suppression": True, "version": 99}), 409, "VERSION_CONFLICT"
    )
    assert_error(api.get("/api/lists/list_missing/composition"), 404, "LIST_NOT_FOUND")
    stored = MarketingList.objects.get(public_id=customers)
    assert not stored.is_suppression and stored.version == 1
    assert not stored.include_lists.exists() and not stored.exclude_audiences.exists()


def test_a_tier_of_a_loyalty_group_is_changed_only_through_its_group(api):
    created_id(api.post("/api/custom-fields", {"name": "lifetime_value", "type": "number"}))
    response = api.post(
        "/api/audiences/loyalty-tiers",
        {
            "name": "Loyalty",
            "value_field": "additional_fields_data.lifetime_value",
            "tiers": [{"name": "Bronze", "min": 0}, {"name": "Gold", "min": 1000}],
        },
    )
    assert response.status_code == 200, response.content
    gold = response.json()["audiences"][1]["id"]
    subscriber = make_subscriber(api, "tia@example.com")
    rules = {"match": "all", "conditions": []}

    assert_error(api.post(f"/api/audiences/{gold}/rules", rules), 400, "INVALID_AUDIENCE", "rules")
    assert_error(api.delete(f"/api/audiences/{gold}"), 400, "INVALID_AUDIENCE", "id")
    assert_error(
        api.post(f"/api/audiences/{gold}/subscribers", {"subscriber_id": subscriber}),
        400,
        "INVALID_AUDIENCE",
        "audience_id",
    )
    assert api.get(f"/api/audiences/{gold}").status_code == 200
    assert api.get(f"/api/audiences/{gold}/members/{subscriber}/explain").json()["manual"] is False
