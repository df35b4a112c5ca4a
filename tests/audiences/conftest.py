"""Fixtures and helpers for rule audiences: a real RQ worker run in-process on the "segments" queue, the rule
builders `group`/`cond`, and the API calls most tests repeat.

Tests that need the worker use `@pytest.mark.django_db(transaction=True, serialized_rollback=True)`: jobs are enqueued
on commit (so the transaction must really commit), and serialized_rollback brings `aud_default` back afterwards."""

from typing import Any

import django_rq
import pytest

from audiences.models import Audience, AudienceMembership
from audiences.rules import audience_rules_q
from core.jobs import get_queue, queue_name
from subscribers.models import Subscriber
from tests.api_assertions import created_id

SEGMENTS = "segments"


class SegmentsWorker:
    """Runs every job waiting on the segments queue, in this process, and fails the test if one of them failed."""

    def __init__(self) -> None:
        self.queue = get_queue(SEGMENTS)

    @property
    def waiting(self) -> int:
        return self.queue.count

    def run(self) -> int:
        """Process the queue until it is empty; answers how many jobs ran."""
        # A worker starting up moves jobs abandoned by an earlier test from the started to the failed registry: those
        # are not failures of this run.
        registry = self.queue.failed_job_registry
        started = set(
            self.queue.started_job_registry.get_job_ids()
        )  # first: its cleanup moves abandoned jobs to failed
        ignored = started | set(registry.get_job_ids())
        ran = self.queue.count
        worker = django_rq.get_worker(queue_name(SEGMENTS), worker_class="rq.worker.SimpleWorker")
        worker.work(burst=True)
        failed = [job_id for job_id in registry.get_job_ids() if job_id not in ignored]
        if failed:
            jobs = [self.queue.fetch_job(job_id) for job_id in failed]
            details = "\n".join(
                f"{job.func_name}{job.args}: {job.latest_result().exc_string if job.latest_result() else '?'}"
                for job in jobs
                if job
            )
            pytest.fail(f"{len(failed)} segments job(s) failed:\n{details}")
        return ran


@pytest.fixture
def segments_worker():
    """An empty segments queue (jobs left by another test would name rows that no longer exist), and a worker."""
    worker = SegmentsWorker()
    worker.queue.empty()
    worker.queue.failed_job_registry.cleanup()
    yield worker
    worker.queue.empty()


# --- rule builders ----------------------------------------------------------------------------------------------


def group(*conditions: dict, match: str = "all", negate: bool = False) -> dict:
    return {"match": match, "negate": negate, "conditions": list(conditions)}


def cond(field: str, operation: str, value: Any = None, **extra: Any) -> dict:
    return {"field": field, "operation": operation, "value": value, **extra}


# --- API helpers ----------------------------------------------------------------------------------------------


def create_audience(api, name: str, rules: dict | None = None) -> str:
    body: dict[str, Any] = {"name": name}
    if rules is not None:
        body["rules"] = rules
    return created_id(api.post("/api/audiences", body))


def create_subscriber(api, email: str, **fields: Any) -> str:
    return created_id(api.post("/api/subscribers", {"first_name": email.split("@")[0], "email": email, **fields}))


def update_subscriber(api, subscriber_id: str, **fields: Any) -> None:
    response = api.put(f"/api/subscribers/{subscriber_id}", fields)
    assert response.status_code == 200, response.json()


def set_rules(api, audience_id: str, rules: dict | None) -> dict:
    response = api.post(f"/api/audiences/{audience_id}/rules", {"rules": rules})
    assert response.status_code == 200, response.json()
    return response.json()


def count(api, audience_id: str) -> int:
    response = api.get(f"/api/audiences/{audience_id}/count")
    assert response.status_code == 200, response.json()
    return response.json()["count"]


def walk_members(api, path: str, *, first: int = 100, **params: Any) -> list[dict]:
    """Every row of a cursor-paged members endpoint, page by page."""
    rows: list[dict] = []
    after = None
    while True:
        query = {"first": first, **params, **({"after": after} if after else {})}
        response = api.get(path, query)
        assert response.status_code == 200, response.json()
        body = response.json()
        rows += body["results"]
        if not body["pageInfo"]["hasNextPage"]:
            return rows
        after = body["pageInfo"]["endCursor"]


def member_ids(api, audience_id: str) -> set[str]:
    return {row["id"] for row in walk_members(api, f"/api/audiences/{audience_id}/members")}


def list_member_ids(api, list_id: str) -> set[str]:
    return {row["id"] for row in walk_members(api, f"/api/lists/{list_id}/members")}


# --- stored state -----------------------------------------------------------------------------------------------


def stored_members(audience_id: str) -> dict[str, int]:
    """Public id of each stored member -> its source bits (MANUAL=1, RULE=2)."""
    return dict(
        AudienceMembership.objects.filter(audience__public_id=audience_id).values_list(
            "subscriber__public_id", "source"
        )
    )


def fresh_matches(audience_id: str) -> set[str]:
    """Who the audience's rules match now, evaluated from scratch."""
    audience = Audience.objects.get(public_id=audience_id)
    return set(Subscriber.objects.filter(audience_rules_q(audience)).values_list("public_id", flat=True))


def audiences_of(subscriber_id: str) -> set[str]:
    return set(
        AudienceMembership.objects.filter(subscriber__public_id=subscriber_id).values_list(
            "audience__public_id", flat=True
        )
    )


@pytest.fixture
def catalog(api) -> dict[str, str]:
    """Typed custom fields, tags, subscription types and a static list, made through the API; answers their ids."""
    for name, field_type in (
        ("customer_type", "string"),
        ("lifetime_value", "number"),
        ("signup_day", "date"),
        ("vip", "boolean"),
    ):
        created_id(api.post("/api/custom-fields", {"name": name, "type": field_type}))
    return {
        "vip_tag": created_id(api.post("/api/tags", {"name": "vip"})),
        "churn_tag": created_id(api.post("/api/tags", {"name": "churn-risk"})),
        "newsletter": created_id(api.post("/api/subscription-types", {"name": "Newsletter"})),
        "offers": created_id(api.post("/api/subscription-types", {"name": "Offers"})),
        "static_list": created_id(
            api.post("/api/lists", {"name": "Static", "mode": "static", "audience_id": "aud_default"})
        ),
    }
