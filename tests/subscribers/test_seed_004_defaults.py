"""Seed 004's (Kasplo's) defaults as Roster answers them: the tag list answers active tags unless a `status`
filter asks for others, and a custom field's `numeric` type is Roster's `number`."""

import pytest

from subscribers.models import CustomField
from tests.api_assertions import assert_error, created_id

pytestmark = pytest.mark.django_db


@pytest.fixture
def tags(api) -> dict[str, str]:
    return {
        "new-contacts": created_id(api.post("/api/tags", {"name": "new-contacts"})),
        "old-contacts": created_id(api.post("/api/tags", {"name": "old-contacts", "status": 2})),
        "vip": created_id(api.post("/api/tags", {"name": "vip", "status": 1})),
        "archived": created_id(api.post("/api/tags", {"name": "archived", "status": 2})),
    }


def listed(api, **request) -> list[str]:
    response = api.post("/api/tags/list", {"page": 1, "limit": 10, **request})
    assert response.status_code == 200, response.json()
    return [row["name"] for row in response.json()["results"]]


def test_the_tag_list_answers_active_tags_by_default(api, tags):
    assert listed(api) == ["new-contacts", "vip"]
    body = api.post("/api/tags/list", {"page": 1, "limit": 1}).json()
    assert (body["total"], body["totalPages"]) == (2, 2)
    assert listed(api, search="contacts") == ["new-contacts"]
    assert listed(api, filters={"name": {"operation": "like", "value": "contacts"}}) == ["new-contacts"]


@pytest.mark.parametrize(
    ("filters", "names"),
    [
        ({"status": {"operation": "eq", "value": 1}}, ["new-contacts", "vip"]),
        ({"status": {"operation": "eq", "value": 2}}, ["archived", "old-contacts"]),
        ({"status": {"operation": "in", "value": [1, 2]}}, ["archived", "new-contacts", "old-contacts", "vip"]),
        ({"status": {"operation": "ne", "value": 1}, "name": {"operation": "like", "value": "old"}}, ["old-contacts"]),
        (
            {"match": "all", "conditions": [{"field": "status", "operation": "gte", "value": 1}]},
            ["archived", "new-contacts", "old-contacts", "vip"],
        ),
        (
            {
                "match": "any",
                "conditions": [
                    {"field": "name", "operation": "eq", "value": "vip"},
                    {"match": "all", "conditions": [{"field": "status", "operation": "eq", "value": 2}]},
                ],
            },
            ["archived", "old-contacts", "vip"],
        ),
        # A group without a status condition keeps the default.
        (
            {"match": "any", "conditions": [{"field": "name", "operation": "like", "value": "contacts"}]},
            ["new-contacts"],
        ),
    ],
)
def test_a_status_filter_asks_for_other_tags(api, tags, filters, names):
    assert listed(api, filters=filters) == names


def test_a_bad_status_filter_is_still_400(api, tags):
    response = api.post("/api/tags/list", {"filters": {"status": {"operation": "eq", "value": "inactive"}}})
    assert_error(response, 400, "INVALID_FILTER", "filters.status")


def test_numeric_is_taken_as_number_on_create_and_update(api):
    field_id = created_id(api.post("/api/custom-fields", {"name": "age", "type": "numeric", "default": 18}))

    body = api.get(f"/api/custom-fields/{field_id}").json()
    assert (body["type"], body["default"]) == ("number", 18)
    assert CustomField.objects.get(public_id=field_id).field_type == "number"
    # Typed as a number everywhere: a subscriber's value is checked and filtered as one.
    refused = api.post("/api/subscribers", {"first_name": "A", "email": "a@example.com",
                                            "additional_fields_data": {"age": "old"}})  # fmt: skip
    assert_error(refused, 400, "INVALID_SUBSCRIBER", "additional_fields_data.age")

    # A discovered field is defined with the type given: `numeric` defines it as a number.
    created_id(api.post("/api/subscribers", {"first_name": "B", "email": "b@example.com",
                                             "additional_fields_data": {"score": "high"}}))  # fmt: skip
    discovered = CustomField.objects.get(name="score")
    assert (discovered.discovered, discovered.field_type) == (True, "string")
    created_id(api.put(f"/api/custom-fields/{discovered.public_id}", {"type": "numeric"}))
    body = api.get(f"/api/custom-fields/{discovered.public_id}").json()
    assert (body["type"], body["discovered"]) == ("number", False)
    # A defined field's type is fixed, under either name; its own type under the other name changes nothing.
    city = created_id(api.post("/api/custom-fields", {"name": "city", "type": "string"}))
    assert_error(api.put(f"/api/custom-fields/{city}", {"type": "numeric"}), 409, "VALIDATION_ERROR", "type")
    version = api.get(f"/api/custom-fields/{field_id}").json()["version"]
    created_id(api.put(f"/api/custom-fields/{field_id}", {"type": "numeric"}))
    assert api.get(f"/api/custom-fields/{field_id}").json()["version"] == version

    listed_types = api.post("/api/custom-fields/list", {"page": 1, "limit": 10}).json()["results"]
    assert {row["name"]: row["type"] for row in listed_types} == {"age": "number", "score": "number", "city": "string"}


def test_an_unknown_type_is_still_400(api):
    response = api.post("/api/custom-fields", {"name": "age", "type": "integer"})
    assert_error(response, 400, "VALIDATION_ERROR", "type")
