"""Imports at a million rows: Roster's `create_update` import, run by a real RQ worker process, against the raw floor
(COPY into a staging table, then the set-based upsert and the list membership insert, written by hand in SQL),
measured in one run on one machine; and the worker's peak memory, to show it stays flat.

    .venv/bin/python bench/imports.py                     # 100,000 rows, a quick run (about a minute)
    .venv/bin/python bench/imports.py --rows 1000000      # the figures in the README

It generates a CSV of seven columns (email, first and last name, signup date, two custom fields, a notes column that
is not imported), drops and recreates its own database (`roster_bench_imports` on postgres@127.0.0.1, or
BENCH_DATABASE_URL; it refuses any name without "bench") and uses Redis (BENCH_REDIS_URL, default
redis://127.0.0.1:6379/14, queue names prefixed `bench_imports_`). Each Roster import is queued as the API would,
then a fresh `manage.py rqworker --burst` process runs it; its peak resident memory comes from the kernel
(`wait4`'s ru_maxrss). Progress goes to stderr; the results, as Markdown, to stdout.
"""

import argparse
import csv
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    REPO,
    Result,
    Stopwatch,
    database_url,
    execute,
    format_seconds,
    log,
    markdown_table,
    migrate,
    recreate_database,
    results_table,
    setup_django,
)

DATABASE_NAME = "roster_bench_imports"
QUEUE_PREFIX = "bench_imports_"
MEMORY_PROBE_ROWS = 100_000

HEADER = ["Email", "FirstName", "LastName", "SignupDate", "CustomerType", "LifetimeValue", "Notes"]
MAPPING = {
    "Email": "email",
    "FirstName": "first_name",
    "LastName": "last_name",
    "SignupDate": "created_at",
    "CustomerType": "additional_fields_data.customer_type",
    "LifetimeValue": "additional_fields_data.lifetime_value",
}
CUSTOMER_TYPES = ("premium", "standard", "trial", "enterprise")
FIRST_NAMES = "Ana Ben Chloe Dan Eva Finn Gina Hugo Iris Jon Kai Lea Max Nina Omar Pia Quinn Rosa Sam Tara".split()
LAST_NAMES = "Adams Brown Clark Davis Evans Frost Green Hall Irwin Jones King Lee Moore Nash Owen Park Reed".split()
DOMAINS = ("example.com", "example.org", "mail.example.net", "corp.example.co.uk", "Example.IO")

# The floor: what a person who knows PostgreSQL would write by hand for the same import.
FLOOR_STAGING = """
CREATE TEMP TABLE floor_staging (email text, first_name text, last_name text, signup text, customer_type text,
                                 lifetime_value text, notes text)
"""
FLOOR_UPSERT = """
INSERT INTO subscribers_subscriber AS s (public_id, email, first_name, last_name, active, inactive_reason,
                                         additional_fields_data, token_version, created_at, updated_at, version)
SELECT 'sub_' || left(md5(email || random()::text), 16), email, COALESCE(first_name, ''), COALESCE(last_name, ''),
       true, '',
       jsonb_strip_nulls(jsonb_build_object('customer_type', NULLIF(customer_type, ''),
                                            'lifetime_value', NULLIF(lifetime_value, '')::numeric)),
       1, COALESCE(NULLIF(signup, '')::timestamptz, now()), NULL, 1
FROM floor_staging
ON CONFLICT ((lower(email))) DO UPDATE SET
    first_name = CASE WHEN EXCLUDED.first_name = '' THEN s.first_name ELSE EXCLUDED.first_name END,
    last_name = CASE WHEN EXCLUDED.last_name = '' THEN s.last_name ELSE EXCLUDED.last_name END,
    additional_fields_data = s.additional_fields_data || EXCLUDED.additional_fields_data,
    version = s.version + 1, updated_at = now()
"""
FLOOR_MEMBERSHIP = """
INSERT INTO audiences_listmembership (marketing_list_id, subscriber_id, created_at)
SELECT %s, s.id, now() FROM floor_staging AS st JOIN subscribers_subscriber AS s ON lower(s.email) = lower(st.email)
ON CONFLICT DO NOTHING
"""


def generate_csv(path: Path, rows: int) -> None:
    """Deterministic rows; one in a hundred leaves the custom fields empty, one in fifty the last name."""
    draw = random.Random(20240315)  # noqa: S311 - test data
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(HEADER)
        for i in range(rows):
            first, last = draw.choice(FIRST_NAMES), draw.choice(LAST_NAMES)
            empty_fields = i % 100 == 0
            writer.writerow(
                [
                    f"{first.lower()}.{last.lower()}.{i}@{DOMAINS[i % len(DOMAINS)]}",
                    first,
                    "" if i % 50 == 0 else last,
                    f"20{10 + i % 15}-{1 + i % 12:02d}-{1 + i % 28:02d}",
                    "" if empty_fields else CUSTOMER_TYPES[i % len(CUSTOMER_TYPES)],
                    "" if empty_fields else f"{draw.random() * 10000:.2f}",
                    f"note {i}",
                ]
            )


def empty_tables() -> None:
    execute("TRUNCATE subscribers_subscriber, audiences_listmembership, imports_importrowerror CASCADE")
    execute("VACUUM ANALYZE subscribers_subscriber")
    execute("VACUUM ANALYZE audiences_listmembership")
    execute("CHECKPOINT")


def floor_import(path: Path, list_pk: int) -> float:
    """COPY the file into a staging table, upsert, add to the list: one transaction, timed from the first byte."""
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(FLOOR_STAGING)
        with path.open("rb") as file, cursor.cursor.copy("COPY floor_staging FROM STDIN (FORMAT csv, HEADER)") as copy:
            while chunk := file.read(1 << 20):
                copy.write(chunk)
        cursor.execute(FLOOR_UPSERT)
        cursor.execute(FLOOR_MEMBERSHIP, [list_pk])
        cursor.execute("DROP TABLE floor_staging")
    return time.perf_counter() - started


def worker_env(url: str, redis_url: str, data_dir: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "RQ_QUEUE_PREFIX": QUEUE_PREFIX,
        "ROSTER_DATA_DIR": data_dir,
        "DEBUG": "false",
    }


def run_worker(env: dict[str, str]) -> int:
    """Run a burst worker over the imports queue to its end; answers its peak resident memory in KiB."""
    from core.jobs import queue_name

    process = subprocess.Popen(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", "rqworker", queue_name("imports"), "--burst"]
        + ["--worker-class", "rq.worker.SimpleWorker"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"the worker exited with {process.returncode}")
    return usage.ru_maxrss


def roster_import(path: Path, marketing_list, env: dict[str, str]) -> tuple[float, float, int, object]:
    """Queue a create_update import as the API does, run it on a worker process. Answers the job's own time (claimed
    to finished), the time from queueing to finished (worker start-up included), the worker's peak KiB, the job."""
    from imports.models import ImportJob
    from imports.services import import_job_create

    queued = time.perf_counter()
    job = import_job_create(
        marketing_list=marketing_list,
        file_url=str(path),
        local_path=str(path),
        import_type=ImportJob.ImportType.CREATE_UPDATE,
        columns_mapping=MAPPING,
    )
    peak_kib = run_worker(env)
    total = time.perf_counter() - queued
    job.refresh_from_db()
    if job.status != ImportJob.Status.COMPLETED:
        raise SystemExit(f"the import ended {job.status}: {job.failure_reason}")
    return (job.finished_at - job.started_at).total_seconds(), total, peak_kib, job


def mib(kib: int) -> str:
    return f"{kib / 1024:.0f} MB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    rows = args.rows

    url = database_url(DATABASE_NAME)
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    log(f"Recreating {url.rsplit('/', 1)[-1]} and migrating")
    recreate_database(url)
    setup_django(url, redis_url=redis_url, queue_prefix=QUEUE_PREFIX)
    migrate()

    from audiences.models import DEFAULT_AUDIENCE_ID, Audience, MarketingList
    from core.jobs import get_queue
    from subscribers.models import CustomField

    get_queue("imports").empty()
    get_queue("segments").empty()
    CustomField.objects.create(
        name="customer_type", field_type=CustomField.FieldType.DROPDOWN, values=list(CUSTOMER_TYPES)
    )
    CustomField.objects.create(name="lifetime_value", field_type=CustomField.FieldType.NUMBER)
    default = Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID)

    with tempfile.TemporaryDirectory(prefix="roster-bench-imports-") as scratch:
        directory = Path(scratch)
        env = worker_env(url, redis_url, str(directory / "data"))
        path = directory / "people.csv"
        with Stopwatch() as watch:
            generate_csv(path, rows)
        log(f"Generated {rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {watch.seconds:.1f} s")

        idle_kib = run_worker(env)
        log(f"An idle worker: {mib(idle_kib)}")
        memory_rows: list[list[str]] = []
        if rows > MEMORY_PROBE_ROWS:
            probe = directory / "probe.csv"
            with path.open(encoding="utf-8") as source, probe.open("w", encoding="utf-8") as target:
                for _, line in zip(range(MEMORY_PROBE_ROWS + 1), source, strict=False):
                    target.write(line)
            log(f"Memory probe: Roster imports {MEMORY_PROBE_ROWS:,} rows")
            probe_list = MarketingList.objects.create(name="Probe", audience=default)
            seconds, _, probe_kib, _ = roster_import(probe, probe_list, env)
            memory_rows.append([f"{MEMORY_PROBE_ROWS:,}", "first import", mib(probe_kib), format_seconds(seconds)])
            probe_list.delete()
            empty_tables()

        floor_list = MarketingList.objects.create(name="Floor", audience=default)
        log("Floor: first import (COPY, upsert, membership)")
        floor_first = floor_import(path, floor_list.pk)
        log(f"  {floor_first:.1f} s; re-import")
        floor_again = floor_import(path, floor_list.pk)
        log(f"  {floor_again:.1f} s")
        empty_tables()

        roster_list = MarketingList.objects.create(name="Roster", audience=default)
        log("Roster: first import through a worker")
        first_seconds, first_total, first_kib, first_job = roster_import(path, roster_list, env)
        log(f"  {first_seconds:.1f} s (queue to done {first_total:.1f} s), worker peak {mib(first_kib)}")
        log("Roster: re-import (all updates)")
        again_seconds, again_total, again_kib, again_job = roster_import(path, roster_list, env)
        log(f"  {again_seconds:.1f} s (queue to done {again_total:.1f} s), worker peak {mib(again_kib)}")

    members = roster_list.memberships.count()
    expected = (rows, 0, rows, 0, 0)
    invalid = first_job.invalid_contacts + again_job.invalid_contacts
    got = (first_job.created_contacts, first_job.updated_contacts, again_job.updated_contacts, members - rows, invalid)
    if got != expected:
        raise SystemExit(f"Roster's counts are off: created, updated, re-updated, extra members, invalid {got}")
    memory_rows += [
        [f"{rows:,}", "first import", mib(first_kib), format_seconds(first_seconds)],
        [f"{rows:,}", "re-import", mib(again_kib), format_seconds(again_seconds)],
    ]

    def note(seconds: float, total: float, kib: int) -> str:
        return f"≤ 2x; {rows / seconds:,.0f} rows/s; queue to done {format_seconds(total)}; worker peak {mib(kib)}"

    results = [
        Result(
            f"first import, {rows:,} new rows",
            [first_seconds],
            [floor_first],
            note(first_seconds, first_total, first_kib),
        ),
        Result(
            f"re-import, {rows:,} updates", [again_seconds], [floor_again], note(again_seconds, again_total, again_kib)
        ),
    ]
    print(f"## Imports: {rows:,} rows, create_update, 7 columns (2 custom fields), into a static list\n")
    print(results_table(results))
    print(f"\nFloor rows/s: first {rows / floor_first:,.0f}, re-import {rows / floor_again:,.0f}.\n")
    print("### Worker peak resident memory\n")
    print(markdown_table(["rows", "import", "worker peak RSS", "job time"], memory_rows))
    print(f"\nAn idle worker (Django loaded, no job): {mib(idle_kib)}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
