"""What an import does to each row before anything is written: apply the column mapping, check the email, the names,
`created_at` and the custom fields' types, and find emails that appear earlier in the file.

Columns: a mapping `{"Header": "target"}`, targets being `email`, `first_name`, `last_name`, `created_at` (kept for
new subscribers only), `additional_fields_data.<key>` or a bare custom-field key. Without a mapping, headers naming
one of those (case-insensitively) map themselves. An empty cell never erases a stored value.

Invariant: memory stays flat however large the file. The emails already seen live in a temporary table of the job's
database connection (`SeenEmails`), not in Python; a batch costs one statement against it.
"""

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils.dateparse import parse_date, parse_datetime

from core.errors import Issue
from imports.errors import InvalidImportFile
from imports.models import ImportJob, ImportRowError
from imports.readers import OversizedRow
from subscribers.custom_fields import MAX_KEYS, MAX_VALUE_LENGTH, coerce_value, validate_additional_fields
from subscribers.models import CustomField
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


def custom_field_definitions() -> list[CustomField]:
    return list(CustomField.objects.all())


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


def duplicate_problem(row_number: int, email: str, key: str) -> RowProblem:
    return RowProblem(row_number, email, "duplicate_in_file", "The email appears earlier in the file",
                      f"duplicate of an earlier row with {key}", "Keep one row per email address")  # fmt: skip


def _wrong_type(row_number: int, email: str, issues: list[Issue]) -> RowProblem:
    return RowProblem(row_number, email, "invalid_field", "A custom field has a value of the wrong type",
                      "; ".join(f"{i.field}: {i.message}" for i in issues),
                      "Fix the value to match the custom field's type, or leave the cell empty")  # fmt: skip


def _too_long(row_number: int, email: str, row: OversizedRow) -> RowProblem:
    return RowProblem(row_number, email, "row_too_long", "The row is too long to read",
                      f"{row.length} characters; at most {settings.IMPORT_MAX_ROW_CHARS} (IMPORT_MAX_ROW_CHARS)",
                      "Look for a run of stray delimiters or a huge cell, and shorten the row")  # fmt: skip


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


def _dropdown_options(definition: CustomField | None) -> frozenset[str] | None:
    if definition is None or definition.field_type != CustomField.FieldType.DROPDOWN:
        return None
    return frozenset(str(option) for option in definition.values)


class SeenEmails:
    """The lower-cased emails of the rows checked so far, in a temporary table of this connection, so that a million
    of them cost no Python memory. A job runs on one connection from its first batch to its last; a resumed job
    rebuilds the table by replaying the rows applied before (`RowValidator.remember`).

    Temporary tables are transactional: keys added in a batch that rolls back are forgotten with it."""

    NAME = "import_seen_emails"

    def __init__(self) -> None:
        self._pending: list[str] = []
        self._ready = False

    @property
    def table(self) -> str:
        # Qualified, so that nothing but the temporary table can ever be written or dropped.
        return f"{'pg_temp' if connection.vendor == 'postgresql' else 'temp'}.{self.NAME}"

    def start(self) -> None:
        """An empty table (one left by an earlier job on this connection goes). Call it outside the batches'
        transactions, so that a batch rolling back cannot take the table with it."""
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.table}")
            cursor.execute(f"CREATE TEMPORARY TABLE {self.NAME} (email_key varchar(320) PRIMARY KEY)")
        self._ready = True

    def _cursor(self) -> Any:
        if not self._ready:
            self.start()
        return connection.cursor()

    def remember(self, key: str) -> None:
        self._pending.append(key)
        if len(self._pending) >= 10_000:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            keys, self._pending = self._pending, []
            self.add(dict.fromkeys(keys))

    def add(self, keys: Iterable[str]) -> set[str]:
        """Record `keys` (distinct); answers those recorded before."""
        keys = list(keys)
        if not keys:
            return set()
        with self._cursor() as cursor:
            if connection.vendor == "postgresql":
                # One text parameter, not an array of thousands: a valid address holds no line break.
                cursor.execute(
                    f"INSERT INTO {self.table} (email_key) SELECT unnest(string_to_array(%s, E'\\n')) "  # noqa: S608
                    "ON CONFLICT DO NOTHING RETURNING email_key",
                    ["\n".join(keys)],
                )
                return set(keys) - {key for (key,) in cursor.fetchall()}
            before: set[str] = set()
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ", ".join(["%s"] * len(chunk))
                cursor.execute(f"SELECT email_key FROM {self.table} WHERE email_key IN ({marks})", chunk)  # noqa: S608
                before.update(key for (key,) in cursor.fetchall())
            cursor.executemany(
                f"INSERT INTO {self.table} (email_key) VALUES (%s)",  # noqa: S608
                [(key,) for key in keys if key not in before],
            )
            return before

    def drop(self) -> None:
        self._pending = []
        if self._ready:
            self._ready = False
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS {self.table}")


class RowValidator:
    """Checks rows a batch at a time; remembers the emails seen so far (in `SeenEmails`) to report duplicates within
    the file. A row whose email appeared on an earlier row is a duplicate, whatever else is wrong with it."""

    def __init__(self, plan: ColumnPlan, definitions: list[CustomField]) -> None:
        self.plan = plan
        self.all_definitions = definitions
        # A discovered field's type is a hint, not a rule: its values are stored as given, like a key without one.
        definitions = [definition for definition in definitions if not definition.discovered]
        self.definitions = definitions
        self.required_without_default = [d.name for d in definitions if d.required and d.default is None]
        self.defaults = {d.name: d.default for d in definitions if d.default is not None}
        self.seen = SeenEmails()
        by_name = {definition.name: definition for definition in definitions}
        self._custom_columns = [
            (header, name, by_name.get(name), _dropdown_options(by_name.get(name)))
            for header, name in plan.custom.items()
        ]

    def email_key(self, raw: dict[str, str]) -> str | None:
        if isinstance(raw, OversizedRow):
            return None  # never checked, so never counted as seen
        try:
            return fast_normalize_email(raw.get(self.plan.email) or "").lower()
        except InvalidSubscriber:
            return None

    def remember(self, raw: dict[str, str]) -> None:
        """Replay a row applied before a resume, for duplicate detection only."""
        if key := self.email_key(raw):
            self.seen.remember(key)

    def check_batch(self, raw_rows: list[tuple[int, dict[str, str]]]) -> tuple[list[CleanRow], list[RowProblem]]:
        """The batch's valid rows and its problems, each in file order; its emails count as seen from now on."""
        self.seen.flush()
        checked: list[tuple[str | None, CleanRow | RowProblem]] = []
        first_in_batch: dict[str, int] = {}
        for row_number, raw in raw_rows:
            key, outcome = self._check(row_number, raw)
            if key is not None:
                first_in_batch.setdefault(key, row_number)
            checked.append((key, outcome))
        earlier = self.seen.add(first_in_batch)
        clean: list[CleanRow] = []
        problems: list[RowProblem] = []
        for key, outcome in checked:
            if key is not None and (key in earlier or first_in_batch[key] != outcome.row_number):
                outcome = duplicate_problem(outcome.row_number, outcome.email, key)
            (problems if isinstance(outcome, RowProblem) else clean).append(outcome)
        return clean, problems

    def check_row(self, row_number: int, raw: dict[str, str]) -> CleanRow | RowProblem:
        """One row's checks without duplicate detection, for callers whose rows are distinct already."""
        return self._check(row_number, raw)[1]

    def _check(self, row_number: int, raw: dict[str, str]) -> tuple[str | None, CleanRow | RowProblem]:
        """The row's email key (None when it has no valid email) and what the row is."""
        text = (raw.get(self.plan.email) or "").strip()
        if isinstance(raw, OversizedRow):
            return None, _too_long(row_number, text[:EMAIL_MAX_LENGTH], raw)
        if not text:
            missing = RowProblem(row_number, "", "missing_email", "The email cell is empty",
                                 f"column {self.plan.email!r}", "Fill in the subscriber's email address")  # fmt: skip
            return None, missing
        try:
            email = fast_normalize_email(text)
        except InvalidSubscriber as error:
            reason = error.issues[0].message if error.issues else error.message
            return None, RowProblem(row_number, text, "invalid_email", "Invalid email format", reason,
                                    "Correct the address (name@example.com) or remove the row")  # fmt: skip
        key = email.lower()
        names = {}
        for name in ("first_name", "last_name"):
            header = getattr(self.plan, name)
            value = (raw.get(header) or "").strip() if header else ""
            if len(value) > NAME_MAX_LENGTH:
                return key, RowProblem(row_number, email, "value_too_long", f"{name} is too long",
                                       f"{len(value)} characters, at most {NAME_MAX_LENGTH}",
                                       f"Shorten {name} to {NAME_MAX_LENGTH} characters")  # fmt: skip
            names[name] = value
        created_at = None
        if self.plan.created_at and (cell := (raw.get(self.plan.created_at) or "").strip()):
            try:
                created_at = _parse_created_at(cell)
            except ValueError:
                return key, RowProblem(row_number, email, "invalid_field", "created_at is not a date",
                                       f"got {cell[:100]!r}",
                                       "Use ISO 8601, e.g. 2024-03-15 or 2024-03-15T10:30:00Z")  # fmt: skip
        fields = self._custom_fields(raw)
        if fields is None:
            given = {
                key_: text for header, key_ in self.plan.custom.items() if (text := (raw.get(header) or "").strip())
            }
            fields, issues = validate_additional_fields(given, definitions=self.definitions, apply_defaults=False)
            if issues:
                return key, _wrong_type(row_number, email, issues)
        return key, CleanRow(row_number, email, key, names["first_name"], names["last_name"], created_at, fields)

    def _custom_fields(self, raw: dict[str, str]) -> dict[str, Any] | None:
        """The row's custom fields as `validate_additional_fields` would store them, with what it looks up per value
        computed once per import; None when a value is refused (that function then says why)."""
        if len(self._custom_columns) > MAX_KEYS:
            return None
        fields: dict[str, Any] = {}
        for header, name, definition, options in self._custom_columns:
            text = (raw.get(header) or "").strip()
            if not text:
                continue
            if len(text) > MAX_VALUE_LENGTH:
                return None
            if definition is None or (options is not None and text in options):
                fields[name] = text
                continue
            if options is not None:
                return None
            try:
                fields[name] = coerce_value(definition.field_type, text, definition.values)
            except ValueError:
                return None
        return fields

    def missing_required(self, row: CleanRow) -> RowProblem | None:
        """A new subscriber needs every required custom field that has no default."""
        missing = [name for name in self.required_without_default if name not in row.fields]
        if not missing:
            return None
        return RowProblem(row.row_number, row.email, "missing_required_field",
                          "A required custom field is empty for a new subscriber",
                          ", ".join(f"additional_fields_data.{name}" for name in missing),
                          "Fill in the required fields, or map their columns")  # fmt: skip
