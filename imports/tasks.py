"""Running import jobs on a worker (or in-process in embedded mode), and recovering jobs whose worker died.

`recover_stale_jobs` runs at the start of every import and on a schedule (register it in config/rq_cron.py, e.g.
every 5 minutes), so a job never stays `processing` after its worker was killed: it is resumed after its last
committed batch, or failed with a reason after MAX_ATTEMPTS."""

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from audiences.models import Audience
from audiences.services import audiences_rematerialize
from core.errors import ApplicationError
from core.jobs import enqueue_on_commit
from imports.engine import BatchRunner, JobTakenOver
from imports.fetch import fetch_import_file
from imports.models import ImportJob
from imports.readers import open_rows
from imports.reports import error_report_write
from imports.rows import RowValidator, custom_field_definitions, plan_columns

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
QUEUE = "imports"


def stale_after() -> dt.timedelta:
    return dt.timedelta(minutes=settings.IMPORT_STALE_MINUTES)


def enqueue_import(job: ImportJob) -> None:
    enqueue_on_commit(QUEUE, run_import_job, job.pk)


def recover_stale_jobs(*, older_than: dt.timedelta | None = None, exclude_pk: int | None = None) -> int:
    """Processing jobs whose heartbeat is older than `older_than` lost their worker: put them back in the queue (they
    resume after their last committed batch), or fail them once they have been tried MAX_ATTEMPTS times. Pending jobs
    that old whose queue entry was lost are queued again. Answers how many jobs were recovered, requeued or failed."""
    cutoff = timezone.now() - (older_than if older_than is not None else stale_after())
    stale = ImportJob.objects.filter(status=ImportJob.Status.PROCESSING, dry_run=False).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    )
    if exclude_pk is not None:
        stale = stale.exclude(pk=exclude_pk)
    handled = _requeue_forgotten(cutoff)  # first: the jobs put back below are pending but not forgotten
    for job in stale.only("pk", "attempts", "heartbeat_at"):
        # The conditional update makes two concurrent recoveries handle a job once.
        claimed = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.PROCESSING, heartbeat_at=job.heartbeat_at)
        if job.attempts >= MAX_ATTEMPTS:
            handled += claimed.update(
                status=ImportJob.Status.FAILED,
                finished_at=timezone.now(),
                failure_reason=f"The worker stopped responding {job.attempts} times; the import was abandoned",
            )
            continue
        if claimed.update(status=ImportJob.Status.PENDING, heartbeat_at=timezone.now()):
            handled += 1
            logger.warning("Import job %s lost its worker; resuming it", job.pk)
            enqueue_on_commit(QUEUE, run_import_job, job.pk)
    return handled


def _requeue_forgotten(cutoff: dt.datetime) -> int:
    """A job pending since before the cutoff whose owner runs nothing lost its queue entry (Redis restarted before
    a worker took it): queue it again. Claiming is conditional, so a job queued twice still runs once."""
    requeued = 0
    waiting = ImportJob.objects.filter(status=ImportJob.Status.PENDING, dry_run=False, created_at__lt=cutoff)
    owners = set(waiting.values_list("marketing_list_id", "audience_id"))
    for list_pk, audience_pk in owners:
        jobs = ImportJob.objects.filter(marketing_list_id=list_pk, audience_id=audience_pk, dry_run=False)
        if jobs.filter(status=ImportJob.Status.PROCESSING).exists():
            continue
        first = jobs.filter(status=ImportJob.Status.PENDING).order_by("created_at", "pk").first()
        if first is not None and first.created_at < cutoff:
            logger.warning("Import job %s was never picked up; queueing it again", first.pk)
            enqueue_on_commit(QUEUE, run_import_job, first.pk)
            requeued += 1
    return requeued


def _claim(job_pk: int) -> ImportJob | None:
    now = timezone.now()
    claimed = ImportJob.objects.filter(pk=job_pk, status=ImportJob.Status.PENDING, cancel_requested=False).update(
        status=ImportJob.Status.PROCESSING, attempts=F("attempts") + 1, heartbeat_at=now
    )
    if not claimed:
        return None
    job = ImportJob.objects.select_related("marketing_list", "audience").get(pk=job_pk)
    if job.started_at is None:
        job.started_at = now
        job.save(update_fields=["started_at"])
    return job


def _finish(job: ImportJob, status: str, reason: str = "") -> None:
    job.status = status
    job.failure_reason = reason[:1000]
    job.finished_at = timezone.now()
    if job.row_errors.exists():
        error_report_write(job)
    ImportJob.objects.filter(pk=job.pk, attempts=job.attempts).update(
        status=status, failure_reason=job.failure_reason, finished_at=job.finished_at, error_report=job.error_report
    )
    if job.local_path and Path(job.local_path).parent == fetched_files_dir():
        Path(job.local_path).unlink(missing_ok=True)  # a copy fetched for the job; a command's own file stays
    if not job.dry_run:
        start_next_queued(job)


def start_next_queued(job: ImportJob) -> None:
    """Jobs of a list request's `jobs` array wait their turn: the next pending one of the same owner starts now."""
    waiting = ImportJob.objects.filter(status=ImportJob.Status.PENDING, dry_run=False)
    waiting = waiting.filter(marketing_list_id=job.marketing_list_id, audience_id=job.audience_id)
    following = waiting.exclude(pk=job.pk).order_by("created_at", "pk").first()
    if following is not None:
        enqueue_import(following)


def fetched_files_dir() -> Path:
    return Path(settings.MEDIA_ROOT) / "import-files"


def _local_file(job: ImportJob) -> Path:
    if job.local_path and Path(job.local_path).exists():
        return Path(job.local_path)
    destination = fetched_files_dir() / job.public_id
    path = fetch_import_file(job.file_url, destination)
    job.local_path = str(path)
    ImportJob.objects.filter(pk=job.pk).update(local_path=job.local_path, heartbeat_at=timezone.now())
    return path


def _cancel_requested(job: ImportJob) -> bool:
    return ImportJob.objects.filter(pk=job.pk, cancel_requested=True).exists()


def _rematerialize_rule_audiences() -> None:
    """Bulk changes skip the per-subscriber refresh: every rule audience is recomputed set-based, once, at the end."""
    audiences = Audience.objects.exclude(rules=None).only("pk", "rules", "rules_generation")
    audiences_rematerialize(audience for audience in audiences if audience.has_rules)


def process_job(job: ImportJob, *, progress: Callable[[ImportJob], None] | None = None) -> ImportJob:
    """Fetch, count and apply a claimed (processing) job to its end; the job's status says how it ended."""
    try:
        path = _local_file(job)
        definitions = custom_field_definitions()
        with open_rows(path) as reader:
            if not job.total_rows:
                job.total_rows = reader.count_rows()
                ImportJob.objects.filter(pk=job.pk).update(total_rows=job.total_rows, heartbeat_at=timezone.now())
            plan = plan_columns(reader.headers, job.columns_mapping or {}, [d.name for d in definitions])
            runner = BatchRunner(
                job=job,
                validator=RowValidator(plan, definitions),
                attempt=job.attempts,
                after_batch=progress,
            )
            finished = runner.run(iter(reader), lambda: _cancel_requested(job))
    except JobTakenOver:
        logger.warning("Import job %s was taken over by another worker", job.public_id)
        return job
    except ApplicationError as error:
        _finish(job, ImportJob.Status.FAILED, error.message)
        return job
    except Exception as error:
        logger.exception("Import job %s failed", job.public_id)
        _finish(job, ImportJob.Status.FAILED, f"Unexpected error while importing ({type(error).__name__})")
        return job
    if finished:
        _finish(job, ImportJob.Status.COMPLETED)
    else:
        _finish(job, ImportJob.Status.CANCELLED, "Cancelled on request")
    if runner.changed_anything:
        _rematerialize_rule_audiences()
    return job


def run_import_job(job_pk: int) -> str | None:
    """The RQ task: recover other jobs whose worker died, claim this one, process it. Answers the final status."""
    try:
        recover_stale_jobs(exclude_pk=job_pk)
    except Exception:
        logger.exception("Recovering stale import jobs failed")
    job = _claim(job_pk)
    if job is None:
        return None
    return process_job(job).status
