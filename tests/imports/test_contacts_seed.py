"""Seed 003 (Samba.ai Audience Lists) as an integrator follows it, in Roster's form: create-new is `POST /api/lists`
as multipart/form-data, add-contacts `POST /api/lists/{id}/contacts`, delete-specific
`POST /api/lists/{id}/contacts/remove`; each answers the seed's statistics."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from audiences.models import ListMembership, MarketingList
from subscribers.models import Subscriber
from tests.api_assertions import assert_error, created_id

pytestmark = pytest.mark.django_db


def csv_part(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("API-testing-audience-list.csv", text.encode(), "text/csv")


def create_new(api, **form):
    return api.post("/api/lists", form, format="multipart")


def members(list_id: str) -> set[str]:
    return set(
        ListMembership.objects.filter(marketing_list__public_id=list_id).values_list("subscriber__email", flat=True)
    )


def test_seed_create_new_add_contacts_and_delete_specific(api):
    known = created_id(api.post("/api/subscribers", {"email": "user1@samba.ai", "first_name": "User"}))

    # create-new: `curl .../create-new?name=API-testing-create&kind=email --form 'csv=@"...csv"'`
    created = create_new(
        api,
        name="API-testing-create",
        csv=csv_part("user1@samba.ai\nuser2@samba.ai\nnot-an-email\nuser2@samba.ai\n"),
    )
    assert created.status_code == 200, created.json()
    body = created.json()
    assert set(body) == {"id", "statistics"}
    list_id = body["id"]
    assert body["statistics"] == {"added": 2, "invalid": 1, "skipped": 0, "duplicated": 1}
    detail = api.get(f"/api/lists/{list_id}").json()
    assert (detail["name"], detail["mode"], detail["audience_id"]) == ("API-testing-create", "static", "aud_default")
    assert members(list_id) == {"user1@samba.ai", "user2@samba.ai"}  # user2 did not exist: created

    # add-contacts: `curl .../add-contacts/<uuid> --form 'csv=@"...list2.csv"'`
    added = api.post(
        f"/api/lists/{list_id}/contacts",
        {"csv": csv_part(f"{known}\nuser3@samba.ai\nuser2@samba.ai\nsub_Nobody12345\n")},
        format="multipart",
    )
    assert added.status_code == 200, added.json()
    assert added.json() == {
        "id": list_id,
        "statistics": {"added": 1, "invalid": 1, "skipped": 2, "duplicated": 0},
    }
    assert members(list_id) == {"user1@samba.ai", "user2@samba.ai", "user3@samba.ai"}

    # delete-specific: the seed's answer, exactly.
    removed = api.post(
        f"/api/lists/{list_id}/contacts/remove",
        {"csv": csv_part("user1@samba.ai\nuser2@samba.ai\n")},
        format="multipart",
    )
    assert removed.status_code == 200, removed.json()
    assert removed.json() == {"statistics": {"deleted": 2, "invalid": 0, "skipped": 0, "duplicated": 0}}
    assert members(list_id) == {"user3@samba.ai"}
    assert Subscriber.objects.filter(email__in=["user1@samba.ai", "user2@samba.ai"]).count() == 2  # they stay


def test_create_new_on_an_audience(api):
    audience_id = created_id(api.post("/api/audiences", {"name": "Shop customers"}))
    response = create_new(api, name="From a file", audience_id=audience_id, csv=csv_part("email\nann@example.com\n"))
    assert response.status_code == 200, response.json()
    assert response.json()["statistics"] == {"added": 1, "invalid": 0, "skipped": 0, "duplicated": 0}
    created = api.get(f"/api/lists/{response.json()['id']}").json()
    assert (created["audience_id"], created["size"], created["created_by"]) == (audience_id, 1, "test")


def test_create_new_refusals_create_nothing(api):
    before = MarketingList.objects.count()
    assert_error(create_new(api, csv=csv_part("ann@example.com")), 400, "VALIDATION_ERROR", "name")
    assert_error(create_new(api, name="No file"), 400, "VALIDATION_ERROR", "csv")
    assert_error(
        create_new(api, name="Dynamic?", mode="dynamic", csv=csv_part("ann@example.com")),
        400,
        "VALIDATION_ERROR",
        "mode",
    )
    assert_error(
        create_new(api, name="Nowhere", audience_id="aud_nope", csv=csv_part("ann@example.com")),
        400,
        "VALIDATION_ERROR",
        "audience_id",
    )
    with override_settings(LIST_MAX_MEMBERS=1):
        response = create_new(api, name="Too big", csv=csv_part("ann@example.com\nbob@example.com\n"))
    assert_error(response, 409, "LIST_SIZE_LIMIT_EXCEEDED", "csv")
    assert MarketingList.objects.count() == before
    assert not Subscriber.objects.exists()


def test_create_new_over_the_total_limit_is_409(api):
    with override_settings(TOTAL_MAX_SUBSCRIBERS=1):
        response = create_new(api, name="Too big", csv=csv_part("ann@example.com\nbob@example.com\n"))
    assert_error(response, 409, "TOTAL_SIZE_LIMIT_EXCEEDED", "csv")
    assert not MarketingList.objects.filter(name="Too big").exists()


def test_create_new_needs_lists_write(make_client):
    response = create_new(make_client("lists:read"), name="Nope", csv=csv_part("ann@example.com"))
    assert response.status_code == 403


def test_a_json_create_still_answers_the_id_alone(api):
    response = api.post("/api/lists", {"name": "Plain", "mode": "static", "audience_id": "aud_default"})
    assert response.status_code == 200
    assert set(response.json()) == {"id"}


def test_the_schema_documents_both_request_forms(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/lists"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    form = schema["components"]["schemas"][content["multipart/form-data"]["schema"]["$ref"].split("/")[-1]]
    assert set(form["properties"]) == {"name", "audience_id", "csv"}
    assert set(form["required"]) == {"name", "csv"}
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert set(schema["components"]["schemas"][answer]["properties"]) == {"id", "statistics"}
    assert schema["components"]["schemas"][answer]["required"] == ["id"]
