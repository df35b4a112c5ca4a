"""A job survives its worker dying: `recover_stale_jobs` resumes it after its last committed batch, or fails it
after three attempts; it never stays `processing`. One test kills a real `manage.py rqworker` process."""

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.utils import timezone

from audiences.models import ListMembership
from core.jobs import queue_name
from imports import engine
from imports.models import ImportJob
from imports.services import import_job_create
from imports.tasks import recover_stale_jobs, run_import_job
from subscribers.models import Subscriber
from tests.factories import MarketingListFactory
from tests.imports.test_engine import upload
from tests.imports.test_jobs_api import ImportsWorker

TRANSACTIONAL = pytest.mark.django_db(transaction=True, serialized_rollback=True)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    worker = ImportsWorker()
    worker.queue.empty()
    yield worker
    worker.queue.empty()
    # A killed worker leaves its job in the started registry; later tests' workers would report it as failed.
    started = worker.queue.started_job_registry
    started.connection.delete(started.key)


def people(count: int) -> list[list[str]]:
    return [["email", "first_name", "additional_fields_data.score"]] + [
        [f"person{i}@example.com", f"P{i}", str(i)] for i in range(count)
    ]


class WorkerDied(BaseException):
    """Stands for SIGKILL in-process: not an Exception, so nothing in the task catches it."""


@TRANSACTIONAL
def test_a_job_whose_worker_died_resumes_after_its_last_batch(worker, settings, monkeypatch):
    settings.IMPORT_BATCH_SIZE = 10
    marketing_list = MarketingListFactory()
    job = import_job_create(marketing_list=marketing_list, file_url=upload(people(45)), import_type="create_update")
    apply = engine.BatchRunner.apply

    def die_in_third_batch(self, batch):
        if self.job.last_batch == 1:
            raise WorkerDied
        apply(self, batch)

    monkeypatch.setattr(engine.BatchRunner, "apply", die_in_third_batch)
    with pytest.raises(WorkerDied):
        run_import_job(job.pk)
    worker.queue.empty()
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.last_batch, job.attempts) == ("processing", 20, 1, 1)

    monkeypatch.setattr(engine.BatchRunner, "apply", apply)
    assert recover_stale_jobs() == 0  # its heartbeat is fresh: the worker may still be alive
    assert recover_stale_jobs(older_than=dt.timedelta(0)) == 1
    job.refresh_from_db()
    assert job.status == "pending"
    worker.run()
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.created_contacts, job.last_batch, job.attempts) == (
        "completed",
        45,
        45,
        4,
        2,
    )
    assert Subscriber.objects.count() == 45 and ListMembership.objects.count() == 45


@TRANSACTIONAL
def test_after_three_attempts_the_job_fails_with_a_reason(worker):
    job = import_job_create(
        marketing_list=MarketingListFactory(), file_url=upload(people(3)), import_type="create_only"
    )
    worker.queue.empty()
    ImportJob.objects.filter(pk=job.pk).update(
        status="processing", attempts=3, heartbeat_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert recover_stale_jobs() == 1
    job.refresh_from_db()
    assert job.status == "failed" and "stopped responding" in job.failure_reason and job.finished_at


@TRANSACTIONAL
def test_every_run_recovers_stale_jobs_first(worker, settings):
    first, second = MarketingListFactory(), MarketingListFactory()
    stuck = import_job_create(marketing_list=first, file_url=upload(people(3)), import_type="create_only")
    ImportJob.objects.filter(pk=stuck.pk).update(
        status="processing", attempts=1, heartbeat_at=timezone.now() - dt.timedelta(hours=1)
    )
    worker.queue.empty()
    other_people = [["email"], ["someone@example.com"], ["else@example.com"]]
    import_job_create(marketing_list=second, file_url=upload(other_people), import_type="create_only")
    worker.run()  # runs the second job, which puts the stuck one back in the queue, which then runs too
    stuck.refresh_from_db()
    assert (stuck.status, stuck.created_contacts) == ("completed", 3)


@TRANSACTIONAL
def test_killing_a_real_worker_process_mid_import(worker, settings, tmp_path):
    rows = 20_000
    settings.IMPORT_BATCH_SIZE = 500
    settings.MEDIA_ROOT = tmp_path / "media"
    marketing_list = MarketingListFactory()
    job = import_job_create(marketing_list=marketing_list, file_url=upload(people(rows)), import_type="create_update")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": django_settings.REDIS_URL,
        "RQ_QUEUE_PREFIX": os.environ.get("RQ_QUEUE_PREFIX", ""),
        "ROSTER_DATA_DIR": str(tmp_path),  # MEDIA_ROOT = DATA_DIR / "media", as in this test
        "IMPORT_BATCH_SIZE": "500",
        "IMPORT_BATCH_PAUSE_SECONDS": "0.05",
    }
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    process = subprocess.Popen(  # noqa: S603 - our own manage.py
        [
            sys.executable,
            "manage.py",
            "rqworker",
            queue_name("imports"),
            "--burst",
            "--worker-class",
            "rq.worker.SimpleWorker",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.processed_rows >= 3_000:
                break
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    job.refresh_from_db()
    assert job.status == "processing" and 3_000 <= job.processed_rows < rows, job.processed_rows
    committed = job.processed_rows
    assert Subscriber.objects.count() == committed  # nothing of the killed batch stayed

    assert recover_stale_jobs(older_than=dt.timedelta(0)) == 1
    worker.run()
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.total_rows, job.created_contacts, job.updated_contacts) == (
        "completed",
        rows,
        rows,
        rows,
        0,
    )
    assert job.attempts == 2 and job.last_batch == rows // 500 - 1
    # The same as a clean import: every row once, with its values, in the list.
    assert Subscriber.objects.count() == rows
    assert ListMembership.objects.filter(marketing_list=marketing_list).count() == rows
    sample = Subscriber.objects.get(email="person12345@example.com")
    assert (sample.first_name, sample.additional_fields_data) == ("P12345", {"score": "12345"})


@TRANSACTIONAL
def test_a_pending_job_whose_queue_entry_was_lost_is_queued_again(worker):
    job = import_job_create(
        marketing_list=MarketingListFactory(), file_url=upload(people(3)), import_type="create_only"
    )
    worker.queue.empty()  # Redis lost it
    assert recover_stale_jobs() == 0  # young: a worker may take it any moment
    ImportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - dt.timedelta(hours=1))
    assert recover_stale_jobs() == 1
    worker.run()
    job.refresh_from_db()
    assert (job.status, job.created_contacts) == ("completed", 3)
