"""What the benchmarks share: a PostgreSQL database of their own, Django set up against it, timing, and a results
table printed as Markdown (see `../shared/design.md`, "Performance: how it is judged": figures are ratios to the
hand-written SQL floor, measured in the same run on the same machine)."""

import os
import resource
import secrets
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432"


def database_url(name: str) -> str:
    """The benchmark's database: BENCH_DATABASE_URL when set, else `name` on the local server."""
    return os.environ.get("BENCH_DATABASE_URL") or f"{DEFAULT_SERVER_URL}/{name}"


def recreate_database(url: str) -> None:
    """Drop and create the database named by `url`. Only a database whose name says "bench" is ever dropped, so a
    mistyped URL cannot take the development or test databases with it."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to recreate {name!r}: a benchmark database's name contains 'bench'")
    maintenance = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def setup_django(url: str, *, redis_url: str = "", queue_prefix: str = "") -> None:
    """Settings as in production (DEBUG off, so no query log grows in memory), this database; jobs in-process unless
    a Redis is given (then on RQ queues with this prefix)."""
    os.environ.update(DATABASE_URL=url, DEBUG="false", REDIS_URL=redis_url)
    if queue_prefix:
        os.environ["RQ_QUEUE_PREFIX"] = queue_prefix
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


def execute(sql: str, params: Sequence | None = None) -> list[tuple]:
    """Run SQL on Django's connection (the one Roster's queries use, so both pay the same driver costs)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description else []


@contextmanager
def bulk_load(tables: Sequence[str]) -> Iterator[None]:
    """Load generated rows the way a restore does: indexes that back no constraint are dropped and rebuilt after,
    and foreign-key triggers are off meanwhile (the generator keeps references valid). Only for the benchmark's own
    database: it needs a superuser for the triggers, and without one simply leaves them on."""
    from django.db import DatabaseError

    definitions = execute(
        """
        SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index AS i
        WHERE i.indrelid = ANY(%s::regclass[])
          AND NOT EXISTS (SELECT 1 FROM pg_constraint AS c WHERE c.conindid = i.indexrelid)
        """,
        [list(tables)],
    )
    for name, _ in definitions:
        execute(f"DROP INDEX {name}")
    try:
        execute("SET session_replication_role = replica")
    except DatabaseError:
        log("  (not a superuser: foreign-key checks stay on during the load)")
    try:
        yield
    finally:
        execute("SET session_replication_role = DEFAULT")
        execute("SET maintenance_work_mem = '256MB'")
        for _, definition in definitions:
            execute(definition)
        execute("RESET maintenance_work_mem")


class TimedOut(Exception):
    pass


def run_limited(run: Callable[[], object], *, timeout: float) -> float:
    """Seconds taken by `run`, each of its statements cut off by PostgreSQL after `timeout` seconds (TimedOut)."""
    from django.db import OperationalError

    execute(f"SET statement_timeout = {int(timeout * 1000)}")
    try:
        started = time.perf_counter()
        run()
        return time.perf_counter() - started
    except OperationalError as error:
        if getattr(error.__cause__, "sqlstate", None) == "57014":  # query_canceled
            raise TimedOut from error
        raise
    finally:
        execute("RESET statement_timeout")


def peak_memory_mb() -> float:
    """The process's peak resident memory so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Stopwatch:
    def __enter__(self) -> "Stopwatch":
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started


def timed(run: Callable[[], object], *, repeat: int, before: Callable[[], object] | None = None) -> list[float]:
    """Seconds taken by `run`, `repeat` times; `before` runs untimed ahead of each repetition."""
    seconds = []
    for _ in range(repeat):
        if before is not None:
            before()
        started = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - started)
    return seconds


@dataclass
class Result:
    """One measured thing: Roster's times against the floor's (the same answer written by hand in SQL)."""

    name: str
    roster: list[float]
    floor: list[float] | None = None
    note: str = ""
    # Roster's run was cut off after this many seconds (its time is then a lower bound).
    timed_out_after: float | None = None

    @property
    def roster_median(self) -> float:
        return statistics.median(self.roster)

    @property
    def floor_median(self) -> float | None:
        return statistics.median(self.floor) if self.floor else None

    @property
    def ratio(self) -> float | None:
        floor = self.floor_median
        return self.roster_median / floor if floor else None


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def results_table(results: Sequence[Result]) -> str:
    rows = []
    for result in results:
        ratio = result.ratio
        timed_out = result.timed_out_after is not None
        rows.append(
            [
                result.name,
                f"> {format_seconds(result.timed_out_after)} (cut off)"
                if timed_out
                else format_seconds(result.roster_median),
                format_seconds(result.floor_median),
                ("> " if timed_out else "") + (f"{ratio:.2f}x" if ratio is not None else "–"),
                f"{format_seconds(min(result.roster))} – {format_seconds(max(result.roster))}",
                result.note,
            ]
        )
    headers = ["measure", "Roster (median)", "hand SQL (median)", "ratio", "Roster min – max", "target / note"]
    return markdown_table(headers, rows)


def log(message: str) -> None:
    """Progress goes to stderr, so that stdout carries only the Markdown results."""
    print(message, file=sys.stderr, flush=True)
