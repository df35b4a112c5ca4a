"""Custom-field definitions and tags (seed 004), and how additional_fields_data and a subscriber's tags use them."""

import pytest

from subscribers.models import CustomField, Subscriber, SubscriptionType, Tag
from tests.api_assertions import TIMESTAMP, assert_error, created_id


def fields_stored() -> list[dict]:
    return list(CustomField.objects.order_by("pk").values())


def tags_stored() -> dict:
    return {
        "tags": list(Tag.objects.order_by("pk").values()),
        "links": list(Subscriber.tags.through.objects.order_by("pk").values("subscriber_id", "tag_id")),
    }


def subscribers_stored() -> list[dict]:
    return list(Subscriber.objects.order_by("pk").values())


def make_field(api, name: str, field_type: str, **extra) -> str:
    return created_id(api.post("/api/custom-fields", {"name": name, "type": field_type, **extra}))


def make_tag(api, name: str, **extra) -> str:
    return created_id(api.post("/api/tags", {"name": name, **extra}))


def create_subscriber(api, additional_fields_data, email="a@example.com", **extra):
    return api.post(
        "/api/subscribers",
        {"first_name": "A", "email": email, "additional_fields_data": additional_fields_data, **extra},
    )


# Custom-field definitions


def test_create_and_get_each_type_of_custom_field(api):
    created = {
        "city": make_field(api, "city", "string", description="Where they live"),
        "age": make_field(api, "age", "number", required=True, default=18),
        "vip": make_field(api, "vip", "boolean", default=False),
        "birthday": make_field(api, "birthday", "date"),
        "tier": make_field(api, "tier", "dropdown", values=["gold", "silver", 3], default="silver"),
    }

    bodies = {name: api.get(f"/api/custom-fields/{field_id}").json() for name, field_id in created.items()}

    for name, body in bodies.items():
        assert set(body) == {
            "id", "name", "type", "values", "required", "default", "description", "discovered", "created_at",
            "updated_at", "version",
        }  # fmt: skip
        assert body["discovered"] is False
        assert body["id"] == created[name] and body["id"].startswith("cf_")
        assert body["name"] == name
        assert TIMESTAMP.match(body["created_at"])
        assert (body["updated_at"], body["version"]) == (None, 1)
    assert [bodies[n]["type"] for n in created] == ["string", "number", "boolean", "date", "dropdown"]
    assert (bodies["age"]["required"], bodies["age"]["default"]) == (True, 18)
    assert bodies["vip"]["default"] is False
    assert bodies["city"]["description"] == "Where they live"
    assert bodies["tier"]["values"] == ["gold", "silver", "3"]
    assert CustomField.objects.get(name="tier").values == ["gold", "silver", "3"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"type": "string"}, "name"),
        ({"name": "city", "type": "string"}, "name"),
        ({"name": "1st", "type": "string"}, "name"),
        ({"name": "first name", "type": "string"}, "name"),
        ({"name": "x" * 65, "type": "string"}, "name"),
        ({"name": "colour"}, "type"),
        ({"name": "colour", "type": "color"}, "type"),
        ({"name": "colour", "type": "dropdown"}, "values"),
        ({"name": "colour", "type": "dropdown", "values": []}, "values"),
        ({"name": "colour", "type": "dropdown", "values": [{"red": 1}]}, "values"),
        ({"name": "colour", "type": "string", "values": ["red"]}, "values"),
        ({"name": "colour", "type": "dropdown", "values": ["red"], "default": "blue"}, "default"),
        ({"name": "age", "type": "number", "default": "old"}, "default"),
        ({"name": "vip", "type": "boolean", "default": "perhaps"}, "default"),
        ({"name": "born", "type": "date", "default": "15/03/1985"}, "default"),
        ({"name": "colour", "type": "string", "required": "sometimes"}, "required"),
    ],
)
def test_create_a_bad_custom_field_is_400_and_stores_nothing(api, payload, field):
    make_field(api, "city", "string")
    before = fields_stored()

    response = api.post("/api/custom-fields", payload)

    assert_error(response, 400, "VALIDATION_ERROR", field)
    assert fields_stored() == before


def test_list_custom_fields_with_filters(api):
    make_field(api, "city", "string")
    make_field(api, "age", "number", required=True, default=0)
    make_field(api, "tier", "dropdown", values=["gold"])

    def names(**request) -> list[str]:
        response = api.post("/api/custom-fields/list", {"page": 1, "limit": 10, **request})
        assert response.status_code == 200, response.json()
        return [row["name"] for row in response.json()["results"]]

    assert names() == ["age", "city", "tier"]
    assert names(filters={"type": {"operation": "eq", "value": "dropdown"}}) == ["tier"]
    assert names(filters={"required": {"operation": "eq", "value": True}}) == ["age"]
    assert names(search="ti") == ["tier"]
    bad = api.post("/api/custom-fields/list", {"page": 1, "limit": 10, "filters": {"size": {"operation": "eq"}}})
    assert_error(bad, 400, "INVALID_FILTER", "filters.size")


def test_update_a_custom_field(api):
    field_id = make_field(api, "tier", "dropdown", values=["gold"])

    created_id(api.put(f"/api/custom-fields/{field_id}", {"values": ["gold", "silver"], "default": "silver"}))

    stored = CustomField.objects.get(public_id=field_id)
    assert (stored.values, stored.default, stored.version) == (["gold", "silver"], "silver", 2)
    assert stored.updated_at is not None


@pytest.mark.parametrize(
    ("payload", "status", "code", "field"),
    [
        ({"name": "level"}, 409, "VALIDATION_ERROR", "name"),
        ({"type": "string"}, 409, "VALIDATION_ERROR", "type"),
        ({"values": []}, 400, "VALIDATION_ERROR", "values"),
        ({"default": "bronze"}, 400, "VALIDATION_ERROR", "default"),
        ({"values": ["platinum"]}, 400, "VALIDATION_ERROR", "default"),
        ({"description": "x", "version": 3}, 409, "VERSION_CONFLICT", None),
    ],
)
def test_a_refused_custom_field_update_changes_nothing(api, payload, status, code, field):
    field_id = make_field(api, "tier", "dropdown", values=["gold", "silver"], default="gold")
    before = fields_stored()

    response = api.put(f"/api/custom-fields/{field_id}", payload)

    assert_error(response, status, code, *([field] if field else []))
    assert fields_stored() == before


def test_delete_a_custom_field_keeps_the_values_stored_on_subscribers(api):
    field_id = make_field(api, "tier", "dropdown", values=["gold"])
    subscriber_id = created_id(create_subscriber(api, {"tier": "gold"}))

    response = api.delete(f"/api/custom-fields/{field_id}")

    assert response.status_code == 200
    assert response.json() == {"id": field_id}
    assert_error(api.get(f"/api/custom-fields/{field_id}"), 404, "NOT_FOUND")
    assert_error(api.delete(f"/api/custom-fields/{field_id}"), 404, "NOT_FOUND")
    assert Subscriber.objects.get(public_id=subscriber_id).additional_fields_data == {"tier": "gold"}
    created_id(create_subscriber(api, {"tier": "anything now"}, email="b@example.com"))


# additional_fields_data checked against the definitions


@pytest.fixture
def definitions(api) -> None:
    make_field(api, "lifetime_value", "number")
    make_field(api, "newsletter_opt_in", "boolean")
    make_field(api, "date_of_birth", "date")
    make_field(api, "loyalty_tier", "dropdown", values=["gold", "silver"])
    make_field(api, "city", "string")


def test_values_are_stored_in_their_type_and_keys_without_definition_are_kept(api, definitions):
    sent = {
        "lifetime_value": "15420.50",
        "newsletter_opt_in": "yes",
        "date_of_birth": "1985-03-15",
        "loyalty_tier": "gold",
        "city": 42,
        "phone_number": "+1-555-0123",
        "nested": {"any": ["shape", 1, None]},
        "flag": True,
    }

    subscriber_id = created_id(create_subscriber(api, sent))

    expected = {
        **sent,
        "lifetime_value": 15420.5,
        "newsletter_opt_in": True,
        "city": "42",
    }
    assert Subscriber.objects.get(public_id=subscriber_id).additional_fields_data == expected
    assert api.get(f"/api/subscribers/{subscriber_id}").json()["additional_fields_data"] == expected


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"lifetime_value": "a lot"}, "lifetime_value"),
        ({"lifetime_value": True}, "lifetime_value"),
        ({"lifetime_value": [1]}, "lifetime_value"),
        ({"lifetime_value": "1e400"}, "lifetime_value"),
        ({"lifetime_value": "NaN"}, "lifetime_value"),
        ({"newsletter_opt_in": "perhaps"}, "newsletter_opt_in"),
        ({"date_of_birth": "15/03/1985"}, "date_of_birth"),
        ({"date_of_birth": "1985-02-30"}, "date_of_birth"),
        ({"date_of_birth": 19850315}, "date_of_birth"),
        ({"loyalty_tier": "platinum"}, "loyalty_tier"),
        ({"loyalty_tier": "Gold"}, "loyalty_tier"),
        ({"city": {"name": "Paris"}}, "city"),
        ({"city": "x" * 10_001}, "city"),
    ],
)
def test_a_value_of_the_wrong_type_is_400_naming_the_key_and_stores_nothing(api, definitions, data, key):
    before = subscribers_stored()

    response = create_subscriber(api, data)

    body = assert_error(response, 400, "INVALID_SUBSCRIBER", f"additional_fields_data.{key}")
    assert len(body["issues"]) == 1
    assert subscribers_stored() == before


def test_every_bad_value_is_reported_at_once(api, definitions):
    response = create_subscriber(api, {"lifetime_value": "x", "loyalty_tier": "bronze", "unknown_key": "kept"})

    assert_error(
        response,
        400,
        "INVALID_SUBSCRIBER",
        "additional_fields_data.lifetime_value",
        "additional_fields_data.loyalty_tier",
    )


def test_a_dropdown_value_outside_the_allowed_ones_is_refused_on_update_too(api, definitions):
    subscriber_id = created_id(create_subscriber(api, {"loyalty_tier": "gold"}))
    before = subscribers_stored()

    response = api.put(f"/api/subscribers/{subscriber_id}", {"additional_fields_data": {"loyalty_tier": "platinum"}})

    body = assert_error(response, 400, "INVALID_SUBSCRIBER", "additional_fields_data.loyalty_tier")
    assert "gold" in body["issues"][0]["message"]
    assert subscribers_stored() == before


def test_a_required_field_must_be_given_and_a_default_fills_in(api):
    make_field(api, "customer_type", "dropdown", values=["retail", "premium"], required=True)
    make_field(api, "preferred_language", "string", default="en")
    make_field(api, "segment", "string", required=True, default="general")
    before = subscribers_stored()

    missing = create_subscriber(api, {"company": "Acme"})
    explicit_null = create_subscriber(api, {"customer_type": None})

    for response in (missing, explicit_null):
        assert_error(response, 400, "INVALID_SUBSCRIBER", "additional_fields_data.customer_type")
    assert subscribers_stored() == before
    subscriber_id = created_id(create_subscriber(api, {"customer_type": "premium", "company": "Acme"}))
    assert Subscriber.objects.get(public_id=subscriber_id).additional_fields_data == {
        "customer_type": "premium",
        "company": "Acme",
        "preferred_language": "en",
        "segment": "general",
    }
    no_fields = api.post("/api/subscribers", {"first_name": "B", "email": "b@example.com"})
    assert_error(no_fields, 400, "INVALID_SUBSCRIBER", "additional_fields_data.customer_type")


def test_update_leaves_additional_fields_alone_unless_sent(api):
    make_field(api, "customer_type", "string", required=True)
    subscriber_id = created_id(create_subscriber(api, {"customer_type": "retail", "note": "x"}))

    created_id(api.put(f"/api/subscribers/{subscriber_id}", {"first_name": "Renamed"}))

    assert Subscriber.objects.get(public_id=subscriber_id).additional_fields_data == {
        "customer_type": "retail",
        "note": "x",
    }


def test_a_date_time_in_a_date_field_is_kept_in_utc(api, definitions):
    subscriber_id = created_id(create_subscriber(api, {"date_of_birth": "1985-03-15T23:30:00+02:00"}))

    assert Subscriber.objects.get(public_id=subscriber_id).additional_fields_data == {
        "date_of_birth": "1985-03-15T21:30:00Z"
    }


# Tags


def test_create_get_and_list_tags_by_status(api):
    active = make_tag(api, "new-contacts")
    inactive = make_tag(api, "old-contacts", status=2)

    body = api.get(f"/api/tags/{active}").json()
    assert set(body) == {"id", "name", "status", "created_at", "updated_at", "version"}
    assert (body["id"], body["name"], body["status"]) == (active, "new-contacts", 1)
    assert body["id"].startswith("tag_")
    assert TIMESTAMP.match(body["created_at"])

    def listed(**request) -> list[str]:
        response = api.post("/api/tags/list", {"page": 1, "limit": 10, **request})
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert listed(filters={"status": {"operation": "eq", "value": 1}}) == [active]
    assert listed(filters={"status": {"operation": "eq", "value": 2}}) == [inactive]
    assert listed() == [active]  # seed 004: active tags unless a status filter asks (test_seed_004_defaults.py)
    assert_error(
        api.post("/api/tags/list", {"page": 1, "limit": 10, "filters": {"status": {"operation": "eq", "value": "on"}}}),
        400,
        "INVALID_FILTER",
        "filters.status",
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "NEW-CONTACTS"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "other", "status": 3}, "status"),
        ({"name": "other", "status": "active"}, "status"),
    ],
)
def test_create_a_bad_tag_is_400_and_stores_nothing(api, payload, field):
    make_tag(api, "new-contacts")
    before = tags_stored()

    response = api.post("/api/tags", payload)

    assert_error(response, 400, "VALIDATION_ERROR", field)
    assert tags_stored() == before


def test_deactivate_a_tag_and_refuse_a_stale_update(api):
    tag_id = make_tag(api, "new-contacts")

    created_id(api.put(f"/api/tags/{tag_id}", {"status": 2, "version": 1}))

    tag = Tag.objects.get(public_id=tag_id)
    assert (tag.status, tag.version) == (2, 2)
    before = tags_stored()
    assert_error(api.put(f"/api/tags/{tag_id}", {"status": 1, "version": 1}), 409, "VERSION_CONFLICT")
    assert_error(api.put(f"/api/tags/{tag_id}", {"status": 9}), 400, "VALIDATION_ERROR", "status")
    assert_error(api.put("/api/tags/tag_unknown", {"status": 1}), 404, "NOT_FOUND")
    assert tags_stored() == before


def test_a_subscribers_tags_are_set_shown_filtered_and_dropped_with_the_tag(api):
    vip = make_tag(api, "vip")
    late = make_tag(api, "late-payer")
    tagged_id = created_id(create_subscriber(api, {}, tags=[vip, late]))
    plain_id = created_id(create_subscriber(api, {}, email="b@example.com"))

    assert sorted(api.get(f"/api/subscribers/{tagged_id}").json()["tags"]) == sorted([vip, late])
    for value in ([vip], ["vip"]):
        response = api.post(
            "/api/subscribers/list", {"page": 1, "limit": 10, "filters": {"tags": {"operation": "in", "value": value}}}
        )
        assert [row["id"] for row in response.json()["results"]] == [tagged_id]
    untagged = api.post("/api/subscribers/list", {"page": 1, "limit": 10, "filters": {"tags": {"operation": "empty"}}})
    assert [row["id"] for row in untagged.json()["results"]] == [plain_id]

    created_id(api.put(f"/api/subscribers/{tagged_id}", {"tags": [vip]}))
    assert api.get(f"/api/subscribers/{tagged_id}").json()["tags"] == [vip]

    response = api.delete(f"/api/tags/{vip}")
    assert response.status_code == 200
    assert response.json() == {"id": vip}
    assert_error(api.get(f"/api/tags/{vip}"), 404, "NOT_FOUND")
    assert api.get(f"/api/subscribers/{tagged_id}").json()["tags"] == []
    assert Tag.objects.filter(public_id=late).exists()


def test_an_unknown_tag_on_a_subscriber_is_400_naming_it(api):
    vip = make_tag(api, "vip")
    subscriber_id = created_id(create_subscriber(api, {}, tags=[vip]))
    before = {**tags_stored(), "subscribers": subscribers_stored()}

    on_create = create_subscriber(api, {}, email="b@example.com", tags=[vip, "tag_missing"])
    on_update = api.put(f"/api/subscribers/{subscriber_id}", {"tags": ["tag_missing"]})
    bad_filter = api.post(
        "/api/subscribers/list", {"page": 1, "limit": 10, "filters": {"tags": {"operation": "in", "value": ["nope"]}}}
    )

    for response in (on_create, on_update):
        body = assert_error(response, 400, "INVALID_SUBSCRIBER", "tags")
        assert "tag_missing" in body["issues"][0]["message"]
    assert_error(bad_filter, 400, "INVALID_FILTER", "filters.tags")
    assert {**tags_stored(), "subscribers": subscribers_stored()} == before


def test_catalog_writes_need_the_settings_write_scope(make_client):
    reader = make_client("settings:read", "subscribers:write")
    before = (fields_stored(), tags_stored())

    assert_error(reader.post("/api/custom-fields", {"name": "x", "type": "string"}), 403, "FORBIDDEN")
    assert_error(reader.post("/api/tags", {"name": "x"}), 403, "FORBIDDEN")
    assert reader.post("/api/tags/list", {"page": 1, "limit": 10}).status_code == 200
    assert reader.post("/api/custom-fields/list", {"page": 1, "limit": 10}).status_code == 200
    assert (fields_stored(), tags_stored()) == before


@pytest.mark.parametrize("resource", ["subscription-types", "custom-fields", "tags"])
def test_an_unknown_id_is_404_for_get_put_and_delete_and_changes_nothing(api, resource):
    make_field(api, "city", "string")
    make_tag(api, "vip")
    created_id(api.post("/api/subscription-types", {"name": "News"}))
    before = (fields_stored(), tags_stored(), list(SubscriptionType.objects.values()))

    for response in (
        api.get(f"/api/{resource}/x_unknown"),
        api.put(f"/api/{resource}/x_unknown", {"name": "renamed", "type": "string"}),
        api.delete(f"/api/{resource}/x_unknown"),
        api.get(f"/api/{resource}/" + "x" * 500),
    ):
        assert_error(response, 404, "NOT_FOUND")
    assert (fields_stored(), tags_stored(), list(SubscriptionType.objects.values())) == before


@pytest.mark.parametrize("resource", ["subscription-types", "custom-fields", "tags"])
def test_a_bad_list_request_is_400_for_each_catalog(api, resource):
    for body, code in (
        ({"page": 0}, "VALIDATION_ERROR"),
        ({"sort": "secret"}, "VALIDATION_ERROR"),
        ({"filters": {"name": {"operation": "between", "value": "a"}}}, "INVALID_FILTER"),
        ([], "VALIDATION_ERROR"),
    ):
        assert_error(api.post(f"/api/{resource}/list", body), 400, code)
