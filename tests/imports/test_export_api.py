"""GET /api/lists/{id}/export: members streamed as CSV, NDJSON or one email a line, in keyset chunks."""

import csv
import io
import json
import re

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext

from audiences.models import AudienceMembership, ListMembership
from imports import exports
from subscribers.models import Subscriber, SubscriptionPreference
from tests.api_assertions import assert_error
from tests.factories import (
    AudienceFactory,
    CustomFieldFactory,
    MarketingListFactory,
    SubscriberFactory,
    SubscriptionTypeFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db


def body(response) -> str:
    assert response.status_code == 200, response.content
    assert isinstance(response, StreamingHttpResponse)
    return b"".join(response.streaming_content).decode()


@pytest.fixture
def world():
    CustomFieldFactory(name="plan")
    CustomFieldFactory(name="score", field_type="number")
    newsletter = SubscriptionTypeFactory(name="Newsletter")
    offers = SubscriptionTypeFactory(name="Offers")
    SubscriptionTypeFactory(name="Alerts")
    marketing_list = MarketingListFactory(name="Customers")
    other = MarketingListFactory(name="Other")
    vip = TagFactory(name="vip")
    ann = SubscriberFactory(
        email="ann@example.com",
        first_name="Ann",
        last_name='=HYPERLINK("http://evil")',
        additional_fields_data={"plan": "gold", "score": 7, "undefined_key": "x"},
        tags=[vip],
    )
    bob = SubscriberFactory(
        email="bob@example.com", active=False, inactive_reason="bounced", additional_fields_data={"score": -3}
    )
    SubscriberFactory(email="outsider@example.com")
    for subscriber in (ann, bob):
        ListMembership.objects.create(marketing_list=marketing_list, subscriber=subscriber)
    ListMembership.objects.create(marketing_list=other, subscriber=ann)
    SubscriptionPreference.objects.create(subscriber=ann, subscription_type=newsletter, subscribed=True)
    SubscriptionPreference.objects.create(subscriber=ann, subscription_type=offers, subscribed=False)
    return {"list": marketing_list, "other": other, "ann": ann, "bob": bob, "vip": vip}


def test_csv_has_every_field_custom_fields_consent_and_lists(api, world):
    response = api.get(f"/api/lists/{world['list'].public_id}/export")
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"] == f'attachment; filename="{world["list"].public_id}-members.csv"'
    rows = list(csv.DictReader(io.StringIO(body(response))))
    assert list(rows[0]) == [
        *exports.BASE_COLUMNS,
        "plan",
        "score",
        "subscribed:Alerts",
        "subscribed:Newsletter",
        "subscribed:Offers",
        "lists",
        "list_names",
        "tags",
        "tag_names",
    ]
    by_email = {row["email"]: row for row in rows}
    assert set(by_email) == {"ann@example.com", "bob@example.com"}
    ann, bob = by_email["ann@example.com"], by_email["bob@example.com"]
    assert ann["id"] == world["ann"].public_id
    assert ann["first_name"] == "Ann" and ann["active"] == "true"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", ann["created_at"])
    assert ann["plan"] == "gold" and ann["score"] == "7"
    assert "undefined_key" not in ann  # definitions only
    assert (ann["subscribed:Newsletter"], ann["subscribed:Offers"], ann["subscribed:Alerts"]) == ("true", "false", "")
    assert ann["lists"] == f"{world['list'].public_id};{world['other'].public_id}"
    assert (ann["list_names"], ann["tags"], ann["tag_names"]) == ("Customers;Other", world["vip"].public_id, "vip")
    assert (bob["active"], bob["inactive_reason"], bob["plan"]) == ("false", "bounced", "")


def test_csv_neutralizes_formulas(api, world):
    rows = list(csv.DictReader(io.StringIO(body(api.get(f"/api/lists/{world['list'].public_id}/export")))))
    by_email = {row["email"]: row for row in rows}
    assert by_email["ann@example.com"]["last_name"] == '\'=HYPERLINK("http://evil")'
    assert by_email["bob@example.com"]["score"] == "'-3"


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_neutralize_cell(value):
    assert exports.neutralize_cell(value) == "'" + value
    assert exports.neutralize_cell("plain " + value) == "plain " + value


def test_ndjson(api, world):
    response = api.get(f"/api/lists/{world['list'].public_id}/export", {"format": "ndjson"})
    assert response["Content-Type"] == "application/x-ndjson"
    assert response["Content-Disposition"].endswith('-members.ndjson"')
    records = {r["email"]: r for r in map(json.loads, body(response).splitlines())}
    ann = records["ann@example.com"]
    assert ann["id"] == world["ann"].public_id
    assert ann["last_name"] == '=HYPERLINK("http://evil")'  # JSON is data, not a spreadsheet
    assert ann["additional_fields_data"] == {"plan": "gold", "score": 7, "undefined_key": "x"}
    assert ann["subscriptions"] == {"Newsletter": True, "Offers": False}
    assert ann["lists"] == [world["list"].public_id, world["other"].public_id]
    assert (ann["list_names"], ann["tags"], ann["tag_names"]) == (
        ["Customers", "Other"],
        [world["vip"].public_id],
        ["vip"],
    )
    assert ann["inactive_reason"] is None  # as the API answers an empty reason
    assert records["bob@example.com"]["active"] is False


def test_csv_and_ndjson_say_the_same_as_the_api_for_each_subscriber(api, world):
    """Lists and tags by id and by name, in the same order, and inactive_reason null (an empty CSV cell) or text."""
    gold = TagFactory(name="gold; tier")  # a name with the separator: its id still splits cleanly
    world["bob"].tags.add(gold, world["vip"])
    world["bob"].tags.add(TagFactory(name="=cmd"))
    carl = SubscriberFactory(email="carl@example.com", active=False, inactive_reason="")
    ListMembership.objects.create(marketing_list=world["list"], subscriber=carl)
    path = f"/api/lists/{world['list'].public_id}/export"
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(body(api.get(path))))}
    records = {r["id"]: r for r in map(json.loads, body(api.get(path, {"format": "ndjson"})).splitlines())}
    assert set(rows) == set(records) == {world["ann"].public_id, world["bob"].public_id, carl.public_id}

    for public_id, record in records.items():
        row, subscriber = rows[public_id], api.get(f"/api/subscribers/{public_id}").json()
        assert record["lists"] == subscriber["lists"] and record["tags"] == subscriber["tags"]
        assert record["inactive_reason"] == subscriber["inactive_reason"]
        assert row["inactive_reason"] == (record["inactive_reason"] or "")
        assert row["lists"] == ";".join(record["lists"]) and row["tags"] == ";".join(record["tags"])
        assert len(record["list_names"]) == len(record["lists"]) and len(record["tag_names"]) == len(record["tags"])
        assert row["list_names"] == ";".join(record["list_names"])
        # The CSV neutralizes a cell that starts like a formula; NDJSON is data.
        assert row["tag_names"] == exports.neutralize_cell(";".join(record["tag_names"]))

    bob = records[world["bob"].public_id]
    assert bob["tag_names"] == ["=cmd", "gold; tier", "vip"] and bob["inactive_reason"] == "bounced"
    assert rows[world["bob"].public_id]["tag_names"] == "'=cmd;gold; tier;vip"
    assert records[carl.public_id]["inactive_reason"] is None and rows[carl.public_id]["inactive_reason"] == ""
    assert records[carl.public_id]["tags"] == [] and rows[carl.public_id]["tags"] == ""


def test_lines_one_email_a_line(api, world):
    response = api.get(f"/api/lists/{world['list'].public_id}/export", {"format": "lines"})
    assert response["Content-Type"].startswith("text/plain")
    assert sorted(body(response).splitlines()) == ["ann@example.com", "bob@example.com"]
    ids = body(api.get(f"/api/lists/{world['list'].public_id}/export", {"format": "lines", "kind": "customerId"}))
    assert sorted(ids.splitlines()) == sorted([world["ann"].public_id, world["bob"].public_id])


def test_lines_neutralize_formulas_as_the_csv_does(api):
    """An address may legally start with a formula character; opened in a spreadsheet, the line would run it."""
    marketing_list = MarketingListFactory()
    emails = ["=1+cmd@example.com", "+33@example.com", "-x@example.com", "plain@example.com"]
    for email in emails:
        ListMembership.objects.create(marketing_list=marketing_list, subscriber=SubscriberFactory(email=email))

    lines = body(api.get(f"/api/lists/{marketing_list.public_id}/export", {"format": "lines"})).splitlines()

    assert sorted(lines) == sorted(exports.neutralize_cell(email) for email in emails)
    assert sorted(lines) == ["'+33@example.com", "'-x@example.com", "'=1+cmd@example.com", "plain@example.com"]
    csv_rows = csv.DictReader(io.StringIO(body(api.get(f"/api/lists/{marketing_list.public_id}/export"))))
    assert sorted(row["email"] for row in csv_rows) == sorted(lines)


def test_dynamic_list_exports_its_audience_members(api):
    audience = AudienceFactory()
    member, _ = SubscriberFactory(email="member@example.com"), SubscriberFactory(email="not@example.com")
    AudienceMembership.objects.create(audience=audience, subscriber=member, source=AudienceMembership.MANUAL)
    dynamic = MarketingListFactory(mode="dynamic", audience=audience)
    assert body(api.get(f"/api/lists/{dynamic.public_id}/export", {"format": "lines"})) == "member@example.com\n"


def test_empty_list_exports_a_header_only(api):
    empty = MarketingListFactory()
    assert body(api.get(f"/api/lists/{empty.public_id}/export")).splitlines()[0].startswith("id,email,")
    assert body(api.get(f"/api/lists/{empty.public_id}/export", {"format": "ndjson"})) == ""


def test_bad_requests(api, make_client, world):
    path = f"/api/lists/{world['list'].public_id}/export"
    assert_error(api.get(path, {"format": "xml"}), 400, "VALIDATION_ERROR", "format")
    assert_error(api.get(path, {"format": "lines", "kind": "phone"}), 400, "VALIDATION_ERROR", "kind")
    assert_error(api.get("/api/lists/list_nope/export"), 404, "LIST_NOT_FOUND")
    assert make_client("lists:read").get(path).status_code == 200
    assert make_client("subscribers:read").get(path).status_code == 403


@pytest.mark.parametrize("export_format", ["csv", "ndjson", "lines"])
def test_streams_in_bounded_chunks(api, monkeypatch, export_format):
    monkeypatch.setattr(exports, "CHUNK_SIZE", 500)
    marketing_list = MarketingListFactory()
    newsletter = SubscriptionTypeFactory()
    subscribers = Subscriber.objects.bulk_create(
        Subscriber(email=f"bulk{i}@example.com", public_id=f"sub_bulk{i}") for i in range(3000)
    )
    ListMembership.objects.bulk_create(ListMembership(marketing_list=marketing_list, subscriber=s) for s in subscribers)
    SubscriptionPreference.objects.bulk_create(
        SubscriptionPreference(subscriber=s, subscription_type=newsletter, subscribed=True) for s in subscribers
    )
    response = api.get(f"/api/lists/{marketing_list.public_id}/export", {"format": export_format})
    assert isinstance(response, StreamingHttpResponse)
    with CaptureQueriesContext(connection) as queries:
        pieces = list(response.streaming_content)
    text = b"".join(pieces).decode()
    lines = text.splitlines()
    assert len(lines) == 3000 + (export_format == "csv")
    # One query reads the members (through a server-side cursor), then each of the six chunks of 500 costs a fixed
    # number of queries for its relations, each bounded by the chunk.
    member_reads = [q["sql"] for q in queries if 'FROM "subscribers_subscriber"' in q["sql"]]
    assert len(member_reads) == 1, member_reads
    per_chunk = 0 if export_format == "lines" else 3
    assert len(queries) <= 3 + 6 * per_chunk, [q["sql"][:120] for q in queries]
    assert len(pieces) >= 6  # chunk by chunk, not one block


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_streams_outside_a_transaction(api, monkeypatch):
    """In autocommit (as in production), the members' server-side cursor must outlive the view's own queries."""
    monkeypatch.setattr(exports, "CHUNK_SIZE", 7)
    marketing_list = MarketingListFactory()
    subscribers = SubscriberFactory.create_batch(30)
    for subscriber in subscribers:
        ListMembership.objects.create(marketing_list=marketing_list, subscriber=subscriber)
    for export_format in ("csv", "ndjson", "lines"):
        text = body(api.get(f"/api/lists/{marketing_list.public_id}/export", {"format": export_format}))
        assert len(text.splitlines()) == 30 + (export_format == "csv")
