"""Database helpers every app may use: bounding statements in time, and telling a timeout from other errors."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DatabaseError, connection, transaction

QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement cancelled (statement_timeout, or a cancel request)


@contextmanager
def savepoint_with_statement_timeout(milliseconds: int) -> Iterator[None]:
    """Run the block in a savepoint (a transaction when none is open) where, on PostgreSQL, each statement may run at
    most `milliseconds` (0: no limit). A failure inside rolls the savepoint back and leaves the outer transaction
    usable.

    The limit is a `SET LOCAL`, which a released savepoint would carry on to the end of the whole transaction: the
    transaction's own value is put back on the way out, so the rest of the request runs as it did before."""
    if connection.vendor != "postgresql" or milliseconds <= 0:
        with transaction.atomic():
            yield
        return
    outer = connection.in_atomic_block
    previous = None
    if outer:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('statement_timeout')")
            previous = cursor.fetchone()[0]
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [str(int(milliseconds))])
        yield
        if outer:
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])


def is_statement_timeout(error: BaseException) -> bool:
    """Whether a database error is PostgreSQL cancelling a statement (statement_timeout, or a cancel request)."""
    return isinstance(error, DatabaseError) and getattr(error.__cause__, "sqlstate", None) == QUERY_CANCELED


def database_error_text(error: BaseException, *, limit: int = 500) -> str:
    """The first line of a database error's message, cut to `limit` characters, for a status people read."""
    text = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
