"""Audiences whose rules cannot be evaluated. One such audience must not break every subscriber write nor hold a worker
for ever: when evaluating its rules fails (a database error, a statement timeout on PostgreSQL, SQL too complex for
SQLite, rules that no longer compile) it is marked `failed` with the reason, which its status, the API and the admin
show, and membership work skips it until its rules change (see audiences.services.audience_update)."""

import logging

from django.conf import settings

from audiences.models import Audience
from core.db import database_error_text, is_statement_timeout
from core.errors import InvalidFilter

logger = logging.getLogger(__name__)

LIVE_TIMEOUT_SETTING = "AUDIENCE_LIVE_REFRESH_STATEMENT_TIMEOUT_MS"
MATERIALIZE_TIMEOUT_SETTING = "AUDIENCE_MATERIALIZE_STATEMENT_TIMEOUT_MS"


def audience_mark_failed(*, audience_pk: int, generation: int, reason: str) -> bool:
    """Mark the audience failed, unless its rules changed meanwhile (a newer generation gets its own chance). Answers
    whether it was marked."""
    marked = Audience.objects.filter(pk=audience_pk, rules_generation=generation).update(
        status=Audience.Status.FAILED, failure_reason=reason
    )
    if marked:
        logger.warning("Audience %s is marked failed and skipped until its rules change: %s", audience_pk, reason)
    return bool(marked)


def _timeout_reason(what: str, setting: str) -> str:
    limit = getattr(settings, setting)
    return (
        f"{what} took longer than the {limit} ms allowed ({setting}); simplify the rules (or raise the limit), "
        "then save them again"
    )


def live_refresh_failure(error: Exception) -> str:
    """Why evaluating the rules for the subscribers a request changed failed, as the status shows it."""
    if is_statement_timeout(error):
        return _timeout_reason("Evaluating its rules for a changed subscriber", LIVE_TIMEOUT_SETTING)
    return f"Its rules could not be evaluated for a changed subscriber: {database_error_text(error)}"


def explain_failure(error: Exception) -> str:
    """Why evaluating the rules for one subscriber, to explain its membership, failed."""
    if is_statement_timeout(error):
        return _timeout_reason("Evaluating its rules for this subscriber", LIVE_TIMEOUT_SETTING)
    return f"Its rules could not be evaluated: {database_error_text(error)}"


def materialize_failure(error: Exception) -> str:
    """Why materializing the audience failed, as the status shows it."""
    if isinstance(error, InvalidFilter):
        problems = "; ".join(f"{issue.field}: {issue.message}" for issue in error.issues) or error.message
        return f"Its rules no longer compile ({problems}); change them"
    if is_statement_timeout(error):
        return _timeout_reason("Materializing its rules", MATERIALIZE_TIMEOUT_SETTING)
    return f"Its rules could not be evaluated: {database_error_text(error)}"


def log_broken_rules(public_id: str, error: InvalidFilter) -> None:
    problems = "; ".join(f"{issue.field}: {issue.message}" for issue in error.issues)
    logger.warning("Audience %s is left as it is: its rules no longer compile (%s)", public_id, problems)
