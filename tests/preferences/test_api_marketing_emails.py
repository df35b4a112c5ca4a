"""Marketing emails through the API: create, paged list, get, update with versions, delete, under settings scopes."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from preferences.models import MarketingEmail
from tests.api_assertions import TIMESTAMP, assert_error, created_id
from tests.factories import SubscriptionTypeFactory

HTML = "<html><body><p>Hi {{ first_name }}</p><a href='{{ unsubscribe_url }}'>Unsubscribe</a></body></html>"


def stored() -> list[dict]:
    return list(MarketingEmail.objects.order_by("pk").values())


def make_email(api, **fields) -> str:
    return created_id(api.post("/api/marketing-emails", {"name": "Summer Sale", **fields}))


@pytest.fixture
def promotional(db):
    return SubscriptionTypeFactory(name="Promotional Emails")


def test_create_and_get_a_marketing_email(api, promotional):
    email_id = make_email(
        api,
        subject="50% off everything",
        campaign_code="SUMMER-SALE-2024",
        subscription_type_id=promotional.public_id,
        html_content=HTML,
        sent_at="2024-06-15T10:00:00Z",
    )

    response = api.get(f"/api/marketing-emails/{email_id}")

    assert response.status_code == 200
    body = response.json()
    assert email_id.startswith("memail_")
    assert TIMESTAMP.match(body.pop("created_at"))
    assert body == {
        "id": email_id,
        "name": "Summer Sale",
        "subject": "50% off everything",
        "campaign_code": "SUMMER-SALE-2024",
        "subscription_type_id": promotional.public_id,
        "html_content": HTML,
        "sent_at": "2024-06-15T10:00:00.000Z",
        "updated_at": None,
        "version": 1,
    }
    assert response["ETag"] == '"1"'
    row = MarketingEmail.objects.get(public_id=email_id)
    assert (row.subscription_type, row.html_content, row.campaign_code) == (promotional, HTML, "SUMMER-SALE-2024")
    assert row.sent_at == dt.datetime(2024, 6, 15, 10, tzinfo=dt.UTC)


def test_create_with_only_a_name_stores_blank_fields(api):
    email_id = make_email(api, name="  Welcome  ")

    row = MarketingEmail.objects.get(public_id=email_id)
    assert (row.name, row.subject, row.campaign_code, row.subscription_type, row.html_content, row.sent_at) == (
        "Welcome", "", "", None, "", None,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "A", "subject": "x" * 501}, "subject"),
        ({"name": "A", "campaign_code": "x" * 101}, "campaign_code"),
        ({"name": "A", "html_content": ["<p>"]}, "html_content"),
        ({"name": "A", "sent_at": "yesterday"}, "sent_at"),
        ({"name": "A", "subscription_type_id": {"id": 1}}, "subscription_type_id"),
    ],
)
def test_create_with_bad_input_is_a_validation_error_and_stores_nothing(api, payload, field):
    make_email(api)
    before = stored()

    response = api.post("/api/marketing-emails", payload)

    assert_error(response, 400, "VALIDATION_ERROR", field)
    assert stored() == before


def test_create_with_a_body_that_is_not_an_object_is_a_validation_error(api):
    response = api.post("/api/marketing-emails", ["Summer Sale"])

    assert_error(response, 400, "VALIDATION_ERROR")
    assert stored() == []


def test_an_unknown_subscription_type_is_invalid_preference_and_changes_nothing(api, promotional):
    email_id = make_email(api, subscription_type_id=promotional.public_id)
    before = stored()

    created = api.post("/api/marketing-emails", {"name": "B", "subscription_type_id": "stype_nope"})
    updated = api.put(f"/api/marketing-emails/{email_id}", {"name": "C", "subscription_type_id": "stype_nope"})

    body = assert_error(created, 400, "INVALID_PREFERENCE", "subscription_type_id")
    assert "stype_nope" in body["issues"][0]["message"]
    assert_error(updated, 400, "INVALID_PREFERENCE", "subscription_type_id")
    assert stored() == before


def test_list_marketing_emails_with_filters_search_and_sort(api, promotional):
    newsletter = SubscriptionTypeFactory(name="Newsletter")
    sale = make_email(
        api, name="Summer Sale", campaign_code="SUMMER-SALE-2024", subscription_type_id=promotional.public_id
    )
    digest = make_email(api, name="June digest", campaign_code="DIGEST-06", subscription_type_id=newsletter.public_id)
    plain = make_email(api, name="Welcome", subject="Hello there", html_content=HTML)
    MarketingEmail.objects.filter(public_id=plain).update(created_at=dt.datetime(2023, 1, 1, tzinfo=dt.UTC))

    def names(**request) -> list[str]:
        response = api.post("/api/marketing-emails/list", {"page": 1, "limit": 10, **request})
        assert response.status_code == 200, response.json()
        return [row["name"] for row in response.json()["results"]]

    assert names() == ["June digest", "Summer Sale", "Welcome"]
    assert names(sort="name") == ["June digest", "Summer Sale", "Welcome"]
    assert names(sort="-name") == ["Welcome", "Summer Sale", "June digest"]
    assert names(filters={"id": {"operation": "eq", "value": digest}}) == ["June digest"]
    assert names(filters={"name": {"operation": "like", "value": "sale"}}) == ["Summer Sale"]
    assert names(filters={"campaign_code": {"operation": "eq", "value": "DIGEST-06"}}) == ["June digest"]
    by_type = {"subscription_type_id": {"operation": "eq", "value": promotional.public_id}}
    assert names(filters=by_type) == ["Summer Sale"]
    assert names(filters={"subscription_type_id": {"operation": "empty"}}) == ["Welcome"]
    assert names(filters={"created_at": {"operation": "lt", "value": "2024-01-01T00:00:00Z"}}) == ["Welcome"]
    assert names(search="hello") == ["Welcome"]
    assert names(search="summer-sale") == ["Summer Sale"]
    assert sale


def test_list_answers_the_page_envelope_without_html(api, promotional):
    email_id = make_email(api, html_content=HTML, subscription_type_id=promotional.public_id)
    for i in range(4):
        make_email(api, name=f"Email {i}")

    response = api.post("/api/marketing-emails/list", {"page": 1, "limit": 2, "sort": "created_at"})

    assert response.status_code == 200
    body = response.json()
    assert (body["total"], body["totalPages"], len(body["results"])) == (5, 3, 2)
    first = body["results"][0]
    assert set(first) == {
        "id", "name", "subject", "campaign_code", "subscription_type_id", "sent_at", "created_at", "updated_at",
        "version",
    }  # fmt: skip
    assert (first["id"], first["subscription_type_id"]) == (email_id, promotional.public_id)


def test_list_queries_do_not_grow_with_the_page(api):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            response = api.post("/api/marketing-emails/list", {"page": 1, "limit": 100})
        assert response.status_code == 200
        return len(captured)

    make_email(api, subscription_type_id=SubscriptionTypeFactory().public_id)
    few = count_queries()
    for _ in range(5):
        make_email(api, subscription_type_id=SubscriptionTypeFactory().public_id)

    assert count_queries() == few


@pytest.mark.parametrize(
    "request_body",
    [
        {"filters": {"html_content": {"operation": "like", "value": "x"}}},
        {"filters": {"subscription_type_id": {"operation": "near", "value": "stype_a"}}},
    ],
)
def test_list_with_a_bad_filter_is_invalid_filter(api, request_body):
    response = api.post("/api/marketing-emails/list", {"page": 1, "limit": 10, **request_body})

    assert_error(response, 400, "INVALID_FILTER")


def test_update_changes_only_the_fields_sent_and_bumps_the_version(api, promotional):
    email_id = make_email(api, subject="Old", html_content=HTML, subscription_type_id=promotional.public_id)

    response = api.put(f"/api/marketing-emails/{email_id}", {"subject": "New", "version": 1})

    assert created_id(response) == email_id
    assert response["ETag"] == '"2"'
    body = api.get(f"/api/marketing-emails/{email_id}").json()
    assert (body["name"], body["subject"], body["html_content"]) == ("Summer Sale", "New", HTML)
    assert body["subscription_type_id"] == promotional.public_id
    assert body["version"] == 2 and TIMESTAMP.match(body["updated_at"])


def test_update_can_clear_the_subscription_type(api, promotional):
    email_id = make_email(api, subscription_type_id=promotional.public_id)

    created_id(api.put(f"/api/marketing-emails/{email_id}", {"subscription_type_id": None}))

    assert MarketingEmail.objects.get(public_id=email_id).subscription_type is None


def test_an_update_that_changes_nothing_keeps_the_version(api):
    email_id = make_email(api, subject="Same")

    created_id(api.put(f"/api/marketing-emails/{email_id}", {"name": "Summer Sale", "subject": "Same"}))

    row = MarketingEmail.objects.get(public_id=email_id)
    assert (row.version, row.updated_at) == (1, None)


@pytest.mark.parametrize(
    ("body", "headers"),
    [({"subject": "Mine", "version": 1}, {}), ({"subject": "Mine"}, {"HTTP_IF_MATCH": '"1"'})],
)
def test_an_update_from_a_stale_version_is_a_conflict_and_changes_nothing(api, body, headers):
    email_id = make_email(api)
    created_id(api.put(f"/api/marketing-emails/{email_id}", {"subject": "Theirs"}))
    before = stored()

    response = api.put(f"/api/marketing-emails/{email_id}", body, **headers)

    assert_error(response, 409, "VERSION_CONFLICT")
    assert stored() == before


def test_an_update_with_bad_input_changes_nothing(api):
    email_id = make_email(api)
    before = stored()

    blank = api.put(f"/api/marketing-emails/{email_id}", {"name": " "})
    bad_version = api.put(f"/api/marketing-emails/{email_id}", {"subject": "x", "version": 0})

    assert_error(blank, 400, "VALIDATION_ERROR", "name")
    assert_error(bad_version, 400, "VALIDATION_ERROR", "version")
    assert stored() == before


def test_delete_a_marketing_email(api):
    email_id = make_email(api)
    kept = make_email(api, name="Kept")

    response = api.delete(f"/api/marketing-emails/{email_id}")

    assert created_id(response) == email_id
    assert list(MarketingEmail.objects.values_list("public_id", flat=True)) == [kept]
    assert_error(api.get(f"/api/marketing-emails/{email_id}"), 404, "NOT_FOUND")


@pytest.mark.parametrize("method", ["get", "put", "delete"])
@pytest.mark.parametrize("email_id", ["memail_missing", "x" * 300])
def test_an_unknown_marketing_email_is_404(api, method, email_id):
    make_email(api)
    before = stored()

    response = getattr(api, method)(f"/api/marketing-emails/{email_id}")

    body = assert_error(response, 404, "NOT_FOUND")
    assert body["message"] == "Marketing email not found"
    assert stored() == before


def test_marketing_emails_need_the_settings_scopes(make_client, anonymous):
    writer = make_client("settings:write")
    email_id = make_email(writer)
    reader = make_client("settings:read")
    outsider = make_client("subscribers:write", "lists:write")
    before = stored()

    assert reader.get(f"/api/marketing-emails/{email_id}").status_code == 200
    assert reader.post("/api/marketing-emails/list", {}).status_code == 200
    assert_error(reader.post("/api/marketing-emails", {"name": "B"}), 403, "FORBIDDEN")
    assert_error(reader.put(f"/api/marketing-emails/{email_id}", {"name": "B"}), 403, "FORBIDDEN")
    assert_error(reader.delete(f"/api/marketing-emails/{email_id}"), 403, "FORBIDDEN")
    assert_error(outsider.get(f"/api/marketing-emails/{email_id}"), 403, "FORBIDDEN")
    assert_error(outsider.post("/api/marketing-emails/list", {}), 403, "FORBIDDEN")
    assert_error(anonymous.get(f"/api/marketing-emails/{email_id}"), 401, "UNAUTHORIZED")
    assert_error(anonymous.post("/api/marketing-emails", {"name": "B"}), 401, "UNAUTHORIZED")
    assert stored() == before
