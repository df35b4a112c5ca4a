"""What every /api/ endpoint shares: key authentication and scopes, the error envelope, pages, timestamps, versions,
and the OpenAPI schema."""

import datetime as dt
import json

import pytest
from django.test import override_settings
from django.urls import URLPattern, URLResolver, get_resolver

from core.ids import new_public_id
from core.models import ApiKey
from core.services import api_key_create, api_key_revoke
from subscribers.models import Subscriber, Tag
from tests.api_assertions import assert_error, created_id
from tests.conftest import RosterClient

NEW_SUBSCRIBER = {"first_name": "A", "email": "a@example.com"}


# Authentication and scopes


def test_a_request_without_a_key_is_401(anonymous):
    for response in (
        anonymous.post("/api/subscribers/list", {"page": 1, "limit": 10}),
        anonymous.post("/api/subscribers", NEW_SUBSCRIBER),
        anonymous.get("/api/subscribers/sub_x"),
        anonymous.post("/api/tags", {"name": "x"}),
        anonymous.post("/api/audiences/list", {"page": 1, "limit": 10}),
    ):
        assert_error(response, 401, "UNAUTHORIZED")
    assert Subscriber.objects.count() == 0
    assert Tag.objects.count() == 0


@pytest.mark.parametrize(
    "raw_key",
    ["nonsense", "roster_abcd.wrongsecret", "roster_.x", "roster_" + "a" * 40 + ".x", "Bearer roster_x.y", "é"],
)
def test_a_wrong_key_is_401(api, raw_key):
    response = RosterClient(raw_key.encode().decode("latin-1")).post("/api/subscribers", NEW_SUBSCRIBER)

    assert_error(response, 401, "UNAUTHORIZED")
    assert Subscriber.objects.count() == 0


def test_a_right_prefix_with_a_wrong_secret_is_401(db):
    key, raw = api_key_create(name="k", scopes=["subscribers:write"])
    forged = raw[: raw.index(".") + 1] + "not-the-secret"

    response = RosterClient(forged).post("/api/subscribers", NEW_SUBSCRIBER)

    assert_error(response, 401, "UNAUTHORIZED")
    assert Subscriber.objects.count() == 0


def test_a_revoked_key_is_401(db):
    key, raw = api_key_create(name="k", scopes=["subscribers:write"])
    client = RosterClient(raw)
    assert client.post("/api/subscribers/list", {"page": 1, "limit": 10}).status_code == 200

    api_key_revoke(key=key)

    assert_error(client.post("/api/subscribers", NEW_SUBSCRIBER), 401, "UNAUTHORIZED")
    assert_error(client.post("/api/subscribers/list", {"page": 1, "limit": 10}), 401, "UNAUTHORIZED")
    assert Subscriber.objects.count() == 0


def test_a_key_records_its_last_use(db):
    key, raw = api_key_create(name="k", scopes=["subscribers:read"])
    assert key.last_used_at is None

    RosterClient(raw).post("/api/subscribers/list", {"page": 1, "limit": 10})

    assert ApiKey.objects.get(pk=key.pk).last_used_at is not None


def test_a_read_only_key_may_list_but_not_write(api, make_client):
    subscriber_id = created_id(api.post("/api/subscribers", NEW_SUBSCRIBER))
    reader = make_client("subscribers:read")
    before = list(Subscriber.objects.values())

    assert reader.post("/api/subscribers/list", {"page": 1, "limit": 10}).json()["total"] == 1
    assert reader.get(f"/api/subscribers/{subscriber_id}").status_code == 200
    assert_error(reader.post("/api/subscribers", {"first_name": "B", "email": "b@example.com"}), 403, "FORBIDDEN")
    assert_error(reader.put(f"/api/subscribers/{subscriber_id}", {"first_name": "B"}), 403, "FORBIDDEN")
    assert_error(reader.delete(f"/api/subscribers/{subscriber_id}"), 403, "FORBIDDEN")
    assert_error(reader.post("/api/subscribers/batch", {"data": [{"email": "c@example.com"}]}), 403, "FORBIDDEN")
    assert list(Subscriber.objects.values()) == before


def test_a_key_for_another_resource_is_403(make_client):
    lists_only = make_client("lists:write", "audiences:write")

    assert_error(lists_only.post("/api/subscribers/list", {"page": 1, "limit": 10}), 403, "FORBIDDEN")
    assert_error(lists_only.post("/api/subscribers", NEW_SUBSCRIBER), 403, "FORBIDDEN")
    assert_error(lists_only.post("/api/tags/list", {"page": 1, "limit": 10}), 403, "FORBIDDEN")
    assert lists_only.post("/api/audiences/list", {"page": 1, "limit": 10}).status_code == 200
    assert Subscriber.objects.count() == 0


def test_write_implies_read_on_the_same_resource(make_client):
    writer = make_client("subscribers:write")

    assert writer.post("/api/subscribers/list", {"page": 1, "limit": 10}).status_code == 200


# The error envelope


def test_an_unknown_route_is_a_json_404(api):
    for path in ("/api/nothing-here", "/api/subscribers/sub_x/unknown", "/api/"):
        assert_error(api.get(path), 404, "NOT_FOUND")
    assert_error(api.post("/api/nothing-here", {"a": 1}), 404, "NOT_FOUND")


def test_an_unknown_id_is_a_json_404_with_the_resource_code(api):
    assert_error(api.get("/api/subscribers/sub_missing"), 404, "SUBSCRIBER_NOT_FOUND")
    assert_error(api.get("/api/lists/list_missing"), 404, "LIST_NOT_FOUND")
    assert_error(api.get("/api/tags/tag_missing"), 404, "NOT_FOUND")


def test_a_method_the_route_does_not_offer_is_a_json_405(api):
    subscriber_id = created_id(api.post("/api/subscribers", NEW_SUBSCRIBER))
    before = list(Subscriber.objects.values())

    assert_error(api.get("/api/subscribers"), 405, "METHOD_NOT_ALLOWED")
    assert_error(api.get("/api/subscribers/list"), 405, "METHOD_NOT_ALLOWED")
    assert_error(api.patch(f"/api/subscribers/{subscriber_id}", {"first_name": "B"}, format="json"), 405,
                 "METHOD_NOT_ALLOWED")  # fmt: skip
    assert_error(api.post(f"/api/subscribers/{subscriber_id}", {"first_name": "B"}), 405, "METHOD_NOT_ALLOWED")
    assert list(Subscriber.objects.values()) == before


@pytest.mark.parametrize("raw", [b"{", b'{"first_name": "A",}', b"\xff\xfe", b"{'single': 'quotes'}", b"NaN"])
def test_malformed_json_is_a_400(api, raw):
    response = api.generic("POST", "/api/subscribers", raw, content_type="application/json")

    assert_error(response, 400, "VALIDATION_ERROR")
    assert Subscriber.objects.count() == 0


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/csv"]
)
def test_a_body_that_is_not_json_is_a_415(api, content_type):
    response = api.generic("POST", "/api/subscribers", b"first_name=A&email=a@example.com", content_type=content_type)

    assert_error(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert Subscriber.objects.count() == 0


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_an_oversized_body_is_a_413(api):
    payload = {**NEW_SUBSCRIBER, "additional_fields_data": {"note": "x" * 2048}}

    response = api.post("/api/subscribers", payload)

    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    assert Subscriber.objects.count() == 0
    assert api.post("/api/subscribers", NEW_SUBSCRIBER).status_code == 200


def test_no_html_and_no_traceback_whatever_is_sent(api):
    awkward = [
        ("/api/subscribers", {"first_name": "A", "email": "a@example.com", "additional_fields_data": {"k" * 300: 1}}),
        ("/api/subscribers", {"first_name": "\x00", "email": "a\x00@example.com"}),
        ("/api/subscribers", {"first_name": "A", "email": "a@" + "x" * 300 + ".com"}),
        ("/api/subscribers/list", {"page": 10**30, "limit": 10**30, "search": "%_\\"}),
        ("/api/subscribers/list", {"page": 1, "limit": 10, "filters": {"email": {"operation": "eq", "value": {}}}}),
        ("/api/subscribers/list", {"page": 1, "limit": 10, "filters": {"conditions": "all"}}),
        ("/api/subscribers/list", {"page": 1, "limit": 10, "filters": {"match": "all", "conditions": [[]]}}),
        ("/api/subscribers/list", {"page": 1, "limit": 10, "sort": "-"}),
        ("/api/subscribers/search", {"payload": {"queryName": None}}),
        ("/api/subscribers/batch", {"data": [None, 1, [], {"email": None}]}),
        ("/api/tags", {"name": "\u202e" * 5}),
    ]
    for path, payload in awkward:
        response = api.post(path, payload)
        assert response.status_code < 500, (path, response.content)
        assert response["Content-Type"].startswith("application/json"), path
        if response.status_code >= 400:
            assert set(response.json()) == {"message", "code", "issues"}, path


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        ("/api/custom-fields", b'{"name": "x", "type": "number", "default": 1e400}'),
        ("/api/subscribers", b'{"first_name": "A", "email": "a@example.com", "additional_fields_data": {"n": 1e400}}'),
        ("/api/subscribers/list", b'{"filters": {"version": {"operation": "gt", "value": 1e400}}}'),
        (
            "/api/subscribers",
            b'{"first_name": "A", "email": "a@example.com", "additional_fields_data": {"n": 1%s}}' % (b"0" * 400),
        ),
        (
            "/api/subscribers",
            b'{"first_name": "A", "email": "a@example.com", "additional_fields_data": {"n": [[1e999]]}}',
        ),
        (
            "/api/subscribers",
            b'{"first_name": "A", "email": "a@example.com", "additional_fields_data": {"n": %s}}'
            % (b"[" * 100_000 + b"]" * 100_000),
        ),
        ("/api/subscribers", b"[" * 100_000 + b"]" * 100_000),
        (
            "/api/subscribers/list",
            b'{"filters": {"match": "all", "conditions": [%s]}}' % (b'{"conditions": [' * 400 + b"]}" * 400),
        ),
        (
            "/api/subscribers/batch",
            b'{"data": [{"email": "a@example.com", "custom_fields": {"x": %s}}]}' % (b"[" * 900 + b"]" * 900),
        ),
        (
            "/api/subscribers",
            b'{"first_name": "A", "email": "a@example.com", "additional_fields_data": {"n": -Infinity}}',
        ),
    ],
)
def test_bodies_too_big_in_number_or_depth_are_refused_not_crashed_on(api, path, raw):
    response = api.generic("POST", path, raw, content_type="application/json")

    assert 400 <= response.status_code < 500, response.content
    assert set(response.json()) == {"message", "code", "issues"}
    assert Subscriber.objects.count() == 0


# Pages


def test_the_page_envelope_caps_limit_at_one_hundred(api):
    Tag.objects.bulk_create([Tag(name=f"tag-{index:03d}", public_id=new_public_id("tag")) for index in range(101)])

    capped = api.post("/api/tags/list", {"page": 1, "limit": 1000}).json()
    second = api.post("/api/tags/list", {"page": 2, "limit": 1000}).json()

    assert set(capped) == {"results", "total", "totalPages"}
    assert (len(capped["results"]), capped["total"], capped["totalPages"]) == (100, 101, 2)
    assert [row["name"] for row in second["results"]] == ["tag-100"]


def test_page_and_limit_have_defaults(api):
    Tag.objects.bulk_create([Tag(name=f"tag-{index:03d}", public_id=new_public_id("tag")) for index in range(21)])

    body = api.post("/api/tags/list", {}).json()

    assert (len(body["results"]), body["total"], body["totalPages"]) == (20, 21, 2)


@pytest.mark.parametrize("body", [[], "page=1", {"page": -1}, {"limit": "ten"}, {"page": 1.5}])
def test_a_bad_page_request_is_a_400(api, body):
    assert_error(api.post("/api/tags/list", body), 400, "VALIDATION_ERROR")


# Timestamps


def test_timestamps_are_utc_with_milliseconds(api):
    subscriber_id = created_id(api.post("/api/subscribers", NEW_SUBSCRIBER))
    Subscriber.objects.filter(public_id=subscriber_id).update(
        created_at=dt.datetime(2024, 3, 15, 12, 30, 0, 123999, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        updated_at=dt.datetime(2024, 3, 20, 14, 45, 0, tzinfo=dt.UTC),
    )

    body = api.get(f"/api/subscribers/{subscriber_id}").json()
    row = api.post("/api/subscribers/list", {"page": 1, "limit": 10}).json()["results"][0]

    assert (body["created_at"], body["updated_at"]) == ("2024-03-15T10:30:00.123Z", "2024-03-20T14:45:00.000Z")
    assert (row["created_at"], row["updated_at"]) == (body["created_at"], body["updated_at"])


# Versions


def test_every_change_bumps_the_version_and_a_stale_writer_gets_409(api):
    tag_id = created_id(api.post("/api/tags", {"name": "first"}))
    first = api.get(f"/api/tags/{tag_id}")
    assert (first.json()["version"], first.json()["updated_at"], first["ETag"]) == (1, None, '"1"')

    updated = api.put(f"/api/tags/{tag_id}", {"name": "second"}, HTTP_IF_MATCH=first["ETag"])

    assert updated.status_code == 200
    assert updated["ETag"] == '"2"'
    body = api.get(f"/api/tags/{tag_id}").json()
    assert (body["name"], body["version"]) == ("second", 2)
    assert body["updated_at"] is not None
    before = list(Tag.objects.values())
    for stale in (
        api.put(f"/api/tags/{tag_id}", {"name": "third"}, HTTP_IF_MATCH=first["ETag"]),
        api.put(f"/api/tags/{tag_id}", {"name": "third"}, HTTP_IF_MATCH='W/"1"'),
        api.put(f"/api/tags/{tag_id}", {"name": "third", "version": 1}),
    ):
        assert_error(stale, 409, "VERSION_CONFLICT")
    assert_error(api.put(f"/api/tags/{tag_id}", {"name": "third"}, HTTP_IF_MATCH="yesterday"), 400, "VALIDATION_ERROR",
                 "If-Match")  # fmt: skip
    assert list(Tag.objects.values()) == before
    assert api.put(f"/api/tags/{tag_id}", {"name": "third"}, HTTP_IF_MATCH="*").status_code == 200


def test_a_version_for_a_later_state_is_a_conflict_too(api):
    audience_id = created_id(api.post("/api/audiences", {"name": "First"}))

    response = api.put(f"/api/audiences/{audience_id}", {"name": "Second", "version": 7})

    assert_error(response, 409, "VERSION_CONFLICT")
    assert api.get(f"/api/audiences/{audience_id}").json()["name"] == "First"


# OpenAPI


def _api_routes() -> set[str]:
    """Every concrete /api/ route, written as OpenAPI paths (`/api/subscribers/{subscriber_id}`)."""
    routes: set[str] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            text = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, text)
            elif isinstance(pattern, URLPattern) and text.startswith("api/") and "<path:" not in text:
                routes.add("/" + text.replace("<str:", "{").replace(">", "}"))

    walk(get_resolver().url_patterns, "")
    return {route for route in routes if not route.startswith(("/api/schema", "/api/docs"))}


def test_the_openapi_schema_is_served_without_a_key_and_lists_every_endpoint(anonymous):
    response = anonymous.get("/api/schema/", {"format": "json"})

    assert response.status_code == 200
    schema = json.loads(response.content)
    assert schema["openapi"].startswith("3.")
    assert _api_routes() <= set(schema["paths"])
    assert "post" in schema["paths"]["/api/subscribers"]
    assert {"get", "put", "delete"} <= set(schema["paths"]["/api/subscribers/{subscriber_id}"])
    schemes = schema["components"]["securitySchemes"]
    assert {"type": "apiKey", "in": "header", "name": "X-API-Key"} in schemes.values()


def test_the_interactive_docs_are_served_without_a_key(anonymous):
    response = anonymous.get("/api/docs/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"/api/schema/" in response.content
