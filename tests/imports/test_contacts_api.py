"""Seed 003's contact operations through the API: add and remove from a CSV with statistics, clear, and the size
limits (409, nothing changed)."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from audiences.models import AudienceMembership, ListMembership, MarketingList
from subscribers.models import ConsentRecord, CustomField, Subscriber, SubscriptionPreference
from tests.api_assertions import assert_error
from tests.factories import AudienceFactory, CustomFieldFactory, MarketingListFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def upload(api, path: str, text: str | bytes):
    content = text.encode() if isinstance(text, str) else text
    return api.post(path, {"csv": SimpleUploadedFile("contacts.csv", content, "text/csv")}, format="multipart")


def members(marketing_list: MarketingList) -> set[str]:
    return set(ListMembership.objects.filter(marketing_list=marketing_list).values_list("subscriber__email", flat=True))


def stored() -> list:
    return [
        list(ListMembership.objects.order_by("pk").values_list("marketing_list_id", "subscriber_id")),
        list(Subscriber.objects.order_by("pk").values_list("pk", "version")),
        list(MarketingList.objects.order_by("pk").values_list("pk", "version", "archived")),
    ]


@pytest.fixture
def people():
    return {name: SubscriberFactory(email=f"{name}@example.com") for name in ("ann", "bob", "cat", "dan")}


@pytest.fixture
def static_list():
    return MarketingListFactory()


def test_add_counts_every_line_once(api, people, static_list):
    ListMembership.objects.create(marketing_list=static_list, subscriber=people["dan"])
    text = "\n".join(
        [
            "email",  # header, not counted
            "ann@example.com",  # added
            "  BOB@Example.com  ",  # added (case and spaces do not matter)
            people["cat"].public_id,  # added by customer id
            "ann@example.com",  # duplicated
            "cat@example.com",  # duplicated: the same subscriber as the customer id above
            "dan@example.com",  # skipped: already a member
            "Nobody@Example.com",  # added: no such subscriber, so one is created
            "nobody@example.com",  # duplicated
            "sub_NoSuchCustomer1",  # invalid: a customer ID naming nobody
            "sub_NoSuchCustomer1",  # invalid too
            "not an email",  # invalid
            "",  # blank, not counted
            "@@",  # invalid
        ]
    )
    response = upload(api, f"/api/lists/{static_list.public_id}/contacts", text)
    assert response.status_code == 200, response.json()
    assert response.json() == {
        "id": static_list.public_id,
        "statistics": {"added": 4, "invalid": 4, "skipped": 1, "duplicated": 3},
    }
    assert members(static_list) == {
        "ann@example.com",
        "bob@example.com",
        "cat@example.com",
        "dan@example.com",
        "Nobody@example.com",
    }
    # Their versions moved (their lists changed); dan's did not; the new subscriber starts at 1, as an import's do.
    versions = dict(Subscriber.objects.values_list("email", "version"))
    assert versions["ann@example.com"] == people["ann"].version + 1
    assert versions["dan@example.com"] == people["dan"].version
    assert versions["Nobody@example.com"] == 1


def test_an_email_naming_no_subscriber_creates_one_as_an_import_would(api, static_list):
    CustomFieldFactory(name="plan", field_type=CustomField.FieldType.STRING, default="free")
    rules = {"match": "all", "conditions": [{"field": "email", "operation": "like", "value": "@newco.com"}]}
    audience_id = api.post("/api/audiences", {"name": "Newco people", "rules": rules}).json()["id"]
    text = "\n".join(
        [
            "New.Person@NewCo.com",  # added: created with the address as written (domain lower-cased)
            "a..b@example.com",  # invalid: looks like an address, but an import would refuse it
            "a..b@example.com",  # invalid too
        ]
    )
    response = upload(api, f"/api/lists/{static_list.public_id}/contacts", text)
    assert response.status_code == 200, response.json()
    assert response.json()["statistics"] == {"added": 1, "invalid": 2, "skipped": 0, "duplicated": 0}
    created = Subscriber.objects.get(email="New.Person@newco.com")
    assert (created.first_name, created.last_name, created.active) == ("", "", True)
    assert created.additional_fields_data == {"plan": "free"}  # the custom field's default, as an import gives it
    assert not SubscriptionPreference.objects.filter(subscriber=created).exists()  # no consent given, as an import
    assert not ConsentRecord.objects.filter(subscriber=created).exists()
    assert not Subscriber.objects.filter(email__icontains="a..b").exists()
    detail = api.get(f"/api/subscribers/{created.public_id}").json()
    assert detail["lists"] == [static_list.public_id]
    # Rule audiences know the new subscriber at once.
    assert AudienceMembership.objects.filter(audience__public_id=audience_id, subscriber=created).exists()


def test_a_required_custom_field_without_default_makes_new_emails_invalid(api, people, static_list):
    CustomFieldFactory(name="region", required=True)
    response = upload(api, f"/api/lists/{static_list.public_id}/contacts", "ann@example.com\nnew@example.com")
    assert response.json()["statistics"] == {"added": 1, "invalid": 1, "skipped": 0, "duplicated": 0}
    assert not Subscriber.objects.filter(email="new@example.com").exists()


def test_many_new_emails_are_created_in_chunks(api, static_list, monkeypatch):
    from imports import contacts

    monkeypatch.setattr(contacts, "CREATE_CHUNK", 7)
    existing = SubscriberFactory.create_batch(5)
    text = "\n".join([*(f"new{i}@example.com" for i in range(30)), *(s.email for s in existing), "NEW3@example.com"])
    response = upload(api, f"/api/lists/{static_list.public_id}/contacts", text)
    assert response.json()["statistics"] == {"added": 35, "invalid": 0, "skipped": 0, "duplicated": 1}
    assert ListMembership.objects.filter(marketing_list=static_list).count() == 35
    assert Subscriber.objects.filter(email__startswith="new").count() == 30


def test_a_size_limit_refusal_creates_no_subscriber(api, people, static_list, settings):
    settings.LIST_MAX_MEMBERS = 2
    before = stored()
    # Two existing subscribers fit; the one the file would create is the third member.
    response = upload(api, f"/api/lists/{static_list.public_id}/contacts", "ann@example.com\nbob@example.com\nx@y.com")
    assert_error(response, 409, "LIST_SIZE_LIMIT_EXCEEDED", "csv")
    assert stored() == before
    assert not Subscriber.objects.filter(email="x@y.com").exists()


def test_add_again_skips_members_and_crlf_bom_quotes_are_read(api, people, static_list):
    text = '\ufeffemail\r\n"ann@example.com"\r\nbob@example.com,\r\n'
    first = upload(api, f"/api/lists/{static_list.public_id}/contacts", text)
    assert first.json()["statistics"] == {"added": 2, "invalid": 0, "skipped": 0, "duplicated": 0}
    again = upload(api, f"/api/lists/{static_list.public_id}/contacts", text)
    assert again.json()["statistics"] == {"added": 0, "invalid": 0, "skipped": 2, "duplicated": 0}
    assert members(static_list) == {"ann@example.com", "bob@example.com"}


def test_add_reports_bad_encoding_as_invalid(api, people, static_list):
    response = upload(api, f"/api/lists/{static_list.public_id}/contacts", b"ann@example.com\n\xff\xfe@x\n")
    assert response.json()["statistics"] == {"added": 1, "invalid": 1, "skipped": 0, "duplicated": 0}


def test_add_many_lines(api, static_list):
    subscribers = SubscriberFactory.create_batch(300)
    text = "\n".join(s.email for s in subscribers) + "\n" + "\n".join(s.public_id for s in subscribers[:50])
    response = upload(api, f"/api/lists/{static_list.public_id}/contacts", text)
    assert response.json()["statistics"] == {"added": 300, "invalid": 0, "skipped": 0, "duplicated": 50}
    assert ListMembership.objects.filter(marketing_list=static_list).count() == 300


def test_add_needs_the_csv_part(api, static_list):
    response = api.post(f"/api/lists/{static_list.public_id}/contacts", {"other": "x"}, format="multipart")
    assert_error(response, 400, "VALIDATION_ERROR", "csv")


def test_unknown_list_is_404(api):
    response = upload(api, "/api/lists/list_nope/contacts", "ann@example.com")
    assert_error(response, 404, "LIST_NOT_FOUND")


def test_dynamic_list_is_refused(api, people):
    dynamic = MarketingListFactory(mode="dynamic", audience=AudienceFactory())
    before = stored()
    for path in (f"/api/lists/{dynamic.public_id}/contacts", f"/api/lists/{dynamic.public_id}/contacts/remove"):
        assert_error(upload(api, path, "ann@example.com"), 400, "VALIDATION_ERROR", "list_id")
    assert_error(api.delete(f"/api/lists/{dynamic.public_id}/contacts"), 400, "VALIDATION_ERROR", "list_id")
    assert stored() == before


def test_archived_list_takes_no_additions(api, people, static_list):
    static_list.archived = True
    static_list.save()
    before = stored()
    response = upload(api, f"/api/lists/{static_list.public_id}/contacts", "ann@example.com")
    assert_error(response, 400, "VALIDATION_ERROR", "list_id")
    assert stored() == before


def test_remove_counts_every_line_once(api, people, static_list):
    for name in ("ann", "bob", "cat"):
        ListMembership.objects.create(marketing_list=static_list, subscriber=people[name])
    text = "\n".join(
        [
            "ann@example.com",  # deleted
            people["bob"].public_id,  # deleted
            "bob@example.com",  # duplicated
            "dan@example.com",  # skipped: not a member
            "ghost@example.com",  # skipped: no such subscriber, so not in the list
            "Ghost@example.com",  # duplicated
            "sub_NoSuchCustomer1",  # invalid: a customer ID naming nobody
            "nonsense",  # invalid
        ]
    )
    response = upload(api, f"/api/lists/{static_list.public_id}/contacts/remove", text)
    assert response.status_code == 200, response.json()
    assert response.json() == {"statistics": {"deleted": 2, "invalid": 2, "skipped": 2, "duplicated": 2}}
    assert not Subscriber.objects.filter(email__iexact="ghost@example.com").exists()  # removing creates nobody
    assert members(static_list) == {"cat@example.com"}


def test_clear_empties_only_this_list(api, people, static_list):
    other = MarketingListFactory()
    for person in people.values():
        ListMembership.objects.create(marketing_list=static_list, subscriber=person)
    ListMembership.objects.create(marketing_list=other, subscriber=people["ann"])
    response = api.delete(f"/api/lists/{static_list.public_id}/contacts")
    assert response.status_code == 200, response.json()
    assert response.json() == {"statistics": {"deleted": 4, "invalid": 0, "skipped": 0, "duplicated": 0}}
    assert members(static_list) == set()
    assert members(other) == {"ann@example.com"}


def test_list_limit_is_409_and_changes_nothing(api, people, static_list):
    ListMembership.objects.create(marketing_list=static_list, subscriber=people["ann"])
    before = stored()
    with override_settings(LIST_MAX_MEMBERS=2):
        response = upload(api, f"/api/lists/{static_list.public_id}/contacts", "bob@example.com\ncat@example.com")
    assert_error(response, 409, "LIST_SIZE_LIMIT_EXCEEDED")
    assert stored() == before
    with override_settings(LIST_MAX_MEMBERS=2):  # up to the limit is fine, and members already in count as skipped
        response = upload(api, f"/api/lists/{static_list.public_id}/contacts", "ann@example.com\nbob@example.com")
    assert response.json()["statistics"] == {"added": 1, "invalid": 0, "skipped": 1, "duplicated": 0}


def test_per_list_max_members_wins_over_the_default(api, people, static_list):
    static_list.max_members = 1
    static_list.save()
    before = stored()
    response = upload(api, f"/api/lists/{static_list.public_id}/contacts", "ann@example.com\nbob@example.com")
    assert_error(response, 409, "LIST_SIZE_LIMIT_EXCEEDED")
    assert stored() == before


def test_total_limit_is_409_and_changes_nothing(api, people, static_list):
    other = MarketingListFactory()
    ListMembership.objects.create(marketing_list=other, subscriber=people["ann"])
    ListMembership.objects.create(marketing_list=other, subscriber=people["bob"])
    before = stored()
    with override_settings(TOTAL_MAX_SUBSCRIBERS=3):
        response = upload(api, f"/api/lists/{static_list.public_id}/contacts", "cat@example.com\ndan@example.com")
    assert_error(response, 409, "TOTAL_SIZE_LIMIT_EXCEEDED")
    assert stored() == before


def test_contacts_need_lists_write(make_client, static_list):
    reader = make_client("lists:read")
    response = upload(reader, f"/api/lists/{static_list.public_id}/contacts", "ann@example.com")
    assert response.status_code == 403
    assert reader.delete(f"/api/lists/{static_list.public_id}/contacts").status_code == 403


def test_a_large_addition_rematerializes_rule_audiences_naming_the_list(api, static_list, monkeypatch):
    from audiences import models
    from audiences import services as audience_services
    from imports import contacts

    monkeypatch.setattr(contacts, "REFRESH_INLINE_LIMIT", 2)
    rule_audience = models.Audience.objects.create(
        name="In the list",
        rules={
            "match": "all",
            "negate": False,
            "conditions": [{"field": "lists", "operation": "eq", "value": static_list.public_id}],
        },
    )
    subscribers = SubscriberFactory.create_batch(5)
    enqueued = []
    # Rematerializing goes through audiences.services.audiences_rematerialize, which enqueues the jobs.
    monkeypatch.setattr(audience_services, "enqueue_on_commit", lambda *args: enqueued.append(args))
    response = upload(api, f"/api/lists/{static_list.public_id}/contacts", "\n".join(s.email for s in subscribers))
    assert response.json()["statistics"]["added"] == 5
    assert [args[2] for args in enqueued] == [rule_audience.pk]


def test_small_changes_move_subscribers_in_rule_audiences_at_once(api, people, static_list):
    rules = {"match": "all", "conditions": [{"field": "lists", "operation": "eq", "value": static_list.public_id}]}
    response = api.post("/api/audiences", {"name": "On the list", "rules": rules})
    assert response.status_code == 200, response.json()
    audience_id = response.json()["id"]

    def rule_members() -> set[str]:
        return set(
            AudienceMembership.objects.filter(audience__public_id=audience_id).values_list(
                "subscriber__email", flat=True
            )
        )

    upload(api, f"/api/lists/{static_list.public_id}/contacts", "ann@example.com\nbob@example.com\ncat@example.com")
    assert rule_members() == {"ann@example.com", "bob@example.com", "cat@example.com"}
    upload(api, f"/api/lists/{static_list.public_id}/contacts/remove", "bob@example.com")
    assert rule_members() == {"ann@example.com", "cat@example.com"}
    api.delete(f"/api/lists/{static_list.public_id}/contacts")
    assert rule_members() == set()


def test_a_file_over_the_byte_limit_is_refused(api, people, static_list, settings):
    settings.IMPORT_MAX_BYTES = 10
    before = stored()
    response = upload(api, f"/api/lists/{static_list.public_id}/contacts", "ann@example.com\n" * 10_000)
    assert_error(response, 400, "INVALID_IMPORT_FILE", "csv")
    assert stored() == before


def test_a_file_over_the_row_limit_is_refused(api, people, static_list, settings):
    settings.IMPORT_MAX_ROWS = 2
    before = stored()
    response = upload(api, f"/api/lists/{static_list.public_id}/contacts", "ann@example.com\nbob@example.com\nx@y.z")
    assert_error(response, 400, "INVALID_IMPORT_FILE", "csv")
    assert stored() == before
