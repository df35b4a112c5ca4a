"""Marketing lists through the API (seed 000; issue 2, points 6 and 12): create, list, get, update, delete, static
and dynamic membership, versioning and scopes. Every bad request is checked for its code and for nothing stored
changing."""

import datetime as dt
import re

import pytest

from audiences.models import DEFAULT_AUDIENCE_ID, Audience, ListMembership, MarketingList
from audiences.services import audience_create, list_create
from subscribers.models import Subscriber
from tests.api_assertions import TIMESTAMP, assert_error

# Seed 000's shape, plus seed 003's archived, size and created_by.
LIST_KEYS = {
    "id",
    "name",
    "mode",
    "audience_id",
    "audience_name",
    "created_at",
    "updated_at",
    "version",
    "archived",
    "size",
    "created_by",
}
DETAIL_KEYS = LIST_KEYS - {"audience_name"} | {"jobs"}


def create_audience(api, name: str) -> str:
    response = api.post("/api/audiences", {"name": name})
    assert response.status_code == 200, response.json()
    return response.json()["id"]


def create_list(api, name: str, mode: str = "static", audience_id: str = DEFAULT_AUDIENCE_ID) -> str:
    response = api.post("/api/lists", {"name": name, "mode": mode, "audience_id": audience_id})
    assert response.status_code == 200, response.json()
    return response.json()["id"]


def create_subscriber(api, email: str, *, active: bool = True, audiences=(), lists=()) -> str:
    body = {"first_name": email.split("@")[0], "email": email, "active": active}
    body |= {"audiences": list(audiences), "lists": list(lists)}
    if not active:
        body["inactive_reason"] = "bounced"
    response = api.post("/api/subscribers", body)
    assert response.status_code == 200, response.json()
    return response.json()["id"]


def subscriber_lists(api, subscriber_id: str) -> list[str]:
    response = api.get(f"/api/subscribers/{subscriber_id}")
    assert response.status_code == 200
    return response.json()["lists"]


def stored() -> list[tuple]:
    """Everything stored about lists and their members, to show that a refused request changed nothing."""
    lists = MarketingList.objects.order_by("pk").values_list(
        "public_id", "name", "mode", "audience_id", "version", "updated_at"
    )
    members = ListMembership.objects.order_by("pk").values_list("marketing_list_id", "subscriber_id")
    subscribers = Subscriber.objects.order_by("pk").values_list("pk", "version")
    return [list(lists), list(members), list(subscribers)]


def listing(api, **request) -> dict:
    response = api.post("/api/lists/list", {"page": 1, "limit": 100, **request})
    assert response.status_code == 200, response.json()
    return response.json()


def names(body: dict) -> list[str]:
    return [row["name"] for row in body["results"]]


def members_via_filter(api, list_id: str) -> list[str]:
    response = api.post(
        "/api/subscribers/list",
        {"page": 1, "limit": 100, "filters": {"lists": {"operation": "in", "value": [list_id]}}},
    )
    assert response.status_code == 200, response.json()
    return sorted(row["id"] for row in response.json()["results"])


def reachable_count(api, list_id: str) -> int:
    response = api.post(
        "/api/subscribers/search",
        {"payload": {"queryName": "getSubscribersCountByListIds", "vars": {"listIds": [list_id]}}},
    )
    assert response.status_code == 200, response.json()
    return response.json()["subscribersCountByListId"][list_id]


# --- create ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_create_answers_the_id_and_stores_the_list(api, mode):
    audience_id = create_audience(api, "High-Value Customers")

    response = api.post("/api/lists", {"name": " Q1 2024 Campaign Targets ", "mode": mode, "audience_id": audience_id})

    assert response.status_code == 200
    assert set(response.json()) == {"id"}
    list_id = response.json()["id"]
    assert re.fullmatch(r"list_[A-Za-z0-9]+", list_id)
    row = MarketingList.objects.select_related("audience").get(public_id=list_id)
    assert (row.name, row.mode, row.audience.public_id) == ("Q1 2024 Campaign Targets", mode, audience_id)
    assert (row.version, row.updated_at) == (1, None)

    got = api.get(f"/api/lists/{list_id}").json()
    assert set(got) == DETAIL_KEYS
    assert got["jobs"] == []
    assert (got["name"], got["mode"], got["audience_id"]) == ("Q1 2024 Campaign Targets", mode, audience_id)
    assert TIMESTAMP.match(got["created_at"])
    assert (got["updated_at"], got["version"]) == (None, 1)


def test_list_names_need_not_be_unique(api):
    create_list(api, "Same")
    create_list(api, "Same")
    assert MarketingList.objects.filter(name="Same").count() == 2


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"mode": "static", "audience_id": DEFAULT_AUDIENCE_ID}, "VALIDATION_ERROR", "name"),
        ({"name": "", "mode": "static", "audience_id": DEFAULT_AUDIENCE_ID}, "VALIDATION_ERROR", "name"),
        ({"name": "   ", "mode": "static", "audience_id": DEFAULT_AUDIENCE_ID}, "VALIDATION_ERROR", "name"),
        ({"name": "x" * 201, "mode": "static", "audience_id": DEFAULT_AUDIENCE_ID}, "VALIDATION_ERROR", "name"),
        ({"name": "L", "audience_id": DEFAULT_AUDIENCE_ID}, "VALIDATION_ERROR", "mode"),
        ({"name": "L", "mode": "smart", "audience_id": DEFAULT_AUDIENCE_ID}, "VALIDATION_ERROR", "mode"),
        ({"name": "L", "mode": "STATIC", "audience_id": DEFAULT_AUDIENCE_ID}, "VALIDATION_ERROR", "mode"),
        ({"name": "L", "mode": None, "audience_id": DEFAULT_AUDIENCE_ID}, "VALIDATION_ERROR", "mode"),
        ({"name": "L", "mode": "static"}, "VALIDATION_ERROR", "audience_id"),
        ({"name": "L", "mode": "static", "audience_id": "aud_missing"}, "VALIDATION_ERROR", "audience_id"),
        ({"name": "L", "mode": "dynamic", "audience_id": "x" * 300}, "VALIDATION_ERROR", "audience_id"),
        (
            {"name": "L", "mode": "static", "audience_id": DEFAULT_AUDIENCE_ID, "jobs": [{"file_url": "x"}]},
            "VALIDATION_ERROR",
            "jobs.0.import_type",
        ),
        ("a string", "VALIDATION_ERROR", "body"),
    ],
)
def test_create_with_bad_input_is_a_400_and_stores_nothing(api, body, code, field):
    before = stored()
    assert_error(api.post("/api/lists", body), 400, code, field)
    assert stored() == before


def test_create_with_an_unknown_audience_names_it(api):
    body = assert_error(
        api.post("/api/lists", {"name": "L", "mode": "static", "audience_id": "aud_nowhere"}),
        400,
        "VALIDATION_ERROR",
        "audience_id",
    )
    assert "aud_nowhere" in body["issues"][0]["message"]
    assert not MarketingList.objects.exists()


# --- list -----------------------------------------------------------------------------------------------------


def test_listing_carries_the_audience_name_and_filters_by_every_field(api):
    vip = create_audience(api, "High-Value Customers")
    ids = {
        "Q1 2024 Campaign Targets": create_list(api, "Q1 2024 Campaign Targets"),
        "Product Launch Early Access": create_list(api, "Product Launch Early Access", "static", vip),
        "Auto-Updated VIP List": create_list(api, "Auto-Updated VIP List", "dynamic", vip),
    }
    MarketingList.objects.filter(public_id=ids["Q1 2024 Campaign Targets"]).update(
        created_at=dt.datetime(2024, 1, 15, 9, tzinfo=dt.UTC)
    )
    api.put(f"/api/lists/{ids['Product Launch Early Access']}", {"name": "Product Launch Early Access"})
    api.put(f"/api/lists/{ids['Auto-Updated VIP List']}", {"name": "Auto-Updated VIP Segment"})

    everything = listing(api)
    assert everything["total"] == 3
    assert all(set(row) == LIST_KEYS for row in everything["results"])
    by_id = {row["id"]: row for row in everything["results"]}
    q1 = by_id[ids["Q1 2024 Campaign Targets"]]
    assert (q1["audience_id"], q1["audience_name"]) == (DEFAULT_AUDIENCE_ID, "All Subscribers")
    assert q1["created_at"] == "2024-01-15T09:00:00.000Z"
    assert by_id[ids["Product Launch Early Access"]]["audience_name"] == "High-Value Customers"

    def filtered(**filters) -> list[str]:
        return sorted(names(listing(api, filters=filters)))

    assert filtered(mode={"operation": "eq", "value": "static"}) == [
        "Product Launch Early Access",
        "Q1 2024 Campaign Targets",
    ]
    assert filtered(mode={"operation": "eq", "value": "dynamic"}) == ["Auto-Updated VIP Segment"]
    assert filtered(audience_id={"operation": "eq", "value": vip}) == [
        "Auto-Updated VIP Segment",
        "Product Launch Early Access",
    ]
    assert filtered(audience_id={"operation": "in", "value": [DEFAULT_AUDIENCE_ID]}) == ["Q1 2024 Campaign Targets"]
    assert filtered(created_at={"operation": "between", "value": ["2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z"]}) == [
        "Q1 2024 Campaign Targets"
    ]
    assert filtered(created_at={"operation": "gte", "value": "2025-01-01T00:00:00Z"}) == [
        "Auto-Updated VIP Segment",
        "Product Launch Early Access",
    ]
    assert filtered(name={"operation": "like", "value": "vip"}) == ["Auto-Updated VIP Segment"]
    assert filtered(id={"operation": "eq", "value": ids["Q1 2024 Campaign Targets"]}) == ["Q1 2024 Campaign Targets"]
    # the same name sent again is no change, so only the rename set updated_at
    assert filtered(updated_at={"operation": "nempty"}) == ["Auto-Updated VIP Segment"]
    assert filtered(updated_at={"operation": "empty"}) == ["Product Launch Early Access", "Q1 2024 Campaign Targets"]
    assert filtered(mode={"operation": "eq", "value": "static"}, audience_id={"operation": "eq", "value": vip}) == [
        "Product Launch Early Access"
    ]


def test_listing_search_and_sort(api):
    for name in ("Spring Sale", "summer sale", "Autumn Launch"):
        create_list(api, name)

    assert sorted(names(listing(api, search="SALE"))) == ["Spring Sale", "summer sale"]
    assert names(listing(api, search="nothing like it")) == []
    assert names(listing(api, sort="name")) == ["Autumn Launch", "Spring Sale", "summer sale"]
    assert names(listing(api, sort="-name")) == ["summer sale", "Spring Sale", "Autumn Launch"]
    assert names(listing(api)) == ["Autumn Launch", "summer sale", "Spring Sale"]  # newest first
    assert names(listing(api, sort="created_at")) == ["Spring Sale", "summer sale", "Autumn Launch"]


@pytest.mark.parametrize(
    ("request_body", "code", "field"),
    [
        ({"filters": {"owner": {"operation": "eq", "value": "me"}}}, "INVALID_FILTER", "filters.owner"),
        ({"filters": {"mode": {"operation": "regex", "value": ".*"}}}, "INVALID_FILTER", None),
        ({"filters": {"mode": {"operation": "eq"}, "extra": 1}}, "INVALID_FILTER", None),
        ({"filters": {"created_at": {"operation": "between", "value": ["2024-01-01"]}}}, "INVALID_FILTER", None),
        ({"filters": {"mode": "static"}}, "INVALID_FILTER", "filters.mode"),
        ({"sort": "mode; drop table"}, "VALIDATION_ERROR", "sort"),
        ({"page": -1}, "VALIDATION_ERROR", "page"),
        ({"limit": "many"}, "VALIDATION_ERROR", "limit"),
    ],
)
def test_listing_with_bad_input_is_a_400(api, request_body, code, field):
    create_list(api, "Anything")
    assert_error(api.post("/api/lists/list", {"page": 1, "limit": 10, **request_body}), 400, code, field)


def test_listing_pages_and_caps_the_limit_at_100(api):
    default = Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID)
    for index in range(105):
        list_create(name=f"List {index:03d}", mode="static", audience=default)

    first = listing(api, limit=1000, sort="name")
    assert len(first["results"]) == 100
    assert (first["total"], first["totalPages"]) == (105, 2)
    second = api.post("/api/lists/list", {"page": 2, "limit": 1000, "sort": "name"}).json()
    assert names(second) == [f"List {index:03d}" for index in range(100, 105)]

    page = api.post("/api/lists/list", {"page": 4, "limit": 25, "sort": "-name"}).json()
    assert names(page) == [f"List {index:03d}" for index in range(29, 4, -1)]
    assert (page["total"], page["totalPages"]) == (105, 5)
    assert api.post("/api/lists/list", {"page": 6, "limit": 25}).json() == {
        "results": [],
        "total": 105,
        "totalPages": 5,
    }


def test_listing_runs_a_bounded_number_of_queries(api, django_assert_max_num_queries):
    audiences = [audience_create(name=f"Audience {index}") for index in range(5)]
    for index in range(30):
        list_create(name=f"List {index}", mode="static", audience=audiences[index % 5])

    # key lookup, its last use, count, page joined to its audience, every list's size
    with django_assert_max_num_queries(5):
        response = api.post("/api/lists/list", {"page": 1, "limit": 100})

    body = response.json()
    assert len(body["results"]) == 30
    assert {row["audience_name"] for row in body["results"]} == {f"Audience {index}" for index in range(5)}


# --- get ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("list_id", ["list_missing", "aud_default", "x" * 300])
def test_unknown_list_is_list_not_found_everywhere(api, list_id):
    subscriber_id = create_subscriber(api, "ann@example.com")
    create_list(api, "Existing")
    before = stored()

    assert_error(api.get(f"/api/lists/{list_id}"), 404, "LIST_NOT_FOUND")
    assert_error(api.put(f"/api/lists/{list_id}", {"name": "New"}), 404, "LIST_NOT_FOUND")
    assert_error(api.delete(f"/api/lists/{list_id}"), 404, "LIST_NOT_FOUND")
    add = api.post(f"/api/lists/{list_id}/subscribers", {"subscriber_id": subscriber_id})
    assert_error(add, 404, "LIST_NOT_FOUND")
    assert_error(api.delete(f"/api/lists/{list_id}/subscribers/{subscriber_id}"), 404, "LIST_NOT_FOUND")
    assert stored() == before


def test_a_subscriber_id_that_cannot_exist_is_subscriber_not_found(api):
    list_id = create_list(api, "Static")
    before = stored()
    assert_error(api.delete(f"/api/lists/{list_id}/subscribers/sub%00x"), 404, "SUBSCRIBER_NOT_FOUND")
    assert_error(api.delete(f"/api/lists/{list_id}/subscribers/{'s' * 300}"), 404, "SUBSCRIBER_NOT_FOUND")
    assert stored() == before


def test_a_list_id_with_a_nul_byte_is_list_not_found(api):
    assert_error(api.get("/api/lists/list%00x"), 404, "LIST_NOT_FOUND")


# --- update and versions --------------------------------------------------------------------------------------


def test_update_renames_bumps_the_version_by_one_and_sets_updated_at(api):
    list_id = create_list(api, "Q1 2024 Campaign Targets")

    response = api.put(f"/api/lists/{list_id}", {"name": "Q2 2024 Campaign Targets - Updated"})

    assert response.status_code == 200
    assert response.json() == {"id": list_id}
    assert response["ETag"] == '"2"'
    got = api.get(f"/api/lists/{list_id}").json()
    assert (got["name"], got["version"]) == ("Q2 2024 Campaign Targets - Updated", 2)
    assert TIMESTAMP.match(got["updated_at"])
    assert got["updated_at"] >= got["created_at"]

    vip = create_audience(api, "VIP")
    api.put(f"/api/lists/{list_id}", {"mode": "dynamic", "audience_id": vip, "version": 2})
    row = MarketingList.objects.select_related("audience").get(public_id=list_id)
    assert (row.mode, row.audience.public_id, row.version) == ("dynamic", vip, 3)


def test_update_with_nothing_new_changes_nothing(api):
    list_id = create_list(api, "Steady")
    before = stored()
    assert api.put(f"/api/lists/{list_id}", {"name": "Steady"}).status_code == 200
    assert api.put(f"/api/lists/{list_id}", {}).status_code == 200
    assert stored() == before


@pytest.mark.parametrize("version_via", ["body", "If-Match", "If-Match weak"])
def test_update_with_a_stale_version_is_409_and_changes_nothing(api, version_via):
    list_id = create_list(api, "Original")
    api.put(f"/api/lists/{list_id}", {"name": "Second"})  # now at version 2
    before = stored()

    if version_via == "body":
        response = api.put(f"/api/lists/{list_id}", {"name": "Lost update", "version": 1})
    else:
        tag = '"1"' if version_via == "If-Match" else 'W/"1"'
        response = api.put(f"/api/lists/{list_id}", {"name": "Lost update"}, HTTP_IF_MATCH=tag)

    assert_error(response, 409, "VERSION_CONFLICT")
    assert stored() == before


def test_update_with_the_current_etag_succeeds(api):
    list_id = create_list(api, "Original")
    etag = api.get(f"/api/lists/{list_id}")["ETag"]
    assert api.put(f"/api/lists/{list_id}", {"name": "Second"}, HTTP_IF_MATCH=etag).status_code == 200
    assert MarketingList.objects.get(public_id=list_id).version == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"mode": "smart"}, "mode"),
        ({"audience_id": "aud_missing"}, "audience_id"),
        ({"jobs": [{"file_url": "https://example.com/a.csv"}]}, "jobs.0.import_type"),
        ({"name": "ok", "version": "one"}, "version"),
    ],
)
def test_update_with_bad_input_is_a_400_and_changes_nothing(api, body, field):
    list_id = create_list(api, "Original")
    before = stored()
    assert_error(api.put(f"/api/lists/{list_id}", body), 400, "VALIDATION_ERROR", field)
    assert stored() == before


def test_a_static_list_with_members_becomes_dynamic_with_its_audiences_members(api):
    # Issue 16 point 4: it was refused ("empty it first"); seed 000's migration guide switches it.
    vip = create_audience(api, "VIP")
    list_id = create_list(api, "Has members", audience_id=vip)
    bob = create_subscriber(api, "bob@example.com", lists=[list_id])
    ann = create_subscriber(api, "ann@example.com", audiences=[vip])

    response = api.put(f"/api/lists/{list_id}", {"mode": "dynamic"})

    assert response.status_code == 200
    assert not ListMembership.objects.filter(marketing_list__public_id=list_id).exists()
    got = api.get(f"/api/lists/{list_id}").json()
    assert (got["mode"], got["size"]) == ("dynamic", 1)
    assert subscriber_lists(api, bob) == []
    assert members_via_filter(api, list_id) == [ann]


# --- delete ---------------------------------------------------------------------------------------------------


def test_delete_removes_the_list_and_its_memberships(api):
    list_id = create_list(api, "Q1 2024 Campaign Targets")
    kept = create_list(api, "Kept")
    subscriber_id = create_subscriber(api, "cat@example.com", lists=[list_id, kept])

    response = api.delete(f"/api/lists/{list_id}")

    assert response.status_code == 200
    assert response.json() == {"id": list_id}
    assert not MarketingList.objects.filter(public_id=list_id).exists()
    assert subscriber_lists(api, subscriber_id) == [kept]
    assert Subscriber.objects.filter(public_id=subscriber_id).exists()
    assert Audience.objects.filter(public_id=DEFAULT_AUDIENCE_ID).exists()
    assert_error(api.get(f"/api/lists/{list_id}"), 404, "LIST_NOT_FOUND")


# --- membership -----------------------------------------------------------------------------------------------


def test_add_and_remove_a_subscriber_of_a_static_list(api):
    list_id = create_list(api, "Static")
    subscriber_id = create_subscriber(api, "dan@example.com")
    version = Subscriber.objects.get(public_id=subscriber_id).version

    added = api.post(f"/api/lists/{list_id}/subscribers", {"subscriber_id": subscriber_id})

    assert added.status_code == 200
    assert added.json() == {"list_id": list_id, "subscriber_id": subscriber_id}
    assert subscriber_lists(api, subscriber_id) == [list_id]
    assert members_via_filter(api, list_id) == [subscriber_id]
    assert reachable_count(api, list_id) == 1
    assert Subscriber.objects.get(public_id=subscriber_id).version == version + 1

    again = api.post(f"/api/lists/{list_id}/subscribers", {"subscriber_id": subscriber_id})
    assert again.json() == {"list_id": list_id, "subscriber_id": subscriber_id}
    assert ListMembership.objects.count() == 1
    assert Subscriber.objects.get(public_id=subscriber_id).version == version + 1

    removed = api.delete(f"/api/lists/{list_id}/subscribers/{subscriber_id}")
    assert removed.status_code == 200
    assert removed.json() == {"list_id": list_id, "subscriber_id": subscriber_id}
    assert subscriber_lists(api, subscriber_id) == []
    assert members_via_filter(api, list_id) == []
    assert reachable_count(api, list_id) == 0
    assert not ListMembership.objects.exists()
    assert Subscriber.objects.get(public_id=subscriber_id).version == version + 2

    assert api.delete(f"/api/lists/{list_id}/subscribers/{subscriber_id}").status_code == 200  # not a member: no-op


def test_adding_an_unknown_subscriber_is_subscriber_not_found(api):
    list_id = create_list(api, "Static")
    before = stored()
    add = api.post(f"/api/lists/{list_id}/subscribers", {"subscriber_id": "sub_missing"})
    assert_error(add, 404, "SUBSCRIBER_NOT_FOUND")
    assert_error(api.delete(f"/api/lists/{list_id}/subscribers/sub_missing"), 404, "SUBSCRIBER_NOT_FOUND")
    assert stored() == before


@pytest.mark.parametrize("body", [{}, {"subscriber_id": ""}, {"subscriber_id": None}, {"subscriber_id": ["sub_x"]}])
def test_adding_without_a_subscriber_id_is_a_400(api, body):
    list_id = create_list(api, "Static")
    before = stored()
    assert_error(api.post(f"/api/lists/{list_id}/subscribers", body), 400, "VALIDATION_ERROR", "subscriber_id")
    assert stored() == before


def test_a_dynamic_list_refuses_direct_membership_changes(api):
    audience_id = create_audience(api, "Engaged")
    list_id = create_list(api, "Auto-Updated VIP List", "dynamic", audience_id)
    member = create_subscriber(api, "fay@example.com", audiences=[audience_id])
    outsider = create_subscriber(api, "gus@example.com")
    before = stored()

    add = assert_error(
        api.post(f"/api/lists/{list_id}/subscribers", {"subscriber_id": outsider}), 400, "VALIDATION_ERROR", "list_id"
    )
    remove = assert_error(api.delete(f"/api/lists/{list_id}/subscribers/{member}"), 400, "VALIDATION_ERROR", "list_id")

    for body in (add, remove):
        assert "dynamic" in body["message"].lower() or "dynamic" in body["issues"][0]["message"].lower()
        assert "audience" in body["issues"][0]["message"].lower()
    assert stored() == before
    assert members_via_filter(api, list_id) == [member]


def test_a_dynamic_list_has_its_audience_members(api):
    audience_id = create_audience(api, "Engaged Premium Customers")
    other_audience = create_audience(api, "Someone Else's")
    list_id = create_list(api, "Active Premium Segment", "dynamic", audience_id)
    active = create_subscriber(api, "hal@example.com", audiences=[audience_id])
    inactive = create_subscriber(api, "ivy@example.com", active=False, audiences=[audience_id])
    create_subscriber(api, "jon@example.com", audiences=[other_audience])

    assert members_via_filter(api, list_id) == sorted([active, inactive])
    assert reachable_count(api, list_id) == 1  # only active subscribers are reachable

    # membership follows the audience
    later = create_subscriber(api, "kim@example.com")
    api.post(f"/api/audiences/{audience_id}/subscribers", {"subscriber_id": later})
    assert members_via_filter(api, list_id) == sorted([active, inactive, later])
    assert reachable_count(api, list_id) == 2
    api.delete(f"/api/audiences/{audience_id}/subscribers/{active}")
    assert members_via_filter(api, list_id) == sorted([inactive, later])
    assert reachable_count(api, list_id) == 1


def test_a_dynamic_list_on_the_default_audience_has_everyone(api):
    list_id = create_list(api, "Everyone", "dynamic", DEFAULT_AUDIENCE_ID)
    people = sorted(create_subscriber(api, f"p{index}@example.com") for index in range(3))
    create_subscriber(api, "off@example.com", active=False)

    assert len(members_via_filter(api, list_id)) == 4
    assert set(people) <= set(members_via_filter(api, list_id))
    assert reachable_count(api, list_id) == 3


def test_a_subscriber_cannot_join_a_dynamic_list_directly_on_create(api):
    list_id = create_list(api, "Dyn", "dynamic", DEFAULT_AUDIENCE_ID)
    before = stored()
    response = api.post("/api/subscribers", {"first_name": "Lee", "email": "lee@example.com", "lists": [list_id]})
    assert_error(response, 400, "INVALID_SUBSCRIBER", "lists")
    assert stored() == before


def test_counts_by_list_ids_reject_unknown_lists(api):
    list_id = create_list(api, "Known")
    response = api.post(
        "/api/subscribers/search",
        {"payload": {"queryName": "getSubscribersCountByListIds", "vars": {"listIds": [list_id, "list_missing"]}}},
    )
    body = assert_error(response, 400, "VALIDATION_ERROR", "payload.vars.listIds")
    assert "list_missing" in body["issues"][0]["message"]


# --- keys and scopes ------------------------------------------------------------------------------------------


def test_a_read_only_key_can_list_and_get_but_not_write(make_client):
    reader = make_client("lists:read")
    marketing_list = list_create(
        name="Readable", mode="static", audience=Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID)
    )
    list_id = marketing_list.public_id
    before = stored()

    assert reader.post("/api/lists/list", {"page": 1, "limit": 10}).json()["total"] == 1
    assert reader.get(f"/api/lists/{list_id}").status_code == 200
    forbidden = [
        reader.post("/api/lists", {"name": "Nope", "mode": "static", "audience_id": DEFAULT_AUDIENCE_ID}),
        reader.put(f"/api/lists/{list_id}", {"name": "Nope"}),
        reader.delete(f"/api/lists/{list_id}"),
        reader.post(f"/api/lists/{list_id}/subscribers", {"subscriber_id": "sub_x"}),
        reader.delete(f"/api/lists/{list_id}/subscribers/sub_x"),
    ]
    for response in forbidden:
        assert_error(response, 403, "FORBIDDEN")
    assert stored() == before


def test_an_audiences_key_cannot_touch_lists(make_client, anonymous):
    audiences_only = make_client("audiences:write")
    before = stored()
    assert_error(audiences_only.post("/api/lists/list", {"page": 1, "limit": 10}), 403, "FORBIDDEN")
    body = {"name": "Nope", "mode": "static", "audience_id": DEFAULT_AUDIENCE_ID}
    assert_error(audiences_only.post("/api/lists", body), 403, "FORBIDDEN")
    assert_error(anonymous.post("/api/lists", body), 401, "UNAUTHORIZED")
    assert_error(anonymous.post("/api/lists/list", {"page": 1, "limit": 10}), 401, "UNAUTHORIZED")
    assert stored() == before
