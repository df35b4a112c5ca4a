"""Audiences through the API (seed 000; issue 2, points 5 and 12): create, list, get, update, delete, membership,
versioning and scopes. Every bad request is checked for its code and for nothing stored changing."""

import datetime as dt
import re

import pytest

from audiences.models import DEFAULT_AUDIENCE_ID, Audience, AudienceMembership
from audiences.services import audience_create, list_create
from subscribers.models import Subscriber
from tests.api_assertions import TIMESTAMP, assert_error

AUDIENCE_KEYS = {"id", "name", "created_at", "updated_at", "version"}


def create_audience(api, name: str) -> str:
    response = api.post("/api/audiences", {"name": name})
    assert response.status_code == 200, response.json()
    return response.json()["id"]


def create_subscriber(api, email: str, *, active: bool = True, audiences: tuple[str, ...] = ()) -> str:
    body = {"first_name": email.split("@")[0], "email": email, "active": active, "audiences": list(audiences)}
    if not active:
        body["inactive_reason"] = "bounced"
    response = api.post("/api/subscribers", body)
    assert response.status_code == 200, response.json()
    return response.json()["id"]


def subscriber_audiences(api, subscriber_id: str) -> list[str]:
    """The audiences the subscriber was added to: GET's `audiences` after `aud_default`, which always comes first."""
    response = api.get(f"/api/subscribers/{subscriber_id}")
    assert response.status_code == 200
    audiences = response.json()["audiences"]
    assert audiences[0] == DEFAULT_AUDIENCE_ID
    return audiences[1:]


def audience_rows() -> list[tuple]:
    """Everything stored about audiences, to show that a refused request changed nothing."""
    return list(Audience.objects.order_by("pk").values_list("public_id", "name", "version", "updated_at"))


def listing(api, **request) -> dict:
    response = api.post("/api/audiences/list", {"page": 1, "limit": 100, **request})
    assert response.status_code == 200, response.json()
    return response.json()


def names(body: dict) -> list[str]:
    return [row["name"] for row in body["results"]]


# --- create ---------------------------------------------------------------------------------------------------


def test_create_answers_the_id_and_stores_a_fresh_audience(api):
    response = api.post("/api/audiences", {"name": "  High-Value Customers  "})

    assert response.status_code == 200
    assert set(response.json()) == {"id"}
    audience_id = response.json()["id"]
    assert re.fullmatch(r"aud_[A-Za-z0-9]+", audience_id)
    stored = Audience.objects.get(public_id=audience_id)
    assert stored.name == "High-Value Customers"
    assert (stored.version, stored.updated_at) == (1, None)

    got = api.get(f"/api/audiences/{audience_id}").json()
    assert set(got) == AUDIENCE_KEYS
    assert got["name"] == "High-Value Customers"
    assert TIMESTAMP.match(got["created_at"])
    assert got["updated_at"] is None
    assert got["version"] == 1


@pytest.mark.parametrize("name", ["High-Value Customers", "high-value customers", "  HIGH-VALUE CUSTOMERS "])
def test_create_with_a_taken_name_is_invalid_audience_on_name(api, name):
    create_audience(api, "High-Value Customers")
    before = audience_rows()

    body = assert_error(api.post("/api/audiences", {"name": name}), 400, "INVALID_AUDIENCE", "name")

    assert body == {
        "message": "Invalid audience data",
        "code": "INVALID_AUDIENCE",
        "issues": [{"field": "name", "message": "Audience name already exists"}],
    }
    assert audience_rows() == before


def test_create_with_the_default_audience_name_is_refused(api):
    before = audience_rows()
    assert_error(api.post("/api/audiences", {"name": "all subscribers"}), 400, "INVALID_AUDIENCE", "name")
    assert audience_rows() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": ["a list"]}, "name"),
        (["not", "an", "object"], "body"),
    ],
)
def test_create_with_a_missing_or_bad_name_is_invalid_audience(api, body, field):
    before = audience_rows()
    assert_error(api.post("/api/audiences", body), 400, "INVALID_AUDIENCE", field)
    assert audience_rows() == before


def test_create_with_malformed_json_is_a_400_envelope(api):
    before = audience_rows()
    response = api.generic("POST", "/api/audiences", "{not json", content_type="application/json")
    assert_error(response, 400, "VALIDATION_ERROR")
    assert audience_rows() == before


# --- list -----------------------------------------------------------------------------------------------------


def test_the_default_audience_is_in_every_unfiltered_listing(api):
    default = listing(api)
    assert [row["id"] for row in default["results"]] == [DEFAULT_AUDIENCE_ID]
    assert default["results"][0]["name"] == "All Subscribers"
    assert (default["total"], default["totalPages"]) == (1, 1)

    for name in ("Alpha", "Beta"):
        create_audience(api, name)
    body = listing(api)
    assert DEFAULT_AUDIENCE_ID in [row["id"] for row in body["results"]]
    assert body["total"] == 3
    assert all(set(row) == AUDIENCE_KEYS for row in body["results"])
    # the newest first by default, so "All Subscribers", made by the migration, comes last
    assert names(body) == ["Beta", "Alpha", "All Subscribers"]


def test_list_search_and_filters(api):
    ids = {name: create_audience(api, name) for name in ("High-Value Customers", "Lapsed Customers", "Newsletter")}
    Audience.objects.filter(public_id=ids["Lapsed Customers"]).update(created_at=dt.datetime(2023, 6, 1, tzinfo=dt.UTC))
    Audience.objects.filter(public_id=ids["High-Value Customers"]).update(
        created_at=dt.datetime(2024, 3, 15, 10, 30, tzinfo=dt.UTC)
    )
    api.put(f"/api/audiences/{ids['Newsletter']}", {"name": "Newsletter Readers"})

    assert names(listing(api, search="customers")) == ["High-Value Customers", "Lapsed Customers"]
    assert names(listing(api, search="CUSTOMERS", sort="name")) == ["High-Value Customers", "Lapsed Customers"]
    between = {"created_at": {"operation": "between", "value": ["2024-01-01T00:00:00Z", "2024-12-31T23:59:59Z"]}}
    assert names(listing(api, search="customers", filters=between)) == ["High-Value Customers"]
    assert names(listing(api, filters={"name": {"operation": "like", "value": "LAPSED"}})) == ["Lapsed Customers"]
    assert names(listing(api, filters={"name": {"operation": "eq", "value": "Newsletter Readers"}})) == [
        "Newsletter Readers"
    ]
    by_id = listing(api, filters={"id": {"operation": "in", "value": [ids["Lapsed Customers"], DEFAULT_AUDIENCE_ID]}})
    assert sorted(names(by_id)) == ["All Subscribers", "Lapsed Customers"]
    assert names(listing(api, filters={"updated_at": {"operation": "nempty"}})) == ["Newsletter Readers"]
    not_default = listing(api, filters={"id": {"operation": "ne", "value": DEFAULT_AUDIENCE_ID}})
    assert not_default["total"] == 3
    assert names(listing(api, sort="-name")) == [
        "Newsletter Readers",
        "Lapsed Customers",
        "High-Value Customers",
        "All Subscribers",
    ]


@pytest.mark.parametrize(
    ("request_body", "code", "field"),
    [
        ({"filters": {"colour": {"operation": "eq", "value": "red"}}}, "INVALID_FILTER", "filters.colour"),
        ({"filters": {"name": {"operation": "sounds_like", "value": "x"}}}, "INVALID_FILTER", None),
        ({"filters": {"created_at": {"operation": "between", "value": "yesterday"}}}, "INVALID_FILTER", None),
        ({"filters": {"created_at": {"operation": "gt", "value": "not a date"}}}, "INVALID_FILTER", None),
        ({"filters": ["name"]}, "INVALID_FILTER", "filters"),
        ({"sort": "password"}, "VALIDATION_ERROR", "sort"),
        ({"page": 0}, "VALIDATION_ERROR", "page"),
        ({"limit": 0}, "VALIDATION_ERROR", "limit"),
        ({"page": "first"}, "VALIDATION_ERROR", "page"),
    ],
)
def test_list_with_bad_input_is_a_400_naming_the_problem(api, request_body, code, field):
    body = assert_error(api.post("/api/audiences/list", {"page": 1, "limit": 10, **request_body}), 400, code, field)
    if code == "INVALID_FILTER":
        assert all(issue["field"].startswith("filters") for issue in body["issues"])


def test_list_pages_and_caps_the_limit_at_100(api):
    for index in range(104):
        audience_create(name=f"Segment {index:03d}")  # 104 + "All Subscribers" = 105

    first = listing(api, limit=500, sort="name")
    assert len(first["results"]) == 100
    assert (first["total"], first["totalPages"]) == (105, 2)

    second = api.post("/api/audiences/list", {"page": 2, "limit": 500, "sort": "name"}).json()
    assert len(second["results"]) == 5
    assert not {row["id"] for row in first["results"]} & {row["id"] for row in second["results"]}

    small = api.post("/api/audiences/list", {"page": 3, "limit": 10, "sort": "name"}).json()
    assert names(small) == [f"Segment {index:03d}" for index in range(19, 29)]
    assert small["totalPages"] == 11
    past_the_end = api.post("/api/audiences/list", {"page": 50, "limit": 10}).json()
    assert past_the_end == {"results": [], "total": 105, "totalPages": 11}


def test_list_query_count_is_bounded(api, django_assert_max_num_queries):
    for index in range(30):
        audience_create(name=f"Audience {index}")
    with django_assert_max_num_queries(4):  # key lookup, its last use, count, page
        response = api.post("/api/audiences/list", {"page": 1, "limit": 100})
    assert len(response.json()["results"]) == 31


# --- get ------------------------------------------------------------------------------------------------------


def test_get_unknown_audience_is_404(api):
    assert_error(api.get("/api/audiences/aud_doesNotExist"), 404, "NOT_FOUND")
    assert_error(api.get("/api/audiences/" + "x" * 300), 404, "NOT_FOUND")


def test_get_the_default_audience(api):
    body = api.get(f"/api/audiences/{DEFAULT_AUDIENCE_ID}").json()
    assert body["id"] == DEFAULT_AUDIENCE_ID
    assert body["name"] == "All Subscribers"


# --- update and versions --------------------------------------------------------------------------------------


def test_update_renames_bumps_the_version_by_one_and_sets_updated_at(api):
    audience_id = create_audience(api, "High-Value Customers")

    response = api.put(f"/api/audiences/{audience_id}", {"name": "VIP High-Value Customers"})

    assert response.status_code == 200
    assert response.json() == {"id": audience_id}
    assert response["ETag"] == '"2"'
    stored = Audience.objects.get(public_id=audience_id)
    assert (stored.name, stored.version) == ("VIP High-Value Customers", 2)
    assert stored.updated_at is not None
    got = api.get(f"/api/audiences/{audience_id}").json()
    assert got["version"] == 2
    assert TIMESTAMP.match(got["updated_at"])
    assert got["updated_at"] >= got["created_at"]

    api.put(f"/api/audiences/{audience_id}", {"name": "VIP Customers", "version": 2})
    assert api.get(f"/api/audiences/{audience_id}").json()["version"] == 3


def test_update_may_change_only_the_case_of_its_own_name(api):
    audience_id = create_audience(api, "vip customers")
    assert api.put(f"/api/audiences/{audience_id}", {"name": "VIP Customers"}).status_code == 200
    assert Audience.objects.get(public_id=audience_id).name == "VIP Customers"


def test_update_with_the_same_name_changes_nothing(api):
    audience_id = create_audience(api, "Stable")
    before = audience_rows()
    assert api.put(f"/api/audiences/{audience_id}", {"name": "Stable"}).status_code == 200
    assert audience_rows() == before


@pytest.mark.parametrize("version_via", ["body", "If-Match", "If-Match weak"])
def test_update_with_a_stale_version_is_409_and_changes_nothing(api, version_via):
    audience_id = create_audience(api, "Original")
    api.put(f"/api/audiences/{audience_id}", {"name": "Second"})  # now at version 2
    before = audience_rows()

    if version_via == "body":
        response = api.put(f"/api/audiences/{audience_id}", {"name": "Lost update", "version": 1})
    else:
        tag = '"1"' if version_via == "If-Match" else 'W/"1"'
        response = api.put(f"/api/audiences/{audience_id}", {"name": "Lost update"}, HTTP_IF_MATCH=tag)

    assert_error(response, 409, "VERSION_CONFLICT")
    assert audience_rows() == before


def test_update_with_the_current_version_or_etag_succeeds(api):
    audience_id = create_audience(api, "Original")
    etag = api.get(f"/api/audiences/{audience_id}")["ETag"]
    assert etag == '"1"'

    assert api.put(f"/api/audiences/{audience_id}", {"name": "Second"}, HTTP_IF_MATCH=etag).status_code == 200
    assert api.put(f"/api/audiences/{audience_id}", {"name": "Third", "version": 2}).status_code == 200
    assert Audience.objects.get(public_id=audience_id).version == 3


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "name"), ({"name": ""}, "name"), ({"name": "x" * 201}, "name"), ({"name": "ok", "version": 0}, "version")],
)
def test_update_with_bad_input_is_invalid_audience(api, body, field):
    audience_id = create_audience(api, "Original")
    before = audience_rows()
    assert_error(api.put(f"/api/audiences/{audience_id}", body), 400, "INVALID_AUDIENCE", field)
    assert audience_rows() == before


def test_update_with_a_malformed_if_match_is_a_400(api):
    audience_id = create_audience(api, "Original")
    before = audience_rows()
    response = api.put(f"/api/audiences/{audience_id}", {"name": "New"}, HTTP_IF_MATCH='"abc"')
    assert response.status_code == 400
    assert audience_rows() == before


@pytest.mark.parametrize("taken", ["Other", "OTHER", "all subscribers"])
def test_update_to_a_taken_name_is_invalid_audience(api, taken):
    audience_id = create_audience(api, "Mine")
    create_audience(api, "Other")
    before = audience_rows()
    assert_error(api.put(f"/api/audiences/{audience_id}", {"name": taken}), 400, "INVALID_AUDIENCE", "name")
    assert audience_rows() == before


def test_update_unknown_audience_is_404(api):
    before = audience_rows()
    assert_error(api.put("/api/audiences/aud_missing", {"name": "x"}), 404, "NOT_FOUND")
    assert audience_rows() == before


@pytest.mark.parametrize("name", ["Everyone", "all subscribers", ""])
def test_the_default_audience_cannot_be_renamed(api, name):
    before = audience_rows()
    assert_error(api.put(f"/api/audiences/{DEFAULT_AUDIENCE_ID}", {"name": name}), 400, "INVALID_AUDIENCE", "name")
    assert audience_rows() == before
    assert Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID).name == "All Subscribers"


# --- delete ---------------------------------------------------------------------------------------------------


def test_delete_removes_the_audience_and_its_memberships(api):
    audience_id = create_audience(api, "Doomed")
    subscriber_id = create_subscriber(api, "ann@example.com", audiences=(audience_id,))
    assert subscriber_audiences(api, subscriber_id) == [audience_id]

    response = api.delete(f"/api/audiences/{audience_id}")

    assert response.status_code == 200
    assert response.json() == {"id": audience_id}
    assert not Audience.objects.filter(public_id=audience_id).exists()
    assert not AudienceMembership.objects.exists()
    assert subscriber_audiences(api, subscriber_id) == []
    assert Subscriber.objects.filter(public_id=subscriber_id).exists()
    assert_error(api.get(f"/api/audiences/{audience_id}"), 404, "NOT_FOUND")
    assert_error(api.delete(f"/api/audiences/{audience_id}"), 404, "NOT_FOUND")


def test_the_default_audience_cannot_be_deleted(api):
    before = audience_rows()
    assert_error(api.delete(f"/api/audiences/{DEFAULT_AUDIENCE_ID}"), 400, "INVALID_AUDIENCE")
    assert audience_rows() == before


def test_deleting_an_audience_used_by_a_list_keeps_the_list_and_its_members(api):
    # Issue 16 point 3: it was refused with 409; seed 000 deletes it ("removes associations"), and nothing is lost.
    audience_id = create_audience(api, "In Use")
    subscriber_id = create_subscriber(api, "bob@example.com", audiences=(audience_id,))
    list_id = api.post("/api/lists", {"name": "Uses it", "mode": "dynamic", "audience_id": audience_id}).json()["id"]

    response = api.delete(f"/api/audiences/{audience_id}")

    assert response.status_code == 200
    assert response.json() == {"id": audience_id}
    assert not Audience.objects.filter(public_id=audience_id).exists()
    got = api.get(f"/api/lists/{list_id}").json()
    assert (got["mode"], got["audience_id"], got["size"]) == ("static", DEFAULT_AUDIENCE_ID, 1)
    assert subscriber_audiences(api, subscriber_id) == []
    assert api.get(f"/api/subscribers/{subscriber_id}").json()["lists"] == [list_id]


def test_delete_unknown_audience_is_404(api):
    before = audience_rows()
    assert_error(api.delete("/api/audiences/aud_missing"), 404, "NOT_FOUND")
    assert audience_rows() == before


# --- membership -----------------------------------------------------------------------------------------------


def test_add_and_remove_a_subscriber(api):
    audience_id = create_audience(api, "Members")
    subscriber_id = create_subscriber(api, "cat@example.com")
    version = Subscriber.objects.get(public_id=subscriber_id).version

    added = api.post(f"/api/audiences/{audience_id}/subscribers", {"subscriber_id": subscriber_id})

    assert added.status_code == 200
    assert added.json() == {"audience_id": audience_id, "subscriber_id": subscriber_id}
    assert subscriber_audiences(api, subscriber_id) == [audience_id]
    assert Subscriber.objects.get(public_id=subscriber_id).version == version + 1

    again = api.post(f"/api/audiences/{audience_id}/subscribers", {"subscriber_id": subscriber_id})
    assert again.status_code == 200
    assert AudienceMembership.objects.filter(audience__public_id=audience_id).count() == 1
    assert Subscriber.objects.get(public_id=subscriber_id).version == version + 1

    removed = api.delete(f"/api/audiences/{audience_id}/subscribers/{subscriber_id}")
    assert removed.status_code == 200
    assert removed.json() == {"audience_id": audience_id, "subscriber_id": subscriber_id}
    assert subscriber_audiences(api, subscriber_id) == []
    assert Subscriber.objects.get(public_id=subscriber_id).version == version + 2

    # removing someone who is not a member is not an error and changes nothing
    assert api.delete(f"/api/audiences/{audience_id}/subscribers/{subscriber_id}").status_code == 200
    assert Subscriber.objects.get(public_id=subscriber_id).version == version + 2


def test_membership_shows_in_subscriber_filters_and_counts(api):
    audience_id = create_audience(api, "Counted")
    active = create_subscriber(api, "dan@example.com", audiences=(audience_id,))
    inactive = create_subscriber(api, "eve@example.com", active=False, audiences=(audience_id,))
    create_subscriber(api, "fay@example.com")

    members = api.post(
        "/api/subscribers/list",
        {"page": 1, "limit": 10, "filters": {"audiences": {"operation": "in", "value": [audience_id]}}},
    ).json()
    assert sorted(row["id"] for row in members["results"]) == sorted([active, inactive])

    counts = api.post(
        "/api/subscribers/search",
        {
            "payload": {
                "queryName": "getSubscribersCountByAudienceIds",
                "vars": {"audienceIds": [audience_id, DEFAULT_AUDIENCE_ID]},
            }
        },
    )
    assert counts.status_code == 200
    # only active subscribers are reachable; everyone is in "All Subscribers"
    assert counts.json() == {"subscribersCountByAudienceId": {audience_id: 1, DEFAULT_AUDIENCE_ID: 2}}


def test_adding_to_the_default_audience_is_accepted_and_stores_nothing(api):
    subscriber_id = create_subscriber(api, "gus@example.com")
    response = api.post(f"/api/audiences/{DEFAULT_AUDIENCE_ID}/subscribers", {"subscriber_id": subscriber_id})
    assert response.json() == {"audience_id": DEFAULT_AUDIENCE_ID, "subscriber_id": subscriber_id}
    assert not AudienceMembership.objects.exists()


def test_removing_from_the_default_audience_is_refused(api):
    subscriber_id = create_subscriber(api, "hal@example.com")
    response = api.delete(f"/api/audiences/{DEFAULT_AUDIENCE_ID}/subscribers/{subscriber_id}")
    assert_error(response, 400, "INVALID_AUDIENCE")
    assert Subscriber.objects.filter(public_id=subscriber_id).exists()


def test_membership_with_unknown_ids_is_404_and_stores_nothing(api):
    audience_id = create_audience(api, "Members")
    subscriber_id = create_subscriber(api, "ivy@example.com")

    add = api.post(f"/api/audiences/{audience_id}/subscribers", {"subscriber_id": "sub_missing"})
    assert_error(add, 404, "SUBSCRIBER_NOT_FOUND")
    add = api.post("/api/audiences/aud_missing/subscribers", {"subscriber_id": subscriber_id})
    assert_error(add, 404, "NOT_FOUND")
    remove = api.delete(f"/api/audiences/{audience_id}/subscribers/sub_missing")
    assert_error(remove, 404, "SUBSCRIBER_NOT_FOUND")
    remove = api.delete(f"/api/audiences/aud_missing/subscribers/{subscriber_id}")
    assert_error(remove, 404, "NOT_FOUND")
    assert not AudienceMembership.objects.exists()


@pytest.mark.parametrize("body", [{}, {"subscriber_id": ""}, {"subscriber_id": None}, {"subscriber_id": ["sub_x"]}])
def test_add_without_a_subscriber_id_is_invalid_audience(api, body):
    audience_id = create_audience(api, "Members")
    assert_error(api.post(f"/api/audiences/{audience_id}/subscribers", body), 400, "INVALID_AUDIENCE", "subscriber_id")
    assert not AudienceMembership.objects.exists()


def test_a_subscriber_id_that_cannot_exist_is_subscriber_not_found(api):
    audience_id = create_audience(api, "Members")
    assert_error(api.delete(f"/api/audiences/{audience_id}/subscribers/sub%00x"), 404, "SUBSCRIBER_NOT_FOUND")
    assert_error(
        api.post(f"/api/audiences/{audience_id}/subscribers", {"subscriber_id": "sub\x00x"}),
        400,
        "INVALID_AUDIENCE",
        "subscriber_id",
    )
    assert not AudienceMembership.objects.exists()


def test_an_audience_id_with_a_nul_byte_is_not_found(api):
    assert_error(api.get("/api/audiences/aud%00x"), 404, "NOT_FOUND")


def test_unsupported_methods_are_405(api):
    assert_error(api.get("/api/audiences"), 405, "METHOD_NOT_ALLOWED")
    assert_error(
        api.patch(f"/api/audiences/{DEFAULT_AUDIENCE_ID}", {"name": "x"}, format="json"), 405, "METHOD_NOT_ALLOWED"
    )
    assert Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID).name == "All Subscribers"


# --- keys and scopes ------------------------------------------------------------------------------------------


def test_a_read_only_key_can_list_and_get_but_not_write(make_client):
    reader = make_client("audiences:read")
    audience = audience_create(name="Readable")
    before = audience_rows()

    assert reader.post("/api/audiences/list", {"page": 1, "limit": 10}).status_code == 200
    assert reader.get(f"/api/audiences/{audience.public_id}").status_code == 200
    assert_error(reader.post("/api/audiences", {"name": "Nope"}), 403, "FORBIDDEN")
    assert_error(reader.put(f"/api/audiences/{audience.public_id}", {"name": "Nope"}), 403, "FORBIDDEN")
    assert_error(reader.delete(f"/api/audiences/{audience.public_id}"), 403, "FORBIDDEN")
    assert audience_rows() == before


def test_a_key_for_another_resource_is_forbidden(make_client):
    lists_only = make_client("lists:write", "subscribers:write")
    before = audience_rows()
    assert_error(lists_only.post("/api/audiences/list", {"page": 1, "limit": 10}), 403, "FORBIDDEN")
    assert_error(lists_only.post("/api/audiences", {"name": "Nope"}), 403, "FORBIDDEN")
    assert_error(lists_only.get(f"/api/audiences/{DEFAULT_AUDIENCE_ID}"), 403, "FORBIDDEN")
    assert audience_rows() == before


def test_a_write_key_implies_read(make_client):
    writer = make_client("audiences:write")
    assert writer.post("/api/audiences", {"name": "Written"}).status_code == 200
    assert writer.post("/api/audiences/list", {"page": 1, "limit": 10}).json()["total"] == 2


def test_no_key_or_a_wrong_key_is_unauthorized(anonymous):
    before = audience_rows()
    assert_error(anonymous.post("/api/audiences", {"name": "Nope"}), 401, "UNAUTHORIZED")
    assert_error(anonymous.post("/api/audiences/list", {"page": 1, "limit": 10}), 401, "UNAUTHORIZED")
    anonymous.credentials(HTTP_X_API_KEY="roster_deadbeef.not-the-secret")
    assert_error(anonymous.get(f"/api/audiences/{DEFAULT_AUDIENCE_ID}"), 401, "UNAUTHORIZED")
    assert audience_rows() == before


def test_a_list_keeps_the_default_audience_undeletable_even_with_lists(api):
    list_create(name="On default", mode="static", audience=Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID))
    assert_error(api.delete(f"/api/audiences/{DEFAULT_AUDIENCE_ID}"), 400, "INVALID_AUDIENCE")
    assert Audience.objects.filter(public_id=DEFAULT_AUDIENCE_ID).exists()
