"""Expression indexes for rules over number custom fields.

`bench/segments.py` at a million subscribers showed that a range rule on a number custom field (loyalty tiers,
"lifetime value over X") pays for an index: a fresh count of `lifetime_value > 9000` fell from about 530 ms to 75 ms,
`> 5000` from about 510 ms to 160 ms. Equality on a dropdown gained too little to pay for another index on every
write, so only number fields get one (bench/README.md).

Every defined number field gets its own index (a discovered one gets it once staff define it), on exactly the
expression `core.conditions.expressions.JsonNumber` emits on PostgreSQL, so that the planner matches it; change one and
the other must follow. The index is built concurrently (a large table keeps taking writes meanwhile), so outside any
transaction: in a background job after the field is created or defined, and dropped the same way after it is deleted.
Embedded SQLite gets none.
"""

import hashlib

from django.db import connection
from psycopg import sql

from subscribers.models import CustomField, Subscriber

_TABLE = Subscriber._meta.db_table
_MAX_IDENTIFIER = 63


def number_field_index_name(key: str) -> str:
    """A name of its own per key (keys differ by case, identifiers are best kept lower case and short)."""
    name = f"subscriber_cf_{key}_number"
    if key == key.lower() and len(name) <= _MAX_IDENTIFIER:
        return name
    return f"subscriber_cf_{hashlib.sha256(key.encode()).hexdigest()[:16]}_number"


def number_field_index_expression(key: str) -> sql.Composed:
    column = sql.Identifier("additional_fields_data")
    return sql.SQL(
        "(CASE WHEN jsonb_typeof({column} -> {key}) = 'number' THEN ({column} ->> {key})::double precision END)"
    ).format(column=column, key=sql.Literal(key))


def _execute(statement: sql.Composable) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(connection.connection))


def _index_valid(key: str) -> bool | None:
    """Whether the key's index is valid; None when there is none."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE c.relname = %s AND pg_table_is_visible(c.oid)",
            [number_field_index_name(key)],
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


def number_field_index_create(key: str) -> None:
    """Build the key's index unless a valid one exists (an interrupted build leaves an invalid one: rebuilt)."""
    if connection.vendor != "postgresql":
        return
    valid = _index_valid(key)
    if valid:
        return
    name = sql.Identifier(number_field_index_name(key))
    if valid is False:
        _execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(name))
    _execute(
        sql.SQL("CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} ({expression})").format(
            name=name, table=sql.Identifier(_TABLE), expression=number_field_index_expression(key)
        )
    )


def number_field_index_drop(key: str) -> None:
    if connection.vendor == "postgresql":
        _execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(number_field_index_name(key))))


def number_field_index_sync(key: str) -> bool:
    """Make the key's index exist exactly while a defined number custom field of that name does (the background job
    after a field is created, defined or deleted). Idempotent; answers whether the index is wanted.

    A discovered field gets none: anyone who may write subscribers can make one up, and every index costs every
    subscriber write; staff defining the field (or its type) is what builds it."""
    wanted = CustomField.objects.filter(name=key, field_type=CustomField.FieldType.NUMBER, discovered=False).exists()
    if wanted:
        number_field_index_create(key)
    else:
        number_field_index_drop(key)
    return wanted


def number_field_indexes_sync() -> int:
    """Build the indexes every number custom field should have (after a bulk load, or a restore)."""
    keys = CustomField.objects.filter(field_type=CustomField.FieldType.NUMBER, discovered=False).values_list(
        "name", flat=True
    )
    return sum(number_field_index_sync(key) for key in keys)
