"""The batch processor of an import: map columns, validate rows, apply them in batches.

Each batch is applied in one transaction together with the job's counters, `processed_rows`, `last_batch` and
heartbeat, so a job whose worker died resumes after its last committed row and nothing is applied twice. On
PostgreSQL a batch is set-based (COPY into a temporary staging table, one upsert, one membership statement); the
portable path (SQLite) uses bulk ORM calls. Invalid rows become ImportRowError rows and never stop the job.

Columns: a mapping `{"Header": "target"}`, targets being `email`, `first_name`, `last_name`, `created_at` (kept for
new subscribers only), `additional_fields_data.<key>` or a bare custom-field key. Without a mapping, headers naming
one of those (case-insensitively) map themselves. An empty cell never erases a stored value.
"""

import datetime as dt
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from audiences.models import AudienceMembership, ListMembership
from core.ids import PUBLIC_ID_RANDOM_LENGTH
from imports.errors import InvalidImportFile
from imports.models import ImportJob, ImportRowError
from subscribers.custom_fields import validate_additional_fields
from subscribers.models import CustomField, Subscriber
from subscribers.services.subscribers import InvalidSubscriber, normalize_email

SUBSCRIBER_COLUMNS = ("email", "first_name", "last_name", "created_at")
RESERVED_TARGETS = ("id", "public_id", "version", "updated_at", "token_version", "active", "inactive_reason", "tags")
CUSTOM_PREFIX = "additional_fields_data."
NAME_MAX_LENGTH = 150
EMAIL_MAX_LENGTH = 254

# The ASCII addresses email_validator accepts, checked at ~1 µs a row instead of ~28: a dot-atom local part of at most
# 64 characters and a domain of at least two labels with a non-numeric top-level label. Anything else (non-ASCII,
# quoted local parts, refusals) goes through email_validator itself, which gives the same answer and its message.
_EMAIL_RE = re.compile(
    r"(?P<local>[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"
    r"@(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
)
_SPECIAL_USE_TLDS = frozenset(("arpa", "invalid", "local", "localhost", "onion", "test"))
_ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def fast_normalize_email(text: str) -> str:
    """email_validator's normalization (domain lower-cased) for the common case; raises InvalidSubscriber otherwise."""
    text = text.strip()
    match = _EMAIL_RE.fullmatch(text)
    if match and len(text) <= EMAIL_MAX_LENGTH and len(match["local"]) <= 64 and len(match["domain"]) <= 253:
        domain = match["domain"].lower()
        # Punycode labels are turned back into Unicode by email_validator: leave them to it.
        if domain.rsplit(".", 1)[-1] not in _SPECIAL_USE_TLDS and "xn--" not in domain:
            return f"{match['local']}@{domain}"
    return normalize_email(text)


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


# --- columns ---------------------------------------------------------------------------------------------------------


def mapping_target_problem(target: Any) -> str | None:
    """Why a mapping target is not allowed, or None."""
    if not isinstance(target, str) or not target.strip():
        return "must be a field name"
    target = target.strip()
    if target in RESERVED_TARGETS:
        return f"{target!r} cannot be imported"
    if target.startswith(CUSTOM_PREFIX):
        return None if target.removeprefix(CUSTOM_PREFIX) else "name the custom field after the dot"
    if "." in target:
        return "use additional_fields_data.<key> for custom fields"
    return None


@dataclass(frozen=True)
class ColumnPlan:
    """Which header feeds which field."""

    email: str
    first_name: str | None = None
    last_name: str | None = None
    created_at: str | None = None
    custom: dict[str, str] = field(default_factory=dict)  # header -> additional_fields_data key


def plan_columns(headers: list[str], mapping: dict[str, str], custom_names: Iterable[str]) -> ColumnPlan:
    targets: dict[str, str] = {}
    if mapping:
        by_lower = {h.strip().lower(): h for h in headers}
        for source, target in mapping.items():
            header = source if source in headers else by_lower.get(source.strip().lower())
            if header is not None:
                targets[header] = target.strip()
    else:
        known = {name.lower(): name for name in SUBSCRIBER_COLUMNS}
        known.update({name.lower(): f"{CUSTOM_PREFIX}{name}" for name in custom_names})
        for header in headers:
            name = header.strip()
            lowered = name.lower()
            if lowered in known:
                targets[header] = known[lowered]
            elif lowered.startswith(CUSTOM_PREFIX) and not mapping_target_problem(name):
                targets[header] = CUSTOM_PREFIX + name[len(CUSTOM_PREFIX) :]
    columns: dict[str, str] = {}
    custom: dict[str, str] = {}
    for header, target in targets.items():
        if target in SUBSCRIBER_COLUMNS:
            columns.setdefault(target, header)
        else:
            custom[header] = target.removeprefix(CUSTOM_PREFIX)
    if "email" not in columns:
        raise InvalidImportFile.on(
            "columns_mapping",
            'No column maps to email: name the email column in columns_mapping (e.g. {"Email Address": "email"})',
            summary="The import file has no email column",
        )
    return ColumnPlan(
        email=columns["email"],
        first_name=columns.get("first_name"),
        last_name=columns.get("last_name"),
        created_at=columns.get("created_at"),
        custom=custom,
    )


# --- rows ------------------------------------------------------------------------------------------------------------


@dataclass
class CleanRow:
    row_number: int
    email: str
    key: str  # lower-cased email: the identity of a subscriber
    first_name: str  # "" when the cell is empty: keep what is stored
    last_name: str
    created_at: dt.datetime | None
    fields: dict[str, Any]


@dataclass
class RowProblem:
    row_number: int
    email: str
    error_type: str
    message: str
    details: str = ""
    suggested_fix: str = ""

    def as_model(self, job: ImportJob) -> ImportRowError:
        return ImportRowError(
            job=job,
            row_number=self.row_number,
            email=self.email[:320],
            error_type=self.error_type,
            message=self.message[:1000],
            details=self.details[:1000],
            suggested_fix=self.suggested_fix[:500],
        )


def _parse_created_at(text: str) -> dt.datetime:
    try:
        parsed = parse_datetime(text)
        if parsed is None:
            day = parse_date(text)
            parsed = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC) if day else None
    except ValueError:
        parsed = None
    if parsed is None:
        raise ValueError(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


class RowValidator:
    """Checks one row at a time; remembers the emails seen so far to report duplicates within the file."""

    def __init__(self, plan: ColumnPlan, definitions: list[CustomField]) -> None:
        self.plan = plan
        self.definitions = definitions
        self.required_without_default = [d.name for d in definitions if d.required and d.default is None]
        self.defaults = {d.name: d.default for d in definitions if d.default is not None}
        # Hashes, not strings: a million seen emails fit in tens of megabytes. Rebuilt by `remember` on resume.
        self._seen: set[int] = set()

    def email_key(self, raw: dict[str, str]) -> str | None:
        try:
            return fast_normalize_email(raw.get(self.plan.email) or "").lower()
        except InvalidSubscriber:
            return None

    def remember(self, raw: dict[str, str]) -> None:
        """Replay a row applied before a resume, for duplicate detection only."""
        key = self.email_key(raw)
        if key:
            self._seen.add(hash(key))

    def check(self, row_number: int, raw: dict[str, str]) -> CleanRow | RowProblem:
        text = (raw.get(self.plan.email) or "").strip()
        if not text:
            return RowProblem(row_number, "", "missing_email", "The email cell is empty",
                              f"column {self.plan.email!r}", "Fill in the subscriber's email address")  # fmt: skip
        try:
            email = fast_normalize_email(text)
        except InvalidSubscriber as error:
            reason = error.issues[0].message if error.issues else error.message
            return RowProblem(row_number, text, "invalid_email", "Invalid email format", reason,
                              "Correct the address (name@example.com) or remove the row")  # fmt: skip
        key = email.lower()
        digest = hash(key)
        if digest in self._seen:
            return RowProblem(row_number, email, "duplicate_in_file", "The email appears earlier in the file",
                              f"duplicate of an earlier row with {key}", "Keep one row per email address")  # fmt: skip
        self._seen.add(digest)
        names = {}
        for name in ("first_name", "last_name"):
            header = getattr(self.plan, name)
            value = (raw.get(header) or "").strip() if header else ""
            if len(value) > NAME_MAX_LENGTH:
                return RowProblem(row_number, email, "value_too_long", f"{name} is too long",
                                  f"{len(value)} characters, at most {NAME_MAX_LENGTH}",
                                  f"Shorten {name} to {NAME_MAX_LENGTH} characters")  # fmt: skip
            names[name] = value
        created_at = None
        if self.plan.created_at and (cell := (raw.get(self.plan.created_at) or "").strip()):
            try:
                created_at = _parse_created_at(cell)
            except ValueError:
                return RowProblem(row_number, email, "invalid_field", "created_at is not a date", f"got {cell[:100]!r}",
                                  "Use ISO 8601, e.g. 2024-03-15 or 2024-03-15T10:30:00Z")  # fmt: skip
        given = {
            key_: cell.strip() for header, key_ in self.plan.custom.items() if (cell := raw.get(header) or "").strip()
        }
        fields, issues = validate_additional_fields(given, definitions=self.definitions, apply_defaults=False)
        if issues:
            return RowProblem(row_number, email, "invalid_field", "A custom field has a value of the wrong type",
                              "; ".join(f"{i.field}: {i.message}" for i in issues),
                              "Fix the value to match the custom field's type, or leave the cell empty")  # fmt: skip
        return CleanRow(row_number, email, key, names["first_name"], names["last_name"], created_at, fields)

    def missing_required(self, row: CleanRow) -> RowProblem | None:
        """A new subscriber needs every required custom field that has no default."""
        missing = [name for name in self.required_without_default if name not in row.fields]
        if not missing:
            return None
        return RowProblem(row.row_number, row.email, "missing_required_field",
                          "A required custom field is empty for a new subscriber",
                          ", ".join(f"additional_fields_data.{name}" for name in missing),
                          "Fill in the required fields, or map their columns")  # fmt: skip


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
    import json

    with connection.cursor() as cursor:
        # ON COMMIT DROP cleans up after a batch; inside an outer transaction (a test, a dry run) the last one stays.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.import_staging")
        cursor.execute(
            "CREATE TEMP TABLE import_staging (public_id varchar(64), email varchar(254), email_key varchar(254), "
            "first_name varchar(150), last_name varchar(150), created_at timestamptz, fields jsonb) ON COMMIT DROP"
        )
        ids = new_subscriber_ids(len(rows))
        with cursor.cursor.copy(f"COPY import_staging ({', '.join(_STAGING_COLUMNS)}) FROM STDIN") as copy:
            for public_id, row in zip(ids, rows, strict=True):
                copy.write_row(
                    (
                        public_id,
                        row.email,
                        row.key,
                        row.first_name,
                        row.last_name,
                        row.created_at,
                        json.dumps(row.fields),
                    )  # fmt: skip
                )


_SUB = Subscriber._meta.db_table
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
RETURNING s.id
"""  # noqa: S608


def _fast_apply(import_type: str, rows: list[CleanRow], defaults: dict[str, Any]) -> tuple[list[int], Counts]:
    """Upsert on PostgreSQL; answers the ids that become members and the counts."""
    import json

    _stage(rows)
    now = timezone.now()
    counts = Counts()
    with connection.cursor() as cursor:
        if import_type == ImportJob.ImportType.UPDATE_ONLY:
            cursor.execute(_UPDATE_ONLY, {"now": now})
            ids = [r[0] for r in cursor.fetchall()]
            counts.updated = len(ids)
            counts.skipped = len(rows) - len(ids)
            return ids, counts
        action = "DO NOTHING" if import_type == ImportJob.ImportType.CREATE_ONLY else _ON_CONFLICT_UPDATE
        cursor.execute(_UPSERT.format(action=action), {"now": now})
        returned = cursor.fetchall()
        created = [pk for pk, inserted in returned if inserted]
        counts.created = len(created)
        counts.updated = len(returned) - len(created)
        counts.skipped = len(rows) - len(returned)
        if defaults and created:
            cursor.execute(
                f"UPDATE {_SUB} SET additional_fields_data = %s::jsonb || additional_fields_data "  # noqa: S608
                "WHERE id = ANY(%s)",
                (json.dumps(defaults), created),
            )
        return [pk for pk, _ in returned], counts


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


_LIST_MEMBERS = ListMembership._meta.db_table
_AUDIENCE_MEMBERS = AudienceMembership._meta.db_table
_MANUAL = AudienceMembership.MANUAL


def _add_members(target: Target, pks: list[int]) -> None:
    if not pks:
        return
    now = timezone.now()
    if use_fast_path():
        with connection.cursor() as cursor:
            if target.list_pk:
                cursor.execute(
                    f"INSERT INTO {_LIST_MEMBERS} (marketing_list_id, subscriber_id, created_at) "  # noqa: S608
                    "SELECT %s, unnest(%s::bigint[]), %s ON CONFLICT DO NOTHING",
                    (target.list_pk, pks, now),
                )
            elif target.audience_pk:
                cursor.execute(
                    f"INSERT INTO {_AUDIENCE_MEMBERS} AS m (audience_id, subscriber_id, source, created_at) "  # noqa: S608
                    f"SELECT %s, unnest(%s::bigint[]), {_MANUAL}, %s ON CONFLICT (audience_id, subscriber_id) "
                    f"DO UPDATE SET source = m.source | {_MANUAL} WHERE (m.source & {_MANUAL}) = 0",
                    (target.audience_pk, pks, now),
                )
        return
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

    def run(self, rows: Iterator[tuple[int, dict[str, str]]], should_stop: Callable[[], bool]) -> bool:
        """Answers True when every row was processed, False when `should_stop` said so between batches."""
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
        problems: list[RowProblem] = []
        clean: list[CleanRow] = []
        for row_number, raw in raw_rows:
            checked = self.validator.check(row_number, raw)
            (problems if isinstance(checked, RowProblem) else clean).append(checked)
        target = target_of(job)
        creating = job.import_type in (ImportJob.ImportType.CREATE_ONLY, ImportJob.ImportType.CREATE_UPDATE)
        existing: set[str] | None = None
        if job.dry_run or (creating and self.validator.required_without_default):
            existing = existing_keys([row.key for row in clean])
        if creating and self.validator.required_without_default:
            kept = []
            for row in clean:
                problem = None if row.key in existing else self.validator.missing_required(row)
                (problems.append(problem) if problem else kept.append(row))
            clean = kept
        with transaction.atomic():
            if job.dry_run:
                counts = _dry_counts(job.import_type, clean, existing or set(), target)
            elif not clean:
                counts = Counts()
            elif job.import_type == ImportJob.ImportType.REMOVE_ONLY:
                counts = _remove_members(target, clean)
            else:
                apply = _fast_apply if use_fast_path() else _portable_apply
                member_pks, counts = apply(job.import_type, clean, self.validator.defaults)
                _add_members(target, member_pks)
            ImportRowError.objects.bulk_create([p.as_model(job) for p in problems])
            self._record(len(raw_rows), counts, len(problems))
        if counts.created or counts.updated or counts.removed:
            self.changed_anything = not job.dry_run
        if self.after_batch:
            self.after_batch(job)
        if pause := float(os.environ.get("ROSTER_IMPORT_BATCH_PAUSE_SECONDS") or 0):
            time.sleep(pause)  # a test hook: slows a worker down so that a test can kill it mid-import

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


def custom_field_definitions() -> list[CustomField]:
    return list(CustomField.objects.all())
