"""A number custom field gets an expression index on what the condition compiler emits for it (subscribers/indexes.py),
built by a background job on a real RQ worker after the field is created and dropped after it is deleted."""

import django_rq
import pytest
from django.db import connection

from core.conditions.compiler import compile_group, parse_group
from core.jobs import get_queue, queue_name
from subscribers.filters import subscriber_registry
from subscribers.indexes import number_field_index_name
from subscribers.models import Subscriber
from tests.api_assertions import created_id

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def run_jobs():
    queue = get_queue("default")
    queue.empty()

    def run() -> None:
        started = set(queue.started_job_registry.get_job_ids())  # first: its cleanup moves abandoned jobs to failed
        ignored = started | set(queue.failed_job_registry.get_job_ids())
        django_rq.get_worker(queue_name("default"), worker_class="rq.worker.SimpleWorker").work(burst=True)
        assert set(queue.failed_job_registry.get_job_ids()) - ignored == set()

    yield run
    queue.empty()


def index_state(key: str) -> bool | None:
    """Whether the key's index is valid; None when there is none."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
            [number_field_index_name(key)],
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


def plan_for(rules: dict) -> str:
    q = compile_group(parse_group(rules), subscriber_registry())
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a test-sized table: make the planner show what it could use
        try:
            return Subscriber.objects.filter(q).explain()
        finally:
            cursor.execute("RESET enable_seqscan")


def test_a_number_field_gets_an_index_the_compiled_rules_use(api, run_jobs):
    field_id = created_id(api.post("/api/custom-fields", {"name": "lifetime_value", "type": "number"}))
    assert index_state("lifetime_value") is None  # built in the background, not in the request
    run_jobs()
    assert index_state("lifetime_value") is True

    rules = {
        "match": "all",
        "conditions": [{"field": "additional_fields_data.lifetime_value", "operation": "gte", "value": 1000}],
    }
    assert number_field_index_name("lifetime_value") in plan_for(rules)

    assert api.delete(f"/api/custom-fields/{field_id}").status_code in (200, 204)
    run_jobs()
    assert index_state("lifetime_value") is None


def test_other_field_types_and_odd_keys(api, run_jobs):
    api.post("/api/custom-fields", {"name": "country", "type": "string"})
    api.post("/api/custom-fields", {"name": "Score_" + "x" * 58, "type": "number"})
    run_jobs()
    assert index_state("country") is None
    long_key = "Score_" + "x" * 58
    assert len(number_field_index_name(long_key)) <= 63 and index_state(long_key) is True
