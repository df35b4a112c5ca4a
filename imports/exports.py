"""Streaming exports of a list's members, in constant memory whatever the list's size.

Members come from `audiences.selectors.list_members` (the one answer to "who is in this list"), in primary key
order through one server-side cursor (`.iterator()`), a chunk at a time: each chunk costs a fixed number of further
queries (consent, static lists and tags of its subscribers), and only one chunk is in memory at a time.

Formats:
- `csv`: id, email, first_name, last_name, active, inactive_reason, created_at, updated_at, one column per custom
  field definition (keys of additional_fields_data without a definition are left out, so that the header is known
  before the first row), `subscribed:<subscription type name>` per subscription type (`true`, `false`, or empty when
  the subscriber never chose), then the static lists and the tags the subscriber has, as the API names them: `lists`
  and `tags` hold their ids, `list_names` and `tag_names` their names in the same order, each `;`-separated. An empty
  cell is the API's null (`inactive_reason`, `updated_at`). Cells a spreadsheet would read as a formula are
  neutralized.
- `ndjson`: one JSON object a line with the same fields, and the API's values: `inactive_reason` and `updated_at` are
  null when empty; `additional_fields_data` is complete (JSON needs no header); `subscriptions` maps type names to
  true/false; `lists`, `list_names`, `tags` and `tag_names` are arrays, in the CSV's order.
- `lines`: one email a line (seed 003's export), or one customer ID a line with `kind=customerId`; a line that a
  spreadsheet would read as a formula is neutralized as a CSV cell is (an address may start with `=`, `+` or `-`).

Lists come in membership order and tags by name, as `GET /api/subscribers/{id}` gives their ids.
"""

import csv
import json
from collections import defaultdict
from collections.abc import Iterator
from itertools import islice
from typing import Any, TypeVar

from django.db import connection

from audiences.models import ListMembership, MarketingList
from audiences.selectors import list_members
from core.api.fields import format_timestamp
from subscribers.models import CustomField, Subscriber, SubscriptionPreference, SubscriptionType, Tag

FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "ndjson": ("application/x-ndjson", "ndjson"),
    "lines": ("text/plain; charset=utf-8", "txt"),
}
LINE_KINDS = ("email", "customerId")
CHUNK_SIZE = 2000
BASE_COLUMNS = (
    "id",
    "email",
    "first_name",
    "last_name",
    "active",
    "inactive_reason",
    "created_at",
    "updated_at",
)
T = TypeVar("T")
# OWASP's list of characters that make a spreadsheet evaluate a cell.
_FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def neutralize_cell(value: str) -> str:
    """A cell a spreadsheet shows as text: one that could start a formula gets a leading apostrophe."""
    return "'" + value if value.startswith(_FORMULA_TRIGGERS) else value


class _Echo:
    """A file-like object whose write returns what it was given, for csv.writer to format one row at a time."""

    def write(self, value: str) -> str:
        return value


def _chunks(rows: Iterator[T], size: int) -> Iterator[list[T]]:
    while chunk := list(islice(rows, size)):
        yield chunk


MEMBER_FIELDS = (
    "pk",
    "public_id",
    "email",
    "first_name",
    "last_name",
    "active",
    "inactive_reason",
    "created_at",
    "updated_at",
    "additional_fields_data",
)


def _member_chunks(marketing_list: MarketingList, chunk_size: int | None) -> Iterator[list[dict[str, Any]]]:
    """The members in primary key order, `chunk_size` at a time, from one query read through a server-side cursor.

    Not one LIMIT query per chunk: however the membership join is planned (a merge join walks the membership index
    from its start), a query per chunk would re-read what earlier chunks read, quadratic at a million members."""
    chunk_size = chunk_size or CHUNK_SIZE
    # Plain values, not model instances: building a million models costs more than writing their rows.
    members = list_members(marketing_list).order_by("pk").values(*MEMBER_FIELDS).iterator(chunk_size=chunk_size)
    yield from _chunks(members, chunk_size)


# Table names and a fixed condition only: no user text reaches these statements except as parameters.
_PREFERENCES = SubscriptionPreference._meta.db_table
_MEMBERSHIPS = ListMembership._meta.db_table
_LISTS = MarketingList._meta.db_table
_SUBSCRIBER_TAGS = Subscriber.tags.through._meta.db_table
_TAGS = Tag._meta.db_table
_CONSENT_SQL = (
    f"SELECT subscriber_id, subscription_type_id, subscribed FROM {_PREFERENCES} p "  # noqa: S608
    "WHERE p.{subscriber_in}"
)
_LISTS_SQL = (
    f"SELECT m.subscriber_id, l.public_id, l.name FROM {_MEMBERSHIPS} m "  # noqa: S608
    f"JOIN {_LISTS} l ON l.id = m.marketing_list_id WHERE m.{{subscriber_in}} ORDER BY m.id"
)
_TAGS_SQL = (
    f"SELECT st.subscriber_id, t.public_id, t.name FROM {_SUBSCRIBER_TAGS} st "  # noqa: S608
    f"JOIN {_TAGS} t ON t.id = st.tag_id WHERE st.{{subscriber_in}} ORDER BY t.name, t.id"
)


def _rows_for(sql: str, pks: list[int]) -> list[tuple]:
    """Run one of the relation queries above for a chunk of subscriber pks. PostgreSQL gets them as one array
    parameter: a chunk of separate placeholders costs more to build and parse than the query costs to run."""
    if connection.vendor == "postgresql":
        condition, params = "subscriber_id = ANY(%s)", [pks]
    else:
        condition, params = f"subscriber_id IN ({', '.join(['%s'] * len(pks))})", pks
    with connection.cursor() as cursor:
        cursor.execute(sql.format(subscriber_in=condition), params)
        return cursor.fetchall()


Named = list[tuple[str, str]]  # (public id, name) of a subscriber's lists or tags


def _relations(pks: list[int]) -> tuple[dict[int, dict[int, bool]], dict[int, Named], dict[int, Named]]:
    """Consent (type pk -> subscribed), static lists and tags of these subscribers, in three queries."""
    consent: dict[int, dict[int, bool]] = defaultdict(dict)
    for subscriber_id, type_id, subscribed in _rows_for(_CONSENT_SQL, pks):
        consent[subscriber_id][type_id] = bool(subscribed)
    lists: dict[int, Named] = defaultdict(list)
    for subscriber_id, public_id, name in _rows_for(_LISTS_SQL, pks):
        lists[subscriber_id].append((public_id, name))
    tags: dict[int, Named] = defaultdict(list)
    for subscriber_id, public_id, name in _rows_for(_TAGS_SQL, pks):
        tags[subscriber_id].append((public_id, name))
    return consent, lists, tags


Row = tuple[dict[str, Any], dict[int, bool], Named, Named]
RELATION_COLUMNS = ("lists", "list_names", "tags", "tag_names")


def _relation_values(lists: Named, tags: Named) -> tuple[list[str], list[str], list[str], list[str]]:
    """The values of RELATION_COLUMNS: ids, then names in the same order, of the lists and of the tags."""
    return [i for i, _ in lists], [n for _, n in lists], [i for i, _ in tags], [n for _, n in tags]


def _row_chunks(marketing_list: MarketingList, chunk_size: int | None) -> Iterator[list[Row]]:
    """Members with their consent, static lists and tags, a chunk at a time (four queries a chunk)."""
    for chunk in _member_chunks(marketing_list, chunk_size):
        consent, lists, tags = _relations([s["pk"] for s in chunk])
        yield [(s, consent.get(s["pk"], {}), lists.get(s["pk"], []), tags.get(s["pk"], [])) for s in chunk]


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def export_csv(marketing_list: MarketingList, *, chunk_size: int | None = None) -> Iterator[str]:
    fields = list(CustomField.objects.order_by("name").values_list("name", flat=True))
    types = list(SubscriptionType.objects.order_by("name").values_list("pk", "name"))
    writer = csv.writer(_Echo())
    header = [*BASE_COLUMNS, *fields, *(f"subscribed:{name}" for _, name in types), *RELATION_COLUMNS]
    yield writer.writerow([neutralize_cell(cell) for cell in header])
    for chunk in _row_chunks(marketing_list, chunk_size):
        yield "".join(writer.writerow(_csv_cells(row, fields, types)) for row in chunk)


def _csv_cells(row: Row, fields: list[str], types: list[tuple[int, str]]) -> list[str]:
    subscriber, consent, lists, tags = row
    data = subscriber["additional_fields_data"] or {}
    cells = [
        subscriber["public_id"],
        subscriber["email"],
        subscriber["first_name"],
        subscriber["last_name"],
        _csv_value(subscriber["active"]),
        subscriber["inactive_reason"],
        format_timestamp(subscriber["created_at"]) or "",
        format_timestamp(subscriber["updated_at"]) or "",
        *(_csv_value(data.get(name)) for name in fields),
        *(_csv_value(consent.get(type_pk)) for type_pk, _ in types),
        *(";".join(values) for values in _relation_values(lists, tags)),
    ]
    return [neutralize_cell(cell) for cell in cells]


def export_ndjson(marketing_list: MarketingList, *, chunk_size: int | None = None) -> Iterator[str]:
    type_names = dict(SubscriptionType.objects.values_list("pk", "name"))
    for chunk in _row_chunks(marketing_list, chunk_size):
        yield "".join(_json_line(row, type_names) for row in chunk)


def _json_line(row: Row, type_names: dict[int, str]) -> str:
    subscriber, consent, lists, tags = row
    record = {
        "id": subscriber["public_id"],
        "email": subscriber["email"],
        "first_name": subscriber["first_name"],
        "last_name": subscriber["last_name"],
        "active": subscriber["active"],
        "inactive_reason": subscriber["inactive_reason"] or None,  # as the API answers it
        "created_at": format_timestamp(subscriber["created_at"]),
        "updated_at": format_timestamp(subscriber["updated_at"]),
        "additional_fields_data": subscriber["additional_fields_data"] or {},
        "subscriptions": {type_names[pk]: subscribed for pk, subscribed in consent.items() if pk in type_names},
        **dict(zip(RELATION_COLUMNS, _relation_values(lists, tags), strict=True)),
    }
    return json.dumps(record, ensure_ascii=False, default=str) + "\n"


def export_lines(marketing_list: MarketingList, *, kind: str = "email", chunk_size: int | None = None) -> Iterator[str]:
    column = "public_id" if kind == "customerId" else "email"
    chunk_size = chunk_size or CHUNK_SIZE
    values = list_members(marketing_list).order_by("pk").values_list(column, flat=True).iterator(chunk_size=chunk_size)
    for chunk in _chunks(values, chunk_size):
        yield "".join(f"{neutralize_cell(value)}\n" for value in chunk)


def export_stream(
    marketing_list: MarketingList, *, export_format: str, kind: str = "email", chunk_size: int | None = None
) -> Iterator[str]:
    if export_format == "csv":
        return export_csv(marketing_list, chunk_size=chunk_size)
    if export_format == "ndjson":
        return export_ndjson(marketing_list, chunk_size=chunk_size)
    return export_lines(marketing_list, kind=kind, chunk_size=chunk_size)
