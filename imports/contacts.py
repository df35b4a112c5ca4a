"""Samba-style contact operations on a static list (seed 003): add or remove the subscribers a text file names, one
email or customer ID (`sub_...`) a line, and empty a list.

Every line that is not blank (and not the optional header line `email`, `customerId`, `customer_id` or `id`) is
counted exactly once, so `added + invalid + skipped + duplicated` (or `deleted + ...`) is the number of those lines:
- invalid: neither an email address nor a customer ID (or not UTF-8);
- duplicated: names a subscriber (or, for unknown ones, a value) that an earlier line of the file already named,
  including an email and the customer ID of the same subscriber;
- skipped: adding, already a member; removing, not a member; either way, a valid line naming no subscriber
  (members are existing subscribers: this operation creates none, imports do);
- added / deleted: subscribers that joined or left the list.

The file is streamed into a temporary staging table (COPY on PostgreSQL) and applied with a few set-based
statements, so memory stays flat however long it is. Everything happens in one transaction with the list row
locked: a size limit refusal (409) changes nothing.
"""

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from audiences.membership import membership_refresh_subscribers
from audiences.models import Audience, ListMembership, MarketingList
from audiences.services import InvalidList, audiences_rematerialize, check_list_capacity, ensure_list_accepts_changes
from core.ids import PUBLIC_ID_MAX_LENGTH
from core.versioning import lock_for_change
from imports.errors import InvalidImportFile
from subscribers.models import Subscriber

# Deliberately loose: a line only has to look like an address to be looked up; the subscriber table holds the
# validated ones. (email_validator costs ~28 µs a line, too much for a million-line file.)
_EMAIL = re.compile(r"^[^@\s\"',;<>]+@[^@\s\"',;<>]+\.[^@\s\"',;<>]+$")
_CUSTOMER_ID = re.compile(r"^sub_[A-Za-z0-9]+$")
_HEADERS = {"email", "e-mail", "customerid", "customer_id", "id"}
_MAX_EMAIL_LENGTH = 254

# Changes to at most this many subscribers re-evaluate their rule audiences at once; larger ones re-materialize the
# audiences whose rules name the list, in the background.
REFRESH_INLINE_LIMIT = 1000
# Staged lines are applied this many at a time, so that no single statement holds a lock set of a million rows.
APPLY_CHUNK_LINES = 50_000

_MEMBERSHIP = ListMembership._meta.db_table
_SUBSCRIBER = Subscriber._meta.db_table
_STAGE = "contacts_stage"
_RESOLVED = "contacts_resolved"

_STAGE_INSERT = f"INSERT INTO {_STAGE} (n, kind, key) VALUES (%s, %s, %s)"  # noqa: S608 - no user text

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


def parse_contact_line(raw: bytes | str) -> tuple[str, str] | None:
    """(kind, key) for a line naming a contact, None for a blank line; raises ValueError for an invalid one.
    Emails are lower-cased (subscribers are unique by lower(email)); quotes and a trailing comma are tolerated, since
    seed 003's own export quotes its lines."""
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
        return CUSTOMER_ID, text
    if len(text) <= _MAX_EMAIL_LENGTH and _EMAIL.match(text):
        return EMAIL, text.lower()
    raise ValueError(text)


def _stage(source: Iterable[bytes | str]) -> int:
    """Fill the staging table with the file's valid lines, numbered; answer how many lines were invalid."""
    invalid = 0

    def rows() -> Iterator[tuple[int, str, str]]:
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
            yield number, parsed[0], parsed[1]

    with connection.cursor() as cursor:
        # Left over by an earlier call in the same (outer) transaction: a refused call rolls its tables back.
        cursor.execute(f"DROP TABLE IF EXISTS {_RESOLVED}")
        cursor.execute(f"DROP TABLE IF EXISTS {_STAGE}")
        if connection.vendor == "postgresql":
            cursor.execute(f"CREATE TEMP TABLE {_STAGE} (n bigint, kind char(1), key text) ON COMMIT DROP")
            with cursor.cursor.copy(f"COPY {_STAGE} (n, kind, key) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
        else:
            cursor.execute(f"CREATE TEMP TABLE {_STAGE} (n bigint, kind char(1), key text)")
            batch: list[tuple[int, str, str]] = []
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


def _resolve(marketing_list: MarketingList) -> tuple[int, int, int, int, int]:
    """Staged lines with the subscriber each names (NULL: none) and whether that subscriber is in the list."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            create = f"CREATE TEMP TABLE {_RESOLVED} ON COMMIT DROP AS"
        else:
            create = f"CREATE TEMP TABLE {_RESOLVED} AS"
        cursor.execute(
            f"{create} SELECT s.n, s.key, COALESCE(e.id, c.id) AS subscriber_id, "  # noqa: S608 - no user text
            f"EXISTS (SELECT 1 FROM {_MEMBERSHIP} m WHERE m.marketing_list_id = %s "
            f"AND m.subscriber_id = COALESCE(e.id, c.id)) AS is_member "
            f"FROM {_STAGE} s "
            f"LEFT JOIN {_SUBSCRIBER} e ON s.kind = '{EMAIL}' AND LOWER(e.email) = s.key "
            f"LEFT JOIN {_SUBSCRIBER} c ON s.kind = '{CUSTOMER_ID}' AND c.public_id = s.key",
            [marketing_list.pk],
        )
        # Counting what the file holds: lines, distinct unknown values, distinct subscribers, distinct members.
        cursor.execute(
            f"SELECT COUNT(*), "  # noqa: S608 - no user text
            f"COUNT(DISTINCT CASE WHEN subscriber_id IS NULL THEN key END), "
            f"COUNT(DISTINCT subscriber_id), "
            f"COUNT(DISTINCT CASE WHEN is_member THEN subscriber_id END), "
            f"COALESCE(MAX(n), 0) FROM {_RESOLVED}"
        )
        return cursor.fetchone()


def _drop_staging() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {_RESOLVED}")
        cursor.execute(f"DROP TABLE IF EXISTS {_STAGE}")


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


def _refresh_rule_audiences(marketing_list: MarketingList, subscriber_pks: list[int] | None) -> None:
    """Keep rule audiences that name this list right: re-evaluate a few changed subscribers now, or re-materialize
    the audiences whose rules mention the list in the background."""
    if subscriber_pks is not None:
        membership_refresh_subscribers(subscriber_pks)
        return
    audiences = Audience.objects.exclude(rules=None).only("pk", "rules", "rules_generation")
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
    """Add the existing subscribers the lines name to a static, unarchived list (see the module docstring)."""
    marketing_list = _lock_static(marketing_list)
    ensure_list_accepts_changes(marketing_list)
    invalid = _stage(source)
    lines, unknown, known, members, last_line = _resolve(marketing_list)
    adding = known - members
    check_list_capacity(marketing_list, adding)
    new_sql = f"SELECT DISTINCT subscriber_id FROM {_RESOLVED} WHERE subscriber_id IS NOT NULL AND NOT is_member"  # noqa: S608
    changed = _changed_pks(new_sql, [], adding)
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
        _touch_subscribers(new_sql, [])
        _refresh_rule_audiences(marketing_list, changed)
    _drop_staging()
    # A subscriber a concurrent single addition put in the list meanwhile counts as already there.
    return AddStatistics(
        added=added, invalid=invalid, skipped=unknown + (known - added), duplicated=lines - unknown - known
    )


@transaction.atomic
def list_remove_contacts(*, marketing_list: MarketingList, source: Iterable[bytes | str]) -> RemoveStatistics:
    """Remove the subscribers the lines name from a static list (archived ones too: they keep their members unless
    told otherwise, and erasure must always be possible)."""
    marketing_list = _lock_static(marketing_list)
    invalid = _stage(source)
    lines, unknown, known, members, _ = _resolve(marketing_list)
    leaving_sql = f"SELECT DISTINCT subscriber_id FROM {_RESOLVED} WHERE is_member"  # noqa: S608
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
        deleted=deleted, invalid=invalid, skipped=unknown + (known - deleted), duplicated=lines - unknown - known
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
