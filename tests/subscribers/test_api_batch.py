"""POST /api/subscribers/batch (seed 004): up to 100 contacts, each valid or invalid on its own."""

import pytest

from audiences.models import AudienceMembership, ListMembership
from subscribers.models import Subscriber, SubscriptionPreference
from tests.api_assertions import assert_error, created_id


def stored() -> dict:
    return {
        "subscribers": list(Subscriber.objects.order_by("pk").values()),
        "audiences": list(AudienceMembership.objects.order_by("pk").values("audience_id", "subscriber_id")),
        "lists": list(ListMembership.objects.order_by("pk").values("marketing_list_id", "subscriber_id")),
        "preferences": list(SubscriptionPreference.objects.order_by("pk").values()),
        "tags": list(Subscriber.tags.through.objects.order_by("pk").values("subscriber_id", "tag_id")),
    }


def batch(api, contacts: list, **options):
    return api.post("/api/subscribers/batch", {"data": contacts, **options})


@pytest.fixture
def targets(api) -> dict[str, str]:
    audience_id = created_id(api.post("/api/audiences", {"name": "Imported"}))
    return {
        "list": created_id(api.post("/api/lists", {"name": "Imported", "mode": "static", "audience_id": audience_id})),
        "dynamic": created_id(
            api.post("/api/lists", {"name": "Dynamic", "mode": "dynamic", "audience_id": audience_id})
        ),
        "tag": created_id(api.post("/api/tags", {"name": "new-contacts"})),
        "other_tag": created_id(api.post("/api/tags", {"name": "from-api"})),
        "age": created_id(api.post("/api/custom-fields", {"name": "age", "type": "number"})),
    }


def test_the_seed_example_creates_the_contact_in_the_list_with_the_tags(api, targets):
    contact = {
        "email": "test@kasplo.com",
        "first_name": "John",
        "last_name": "Doe",
        "custom_fields": {"city": "Bangalore", "age": "25"},
    }

    response = batch(api, [contact], update_subscribers=True, list_id=targets["list"], tags=[targets["tag"]])

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"valid_contacts", "invalid_contacts", "total_valid", "total_invalid"}
    assert (body["total_valid"], body["total_invalid"], body["invalid_contacts"]) == (1, 0, [])
    [valid] = body["valid_contacts"]
    assert {key: valid[key] for key in contact} == contact
    subscriber = Subscriber.objects.get(email="test@kasplo.com")
    assert valid["id"] == subscriber.public_id
    assert (subscriber.first_name, subscriber.last_name) == ("John", "Doe")
    assert subscriber.additional_fields_data == {"city": "Bangalore", "age": 25}
    assert list(subscriber.tags.values_list("public_id", flat=True)) == [targets["tag"]]
    assert list(subscriber.list_memberships.values_list("marketing_list__public_id", flat=True)) == [targets["list"]]
    detail = api.get(f"/api/subscribers/{subscriber.public_id}").json()
    assert (detail["lists"], detail["tags"]) == ([targets["list"]], [targets["tag"]])


def test_valid_and_invalid_contacts_are_answered_each_with_its_reason(api, targets):
    created_id(api.post("/api/subscribers", {"first_name": "Old", "email": "existing@example.com"}))
    contacts = [
        {
            "email": "avinash+api1@kasplo.com",
            "first_name": "Avi",
            "last_name": "S",
            "custom_fields": {"city": "Mysore"},
        },
        {"email": "AVINASH+api1@KASPLO.com", "first_name": "Avi", "last_name": "S"},
        {"email": "not-an-email", "first_name": "Bad"},
        {"email": "existing@example.com", "first_name": "New"},
        {"email": "typed@example.com", "custom_fields": {"age": "twenty"}},
        {"first_name": "No email"},
        {"email": "named@example.com", "first_name": ["not", "a", "string"]},
        {"email": "fields@example.com", "custom_fields": ["not", "an", "object"]},
        "just-a-string@example.com",
        {"email": "second-valid@example.com"},
    ]

    response = batch(api, contacts, list_id=targets["list"])

    assert response.status_code == 200
    body = response.json()
    assert (body["total_valid"], body["total_invalid"]) == (2, 8)
    assert [c["email"] for c in body["valid_contacts"]] == ["avinash+api1@kasplo.com", "second-valid@example.com"]
    invalid = body["invalid_contacts"]
    assert len(invalid) == 8
    assert all(isinstance(c["reason"], str) and c["reason"] for c in invalid)
    reasons = {c.get("email", c.get("contact")): c["reason"] for c in invalid}
    assert reasons["AVINASH+api1@KASPLO.com"] == "Contact already exists in request, not unique"
    assert reasons["not-an-email"].startswith("email: Invalid email format")
    assert reasons["existing@example.com"] == "Contact already exists"
    assert reasons["typed@example.com"].startswith("custom_fields.age: must be a number")
    assert reasons[None] == "email: is required"
    assert reasons["named@example.com"] == "first_name: must be a string"
    assert reasons["fields@example.com"] == "custom_fields: must be an object"
    assert reasons["just-a-string@example.com"] == "contact: must be an object"
    assert invalid[1] == {"email": "not-an-email", "first_name": "Bad", "reason": invalid[1]["reason"]}

    assert sorted(Subscriber.objects.values_list("email", flat=True)) == [
        "avinash+api1@kasplo.com",
        "existing@example.com",
        "second-valid@example.com",
    ]
    assert Subscriber.objects.get(email="existing@example.com").first_name == "Old"
    assert sorted(ListMembership.objects.values_list("subscriber__email", flat=True)) == [
        "avinash+api1@kasplo.com",
        "second-valid@example.com",
    ]


def test_an_existing_email_is_updated_when_update_subscribers_is_true(api, targets):
    existing_id = created_id(
        api.post(
            "/api/subscribers",
            {
                "first_name": "Old",
                "last_name": "Name",
                "email": "Existing@example.com",
                "additional_fields_data": {"city": "Paris", "age": 30},
                "tags": [targets["other_tag"]],
            },
        )
    )

    response = batch(
        api,
        [{"email": "EXISTING@example.com", "first_name": "New", "custom_fields": {"age": "31", "plan": "pro"}}],
        update_subscribers=True,
        list_id=targets["list"],
        tags=[targets["tag"]],
    )

    body = response.json()
    assert (body["total_valid"], body["total_invalid"]) == (1, 0)
    assert body["valid_contacts"][0]["id"] == existing_id
    subscriber = Subscriber.objects.get(public_id=existing_id)
    assert Subscriber.objects.count() == 1
    assert (subscriber.email, subscriber.first_name, subscriber.last_name) == ("Existing@example.com", "New", "Name")
    assert subscriber.additional_fields_data == {"city": "Paris", "age": 31, "plan": "pro"}
    assert sorted(subscriber.tags.values_list("public_id", flat=True)) == sorted([targets["tag"], targets["other_tag"]])
    assert subscriber.list_memberships.count() == 1
    assert subscriber.version > 1
    assert subscriber.updated_at is not None


def test_an_existing_email_is_invalid_when_update_subscribers_is_false(api, targets):
    created_id(api.post("/api/subscribers", {"first_name": "Old", "email": "existing@example.com"}))
    before = stored()

    response = batch(api, [{"email": "Existing@Example.com", "first_name": "New"}], list_id=targets["list"])

    body = response.json()
    assert (body["total_valid"], body["total_invalid"]) == (0, 1)
    assert body["invalid_contacts"][0]["email"] == "Existing@Example.com"
    assert stored() == before


def test_an_invalid_contact_leaves_nothing_behind(api, targets):
    before = stored()

    response = batch(
        api,
        [{"email": "half@example.com", "first_name": "Half", "custom_fields": {"age": "not a number"}}],
        list_id=targets["list"],
        tags=[targets["tag"]],
    )

    assert response.json()["total_invalid"] == 1
    assert stored() == before


def test_update_subscribers_with_an_invalid_custom_field_leaves_the_existing_contact_as_it_was(api, targets):
    created_id(
        api.post(
            "/api/subscribers",
            {"first_name": "Old", "email": "existing@example.com", "additional_fields_data": {"age": 30}},
        )
    )
    before = stored()

    response = batch(
        api,
        [{"email": "existing@example.com", "first_name": "New", "custom_fields": {"age": "old"}}],
        update_subscribers=True,
        list_id=targets["list"],
        tags=[targets["tag"]],
    )

    assert response.json()["total_invalid"] == 1
    assert stored() == before


def test_exactly_one_hundred_contacts_are_accepted(api):
    response = batch(api, [{"email": f"user{index}@example.com"} for index in range(100)])

    assert response.status_code == 200
    assert response.json()["total_valid"] == 100
    assert Subscriber.objects.count() == 100


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"data": [{"email": f"user{index}@example.com"} for index in range(101)]}, "INVALID_SUBSCRIBER", "data"),
        ({"data": []}, "INVALID_SUBSCRIBER", "data"),
        ({}, "INVALID_SUBSCRIBER", "data"),
        ({"data": {"email": "a@example.com"}}, "INVALID_SUBSCRIBER", "data"),
        ({"data": [{"email": "a@example.com"}], "update_subscribers": "sometimes"}, "INVALID_SUBSCRIBER",
         "update_subscribers"),
        ({"data": [{"email": "a@example.com"}], "list_id": "list_missing"}, "VALIDATION_ERROR", "list_id"),
        ({"data": [{"email": "a@example.com"}], "list_id": "<dynamic>"}, "VALIDATION_ERROR", "list_id"),
        ({"data": [{"email": "a@example.com"}], "tags": ["tag_missing"]}, "INVALID_SUBSCRIBER", "tags"),
        ({"data": [{"email": "a@example.com"}], "tags": "<tag>"}, "INVALID_SUBSCRIBER", "tags"),
    ],
)  # fmt: skip
def test_a_bad_batch_request_is_400_and_stores_nothing(api, targets, body, code, field):
    def resolve(value):
        if isinstance(value, str) and value.startswith("<"):
            return targets[value.strip("<>")]
        return value

    body = {key: resolve(value) for key, value in body.items()}
    before = stored()

    response = api.post("/api/subscribers/batch", body)

    assert_error(response, 400, code, field)
    assert stored() == before


def test_batch_needs_the_subscribers_write_scope(make_client):
    response = make_client("subscribers:read").post("/api/subscribers/batch", {"data": [{"email": "a@example.com"}]})

    assert_error(response, 403, "FORBIDDEN")
    assert Subscriber.objects.count() == 0
