"""Every curl example of seed 000 (Lists & Audiences) for audiences and lists, replayed through the test client with
only the ids changed, answering the shapes the seed shows. Import-job examples belong to the imports work."""

import datetime as dt
import re

import pytest

from audiences.models import DEFAULT_AUDIENCE_ID, Audience, MarketingList
from tests.api_assertions import TIMESTAMP

AUDIENCE_ID = re.compile(r"^aud_[A-Za-z0-9]+$")
LIST_ID = re.compile(r"^list_[A-Za-z0-9]+$")
# What Roster's lists carry besides seed 000's shape (seed 003's list fields): these lists are empty, not archived,
# and made with the test key, named "test".
SEED_003_ADDITIONS = {"archived": False, "size": 0, "created_by": "test"}


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def post_id(api, path: str, body: dict, pattern: re.Pattern) -> str:
    """A write from the seed: it answers exactly {"id": ...}."""
    response = api.post(path, body)
    assert response.status_code == 200, response.json()
    assert set(response.json()) == {"id"}
    assert pattern.match(response.json()["id"])
    return response.json()["id"]


def create_subscriber(api, email: str) -> str:
    response = api.post("/api/subscribers", {"first_name": "Pat", "email": email, "active": True})
    assert response.status_code == 200, response.json()
    return response.json()["id"]


def put_times(api, path: str, names: list[str]) -> None:
    """Rename through the API so that `version` grows one by one, as the seed's later versions imply."""
    for name in names:
        assert api.put(path, {"name": name}).status_code == 200


# --- Marketing Audiences --------------------------------------------------------------------------------------


def test_create_audience(api):
    audience_id = post_id(api, "/api/audiences", {"name": "High-Value Customers"}, AUDIENCE_ID)
    assert Audience.objects.get(public_id=audience_id).name == "High-Value Customers"


def test_create_audience_error_response(api):
    post_id(api, "/api/audiences", {"name": "High-Value Customers"}, AUDIENCE_ID)

    response = api.post("/api/audiences", {"name": "High-Value Customers"})

    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid audience data",
        "code": "INVALID_AUDIENCE",
        "issues": [{"field": "name", "message": "Audience name already exists"}],
    }


@pytest.fixture
def seed_audiences(api) -> dict[str, str]:
    """The two audiences of the seed's list example, with its timestamps and versions."""
    high_value = post_id(api, "/api/audiences", {"name": "High-Value Customers"}, AUDIENCE_ID)
    put_times(api, f"/api/audiences/{high_value}", ["High-Value Customers (draft)", "High-Value Customers"])
    Audience.objects.filter(public_id=high_value).update(
        created_at=at("2024-03-15T10:30:00Z"), updated_at=at("2024-03-20T14:45:00Z")
    )
    newsletter = post_id(api, "/api/audiences", {"name": "Newsletter Subscribers"}, AUDIENCE_ID)
    Audience.objects.filter(public_id=newsletter).update(created_at=at("2024-02-01T08:00:00Z"))
    outside = post_id(api, "/api/audiences", {"name": "Lapsed Customers"}, AUDIENCE_ID)
    Audience.objects.filter(public_id=outside).update(created_at=at("2023-11-30T12:00:00Z"))
    return {"high_value": high_value, "newsletter": newsletter}


def test_list_audiences(api, seed_audiences):
    high_value_row = {
        "id": seed_audiences["high_value"],
        "name": "High-Value Customers",
        "created_at": "2024-03-15T10:30:00.000Z",
        "updated_at": "2024-03-20T14:45:00.000Z",
        "version": 3,
    }
    newsletter_row = {
        "id": seed_audiences["newsletter"],
        "name": "Newsletter Subscribers",
        "created_at": "2024-02-01T08:00:00.000Z",
        "updated_at": None,
        "version": 1,
    }
    request = {
        "page": 1,
        "limit": 20,
        "search": "customers",
        "filters": {
            "created_at": {
                "operation": "between",
                "value": ["2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z"],
            }
        },
    }

    response = api.post("/api/audiences/list", request)

    assert response.status_code == 200
    # "Newsletter Subscribers" does not contain "customers"; "Lapsed Customers" was made in 2023
    assert response.json() == {"results": [high_value_row], "total": 1, "totalPages": 1}

    without_search = api.post("/api/audiences/list", {key: v for key, v in request.items() if key != "search"})
    assert without_search.json() == {"results": [high_value_row, newsletter_row], "total": 2, "totalPages": 1}


def test_get_audience_by_id(api, seed_audiences):
    audience_id = seed_audiences["high_value"]

    response = api.get(f"/api/audiences/{audience_id}")

    assert response.status_code == 200
    assert response.json() == {
        "id": audience_id,
        "name": "High-Value Customers",
        "created_at": "2024-03-15T10:30:00.000Z",
        "updated_at": "2024-03-20T14:45:00.000Z",
        "version": 3,
    }


def test_update_audience(api, seed_audiences):
    audience_id = seed_audiences["high_value"]

    response = api.put(f"/api/audiences/{audience_id}", {"name": "VIP High-Value Customers"})

    assert response.status_code == 200
    assert response.json() == {"id": audience_id}
    got = api.get(f"/api/audiences/{audience_id}").json()
    assert (got["name"], got["version"]) == ("VIP High-Value Customers", 4)
    assert got["created_at"] == "2024-03-15T10:30:00.000Z"
    assert TIMESTAMP.match(got["updated_at"])
    assert got["updated_at"] > "2024-03-20T14:45:00.000Z"


def test_delete_audience(api):
    audience_id = post_id(api, "/api/audiences", {"name": "High-Value Customers"}, AUDIENCE_ID)

    response = api.delete(f"/api/audiences/{audience_id}")

    assert response.status_code == 200
    assert response.json() == {"id": audience_id}
    assert api.get(f"/api/audiences/{audience_id}").status_code == 404


def test_add_and_remove_subscriber_to_audience(api):
    audience_id = post_id(api, "/api/audiences", {"name": "High-Value Customers"}, AUDIENCE_ID)
    subscriber_id = create_subscriber(api, "pat@example.com")

    added = api.post(f"/api/audiences/{audience_id}/subscribers", {"subscriber_id": subscriber_id})

    assert added.status_code == 200
    assert added.json() == {"audience_id": audience_id, "subscriber_id": subscriber_id}
    assert api.get(f"/api/subscribers/{subscriber_id}").json()["audiences"] == ["aud_default", audience_id]

    removed = api.delete(f"/api/audiences/{audience_id}/subscribers/{subscriber_id}")

    assert removed.status_code == 200
    assert removed.json() == {"audience_id": audience_id, "subscriber_id": subscriber_id}
    assert api.get(f"/api/subscribers/{subscriber_id}").json()["audiences"] == ["aud_default"]


# --- Marketing Lists ------------------------------------------------------------------------------------------


def test_create_static_list(api):
    body = {"name": "Q1 2024 Campaign Targets", "mode": "static", "audience_id": "aud_default"}
    list_id = post_id(api, "/api/lists", body, LIST_ID)
    row = MarketingList.objects.select_related("audience").get(public_id=list_id)
    assert (row.name, row.mode, row.audience.public_id) == ("Q1 2024 Campaign Targets", "static", DEFAULT_AUDIENCE_ID)


def test_create_dynamic_list_with_audience(api):
    audience_id = post_id(api, "/api/audiences", {"name": "High-Value Customers"}, AUDIENCE_ID)
    body = {"name": "Auto-Updated VIP List", "mode": "dynamic", "audience_id": audience_id}
    list_id = post_id(api, "/api/lists", body, LIST_ID)
    row = MarketingList.objects.select_related("audience").get(public_id=list_id)
    assert (row.mode, row.audience.public_id) == ("dynamic", audience_id)


@pytest.fixture
def seed_lists(api) -> dict[str, str]:
    """The lists of the seed's list and get examples, with its timestamps and versions."""
    high_value = post_id(api, "/api/audiences", {"name": "High-Value Customers"}, AUDIENCE_ID)
    q1 = post_id(
        api, "/api/lists", {"name": "Q1 2024 Campaign Targets", "mode": "static", "audience_id": "aud_default"}, LIST_ID
    )
    put_times(api, f"/api/lists/{q1}", ["Draft 2", "Draft 3", "Draft 4", "Q1 2024 Campaign Targets"])
    MarketingList.objects.filter(public_id=q1).update(
        created_at=at("2024-01-15T09:00:00Z"), updated_at=at("2024-03-10T16:30:00Z")
    )
    launch = post_id(
        api,
        "/api/lists",
        {"name": "Product Launch Early Access", "mode": "static", "audience_id": high_value},
        LIST_ID,
    )
    MarketingList.objects.filter(public_id=launch).update(created_at=at("2024-02-20T11:15:00Z"))
    post_id(api, "/api/lists", {"name": "Auto-Updated VIP List", "mode": "dynamic", "audience_id": high_value}, LIST_ID)
    return {"audience": high_value, "q1": q1, "launch": launch}


def test_list_all_lists(api, seed_lists):
    request = {"page": 1, "limit": 25, "filters": {"mode": {"operation": "eq", "value": "static"}}}

    response = api.post("/api/lists/list", request)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "total", "totalPages"}
    assert (body["total"], body["totalPages"]) == (2, 1)
    by_id = {row["id"]: row for row in body["results"]}
    assert by_id == {
        seed_lists["q1"]: {
            "id": seed_lists["q1"],
            "name": "Q1 2024 Campaign Targets",
            "mode": "static",
            "audience_id": "aud_default",
            "audience_name": "All Subscribers",
            "created_at": "2024-01-15T09:00:00.000Z",
            "updated_at": "2024-03-10T16:30:00.000Z",
            "version": 5,
            **SEED_003_ADDITIONS,
        },
        seed_lists["launch"]: {
            "id": seed_lists["launch"],
            "name": "Product Launch Early Access",
            "mode": "static",
            "audience_id": seed_lists["audience"],
            "audience_name": "High-Value Customers",
            "created_at": "2024-02-20T11:15:00.000Z",
            "updated_at": None,
            "version": 1,
            **SEED_003_ADDITIONS,
        },
    }


def test_get_list_by_id(api, seed_lists):
    list_id = seed_lists["q1"]

    response = api.get(f"/api/lists/{list_id}")

    assert response.status_code == 200
    # the seed shows one import job; there are none until the imports work lands, but `jobs` is always an array
    assert response.json() == {
        "id": list_id,
        "name": "Q1 2024 Campaign Targets",
        "mode": "static",
        "audience_id": "aud_default",
        "created_at": "2024-01-15T09:00:00.000Z",
        "updated_at": "2024-03-10T16:30:00.000Z",
        "version": 5,
        **SEED_003_ADDITIONS,
        "jobs": [],
    }


def test_update_list(api, seed_lists):
    list_id = seed_lists["q1"]

    response = api.put(f"/api/lists/{list_id}", {"name": "Q2 2024 Campaign Targets - Updated"})

    assert response.status_code == 200
    assert response.json() == {"id": list_id}
    got = api.get(f"/api/lists/{list_id}").json()
    assert (got["name"], got["version"]) == ("Q2 2024 Campaign Targets - Updated", 6)
    assert got["updated_at"] > "2024-03-10T16:30:00.000Z"
    assert TIMESTAMP.match(got["updated_at"])


def test_delete_list(api, seed_lists):
    list_id = seed_lists["q1"]

    response = api.delete(f"/api/lists/{list_id}")

    assert response.status_code == 200
    assert response.json() == {"id": list_id}
    assert api.get(f"/api/lists/{list_id}").json()["code"] == "LIST_NOT_FOUND"


def test_add_and_remove_subscriber_to_list(api, seed_lists):
    list_id = seed_lists["q1"]
    subscriber_id = create_subscriber(api, "yp@example.com")

    added = api.post(f"/api/lists/{list_id}/subscribers", {"subscriber_id": subscriber_id})

    assert added.status_code == 200
    assert added.json() == {"list_id": list_id, "subscriber_id": subscriber_id}
    assert api.get(f"/api/subscribers/{subscriber_id}").json()["lists"] == [list_id]

    removed = api.delete(f"/api/lists/{list_id}/subscribers/{subscriber_id}")

    assert removed.status_code == 200
    assert removed.json() == {"list_id": list_id, "subscriber_id": subscriber_id}
    assert api.get(f"/api/subscribers/{subscriber_id}").json()["lists"] == []


def test_unknown_list_error_code(api):
    response = api.get("/api/lists/list_Rt7mKp3QsU9xNw4")
    assert response.status_code == 404
    assert response.json()["code"] == "LIST_NOT_FOUND"


# --- Advanced segmentation, integration and migration examples ------------------------------------------------


def test_dynamic_audience_with_behavioral_rules(api):
    audience_id = post_id(api, "/api/audiences", {"name": "Engaged Premium Customers"}, AUDIENCE_ID)
    list_id = post_id(
        api, "/api/lists", {"name": "Active Premium Segment", "mode": "dynamic", "audience_id": audience_id}, LIST_ID
    )
    assert api.get(f"/api/lists/{list_id}").json()["audience_id"] == audience_id


def test_hybrid_segmentation(api):
    audience_id = post_id(api, "/api/audiences", {"name": "Geographic Target - West Coast"}, AUDIENCE_ID)
    list_id = post_id(
        api, "/api/lists", {"name": "VIP Override List", "mode": "static", "audience_id": audience_id}, LIST_ID
    )
    got = api.get(f"/api/lists/{list_id}").json()
    assert (got["mode"], got["audience_id"]) == ("static", audience_id)


def test_ab_test_segments(api):
    base = post_id(api, "/api/audiences", {"name": "Campaign Base"}, AUDIENCE_ID)
    segments = ["Control Group", "Test A - Subject Line", "Test B - Content", "Test C - Send Time"]
    for segment in segments:
        post_id(api, "/api/lists", {"name": segment, "mode": "static", "audience_id": base}, LIST_ID)

    listed = api.post(
        "/api/lists/list", {"page": 1, "limit": 10, "filters": {"audience_id": {"operation": "eq", "value": base}}}
    ).json()
    assert sorted(row["name"] for row in listed["results"]) == sorted(segments)
    assert {row["audience_name"] for row in listed["results"]} == {"Campaign Base"}


def test_campaign_orchestration(api):
    audience_id = post_id(api, "/api/audiences", {"name": "Product Launch Targets"}, AUDIENCE_ID)
    post_id(api, "/api/lists", {"name": "Launch Campaign List", "mode": "dynamic", "audience_id": audience_id}, LIST_ID)


def test_personalization_reads_segments_from_the_subscriber(api):
    audience_id = post_id(api, "/api/audiences", {"name": "VIP Customers"}, AUDIENCE_ID)
    list_id = post_id(
        api, "/api/lists", {"name": "Newsletter", "mode": "static", "audience_id": "aud_default"}, LIST_ID
    )
    subscriber_id = create_subscriber(api, "reader@example.com")
    api.post(f"/api/audiences/{audience_id}/subscribers", {"subscriber_id": subscriber_id})
    api.post(f"/api/lists/{list_id}/subscribers", {"subscriber_id": subscriber_id})

    subscriber = api.get(f"/api/subscribers/{subscriber_id}").json()

    assert subscriber.get("audiences", []) + subscriber.get("lists", []) == ["aud_default", audience_id, list_id]


def test_lead_scoring_moves_a_subscriber_between_lists(api):
    lists = {
        segment: post_id(api, "/api/lists", {"name": segment, "mode": "static", "audience_id": "aud_default"}, LIST_ID)
        for segment in ("hot_leads", "warm_leads", "cold_leads")
    }
    subscriber_id = create_subscriber(api, "lead@example.com")

    for current in ("cold_leads", "hot_leads"):
        for segment, list_id in lists.items():
            if segment != current:  # the example removes from every other list, member or not
                response = api.delete(f"/api/lists/{list_id}/subscribers/{subscriber_id}")
                assert response.json() == {"list_id": list_id, "subscriber_id": subscriber_id}
        added = api.post(f"/api/lists/{lists[current]}/subscribers", {"subscriber_id": subscriber_id})
        assert added.json() == {"list_id": lists[current], "subscriber_id": subscriber_id}
        assert api.get(f"/api/subscribers/{subscriber_id}").json()["lists"] == [lists[current]]


def test_bulk_migration_from_static_to_dynamic(api):
    for old_list in ("list_old_1", "list_old_2", "list_old_3"):
        audience_id = post_id(api, "/api/audiences", {"name": f"Migrated: {old_list}"}, AUDIENCE_ID)
        body = {"name": f"Dynamic: {old_list}", "mode": "dynamic", "audience_id": audience_id}
        post_id(api, "/api/lists", body, LIST_ID)

    listed = api.post(
        "/api/lists/list", {"page": 1, "limit": 10, "filters": {"mode": {"operation": "eq", "value": "dynamic"}}}
    ).json()
    assert sorted(row["audience_name"] for row in listed["results"]) == [
        "Migrated: list_old_1",
        "Migrated: list_old_2",
        "Migrated: list_old_3",
    ]


def test_migration_guide_switches_a_static_list_with_members_to_dynamic(api):
    """The guide's steps on one list with members: export them, create the audience, fill it, validate the counts,
    switch the list's mode (the step the bulk script leaves out), then see the change in the list's history."""
    body = {"name": "Old static", "mode": "static", "audience_id": "aud_default"}
    old_list = post_id(api, "/api/lists", body, LIST_ID)
    members = [create_subscriber(api, f"member{i}@example.com") for i in range(3)]
    for subscriber_id in members:
        assert api.post(f"/api/lists/{old_list}/subscribers", {"subscriber_id": subscriber_id}).status_code == 200

    # Analyze Current Lists: export all static list members
    export = api.get(f"/api/lists/{old_list}/export")
    assert export.status_code == 200
    exported = b"".join(export.streaming_content).decode()
    assert all(f"member{i}@example.com" in exported for i in range(3))
    # Define Audience Criteria, Create Dynamic Audience
    audience_id = post_id(api, "/api/audiences", {"name": f"Migrated: {old_list}"}, AUDIENCE_ID)
    for subscriber_id in members[:2]:
        api.post(f"/api/audiences/{audience_id}/subscribers", {"subscriber_id": subscriber_id})
    # Validate Membership: compare counts
    assert api.get(f"/api/audiences/{audience_id}/count").json()["count"] == 2
    assert api.get(f"/api/lists/{old_list}").json()["size"] == 3

    # Switch List Mode: Update from static to dynamic
    response = api.put(f"/api/lists/{old_list}", {"name": "Old static", "mode": "dynamic", "audience_id": audience_id})

    assert response.status_code == 200
    assert response.json() == {"id": old_list}
    got = api.get(f"/api/lists/{old_list}").json()
    assert (got["mode"], got["audience_id"], got["size"]) == ("dynamic", audience_id, 2)
    # Monitor Changes: the switch and how many static members it removed
    change = api.get(f"/api/lists/{old_list}/history").json()["results"][0]
    assert change["kind"] == "switched_to_dynamic"
    assert (change["details"]["static_members_removed"], change["details"]["members_after"]) == (3, 2)
