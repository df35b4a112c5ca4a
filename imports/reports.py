"""Error reports of import jobs: a CSV of the invalid rows, reached through an expiring signed link.

Invariant: every cell that a spreadsheet would read as a formula (starting with = + - @, tab or carriage return)
is written with a leading apostrophe, so opening a report never runs what an imported file smuggled in."""

import csv
import io
import tempfile
from typing import IO

from django.conf import settings
from django.core import signing
from django.core.files import File

from imports.models import ImportJob

REPORT_COLUMNS = ("row_number", "email", "error_type", "message", "details", "suggested_fix")
LINK_SALT = "imports.error-report"
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def link_max_age() -> int:
    return settings.IMPORT_ERROR_LINK_MAX_AGE_SECONDS


def neutralize(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def write_error_rows(job: ImportJob, out: IO[str]) -> None:
    writer = csv.writer(out)
    writer.writerow(REPORT_COLUMNS)
    rows = job.row_errors.order_by("row_number", "pk").values_list(*REPORT_COLUMNS).iterator(chunk_size=2000)
    for row in rows:
        writer.writerow([row[0], *(neutralize(cell) for cell in row[1:])])


def error_report_csv(job: ImportJob) -> str:
    buffer = io.StringIO()
    write_error_rows(job, buffer)
    return buffer.getvalue()


def error_report_write(job: ImportJob) -> None:
    """(Re)write the job's report file from its ImportRowError rows, through a temporary file so that memory stays
    flat however many rows were invalid; the caller saves `error_report`."""
    if job.error_report:
        job.error_report.delete(save=False)
    with tempfile.TemporaryFile() as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        write_error_rows(job, text)
        text.flush()
        raw.seek(0)
        job.error_report.save(f"{job.public_id}_errors.csv", File(raw), save=False)
        text.detach()


def error_report_token(job: ImportJob) -> str:
    return signing.dumps({"job": job.public_id}, salt=LINK_SALT, compress=True)


def job_from_token(token: str) -> str | None:
    """The public id of the job a valid, unexpired token names, or None."""
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=link_max_age())
    except signing.BadSignature:
        return None
    return data.get("job") if isinstance(data, dict) else None


def error_report_url(job: ImportJob) -> str:
    """An expiring link to the report, served without an API key (the token is the authorization)."""
    owner = f"lists/{job.marketing_list.public_id}" if job.marketing_list_id else f"audiences/{job.audience.public_id}"
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/api/{owner}/jobs/{job.public_id}/errors/file?token={error_report_token(job)}"
