"""Vendor-specific SQL for JSON keys. The key is passed as a parameter, never spliced into the SQL text.

Each typed reading (`JsonNumber`, `JsonBoolean`, `JsonDate`) is NULL unless the key holds a value of that type, so a
string stored under a number key never compares as a number.
"""

from typing import Any

from django.db.models import BooleanField, F, FloatField, Func, TextField

# A custom-field date is stored as ISO text; only its first ten characters (YYYY-MM-DD) take part in comparisons.
_PG_DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}"
_SQLITE_DATE_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"


class _JsonKeyFunc(Func):
    def __init__(self, column: str, key: str, **extra: Any) -> None:
        self.key = key
        super().__init__(F(column), **extra)

    def _column_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return compiler.compile(self.source_expressions[0])


class JsonType(_JsonKeyFunc):
    """The JSON type of one key ('null' for an explicit null; NULL when the key is missing)."""

    output_field = TextField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        column, params = self._column_sql(compiler, connection)
        return f"jsonb_typeof({column} -> %s)", [*params, self.key]

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        column, params = self._column_sql(compiler, connection)
        return f"json_type({column}, %s)", [*params, f'$."{self.key}"']


class JsonText(_JsonKeyFunc):
    """One key as text, the same on both databases: a string itself, a number its digits, true/false as words,
    an object or array its JSON; NULL for null or a missing key."""

    output_field = TextField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        column, params = self._column_sql(compiler, connection)
        return f"({column} ->> %s)", [*params, self.key]

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        # json_extract answers SQL numbers (and 1/0 for true/false), which never equal text in SQLite.
        column, params = self._column_sql(compiler, connection)
        sql = (
            f"(CASE json_type({column}, %s) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' "
            f"ELSE CAST(json_extract({column}, %s) AS TEXT) END)"
        )
        return sql, [*params, f'$."{self.key}"', *params, f'$."{self.key}"']


class JsonNumber(_JsonKeyFunc):
    """One key as a number when it holds a JSON number, else NULL (so strings never compare as numbers)."""

    output_field = FloatField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        column, params = self._column_sql(compiler, connection)
        sql = f"(CASE WHEN jsonb_typeof({column} -> %s) = 'number' THEN ({column} ->> %s)::double precision END)"
        return sql, [*params, self.key, *params, self.key]

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        column, params = self._column_sql(compiler, connection)
        path = f'$."{self.key}"'
        sql = f"(CASE WHEN json_type({column}, %s) IN ('integer', 'real') THEN json_extract({column}, %s) END)"
        return sql, [*params, path, *params, path]


class JsonBoolean(_JsonKeyFunc):
    """One key as a boolean when it holds JSON true or false, else NULL."""

    output_field = BooleanField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        column, params = self._column_sql(compiler, connection)
        sql = f"(CASE WHEN jsonb_typeof({column} -> %s) = 'boolean' THEN ({column} ->> %s)::boolean END)"
        return sql, [*params, self.key, *params, self.key]

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        column, params = self._column_sql(compiler, connection)
        sql = f"(CASE json_type({column}, %s) WHEN 'true' THEN 1 WHEN 'false' THEN 0 END)"
        return sql, [*params, f'$."{self.key}"']


class JsonDate(_JsonKeyFunc):
    """One key as ISO date text (YYYY-MM-DD) when it holds a string starting with a date, else NULL.
    A stored date-time compares by its day."""

    output_field = TextField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        column, params = self._column_sql(compiler, connection)
        text = f"({column} ->> %s)"
        sql = f"(CASE WHEN jsonb_typeof({column} -> %s) = 'string' AND {text} ~ %s THEN left({text}, 10) END)"
        return sql, [*params, self.key, *params, self.key, _PG_DATE_PATTERN, *params, self.key]

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        column, params = self._column_sql(compiler, connection)
        path = f'$."{self.key}"'
        text = f"json_extract({column}, %s)"
        sql = f"(CASE WHEN json_type({column}, %s) = 'text' AND {text} GLOB %s THEN substr({text}, 1, 10) END)"
        return sql, [*params, path, *params, path, _SQLITE_DATE_GLOB, *params, path]
