"""One audience cannot break every write (issue 8, points 3b and 3c), on PostgreSQL.

An audience whose rules fail to evaluate is marked `failed` with the reason, which GET /status and the admin show; the
subscriber write that found it still succeeds, the other audiences are still refreshed, and from then on it is skipped
until its rules are saved again. Statements evaluating rules are bounded by a statement timeout, in the request
(AUDIENCE_LIVE_REFRESH_STATEMENT_TIMEOUT_MS) and in the worker (AUDIENCE_MATERIALIZE_STATEMENT_TIMEOUT_MS).

The failure is real, not mocked: another connection holds an ACCESS EXCLUSIVE lock on the subscriber-tag table, as a
long migration or VACUUM FULL would, so any statement that reads it (here: an audience whose rules name a tag) waits
until PostgreSQL's statement timeout cancels it. The subscriber writes themselves never read that table."""

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection, connections
from django.urls import reverse

from audiences.models import Audience
from preferences.tokens import Purpose, make_token
from subscribers.models import Subscriber
from tests.api_assertions import created_id
from tests.audiences.conftest import (
    cond,
    create_audience,
    create_subscriber,
    group,
    member_ids,
    set_rules,
    stored_members,
)

with_worker = pytest.mark.django_db(transaction=True, serialized_rollback=True)
pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="statement timeouts are PostgreSQL's")

TIMEOUT_MS = 300
TAGGED = Subscriber.tags.through._meta.db_table


@contextmanager
def table_locked_by_another_connection(table: str) -> Iterator[None]:
    """Hold an ACCESS EXCLUSIVE lock on `table` from a second connection until the block ends. This connection waits
    at most 10 s for any lock meanwhile, so that a statement outside the statement timeouts under test would fail the
    test instead of hanging it."""
    default = connections["default"]
    holder = type(default)({**default.settings_dict}, alias="lock_holder")
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '10s'")
    try:
        holder.set_autocommit(False)
        with holder.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")
            cursor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield
    finally:
        holder.rollback()
        holder.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


def status(api, audience_id: str) -> dict:
    response = api.get(f"/api/audiences/{audience_id}/status")
    assert response.status_code == 200, response.json()
    return response.json()


def one_click(client, subscriber_id: str):
    subscriber = Subscriber.objects.get(public_id=subscriber_id)
    url = reverse("preferences:unsubscribe", args=[make_token(Purpose.UNSUBSCRIBE, subscriber)])
    return client.post(url, {"List-Unsubscribe": "One-Click"})


@pytest.fixture
def world(api, segments_worker, settings) -> dict[str, str]:
    """Ann (tagged vip) and Bob; a rule audience on the tag, two on subscriber columns; all materialized."""
    settings.AUDIENCE_LIVE_REFRESH_STATEMENT_TIMEOUT_MS = TIMEOUT_MS
    settings.AUDIENCE_MATERIALIZE_STATEMENT_TIMEOUT_MS = TIMEOUT_MS
    vip = created_id(api.post("/api/tags", {"name": "vip"}))
    ids = {
        "ann": create_subscriber(api, "ann@example.com", tags=[vip]),
        "bob": create_subscriber(api, "bob@example.com"),
        "vip_tag": vip,
        "tagged": create_audience(api, "Tagged vip", group(cond("tags", "eq", vip))),
        "active": create_audience(
            api, "Active at example.com", group(cond("email", "like", "@example.com"), cond("active", "eq", True))
        ),
        "robs": create_audience(api, "Called Rob", group(cond("first_name", "eq", "Rob"))),
    }
    segments_worker.run()
    assert member_ids(api, ids["tagged"]) == {ids["ann"]}
    assert member_ids(api, ids["active"]) == {ids["ann"], ids["bob"]}
    return ids


@with_worker
def test_an_audience_whose_rules_time_out_is_marked_failed_and_writes_still_succeed(
    api, client, world, segments_worker
):
    with table_locked_by_another_connection(TAGGED):
        response = api.put(f"/api/subscribers/{world['bob']}", {"first_name": "Rob"})

        assert response.status_code == 200, response.json()
        failed = status(api, world["tagged"])
        assert failed["status"] == "failed"
        assert "AUDIENCE_LIVE_REFRESH_STATEMENT_TIMEOUT_MS" in failed["failure_reason"]
        assert f"{TIMEOUT_MS} ms" in failed["failure_reason"]
        assert set(stored_members(world["robs"])) == {world["bob"]}  # the others were refreshed
        assert status(api, world["robs"])["status"] == "ready"

        # From then on it is skipped (its reason stays the one it failed with), and the public one-click works.
        unsubscribed = one_click(client, world["ann"])

        assert unsubscribed.status_code == 200
        assert Subscriber.objects.get(public_id=world["ann"]).active is False
        assert set(stored_members(world["active"])) == {world["bob"]}  # ann left when she unsubscribed
        assert status(api, world["tagged"])["failure_reason"] == failed["failure_reason"]
        count = api.get(f"/api/audiences/{world['tagged']}/count").json()
        assert (count["status"], count["count"]) == ("failed", 1)  # its last members, as they were

    assert member_ids(api, world["robs"]) == {world["bob"]}
    assert member_ids(api, world["active"]) == {world["bob"]}
    # Saving its rules again, once the database is well, gives it another chance.
    rules = api.get(f"/api/audiences/{world['tagged']}/rules").json()["rules"]
    assert set_rules(api, world["tagged"], rules)["status"] == "pending"
    assert status(api, world["tagged"])["failure_reason"] is None
    segments_worker.run()
    assert status(api, world["tagged"])["status"] == "ready"
    assert member_ids(api, world["tagged"]) == {world["ann"]}


@with_worker
def test_a_materialization_that_times_out_marks_the_audience_failed(api, world, segments_worker, admin_client):
    vip = world["vip_tag"]
    audience_id = create_audience(api, "Not tagged vip", group(cond("tags", "ne", vip)))

    with table_locked_by_another_connection(TAGGED):
        segments_worker.run()  # the job itself succeeds: the failure is the audience's, recorded on it

        failed = status(api, audience_id)
        assert failed["status"] == "failed"
        assert "Materializing" in failed["failure_reason"]
        assert "AUDIENCE_MATERIALIZE_STATEMENT_TIMEOUT_MS" in failed["failure_reason"]
        assert stored_members(audience_id) == {}

        # Writes skip it: evaluating it live would have replaced the reason with the live one.
        assert api.put(f"/api/subscribers/{world['bob']}", {"first_name": "Rob"}).status_code == 200
        assert status(api, audience_id)["failure_reason"] == failed["failure_reason"]
        assert set(stored_members(world["robs"])) == {world["bob"]}

    # The admin shows it, and saving the rules there, unchanged, retries.
    audience = Audience.objects.get(public_id=audience_id)
    change = reverse("admin:audiences_audience_change", args=[audience.pk])
    page = admin_client.get(change).content.decode()
    assert "Failed" in page and "AUDIENCE_MATERIALIZE_STATEMENT_TIMEOUT_MS" in page
    listing = admin_client.get(reverse("admin:audiences_audience_changelist"), {"status__exact": "failed"})
    assert "Not tagged vip" in listing.content.decode()

    response = admin_client.post(
        change, {"name": audience.name, "rules": json.dumps(audience.rules), "expected_version": audience.version}
    )
    assert response.status_code == 302
    assert status(api, audience_id) == {
        "id": audience_id,
        "status": "pending",
        "materialized_at": None,
        "has_rules": True,
        "failure_reason": None,
    }
    segments_worker.run()
    assert status(api, audience_id)["status"] == "ready"
    assert member_ids(api, audience_id) == {world["bob"]}


def test_the_openapi_schema_documents_the_failed_status_and_its_reason(anonymous):
    schema = anonymous.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]

    assert schema["AudienceStatusEnum"]["enum"] == ["pending", "materializing", "ready", "failed"]
    status = schema["AudienceStatus"]["properties"]
    assert status["status"]["allOf"] == [{"$ref": "#/components/schemas/AudienceStatusEnum"}]
    assert (status["failure_reason"]["type"], status["failure_reason"]["nullable"]) == ("string", True)
    assert "failure_reason" in schema["GroupAudience"]["properties"]
