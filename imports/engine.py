"""The batch processor of an import: apply validated rows in batches (the rows themselves: imports/rows.py).

Each batch is applied in one transaction together with the job's counters, `processed_rows`, `last_batch` and
heartbeat, so a job whose worker died resumes after its last committed row and nothing is applied twice. On
PostgreSQL a batch is set-based: COPY into a temporary staging table, then one statement that upserts the rows and
adds them to the list or audience; the portable path (SQLite) uses bulk ORM calls. Invalid rows become ImportRowError
rows and never stop the job.
"""

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Exists, F, OuterRef
from django.db.models.functions import Lower
from django.utils import timezone

from audiences.capacity import list_room, lists_lock_for_adding
from audiences.models import AudienceMembership, ListMembership
from core.ids import PUBLIC_ID_RANDOM_LENGTH
from imports.models import ImportJob, ImportRowError
from imports.rows import CleanRow, RowProblem, RowValidator
from subscribers.models import Subscriber
from subscribers.services.catalog import custom_fields_discover

_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

_ID_BYTE_LIMIT = 62 * 4  # bytes below 248 map onto the alphabet without bias; the rest are dropped
_ID_TRANSLATION = bytes(_ID_ALPHABET[b % 62].encode()[0] for b in range(256))
_ID_REJECTED = bytes(range(_ID_BYTE_LIMIT, 256))


def new_subscriber_ids(count: int) -> list[str]:
    """`sub_` + 16 base-62 characters each (the shape of core.ids), from os.urandom in one go: a few hundred
    nanoseconds an id instead of 16 `secrets.choice` calls."""
    width = PUBLIC_ID_RANDOM_LENGTH
    pool = b""
    while len(pool) < count * width:
        pool += os.urandom((count * width - len(pool)) * 9 // 8 + 16).translate(None, _ID_REJECTED)
    text = pool[: count * width].translate(_ID_TRANSLATION).decode()
    return ["sub_" + text[i : i + width] for i in range(0, count * width, width)]


def new_subscriber_id() -> str:
    return new_subscriber_ids(1)[0]


# --- applying a batch ------------------------------------------------------------------------------------------------


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    removed: int = 0
    skipped: int = 0


@dataclass(frozen=True)
class Target:
    """Where imported subscribers become members: a static list, an audience's manual members, or nowhere (a dynamic
    list, whose audience decides, or the default audience, which holds everyone)."""

    list_pk: int | None = None
    audience_pk: int | None = None


def target_of(job: ImportJob) -> Target:
    if job.marketing_list_id:
        return Target(list_pk=None if job.marketing_list.is_dynamic else job.marketing_list_id)
    if job.audience_id and not job.audience.is_default:
        return Target(audience_pk=job.audience_id)
    return Target()


def existing_keys(keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found.update(
            Subscriber.objects.annotate(key=Lower("email")).filter(key__in=chunk).values_list("key", flat=True)
        )
    return found


def use_fast_path() -> bool:
    return connection.vendor == "postgresql"


_STAGING_COLUMNS = ("public_id", "email", "email_key", "first_name", "last_name", "created_at", "fields")


def _stage(rows: list[CleanRow]) -> None:
    with connection.cursor() as cursor:
        # ON COMMIT DROP cleans up after a batch; inside an outer transaction (a test, a dry run) the last one stays.
        cursor.execute(
            "DROP TABLE IF EXISTS pg_temp.import_staging; "
            "CREATE TEMP TABLE import_staging (public_id varchar(64), email varchar(254), email_key varchar(254), "
            "first_name varchar(150), last_name varchar(150), created_at timestamptz, fields jsonb) ON COMMIT DROP"
        )
        ids = new_subscriber_ids(len(rows))
        dumps = json.dumps
        with cursor.cursor.copy(f"COPY import_staging ({', '.join(_STAGING_COLUMNS)}) FROM STDIN") as copy:
            for public_id, row in zip(ids, rows, strict=True):
                copy.write_row(
                    (public_id, row.email, row.key, row.first_name, row.last_name, row.created_at, dumps(row.fields))
                )


_SUB = Subscriber._meta.db_table
_LIST_MEMBERS = ListMembership._meta.db_table
_AUDIENCE_MEMBERS = AudienceMembership._meta.db_table
_MANUAL = AudienceMembership.MANUAL
_CHANGED = (
    "(EXCLUDED.first_name <> '' AND EXCLUDED.first_name <> s.first_name) "
    "OR (EXCLUDED.last_name <> '' AND EXCLUDED.last_name <> s.last_name) "
    "OR NOT (s.additional_fields_data @> EXCLUDED.additional_fields_data)"
)
_CHANGED_FROM_STAGING = _CHANGED.replace("EXCLUDED.additional_fields_data", "st.fields").replace("EXCLUDED.", "st.")
_UPSERT = f"""
INSERT INTO {_SUB} AS s (public_id, email, first_name, last_name, active, inactive_reason, additional_fields_data,
                         token_version, created_at, updated_at, version)
SELECT public_id, email, first_name, last_name, true, '', fields, 1, COALESCE(created_at, %(now)s), NULL, 1
FROM import_staging ORDER BY email_key
ON CONFLICT ((lower(email))) {{action}}
RETURNING s.id, (s.xmax = 0) AS inserted
"""  # noqa: S608 - table names from the models; values are parameters
_ON_CONFLICT_UPDATE = f"""DO UPDATE SET
    first_name = CASE WHEN EXCLUDED.first_name = '' THEN s.first_name ELSE EXCLUDED.first_name END,
    last_name = CASE WHEN EXCLUDED.last_name = '' THEN s.last_name ELSE EXCLUDED.last_name END,
    additional_fields_data = s.additional_fields_data || EXCLUDED.additional_fields_data,
    version = s.version + CASE WHEN {_CHANGED} THEN 1 ELSE 0 END,
    updated_at = CASE WHEN {_CHANGED} THEN %(now)s ELSE s.updated_at END"""
_UPDATE_ONLY = f"""
UPDATE {_SUB} AS s SET
    first_name = CASE WHEN st.first_name = '' THEN s.first_name ELSE st.first_name END,
    last_name = CASE WHEN st.last_name = '' THEN s.last_name ELSE st.last_name END,
    additional_fields_data = s.additional_fields_data || st.fields,
    version = s.version + CASE WHEN {_CHANGED_FROM_STAGING} THEN 1 ELSE 0 END,
    updated_at = CASE WHEN {_CHANGED_FROM_STAGING} THEN %(now)s ELSE s.updated_at END
FROM import_staging AS st WHERE lower(s.email) = st.email_key
RETURNING s.id, false AS inserted
"""  # noqa: S608
# The rows just written join the target in the same statement: their ids never travel to Python and back.
_JOIN_LIST = f"""
, members AS (INSERT INTO {_LIST_MEMBERS} (marketing_list_id, subscriber_id, created_at)
    SELECT %(owner)s, id, %(now)s FROM applied ON CONFLICT DO NOTHING)"""  # noqa: S608
_JOIN_AUDIENCE = f"""
, members AS (INSERT INTO {_AUDIENCE_MEMBERS} AS m (audience_id, subscriber_id, source, created_at)
    SELECT %(owner)s, id, {_MANUAL}, %(now)s FROM applied ON CONFLICT (audience_id, subscriber_id)
    DO UPDATE SET source = m.source | {_MANUAL} WHERE (m.source & {_MANUAL}) = 0)"""  # noqa: S608


def _fast_apply(import_type: str, rows: list[CleanRow], defaults: dict[str, Any], target: Target) -> Counts:
    """Stage, upsert and add to the target in one statement on PostgreSQL; answers the counts."""
    _stage(rows)
    if import_type == ImportJob.ImportType.UPDATE_ONLY:
        write = _UPDATE_ONLY
    else:
        write = _UPSERT.format(
            action="DO NOTHING" if import_type == ImportJob.ImportType.CREATE_ONLY else _ON_CONFLICT_UPDATE
        )
    members = _JOIN_LIST if target.list_pk else _JOIN_AUDIENCE if target.audience_pk else ""
    created_ids = "array_agg(id) FILTER (WHERE inserted)" if defaults else "NULL"
    statement = (
        f"WITH applied AS ({write}){members}\n"
        f"SELECT count(*) FILTER (WHERE inserted), count(*), {created_ids} FROM applied"  # noqa: S608
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, {"now": timezone.now(), "owner": target.list_pk or target.audience_pk})
        created, written, created_pks = cursor.fetchone()
        if created_pks:
            cursor.execute(
                f"UPDATE {_SUB} SET additional_fields_data = %s::jsonb || additional_fields_data "  # noqa: S608
                "WHERE id = ANY(%s)",
                (json.dumps(defaults), created_pks),
            )
    return Counts(created=created, updated=written - created, skipped=len(rows) - written)


def _portable_apply(import_type: str, rows: list[CleanRow], defaults: dict[str, Any]) -> tuple[list[int], Counts]:
    counts = Counts()
    existing: dict[str, Subscriber] = {}
    keys = [row.key for row in rows]
    for start in range(0, len(keys), 500):
        for subscriber in Subscriber.objects.annotate(key=Lower("email")).filter(key__in=keys[start : start + 500]):
            existing[subscriber.key] = subscriber
    now = timezone.now()
    creates: list[Subscriber] = []
    updates: list[Subscriber] = []
    member_pks: list[int] = []
    for row in rows:
        subscriber = existing.get(row.key)
        if subscriber is None:
            if import_type == ImportJob.ImportType.UPDATE_ONLY:
                counts.skipped += 1
                continue
            creates.append(
                Subscriber(
                    public_id=new_subscriber_id(),
                    email=row.email,
                    first_name=row.first_name,
                    last_name=row.last_name,
                    additional_fields_data={**defaults, **row.fields},
                    created_at=row.created_at or now,
                )  # fmt: skip
            )
            continue
        if import_type == ImportJob.ImportType.CREATE_ONLY:
            counts.skipped += 1
            continue
        merged = {**subscriber.additional_fields_data, **row.fields}
        changed = (
            (row.first_name and row.first_name != subscriber.first_name)
            or (row.last_name and row.last_name != subscriber.last_name)
            or merged != subscriber.additional_fields_data
        )
        subscriber.first_name = row.first_name or subscriber.first_name
        subscriber.last_name = row.last_name or subscriber.last_name
        subscriber.additional_fields_data = merged
        if changed:
            subscriber.version += 1
            subscriber.updated_at = now
        updates.append(subscriber)
    Subscriber.objects.bulk_create(creates)
    Subscriber.objects.bulk_update(
        updates, ["first_name", "last_name", "additional_fields_data", "version", "updated_at"], batch_size=500
    )
    counts.created, counts.updated = len(creates), len(updates)
    member_pks = [s.pk for s in creates] + [s.pk for s in updates]
    return member_pks, counts


def _add_members(target: Target, pks: list[int]) -> None:
    """The portable path's membership writes (the fast path adds members in its upsert statement)."""
    if not pks:
        return
    now = timezone.now()
    if target.list_pk:
        ListMembership.objects.bulk_create(
            [ListMembership(marketing_list_id=target.list_pk, subscriber_id=pk, created_at=now) for pk in pks],
            ignore_conflicts=True,
            batch_size=5000,
        )
    elif target.audience_pk:
        manual = _MANUAL
        AudienceMembership.objects.filter(audience_id=target.audience_pk, subscriber_id__in=pks).exclude(
            source__in=(manual, manual | AudienceMembership.RULE)
        ).update(source=F("source").bitor(manual))
        AudienceMembership.objects.bulk_create(
            [AudienceMembership(audience_id=target.audience_pk, subscriber_id=pk, source=manual, created_at=now)
             for pk in pks],
            ignore_conflicts=True,
            batch_size=5000,
        )  # fmt: skip


def _remove_members(target: Target, rows: list[CleanRow]) -> Counts:
    keys = [row.key for row in rows]
    subscriber_pks = list(
        Subscriber.objects.annotate(key=Lower("email")).filter(key__in=keys).values_list("pk", flat=True)
    )
    removed = 0
    if target.list_pk:
        removed, _ = ListMembership.objects.filter(
            marketing_list_id=target.list_pk, subscriber_id__in=subscriber_pks
        ).delete()
    elif target.audience_pk:
        manual, rule = AudienceMembership.MANUAL, AudienceMembership.RULE
        memberships = AudienceMembership.objects.filter(
            audience_id=target.audience_pk, subscriber_id__in=subscriber_pks
        )
        removed = memberships.filter(source=manual | rule).update(source=rule)
        removed += memberships.filter(source=manual).delete()[0]
    return Counts(removed=removed, skipped=len(rows) - removed)


def _dry_counts(import_type: str, rows: list[CleanRow], existing: set[str], target: Target) -> Counts:
    counts = Counts()
    if import_type == ImportJob.ImportType.REMOVE_ONLY:
        keys = [row.key for row in rows if row.key in existing]
        members = Subscriber.objects.annotate(key=Lower("email")).filter(key__in=keys)
        if target.list_pk:
            members = members.filter(list_memberships__marketing_list_id=target.list_pk)
        elif target.audience_pk:
            members = members.filter(
                audience_memberships__audience_id=target.audience_pk,
                audience_memberships__source__in=(
                    AudienceMembership.MANUAL,
                    AudienceMembership.MANUAL | AudienceMembership.RULE,
                ),
            )
        else:
            members = members.none()
        counts.removed = members.count()
        counts.skipped = len(rows) - counts.removed
        return counts
    for row in rows:
        exists = row.key in existing
        if import_type == ImportJob.ImportType.CREATE_ONLY and exists:
            counts.skipped += 1
        elif import_type == ImportJob.ImportType.UPDATE_ONLY and not exists:
            counts.skipped += 1
        elif exists:
            counts.updated += 1
        else:
            counts.created += 1
    return counts


def joining_rows(import_type: str, rows: list[CleanRow], list_pk: int) -> list[CleanRow]:
    """The rows of a batch that would give the list a new member, in file order (one query a 500 rows): a new
    subscriber unless the import only updates, an existing non-member unless it only creates."""
    member: dict[str, bool] = {}
    keys = [row.key for row in rows]
    in_list = ListMembership.objects.filter(marketing_list_id=list_pk, subscriber_id=OuterRef("pk"))
    for start in range(0, len(keys), 500):
        found = Subscriber.objects.annotate(key=Lower("email")).filter(key__in=keys[start : start + 500])
        member.update(found.annotate(member=Exists(in_list)).values_list("key", "member"))
    if import_type == ImportJob.ImportType.CREATE_ONLY:
        return [row for row in rows if row.key not in member]
    if import_type == ImportJob.ImportType.UPDATE_ONLY:
        return [row for row in rows if member.get(row.key) is False]
    return [row for row in rows if not member.get(row.key)]


def _over_the_limit(row: CleanRow, code: str, reason: str) -> RowProblem:
    return RowProblem(row.row_number, row.email, code.lower(), reason, "the row was not imported",
                      "Make room in the list (or raise its limit) and import the rows left out again")  # fmt: skip


def create_missing_subscribers(rows: list[CleanRow], *, defaults: dict[str, Any]) -> int:
    """Create the subscribers of these validated rows (distinct emails) that do not exist yet, as a `create_only`
    import does: the custom fields' defaults, no consent recorded, their keys discovered. Answers how many it
    created. Contact files (imports.contacts) create subscribers this way."""
    if not rows:
        return 0
    if use_fast_path():
        counts = _fast_apply(ImportJob.ImportType.CREATE_ONLY, rows, defaults, Target())
    else:
        _, counts = _portable_apply(ImportJob.ImportType.CREATE_ONLY, rows, defaults)
    custom_fields_discover(values=[row.fields for row in rows if row.fields])
    return counts.created


class JobTakenOver(Exception):
    """Another worker resumed this job (this one was thought dead): this worker's batch is rolled back."""


@dataclass
class BatchRunner:
    """Applies a job's rows batch by batch, from `job.processed_rows` on."""

    job: ImportJob
    validator: RowValidator
    attempt: int
    batch_size: int = field(default_factory=lambda: settings.IMPORT_BATCH_SIZE)
    after_batch: Callable[[ImportJob], None] | None = None
    changed_anything: bool = False
    # Custom-field keys of the file that have a definition (or were discovered): no need to look them up again.
    known_keys: set[str] = field(default_factory=set)
    # A dry run adds nobody: the members its earlier batches would have added, for the size limits of the next ones.
    dry_joined: int = 0

    def run(self, rows: Iterator[tuple[int, dict[str, str]]], should_stop: Callable[[], bool]) -> bool:
        """Answers True when every row was processed, False when `should_stop` said so between batches."""
        try:
            return self._run(rows, should_stop)
        finally:
            with contextlib.suppress(DatabaseError):
                self.validator.seen.drop()

    def _run(self, rows: Iterator[tuple[int, dict[str, str]]], should_stop: Callable[[], bool]) -> bool:
        self.validator.seen.start()
        done = self.job.processed_rows
        index = 0
        batch: list[tuple[int, dict[str, str]]] = []
        for row_number, raw in rows:
            if index < done:
                self.validator.remember(raw)
                index += 1
                continue
            index += 1
            batch.append((row_number, raw))
            if len(batch) >= self.batch_size:
                if should_stop():
                    return False
                self.apply(batch)
                batch = []
        if batch:
            if should_stop():
                return False
            self.apply(batch)
        return True

    def apply(self, raw_rows: list[tuple[int, dict[str, str]]]) -> None:
        job = self.job
        target = target_of(job)
        creating = job.import_type in (ImportJob.ImportType.CREATE_ONLY, ImportJob.ImportType.CREATE_UPDATE)
        with transaction.atomic():
            clean, problems = self.validator.check_batch(raw_rows)
            existing: set[str] = set()
            if job.dry_run or (creating and self.validator.required_without_default):
                existing = existing_keys([row.key for row in clean])
            if creating and self.validator.required_without_default:
                kept = []
                for row in clean:
                    problem = None if row.key in existing else self.validator.missing_required(row)
                    (problems.append(problem) if problem else kept.append(row))
                clean = kept
            if target.list_pk and clean and job.import_type != ImportJob.ImportType.REMOVE_ONLY:
                clean = self._within_list_limits(target.list_pk, clean, problems)
            problems.sort(key=lambda problem: problem.row_number)
            if job.dry_run:
                counts = _dry_counts(job.import_type, clean, existing, target)
            elif not clean:
                counts = Counts()
            elif job.import_type == ImportJob.ImportType.REMOVE_ONLY:
                counts = _remove_members(target, clean)
            elif use_fast_path():
                counts = _fast_apply(job.import_type, clean, self.validator.defaults, target)
            else:
                member_pks, counts = _portable_apply(job.import_type, clean, self.validator.defaults)
                _add_members(target, member_pks)
            if clean and not job.dry_run and job.import_type != ImportJob.ImportType.REMOVE_ONLY:
                self._discover_custom_fields(clean)
            ImportRowError.objects.bulk_create([p.as_model(job) for p in problems])
            self._record(len(raw_rows), counts, len(problems))
        if counts.created or counts.updated or counts.removed:
            self.changed_anything = not job.dry_run
        if self.after_batch:
            self.after_batch(job)
        if settings.IMPORT_BATCH_PAUSE_SECONDS:
            time.sleep(settings.IMPORT_BATCH_PAUSE_SECONDS)  # a testing aid: lets a test kill a worker mid-import

    def _within_list_limits(self, list_pk: int, rows: list[CleanRow], problems: list[RowProblem]) -> list[CleanRow]:
        """The rows that fit in the list's size limits; each row that would add a member past them becomes a
        problem instead (and is not applied at all). Counted once per batch with the list locked (audiences.capacity);
        only a batch that may not fit looks up which of its rows would add members."""
        job = self.job
        dry_run = job.dry_run
        if dry_run:
            marketing_list = job.marketing_list
        else:
            [marketing_list] = lists_lock_for_adding([job.marketing_list])
        room = list_room(marketing_list, adding=self.dry_joined + len(rows), field="list_id")
        if room.refusal is None and not dry_run:
            return rows
        joining = joining_rows(job.import_type, rows, list_pk)
        fits = max(room.fits - self.dry_joined, 0) if room.refusal is not None else len(joining)
        if dry_run:
            self.dry_joined += min(fits, len(joining))
        over = joining[fits:]
        if not over:
            return rows
        code = room.refusal.code
        left_out = {row.row_number for row in over}
        problems.extend(_over_the_limit(row, code, room.reason) for row in over)
        return [row for row in rows if row.row_number not in left_out]

    def _discover_custom_fields(self, rows: list[CleanRow]) -> None:
        """Register the file's keys that no custom field names, once per batch (and no more once all are known)."""
        if not self.known_keys:
            self.known_keys = {definition.name for definition in self.validator.all_definitions}
        pending = set(self.validator.plan.custom.values()) - self.known_keys
        if not pending:
            return
        values = [{key: row.fields[key] for key in pending if key in row.fields} for row in rows]
        custom_fields_discover(values=values)
        self.known_keys |= {key for data in values for key in data}

    def _record(self, rows: int, counts: Counts, invalid: int) -> None:
        job = self.job
        now = timezone.now()
        updated = ImportJob.objects.filter(
            pk=job.pk, attempts=self.attempt, processed_rows=job.processed_rows, status=ImportJob.Status.PROCESSING
        ).update(
            processed_rows=F("processed_rows") + rows,
            created_contacts=F("created_contacts") + counts.created,
            updated_contacts=F("updated_contacts") + counts.updated,
            removed_contacts=F("removed_contacts") + counts.removed,
            skipped_contacts=F("skipped_contacts") + counts.skipped,
            invalid_contacts=F("invalid_contacts") + invalid,
            last_batch=F("last_batch") + 1,
            heartbeat_at=now,
        )
        if not updated:
            raise JobTakenOver(job.public_id)
        job.processed_rows += rows
        job.created_contacts += counts.created
        job.updated_contacts += counts.updated
        job.removed_contacts += counts.removed
        job.skipped_contacts += counts.skipped
        job.invalid_contacts += invalid
        job.last_batch += 1
        job.heartbeat_at = now
