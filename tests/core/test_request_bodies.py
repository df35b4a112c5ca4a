"""Write bodies are strict (issue 8, point 7): on every endpoint that reads a JSON body, a key the endpoint does not
know is a 400 naming it, every problem of a body comes back in one answer, and the error code says whether unknown
keys were the only problem. Round trips (a body read with GET sent back) are tested next to each resource."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.settings import spectacular_settings
from rest_framework import serializers

from core.api.serializers import InputSerializer
from preferences.tokens import Purpose, make_token
from subscribers.models import Subscriber
from tests.api_assertions import assert_error, created_id
from tests.imports.test_engine import upload

UNKNOWN = {"field": "surprise", "message": "Unknown field"}


def _request_serializers():
    """(method, path, serializer) of every operation with a JSON body, as the OpenAPI schema documents it."""
    generator = SchemaGenerator()
    generator._initialise_endpoints()
    for path, path_regex, method, view in generator._get_paths_and_endpoints():
        if method not in ("POST", "PUT", "PATCH"):
            continue
        view.request = spectacular_settings.GET_MOCK_REQUEST(method, path, view, None)
        view.schema.get_operation(path, path_regex, "^/api", method, generator.registry)
        request = view.schema.get_request_serializer()
        if isinstance(request, dict):  # by media type: the JSON body, if any (multipart carries a file, not JSON)
            request = request.get("application/json")
        if request is None:
            continue
        yield method, path, request


def _lax_serializers(serializer: serializers.Serializer | type, path: str) -> list[str]:
    """Every serializer within this one (itself included) that would let an unknown key through."""
    if isinstance(serializer, type):
        serializer = serializer()
    if isinstance(serializer, serializers.ListSerializer):
        return _lax_serializers(serializer.child, f"{path}[]")
    lax = [] if isinstance(serializer, InputSerializer) else [f"{path} ({type(serializer).__name__})"]
    for name, field in serializer.fields.items():
        if isinstance(field, serializers.BaseSerializer) and not field.read_only:
            lax += _lax_serializers(field, f"{path}.{name}")
    return lax


@pytest.mark.django_db
def test_every_json_body_of_the_api_is_read_by_a_strict_serializer():
    operations = list(_request_serializers())
    assert len(operations) >= 30  # every write of the API, not a lucky few
    lax = [problem for method, path, request in operations for problem in _lax_serializers(request, f"{method} {path}")]
    assert lax == []


@pytest.fixture
def world(api, settings, tmp_path):
    """One of each resource, through the API."""
    settings.MEDIA_ROOT = tmp_path / "media"
    stype = created_id(api.post("/api/subscription-types", {"name": "Newsletter"}))
    subscriber = created_id(api.post("/api/subscribers", {"first_name": "Ann", "email": "ann@example.com"}))
    audience = created_id(api.post("/api/audiences", {"name": "Fans"}))
    static_list = created_id(api.post("/api/lists", {"name": "VIP", "mode": "static", "audience_id": "aud_default"}))
    group = api.post(
        "/api/audiences/loyalty-tiers",
        {"name": "Tiers", "value_field": "engagement.purchases", "tiers": [{"name": "Any", "min": 0}]},
    ).json()["id"]
    return {
        "stype": stype,
        "subscriber": subscriber,
        "audience": audience,
        "list": static_list,
        "group": group,
        "field": created_id(api.post("/api/custom-fields", {"name": "plan", "type": "string"})),
        "tag": created_id(api.post("/api/tags", {"name": "vip"})),
        "email": created_id(api.post("/api/marketing-emails", {"name": "Welcome"})),
        "token": make_token(Purpose.PREFERENCES, Subscriber.objects.get(public_id=subscriber)),
        "file_url": upload([["email"], ["dee@example.com"]]),
    }


# (method, path, a valid body): every write of the API with a JSON body.
WRITES = [
    ("post", "/api/subscribers", {"first_name": "Bo", "email": "bo@example.com"}),
    ("put", "/api/subscribers/{subscriber}", {"first_name": "Annie"}),
    ("post", "/api/subscribers/list", {"page": 1}),
    (
        "post",
        "/api/subscribers/search",
        {"payload": {"queryName": "getSubscribersCountByListIds", "vars": {"listIds": ["{list}"]}}},
    ),  # fmt: skip
    ("post", "/api/subscribers/batch", {"data": [{"email": "cy@example.com"}]}),
    ("post", "/api/subscribers/{subscriber}/engagements", {"page": 1}),
    ("post", "/api/engagements/events", {"events": [{"event_id": "e1", "type": "opened", "email": "ann@example.com"}]}),
    ("post", "/api/subscription-types", {"name": "Offers"}),
    ("put", "/api/subscription-types/{stype}", {"name": "News"}),
    ("post", "/api/subscription-types/list", {}),
    ("post", "/api/custom-fields", {"name": "city", "type": "string"}),
    ("put", "/api/custom-fields/{field}", {"description": "Plan"}),
    ("post", "/api/custom-fields/list", {}),
    ("post", "/api/tags", {"name": "new"}),
    ("put", "/api/tags/{tag}", {"name": "VIP"}),
    ("post", "/api/tags/list", {}),
    ("post", "/api/audiences", {"name": "Others"}),
    ("put", "/api/audiences/{audience}", {"name": "Friends"}),
    ("post", "/api/audiences/list", {}),
    ("post", "/api/audiences/{audience}/rules", {"rules": {"match": "all", "conditions": []}}),
    ("post", "/api/audiences/{audience}/subscribers", {"subscriber_id": "{subscriber}"}),
    (
        "post",
        "/api/audiences/loyalty-tiers",
        {"name": "T2", "value_field": "engagement.opens", "tiers": [{"name": "Openers", "min": 1}]},
    ),  # fmt: skip
    ("put", "/api/audiences/loyalty-tiers/{group}", {"tiers": [{"name": "Any", "min": 0}]}),
    (
        "post",
        "/api/audiences/{audience}/import",
        {"file_url": "{file_url}", "import_type": "create_only", "dry_run": True},
    ),  # fmt: skip
    ("post", "/api/lists", {"name": "New", "mode": "static", "audience_id": "aud_default"}),
    ("put", "/api/lists/{list}", {"name": "VIPs"}),
    ("post", "/api/lists/list", {}),
    ("post", "/api/lists/{list}/subscribers", {"subscriber_id": "{subscriber}"}),
    ("put", "/api/lists/{list}/composition", {"is_suppression": False}),
    ("post", "/api/lists/{list}/archive", {"archived": False}),
    (
        "post",
        "/api/lists/{list}/import",
        {"file_url": "{file_url}", "import_type": "create_only", "dry_run": True},
    ),  # fmt: skip
    ("post", "/api/marketing-emails", {"name": "Promo"}),
    ("put", "/api/marketing-emails/{email}", {"subject": "Hi"}),
    ("post", "/api/marketing-emails/list", {}),
    ("put", "/api/subscribers/preferences/{token}", {"subscription_updates": [], "replace_all": False}),
]


def _fill(value, world):
    if isinstance(value, str):
        return value.format(**world) if "{" in value else value
    if isinstance(value, dict):
        return {key: _fill(item, world) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, world) for item in value]
    return value


def test_the_list_of_writes_covers_every_operation_with_a_json_body(db):
    documented = {(method.lower(), path.replace("owner_id", "x")) for method, path, _ in _request_serializers()}
    tested = {(method, path) for method, path, _ in WRITES}

    def shape(path: str) -> str:
        return "/".join("{}" if part.startswith("{") else part for part in path.split("/"))

    assert {(m, shape(p)) for m, p in documented} == {(m, shape(p)) for m, p in tested}


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_an_unknown_key_is_a_400_naming_it_on_every_write(api, world, method, path, body):
    path, body = _fill(path, world), _fill(body, world)
    assert getattr(api, method)(path, body).status_code == 200  # the body without it is fine

    answer = assert_error(getattr(api, method)(path, {**body, "surprise": 1}), 400, "VALIDATION_ERROR", "surprise")

    assert answer["issues"] == [UNKNOWN]


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("put", "/api/subscribers/{subscriber}",
         {"subscription_updates": [{"subscription_type_id": "{stype}", "subscribe": True, "surprise": 1}]},
         "subscription_updates.0.surprise"),
        ("put", "/api/subscribers/{subscriber}",
         {"subscription_preferences": [{"subscription_type_id": "{stype}", "subscribed": True, "surprise": 1}]},
         "subscription_preferences.0.surprise"),
        ("post", "/api/subscribers/search",
         {"payload": {"queryName": "getSubscribersCountByListIds", "vars": {"listIds": ["{list}"], "surprise": 1}}},
         "payload.vars.surprise"),
        ("put", "/api/audiences/loyalty-tiers/{group}", {"tiers": [{"name": "Any", "min": 0, "surprise": 1}]},
         "tiers.0.surprise"),
        ("put", "/api/lists/{list}", {"jobs": [{"file_url": "https://example.com/a.csv", "import_type": "create_only",
                                                "surprise": 1}]}, "jobs.0.surprise"),
        ("put", "/api/lists/{list}", {"jobs": [{"id": "job_x", "surprise": 1}]}, "jobs.0.surprise"),
        ("post", "/api/lists/{list}/import", {"import_file": {"file_url": "https://example.com/a.csv",
                                                              "import_type": "create_only", "surprise": 1}},
         "import_file.surprise"),
        ("put", "/api/subscribers/preferences/{token}",
         {"subscription_updates": [], "replace_all": False, "subscriber_updates": {"surprise": 1}},
         "subscriber_updates.surprise"),
        ("put", "/api/subscribers/preferences/{token}",
         {"subscriber": {"email": "x@example.com", "subscriptions": [], "surprise": 1}}, "subscriber.surprise"),
    ],
)  # fmt: skip
def test_an_unknown_key_in_a_nested_object_is_named_by_its_path(api, world, method, path, body, field):
    answer = assert_error(getattr(api, method)(_fill(path, world), _fill(body, world)), 400, "VALIDATION_ERROR")

    assert answer["issues"] == [{"field": field, "message": "Unknown field"}]


def test_an_unknown_key_in_a_rule_condition_is_refused_by_the_rule_schema(api, world):
    rules = {"match": "all", "conditions": [{"field": "email", "operation": "eq", "value": "x", "surprise": 1}]}

    path = f"/api/audiences/{world['audience']}/rules"

    answer = assert_error(api.post(path, {"rules": rules}), 400, "INVALID_FILTER")

    assert answer["issues"][0]["field"] == "rules.conditions.0.surprise"


def test_items_of_a_batch_report_their_unknown_keys_as_their_reason(api):
    """A batch answers each contact (and each event) valid or invalid on its own: an unknown key makes that one
    invalid, named in its reason, and the others go through."""
    answer = api.post(
        "/api/subscribers/batch",
        {"data": [{"email": "ok@example.com"}, {"email": "typo@example.com", "frist_name": "Ann"}]},
    ).json()

    assert [c["email"] for c in answer["valid_contacts"]] == ["ok@example.com"]
    assert answer["invalid_contacts"][0]["reason"] == "frist_name: Unknown field"
    assert not Subscriber.objects.filter(email="typo@example.com").exists()

    events = api.post(
        "/api/engagements/events",
        {"events": [{"event_id": "e1", "type": "opened", "email": "ok@example.com", "surprise": 1}]},
    ).json()
    assert (events["accepted"], events["invalid"][0]["reason"]) == (0, "surprise: Unknown field")


def test_unknown_keys_with_other_errors_answer_the_resource_code_with_every_issue(api):
    answer = assert_error(
        api.post("/api/subscribers", {"email": "not-an-email", "surprise": 1}),
        400,
        "INVALID_SUBSCRIBER",
        "email",
        "first_name",
        "surprise",
    )
    assert UNKNOWN in answer["issues"]

    assert_error(api.post("/api/audiences", {"surprise": 1}), 400, "INVALID_AUDIENCE", "name", "surprise")


def test_a_bad_email_and_a_missing_first_name_are_reported_together(api):
    answer = assert_error(api.post("/api/subscribers", {"email": "not-an-email"}), 400, "INVALID_SUBSCRIBER")

    assert {issue["field"] for issue in answer["issues"]} == {"email", "first_name"}
    assert not Subscriber.objects.exists()


def test_the_checks_against_stored_data_are_reported_together(api):
    """Once a body is well formed, what it names is checked all at once too: unknown lists, audiences and tags and a
    missing inactive reason come back in one answer."""
    answer = assert_error(
        api.post(
            "/api/subscribers",
            {
                "first_name": "Ann",
                "email": "ann@example.com",
                "active": False,
                "lists": ["list_missing"],
                "audiences": ["aud_missing"],
                "tags": ["tag_missing"],
            },
        ),
        400,
        "INVALID_SUBSCRIBER",
    )

    assert {issue["field"] for issue in answer["issues"]} == {"inactive_reason", "lists", "audiences", "tags"}
    assert not Subscriber.objects.exists()
