"""Creating and cancelling import jobs.

Rules for where an import may go:
- a list that exists (404 LIST_NOT_FOUND) and is not archived (400: archived lists take no imports);
- a static list: subscribers are created/updated and join the list; `remove_only` takes them out of it;
- a dynamic list: its members are its audience's, so `create_*`/`update_only` only create and update subscribers
  (who then join or not by the audience's rules) and `remove_only` is refused (400);
- an audience: imported subscribers become its manual members (`aud_default` holds everyone: no membership kept,
  and nobody can be removed from it); a loyalty tier takes no imports (its value field decides);
- one running import per list or audience: a second one while one is pending or processing is 409
  JOB_ALREADY_PROCESSING. Dry runs write nothing and are not counted.
"""

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.db import transaction
from django.utils import timezone

from audiences.models import Audience, MarketingList
from core.errors import ApplicationError, Issue, NotFound
from imports.errors import InvalidImportFile, JobAlreadyProcessing
from imports.fetch import upload_public_id_for
from imports.models import ImportJob, Upload
from imports.reports import error_report_url, error_report_write
from imports.rows import mapping_target_problem
from imports.tasks import enqueue_import, process_job, start_next_queued
from imports.uploads import upload_count_rows

RUNNING = (ImportJob.Status.PENDING, ImportJob.Status.PROCESSING)
FILE_NAME_MAX_LENGTH = ImportJob._meta.get_field("file_name").max_length


class ListNotFound(NotFound):
    code = "LIST_NOT_FOUND"
    default_message = "List not found"


class InvalidImport(ApplicationError):
    code = "VALIDATION_ERROR"
    default_message = "Invalid import request"


def _check_mapping(columns_mapping: Mapping[str, Any] | None) -> dict[str, str]:
    if not columns_mapping:
        return {}
    if not isinstance(columns_mapping, Mapping):
        raise InvalidImport.on("columns_mapping", "must be an object of column header to field")
    issues = [
        Issue(f"columns_mapping.{header}", problem)
        for header, target in columns_mapping.items()
        if (problem := mapping_target_problem(target))
    ]
    targets = [str(t).strip() for t in columns_mapping.values()]
    if "email" not in targets:
        issues.append(Issue("columns_mapping", "one column must map to email"))
    if issues:
        raise InvalidImport(issues=issues)
    return {str(header): str(target).strip() for header, target in columns_mapping.items()}


def _check_target(*, marketing_list: MarketingList | None, audience: Audience | None, import_type: str) -> None:
    if audience is not None:
        if audience.group_id:
            raise InvalidImport.on("audience_id", "A tier's members follow its value field; they cannot be imported")
        if audience.is_default and import_type == ImportJob.ImportType.REMOVE_ONLY:
            raise InvalidImport.on("import_type", "Every subscriber is in the default audience; nobody can be removed")
        return
    if marketing_list.archived:
        raise InvalidImport.on("list_id", "The list is archived and takes no imports; unarchive it first")
    if marketing_list.is_dynamic and import_type == ImportJob.ImportType.REMOVE_ONLY:
        raise InvalidImport.on(
            "import_type", "This list is dynamic: its members are its audience's; remove_only cannot apply to it"
        )


def import_target_check(
    *,
    marketing_list: MarketingList | None = None,
    audience: Audience | None = None,
    import_type: str = ImportJob.ImportType.CREATE_UPDATE,
) -> None:
    """Raise InvalidImport when the list or audience takes no import of this type, for a form (the admin's import
    wizard) that asks before any file is read. `import_job_create` checks again."""
    _check_target(marketing_list=marketing_list, audience=audience, import_type=import_type)


def import_job_create(
    *,
    file_url: str,
    import_type: str,
    marketing_list: MarketingList | None = None,
    audience: Audience | None = None,
    columns_mapping: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    queue_behind: bool = False,
    local_path: str = "",
    run_inline: bool = False,
    progress: Callable[[ImportJob], None] | None = None,
) -> ImportJob:
    """Create a job (pending) and queue it after the commit. A dry run is processed now, in this request, and
    answered completed (or failed), having written nothing but the job and its row errors. With `queue_behind`
    (the jobs array of a list request) the job waits for the one before it instead of being refused. With
    `run_inline` (the import_subscribers command) it is processed now, reading `local_path` if given."""
    job = _job_create(
        file_url=file_url,
        import_type=import_type,
        marketing_list=marketing_list,
        audience=audience,
        columns_mapping=columns_mapping,
        dry_run=dry_run,
        queue_behind=queue_behind,
        local_path=local_path,
        enqueue=not (dry_run or run_inline),
    )
    if dry_run or run_inline:
        # Outside the creating transaction: each batch commits with its progress, as on a worker.
        job.status = ImportJob.Status.PROCESSING
        job.attempts = 1
        job.started_at = job.heartbeat_at = timezone.now()
        job.save(update_fields=["status", "attempts", "started_at", "heartbeat_at"])
        process_job(job, progress=progress)
        job.refresh_from_db()
        if dry_run and job.status == ImportJob.Status.FAILED:
            raise InvalidImportFile(job.failure_reason, issues=[Issue("file_url", job.failure_reason)])
    return job


def _check_file_url(file_url: str, *, local_path: str) -> tuple[str, Upload | None]:
    """What can be known without fetching: the scheme, and whether an upload reference names an upload. Answers the
    file's name (an upload's original name, a local file's name, or the last segment of the URL's path) and the
    upload it names, if any."""
    if local_path:
        return Path(local_path).name[:FILE_NAME_MAX_LENGTH], None
    upload_id = upload_public_id_for(file_url)
    if upload_id is not None:
        upload = Upload.objects.filter(public_id=upload_id).first()
        if upload is None:
            raise InvalidImportFile(f"Upload {upload_id} does not exist", issues=[Issue("file_url", "unknown upload")])
        return upload.original_name[:FILE_NAME_MAX_LENGTH] or upload_id, upload
    if not file_url.lower().startswith(("http://", "https://")):
        raise InvalidImportFile(
            "file_url must be an http(s) URL or a Roster upload's file_url",
            issues=[Issue("file_url", "expected http(s)://... or the file_url answered by POST /api/uploads")],
        )
    return file_name_of_url(file_url), None


def _count_upload_rows(upload: Upload) -> int:
    try:
        return upload_count_rows(upload)
    except InvalidImportFile as error:
        raise InvalidImportFile(error.message, issues=[Issue("file_url", error.message)]) from None


def file_name_of_url(file_url: str) -> str:
    """The last non-empty segment of a URL's path, percent-decoded: `people.csv` for
    `https://example.com/exports/people.csv?sig=x`; the host when the path has none."""
    parts = urlsplit(file_url)
    segments = [segment for segment in parts.path.split("/") if segment]
    name = unquote(segments[-1]) if segments else parts.hostname or ""
    return name[:FILE_NAME_MAX_LENGTH]


def _job_create(
    *,
    file_url: str,
    import_type: str,
    marketing_list: MarketingList | None,
    audience: Audience | None,
    columns_mapping: Mapping[str, Any] | None,
    dry_run: bool,
    queue_behind: bool,
    local_path: str,
    enqueue: bool,
) -> ImportJob:
    if (marketing_list is None) == (audience is None):
        raise TypeError("an import goes into exactly one list or audience")
    if import_type not in ImportJob.ImportType.values:
        raise InvalidImport.on("import_type", f"must be one of {', '.join(ImportJob.ImportType.values)}")
    mapping = _check_mapping(columns_mapping)
    file_url = file_url.strip()
    file_name, upload = _check_file_url(file_url, local_path=local_path)
    _check_target(marketing_list=marketing_list, audience=audience, import_type=import_type)
    # An uploaded file is here already: counted now (before any lock is taken), so the job answers its total from
    # the start and a file that is not CSV or XLSX is refused before a job exists. A remote file is counted once a
    # worker has fetched it.
    total_rows = _count_upload_rows(upload) if upload is not None else 0
    with transaction.atomic():
        if not dry_run:
            # Lock the owner row so two concurrent requests cannot both see "no running job".
            owner = marketing_list or audience
            type(owner).objects.select_for_update().filter(pk=owner.pk).first()
            running = ImportJob.objects.filter(status__in=RUNNING, dry_run=False)
            if marketing_list:
                running = running.filter(marketing_list=marketing_list)
            else:
                running = running.filter(audience=audience)
            if running.exists():
                if not queue_behind:
                    raise JobAlreadyProcessing()
                enqueue = False  # started when the job before it finishes
        job = ImportJob.objects.create(
            marketing_list=marketing_list,
            audience=audience,
            file_url=file_url,
            file_name=file_name,
            import_type=import_type,
            columns_mapping=mapping,
            dry_run=dry_run,
            local_path=local_path,
            total_rows=total_rows,
        )
        if enqueue:
            enqueue_import(job)
    return job


def import_jobs_create_for_list(*, marketing_list: MarketingList, jobs: Iterable[Mapping[str, Any]]) -> list[ImportJob]:
    """The `jobs` array of list create and update: each entry starts an import into the list."""
    return [
        import_job_create(
            marketing_list=marketing_list,
            file_url=entry["file_url"],
            import_type=entry["import_type"],
            columns_mapping=entry.get("columns_mapping"),
            queue_behind=True,
        )
        for entry in jobs
    ]


def import_job_cancel(*, job: ImportJob) -> ImportJob:
    """A pending job is cancelled at once; a processing one stops before its next batch (what was applied stays).

    Each step is one conditional UPDATE of the job's row, never a read-then-write transaction: on SQLite (embedded
    mode) the import's batches hold the only write lock in turn, and a cancel only has to wait for the current batch
    to commit. The conditions make a cancel racing the job's claim or its end land on exactly one state."""
    jobs = ImportJob.objects.filter(pk=job.pk)
    now = timezone.now()
    if jobs.filter(status=ImportJob.Status.PENDING).update(
        status=ImportJob.Status.CANCELLED, cancel_requested=True, finished_at=now, failure_reason="Cancelled on request"
    ):
        owner_jobs = ImportJob.objects.filter(marketing_list_id=job.marketing_list_id, audience_id=job.audience_id)
        if not owner_jobs.filter(status=ImportJob.Status.PROCESSING).exists():
            start_next_queued(job)
    elif not jobs.filter(status=ImportJob.Status.PROCESSING).update(cancel_requested=True):
        status = jobs.values_list("status", flat=True).first() or job.status
        raise InvalidImport.on("status", f"The job is already {status}")
    job.refresh_from_db()
    return job


def import_job_error_report_url(*, job: ImportJob) -> str | None:
    """The expiring link to the job's error report, or None when no row was invalid. A job still running gets its
    report so far (written now if it has none yet), as the API's errors/download does."""
    if not job.row_errors.exists():
        return None
    if not job.error_report:
        error_report_write(job)
        ImportJob.objects.filter(pk=job.pk).update(error_report=job.error_report)
    return error_report_url(job)
