"""Issue 16, points 3 and 4: deleting an audience keeps the lists on it and their members; a list switches between
static and dynamic with its members handled; each such change is in the list's history (GET /api/lists/{id}/history,
and the list's admin page)."""

import pytest

from audiences.models import DEFAULT_AUDIENCE_ID, Audience, ListChange, ListMembership, MarketingList
from core.services import api_key_create
from tests.api_assertions import assert_error, created_id
from tests.audiences.conftest import cond, group, list_member_ids
from tests.conftest import RosterClient

pytestmark = pytest.mark.django_db
# Tests that run the segments worker: its jobs are enqueued on commit.
with_worker = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def crm(db) -> RosterClient:
    """A client whose key is named as an integrator would name it."""
    _, raw = api_key_create(name="crm-sync")
    return RosterClient(raw)


def make_audience(api, name: str, **body) -> str:
    return created_id(api.post("/api/audiences", {"name": name, **body}))


def make_list(api, name: str, mode: str = "static", audience_id: str = DEFAULT_AUDIENCE_ID) -> str:
    return created_id(api.post("/api/lists", {"name": name, "mode": mode, "audience_id": audience_id}))


def make_subscriber(api, email: str, *, lists=(), audiences=(), **fields) -> str:
    body = {"first_name": "Pat", "email": email, "lists": list(lists), "audiences": list(audiences), **fields}
    return created_id(api.post("/api/subscribers", body))


def history(api, list_id: str, **params) -> dict:
    response = api.get(f"/api/lists/{list_id}/history", params)
    assert response.status_code == 200, response.json()
    return response.json()


def get_list(api, list_id: str) -> dict:
    response = api.get(f"/api/lists/{list_id}")
    assert response.status_code == 200, response.json()
    return response.json()


def reachable_count(api, list_id: str) -> int:
    body = {"payload": {"queryName": "getSubscribersCountByListIds", "vars": {"listIds": [list_id]}}}
    return api.post("/api/subscribers/search", body).json()["subscribersCountByListId"][list_id]


def rows_of(list_id: str) -> set[str]:
    return set(
        ListMembership.objects.filter(marketing_list__public_id=list_id).values_list("subscriber__public_id", flat=True)
    )


# --- point 3: deleting an audience that lists use -----------------------------------------------------------------


def test_deleting_an_audience_moves_its_static_lists_to_default_with_their_members(crm):
    vip = make_audience(crm, "VIP")
    static = make_list(crm, "Launch invitees", audience_id=vip)
    members = {make_subscriber(crm, f"guest{i}@example.com", lists=[static]) for i in range(3)}
    version = get_list(crm, static)["version"]

    response = crm.delete(f"/api/audiences/{vip}")

    assert response.status_code == 200
    assert response.json() == {"id": vip}
    got = get_list(crm, static)
    assert (got["mode"], got["audience_id"], got["size"], got["version"]) == (
        "static",
        DEFAULT_AUDIENCE_ID,
        3,
        version + 1,
    )
    assert list_member_ids(crm, static) == members
    entry = history(crm, static)["results"][0]
    assert entry["kind"] == "audience_deleted_moved_to_default"
    assert (entry["actor_type"], entry["actor_name"]) == ("api_key", "crm-sync")
    assert entry["details"] == {"audience_id": vip, "audience_name": "VIP", "members": 3}


@with_worker
def test_deleting_a_rule_audience_makes_its_dynamic_list_static_with_the_same_members(api, segments_worker):
    spenders = make_audience(api, "Big spenders", rules=group(cond("first_name", "eq", "Rich")))
    rich = {make_subscriber(api, f"rich{i}@example.com", first_name="Rich") for i in range(3)}
    make_subscriber(api, "poor@example.com", first_name="Poor")
    segments_worker.run()
    dynamic = make_list(api, "Spenders", mode="dynamic", audience_id=spenders)
    before = list_member_ids(api, dynamic)
    assert before == rich

    assert api.delete(f"/api/audiences/{spenders}").json() == {"id": spenders}

    got = get_list(api, dynamic)
    assert (got["mode"], got["audience_id"], got["size"]) == ("static", DEFAULT_AUDIENCE_ID, 3)
    assert list_member_ids(api, dynamic) == rows_of(dynamic) == before
    for subscriber_id in rich:  # they are in the list by its rows now, as a static list's members are
        assert api.get(f"/api/subscribers/{subscriber_id}").json()["lists"] == [dynamic]
    entry = history(api, dynamic)["results"][0]
    assert entry["kind"] == "audience_deleted_made_static"
    assert entry["details"] == {
        "audience_id": spenders,
        "audience_name": "Big spenders",
        "members": 3,
        "static_members_added": 3,
    }
    # A rule a subscriber matched no longer decides anything: the list holds who it held.
    assert api.put(f"/api/subscribers/{next(iter(rich))}", {"first_name": "Poorer"}).status_code == 200
    assert list_member_ids(api, dynamic) == before


def test_a_dynamic_list_keeps_its_exclusions_and_suppressed_members_as_its_members(api):
    vip = make_audience(api, "VIP")
    blocked = make_list(api, "Blocked")
    suppression = make_list(api, "Do not contact")
    api.put(f"/api/lists/{suppression}/composition", {"is_suppression": True})
    kept = make_subscriber(api, "kept@example.com", audiences=[vip])
    suppressed = make_subscriber(api, "suppressed@example.com", audiences=[vip], lists=[suppression])
    make_subscriber(api, "excluded@example.com", audiences=[vip], lists=[blocked])
    dynamic = make_list(api, "VIP list", mode="dynamic", audience_id=vip)
    api.put(f"/api/lists/{dynamic}/composition", {"exclude_lists": [blocked]})
    assert (list_member_ids(api, dynamic), reachable_count(api, dynamic)) == ({kept, suppressed}, 1)

    assert api.delete(f"/api/audiences/{vip}").status_code == 200

    # Membership as the selector answered it: the excluded one stays out, the suppressed one stays unreachable.
    assert rows_of(dynamic) == {kept, suppressed}
    assert (list_member_ids(api, dynamic), reachable_count(api, dynamic)) == ({kept, suppressed}, 1)
    assert get_list(api, dynamic)["size"] == 2


def test_deleting_an_audience_without_lists_records_no_history(api):
    vip = make_audience(api, "VIP")
    other = make_list(api, "Elsewhere")

    assert api.delete(f"/api/audiences/{vip}").status_code == 200

    assert history(api, other) == {"results": [], "total": 0, "totalPages": 0}
    assert not ListChange.objects.exists()


def test_an_audience_that_a_list_includes_or_excludes_is_not_deleted(api):
    vip = make_audience(api, "VIP")
    member = make_subscriber(api, "vip@example.com", audiences=[vip])
    campaign = make_list(api, "Campaign")
    api.put(f"/api/lists/{campaign}/composition", {"include_audiences": [vip]})
    on_it = make_list(api, "On it", mode="dynamic", audience_id=vip)

    body = assert_error(api.delete(f"/api/audiences/{vip}"), 409, "INVALID_AUDIENCE", "id")

    assert campaign in body["issues"][0]["message"]
    assert Audience.objects.filter(public_id=vip).exists()
    assert list_member_ids(api, campaign) == {member}
    assert get_list(api, on_it)["mode"] == "dynamic"
    assert not ListChange.objects.exists()


def test_an_audience_named_by_other_rules_is_still_not_deleted_and_its_lists_stay(api):
    vip = make_audience(api, "VIP")
    dynamic = make_list(api, "VIP list", mode="dynamic", audience_id=vip)
    naming = make_audience(api, "Not VIP", rules=group(cond("audiences", "nin", [vip])))

    body = assert_error(api.delete(f"/api/audiences/{vip}"), 409, "INVALID_AUDIENCE", "id")

    assert naming in body["issues"][0]["message"]
    got = get_list(api, dynamic)
    assert (got["mode"], got["audience_id"]) == ("dynamic", vip)
    assert not ListChange.objects.exists()


# --- point 4: switching modes -------------------------------------------------------------------------------------


def test_static_to_dynamic_replaces_the_members_by_the_audiences_and_records_how_many_left(crm):
    vip = make_audience(crm, "VIP")
    static = make_list(crm, "Newsletter")
    both = make_subscriber(crm, "both@example.com", lists=[static], audiences=[vip])
    for i in range(2):
        make_subscriber(crm, f"static{i}@example.com", lists=[static])
    newcomer = make_subscriber(crm, "vip@example.com", audiences=[vip])

    response = crm.put(f"/api/lists/{static}", {"mode": "dynamic", "audience_id": vip})

    assert response.status_code == 200
    assert list_member_ids(crm, static) == {both, newcomer}
    assert rows_of(static) == set()
    entry = history(crm, static)["results"][0]
    assert entry["kind"] == "switched_to_dynamic"
    assert (entry["actor_type"], entry["actor_name"]) == ("api_key", "crm-sync")
    assert entry["details"] == {
        "members_before": 3,
        "static_members_removed": 3,
        "previous_audience_id": DEFAULT_AUDIENCE_ID,
        "audience_id": vip,
        "members_after": 2,
    }


def test_dynamic_to_static_keeps_the_members_it_had(api):
    vip = make_audience(api, "VIP")
    members = {make_subscriber(api, f"vip{i}@example.com", audiences=[vip]) for i in range(2)}
    dynamic = make_list(api, "VIP list", mode="dynamic", audience_id=vip)

    response = api.put(f"/api/lists/{dynamic}", {"mode": "static"})

    assert response.status_code == 200
    assert rows_of(dynamic) == list_member_ids(api, dynamic) == members
    # The audience changing no longer changes the list.
    api.post(f"/api/audiences/{vip}/subscribers", {"subscriber_id": make_subscriber(api, "late@example.com")})
    assert list_member_ids(api, dynamic) == members
    entry = history(api, dynamic)["results"][0]
    assert entry["kind"] == "switched_to_static"
    assert entry["details"] == {
        "members_before": 2,
        "static_members_added": 2,
        "previous_audience_id": vip,
        "audience_id": vip,
        "members_after": 2,
    }


def test_a_refused_switch_changes_nothing_and_records_nothing(api):
    static = make_list(api, "Newsletter")
    member = make_subscriber(api, "a@example.com", lists=[static])
    api.put(f"/api/lists/{static}", {"name": "Renamed"})  # version 2

    response = api.put(f"/api/lists/{static}", {"mode": "dynamic", "version": 1})

    assert_error(response, 409, "VERSION_CONFLICT")
    assert rows_of(static) == {member}
    assert history(api, static)["total"] == 0


@with_worker
def test_a_rule_audience_naming_the_list_follows_the_switch(api, segments_worker):
    vip = make_audience(api, "VIP")
    static = make_list(api, "Newsletter")
    reader = make_subscriber(api, "reader@example.com", lists=[static])
    vip_member = make_subscriber(api, "vip@example.com", audiences=[vip])
    readers = make_audience(api, "Readers", rules=group(cond("lists", "in", [static])))
    segments_worker.run()
    assert list_member_ids(api, static) == {reader}

    api.put(f"/api/lists/{static}", {"mode": "dynamic", "audience_id": vip})
    segments_worker.run()

    members = {row["id"] for row in api.get(f"/api/audiences/{readers}/members").json()["results"]}
    assert members == {vip_member}


# --- the history endpoint -----------------------------------------------------------------------------------------


def test_history_pages_newest_first(api):
    vip = make_audience(api, "VIP")
    list_id = make_list(api, "Flip-flop")
    for mode in ("dynamic", "static", "dynamic", "static", "dynamic"):
        assert api.put(f"/api/lists/{list_id}", {"mode": mode, "audience_id": vip}).status_code == 200

    first = history(api, list_id, page=1, limit=2)
    last = history(api, list_id, page=3, limit=2)

    assert (first["total"], first["totalPages"]) == (5, 3)
    assert [entry["kind"] for entry in first["results"]] == ["switched_to_dynamic", "switched_to_static"]
    assert [entry["kind"] for entry in last["results"]] == ["switched_to_dynamic"]
    assert set(first["results"][0]) == {"kind", "created_at", "actor_type", "actor_name", "details"}
    assert first["results"][0]["created_at"] >= first["results"][1]["created_at"]


@pytest.mark.parametrize("params", [{"page": 0}, {"limit": "many"}, {"page": "-1"}])
def test_history_with_a_bad_page_is_a_400(api, params):
    list_id = make_list(api, "L")
    assert_error(api.get(f"/api/lists/{list_id}/history", params), 400, "VALIDATION_ERROR")


def test_history_of_an_unknown_list_is_list_not_found(api):
    assert_error(api.get("/api/lists/list_missing/history"), 404, "LIST_NOT_FOUND")


def test_history_needs_lists_read(api, make_client):
    list_id = make_list(api, "L")
    assert_error(make_client("subscribers:read").get(f"/api/lists/{list_id}/history"), 403, "FORBIDDEN")
    assert make_client("lists:read").get(f"/api/lists/{list_id}/history").status_code == 200


def test_history_goes_with_its_list(api):
    vip = make_audience(api, "VIP")
    list_id = make_list(api, "L")
    api.put(f"/api/lists/{list_id}", {"mode": "dynamic", "audience_id": vip})

    assert api.delete(f"/api/lists/{list_id}").status_code == 200

    assert not ListChange.objects.exists()
    assert not MarketingList.objects.filter(public_id=list_id).exists()
