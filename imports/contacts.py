"""Samba-style contact operations on a static list (seed 003): add or remove the subscribers a text file names, one
email or customer ID (`sub_...`) a line, create a list from such a file, and empty a list.

Every line that is not blank (and not the optional header line `email`, `customerId`, `customer_id` or `id`) is
counted exactly once, so `added + invalid + skipped + duplicated` (or `deleted + ...`) is the number of those lines:
- invalid: neither an email address nor a customer ID (or not UTF-8); a customer ID naming no subscriber; adding, an
  email naming no subscriber that an import would refuse to create (its address, or a required custom field without
  a default);
- duplicated: names a subscriber (or, for an unknown email, an address) that an earlier line of the file already
  named, including an email and the customer ID of the same subscriber;
- skipped: adding, the subscriber was already in the list; removing, not in it (an email naming no subscriber too);
- added / deleted: subscribers that joined or left the list. Adding, an email naming no subscriber creates one with
  that email alone, as a `create_only` import would (imports.engine.create_missing_subscribers), and it joins.

The file is streamed into a temporary staging table (COPY on PostgreSQL) and applied with a few set-based
statements, so memory stays flat however long it is. Everything happens in one transaction with the list row
locked, and the size limits (audiences.capacity) are checked once, before any member is added: a refusal (409)
changes nothing, subscribers it would have created included.
"""

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audiences.capacity import check_list_capacity
from audiences.membership import membership_refresh_subscribers
from audiences.models import Audience, ListMembership, MarketingList
from audiences.services import (
    InvalidList,
    audiences_rematerialize,
    ensure_list_accepts_changes,
    list_create,
)
from core.actors import SYSTEM, Actor
from core.ids import PUBLIC_ID_MAX_LENGTH
from core.versioning import lock_for_change
from imports.engine import create_missing_subscribers
from imports.errors import InvalidImportFile
from imports.rows import CleanRow, ColumnPlan, RowValidator, custom_field_definitions
from subscribers.models import Subscriber

# Deliberately loose: a line only has to look like an address to be looked up; a new subscriber's address is checked
# as an import checks it. (email_validator costs ~28 µs a line, too much for a million-line file.)
_EMAIL = re.compile(r"^[^@\s\"',;<>]+@[^@\s\"',;<>]+\.[^@\s\"',;<>]+$")
_CUSTOMER_ID = re.compile(r"^sub_[A-Za-z0-9]+$")
_HEADERS = {"email", "e-mail", "customerid", "customer_id", "id"}
_MAX_EMAIL_LENGTH = 254

# Changes to at most this many subscribers re-evaluate their rule audiences at once; larger ones re-materialize the
# audiences whose rules name the list (every rule audience when subscribers were created), in the background.
REFRESH_INLINE_LIMIT = 1000
# Staged lines are applied this many at a time, so that no single statement holds a lock set of a million rows.
APPLY_CHUNK_LINES = 50_000
# New subscribers are checked and created this many at a time, as an import's batches are.
CREATE_CHUNK = 5000

_MEMBERSHIP = ListMembership._meta.db_table
_SUBSCRIBER = Subscriber._meta.db_table
_STAGE = "contacts_stage"
_RESOLVED = "contacts_resolved"
_NEW = "contacts_new"

_STAGE_INSERT = f"INSERT INTO {_STAGE} (n, kind, key, email) VALUES (%s, %s, %s, %s)"  # noqa: S608 - no user text

EMAIL = "e"
CUSTOMER_ID = "i"


@dataclass
class AddStatistics:
    added: int = 0
    invalid: int = 0
    skipped: int = 0
    duplicated: int = 0


@dataclass
class RemoveStatistics:
    deleted: int = 0
    invalid: int = 0
    skipped: int = 0
    duplicated: int = 0


def statistics_dict(statistics: AddStatistics | RemoveStatistics) -> dict[str, int]:
    return asdict(statistics)


def parse_contact_line(raw: bytes | str) -> tuple[str, str, str] | None:
    """(kind, key, text) for a line naming a contact, None for a blank line; raises ValueError for an invalid one.
    Email keys are lower-cased (subscribers are unique by lower(email)), `text` is the address as written; quotes and
    a trailing comma are tolerated, since seed 003's own export quotes its lines."""
    if isinstance(raw, bytes):
        text = raw.decode("utf-8")  # UnicodeDecodeError is a ValueError
    else:
        text = raw
    text = text.strip().removeprefix("\ufeff").strip()
    if text.endswith(","):
        text = text[:-1].strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    if not text:
        return None
    if _CUSTOMER_ID.match(text) and len(text) <= PUBLIC_ID_MAX_LENGTH:
        return CUSTOMER_ID, text, text
    if len(text) <= _MAX_EMAIL_LENGTH and _EMAIL.match(text):
        return EMAIL, text.lower(), text
    raise ValueError(text)


def _stage(source: Iterable[bytes | str]) -> int:
    """Fill the staging table with the file's valid lines, numbered; answer how many lines were invalid."""
    invalid = 0

    def rows() -> Iterator[tuple[int, str, str, str | None]]:
        nonlocal invalid
        number = 0
        first = True
        for raw in source:
            try:
                parsed = parse_contact_line(raw)
            except ValueError:
                if not (first and _is_header(raw)):
                    invalid += 1
                first = False
                continue
            if parsed is None:
                continue
            first = False
            number += 1
            if number > settings.IMPORT_MAX_ROWS:
                raise InvalidImportFile.on("csv", f"The file has more than {settings.IMPORT_MAX_ROWS} lines")
            kind, key, text = parsed
            yield number, kind, key, text if kind == EMAIL else None

    with connection.cursor() as cursor:
        # Left over by an earlier call in the same (outer) transaction: a refused call rolls its tables back.
        _drop_staging(cursor)
        columns = "n bigint, kind char(1), key text, email text"
        if connection.vendor == "postgresql":
            cursor.execute(f"CREATE TEMP TABLE {_STAGE} ({columns}) ON COMMIT DROP")
            with cursor.cursor.copy(f"COPY {_STAGE} (n, kind, key, email) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
        else:
            cursor.execute(f"CREATE TEMP TABLE {_STAGE} ({columns})")
            batch: list[tuple[int, str, str, str | None]] = []
            for row in rows():
                batch.append(row)
                if len(batch) >= 5000:
                    cursor.executemany(_STAGE_INSERT, batch)
                    batch = []
            if batch:
                cursor.executemany(_STAGE_INSERT, batch)
    return invalid


def _is_header(raw: bytes | str) -> bool:
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        return False
    return text.strip().removeprefix("\ufeff").strip().strip("\"',").strip().lower() in _HEADERS


def _temp_table(name: str) -> str:
    return f"CREATE TEMP TABLE {name} {'ON COMMIT DROP ' if connection.vendor == 'postgresql' else ''}AS"


def _resolve(marketing_list: MarketingList) -> None:
    """Staged lines with the subscriber each names (NULL: none), whether that subscriber is in the list, and whether
    this call created it (set by `_create_unknown`)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"{_temp_table(_RESOLVED)} SELECT s.n, s.kind, s.key, s.email, "  # noqa: S608 - no user text
            f"COALESCE(e.id, c.id) AS subscriber_id, "
            f"EXISTS (SELECT 1 FROM {_MEMBERSHIP} m WHERE m.marketing_list_id = %s "
            f"AND m.subscriber_id = COALESCE(e.id, c.id)) AS is_member, (1 = 0) AS created "
            f"FROM {_STAGE} s "
            f"LEFT JOIN {_SUBSCRIBER} e ON s.kind = '{EMAIL}' AND LOWER(e.email) = s.key "
            f"LEFT JOIN {_SUBSCRIBER} c ON s.kind = '{CUSTOMER_ID}' AND c.public_id = s.key",
            [marketing_list.pk],
        )


def _create_unknown() -> int:
    """Create a subscriber for each address that names none, checked and created as a `create_only` import would
    (a chunk at a time), and point the lines naming it at it. Answers how many were created; an address refused
    stays naming nobody (and its lines count as invalid)."""
    with connection.cursor() as cursor:
        # The first line naming each unknown address gives its spelling; `k` numbers them for chunking.
        cursor.execute(
            f"{_temp_table(_NEW)} SELECT ROW_NUMBER() OVER (ORDER BY r.n) AS k, r.key, r.email "  # noqa: S608
            f"FROM {_RESOLVED} r JOIN (SELECT MIN(n) AS n FROM {_RESOLVED} "
            f"WHERE subscriber_id IS NULL AND kind = '{EMAIL}' GROUP BY key) f ON f.n = r.n"
        )
        cursor.execute(f"SELECT COUNT(*) FROM {_NEW}")  # noqa: S608
        unknown = cursor.fetchone()[0]
        if not unknown:
            return 0
        if unknown > CREATE_CHUNK:
            cursor.execute(f"CREATE INDEX {_NEW}_k ON {_NEW} (k)")
    validator = RowValidator(ColumnPlan(email="email"), custom_field_definitions())
    created = 0
    for start in range(0, unknown, CREATE_CHUNK):
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT k, key, email FROM {_NEW} WHERE k > %s AND k <= %s ORDER BY k",  # noqa: S608
                [start, start + CREATE_CHUNK],
            )
            chunk = cursor.fetchall()
        rows: list[CleanRow] = []
        renamed: list[tuple[str, str]] = []
        for number, key, email in chunk:
            row = validator.check_row(number, {"email": email})
            if not isinstance(row, CleanRow) or validator.missing_required(row):
                continue
            rows.append(row)
            if row.key != key:  # email_validator's normalization changed more than the case (Unicode, IDNA)
                renamed.append((row.key, key))
        created += create_missing_subscribers(rows, defaults=validator.defaults)
        if renamed:
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"UPDATE {_RESOLVED} SET key = %s WHERE kind = '{EMAIL}' AND key = %s",  # noqa: S608
                    renamed,
                )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {_RESOLVED} r SET subscriber_id = s.id, created = TRUE FROM {_SUBSCRIBER} s "  # noqa: S608
                f"WHERE r.subscriber_id IS NULL AND r.kind = '{EMAIL}' AND LOWER(s.email) = r.key"
            )
        else:
            cursor.execute(
                f"UPDATE {_RESOLVED} SET created = 1, subscriber_id = (SELECT s.id FROM {_SUBSCRIBER} s "  # noqa: S608
                f"WHERE LOWER(s.email) = {_RESOLVED}.key) WHERE subscriber_id IS NULL AND kind = '{EMAIL}'"
            )
    return created


def _line_counts() -> tuple[int, int, int, int, int]:
    """Lines; lines naming nobody; customer-ID lines naming nobody; distinct unknown addresses; distinct subscribers
    named."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*), "  # noqa: S608 - no user text
            f"COALESCE(SUM(CASE WHEN subscriber_id IS NULL THEN 1 ELSE 0 END), 0), "
            f"COALESCE(SUM(CASE WHEN subscriber_id IS NULL AND kind = '{CUSTOMER_ID}' THEN 1 ELSE 0 END), 0), "
            f"COUNT(DISTINCT CASE WHEN subscriber_id IS NULL AND kind = '{EMAIL}' THEN key END), "
            f"COUNT(DISTINCT subscriber_id) FROM {_RESOLVED}"
        )
        return cursor.fetchone()


def _drop_staging(cursor=None) -> None:  # noqa: ANN001 - a database cursor
    if cursor is None:
        with connection.cursor() as own:
            _drop_staging(own)
        return
    for table in (_NEW, _RESOLVED, _STAGE):
        cursor.execute(f"DROP TABLE IF EXISTS {table}")


def _lock_static(marketing_list: MarketingList) -> MarketingList:
    marketing_list = lock_for_change(marketing_list, expected_version=None)
    if marketing_list.is_dynamic:
        raise InvalidList.on(
            "list_id",
            "This list is dynamic: its members are its audience's members. Add or remove them on the audience.",
            summary="Cannot change the members of a dynamic list",
        )
    return marketing_list


def _touch_subscribers(where_sql: str, params: list) -> None:
    """Bump the version of the subscribers whose list memberships changed (the set `where_sql` selects)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_SUBSCRIBER} SET version = version + 1, updated_at = %s WHERE id IN ({where_sql})",  # noqa: S608
            [timezone.now(), *params],
        )


def _refresh_rule_audiences(
    marketing_list: MarketingList, subscriber_pks: list[int] | None, *, created: bool = False
) -> None:
    """Keep rule audiences right: re-evaluate a few changed subscribers now, or re-materialize in the background the
    audiences whose rules mention the list (every rule audience when subscribers were created, as after an
    import)."""
    if subscriber_pks is not None:
        membership_refresh_subscribers(subscriber_pks)
        return
    audiences = Audience.objects.exclude(rules=None).only("pk", "rules", "rules_generation")
    if created:
        audiences_rematerialize(audience for audience in audiences if audience.has_rules)
    else:
        audiences_rematerialize(
            audience for audience in audiences if marketing_list.public_id in json.dumps(audience.rules)
        )


def _changed_pks(select_sql: str, params: list, count: int) -> list[int] | None:
    if count > REFRESH_INLINE_LIMIT:
        return None
    with connection.cursor() as cursor:
        cursor.execute(select_sql, params)
        return [row[0] for row in cursor.fetchall()]


@transaction.atomic
def list_add_contacts(*, marketing_list: MarketingList, source: Iterable[bytes | str]) -> AddStatistics:
    """Add the subscribers the lines name to a static, unarchived list, creating those only an email names (see the
    module docstring)."""
    marketing_list = _lock_static(marketing_list)
    ensure_list_accepts_changes(marketing_list)
    unparsed = _stage(source)
    _resolve(marketing_list)
    created = _create_unknown()
    joining_sql = f"SELECT DISTINCT subscriber_id FROM {_RESOLVED} WHERE subscriber_id IS NOT NULL AND NOT is_member"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({joining_sql}) j")  # noqa: S608
        adding = cursor.fetchone()[0]
    check_list_capacity(marketing_list, adding, field="csv")
    changed = _changed_pks(joining_sql, [], adding)
    lines, nameless, _, _, known = _line_counts()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX(n), 0) FROM {_RESOLVED}")  # noqa: S608
        last_line = cursor.fetchone()[0]
    added = 0
    now = timezone.now()
    with connection.cursor() as cursor:
        if last_line > APPLY_CHUNK_LINES:
            cursor.execute(f"CREATE INDEX {_RESOLVED}_n ON {_RESOLVED} (n)")
        for start in range(0, last_line, APPLY_CHUNK_LINES):
            cursor.execute(
                f"INSERT INTO {_MEMBERSHIP} (marketing_list_id, subscriber_id, created_at) "  # noqa: S608
                f"SELECT DISTINCT %s, subscriber_id, %s FROM {_RESOLVED} "
                f"WHERE subscriber_id IS NOT NULL AND NOT is_member AND n > %s AND n <= %s "
                f"ON CONFLICT (marketing_list_id, subscriber_id) DO NOTHING",
                [marketing_list.pk, now, start, start + APPLY_CHUNK_LINES],
            )
            added += max(cursor.rowcount, 0)
    if added:
        # New subscribers start at version 1 in the list, as an import's do.
        _touch_subscribers(f"{joining_sql} AND NOT created", [])
        _refresh_rule_audiences(marketing_list, changed, created=bool(created))
    _drop_staging()
    # A subscriber a concurrent single addition put in the list meanwhile counts as already there.
    return AddStatistics(
        added=added, invalid=unparsed + nameless, skipped=known - added, duplicated=lines - nameless - known
    )


@transaction.atomic
def list_create_with_contacts(
    *, name: str, audience: Audience, source: Iterable[bytes | str], actor: Actor = SYSTEM
) -> tuple[MarketingList, AddStatistics]:
    """Seed 003's create-new: a static list on `audience` holding the subscribers the lines name, in one call. A
    refusal (a bad name, a size limit) creates nothing."""
    marketing_list = list_create(name=name, mode=MarketingList.Mode.STATIC, audience=audience, actor=actor)
    return marketing_list, list_add_contacts(marketing_list=marketing_list, source=source)


@transaction.atomic
def list_remove_contacts(*, marketing_list: MarketingList, source: Iterable[bytes | str]) -> RemoveStatistics:
    """Remove the subscribers the lines name from a static list (archived ones too: they keep their members unless
    told otherwise, and erasure must always be possible)."""
    marketing_list = _lock_static(marketing_list)
    unparsed = _stage(source)
    _resolve(marketing_list)
    lines, _, unknown_ids, unknown_emails, known = _line_counts()
    leaving_sql = f"SELECT DISTINCT subscriber_id FROM {_RESOLVED} WHERE is_member"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({leaving_sql}) l")  # noqa: S608
        members = cursor.fetchone()[0]
    changed = _changed_pks(leaving_sql, [], members)
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {_MEMBERSHIP} WHERE marketing_list_id = %s AND subscriber_id IN ({leaving_sql})",  # noqa: S608
            [marketing_list.pk],
        )
        deleted = max(cursor.rowcount, 0)
    if deleted:
        _touch_subscribers(leaving_sql, [])
        _refresh_rule_audiences(marketing_list, changed)
    _drop_staging()
    return RemoveStatistics(
        deleted=deleted,
        invalid=unparsed + unknown_ids,
        skipped=unknown_emails + (known - deleted),
        duplicated=lines - unknown_ids - unknown_emails - known,
    )


@transaction.atomic
def list_clear_contacts(*, marketing_list: MarketingList) -> RemoveStatistics:
    """Empty a static list; answers how many members left it (as `deleted`)."""
    marketing_list = _lock_static(marketing_list)
    members = ListMembership.objects.filter(marketing_list_id=marketing_list.pk)
    count = members.count()
    members_sql = f"SELECT subscriber_id FROM {_MEMBERSHIP} WHERE marketing_list_id = %s"  # noqa: S608
    changed = _changed_pks(members_sql, [marketing_list.pk], count)
    if count:
        _touch_subscribers(members_sql, [marketing_list.pk])
    deleted, _ = members.delete()
    if deleted:
        _refresh_rule_audiences(marketing_list, changed)
    return RemoveStatistics(deleted=deleted)
