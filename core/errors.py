"""The application's error family. Each case has a code from the seeds; one handler turns it into the envelope
`{"message", "code", "issues": [{"field", "message"}]}` (see core.api.errors)."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

UNKNOWN_FIELD = "Unknown field"


@dataclass(frozen=True)
class Issue:
    field: str
    message: str


class ApplicationError(Exception):
    code = "VALIDATION_ERROR"
    status = 400
    default_message = "Validation failed"

    def __init__(self, message: str | None = None, *, issues: Iterable[Issue] = (), code: str | None = None) -> None:
        self.message = message or self.default_message
        self.issues = list(issues)
        if code:
            self.code = code
        super().__init__(self.message)

    @classmethod
    def on(cls, field: str, message: str, *, summary: str | None = None) -> "ApplicationError":
        return cls(summary, issues=[Issue(field, message)])


def unknown_field_issues(data: Mapping[str, Any], allowed: Iterable[str], *, prefix: str = "") -> list[Issue]:
    """An issue for each key of `data` outside `allowed` (for bodies read without a serializer, such as the items
    of a batch that are checked one by one)."""
    known = set(allowed)
    return [Issue(f"{prefix}{key}", UNKNOWN_FIELD) for key in data if key not in known]


class IssueCollector:
    """Runs several checks and keeps the issues of those that fail, so that a write refuses once, with all of them."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def check(self, check: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """The check's answer, or None when it raised an ApplicationError (whose issues are kept)."""
        try:
            return check(*args, **kwargs)
        except ApplicationError as error:
            self.issues += error.issues or [Issue("body", error.message)]
            return None

    def raise_any(self, error_class: type[ApplicationError]) -> None:
        if self.issues:
            raise error_class(issues=self.issues)


class ValidationFailed(ApplicationError):
    """A 400 whose code depends on the resource (INVALID_SUBSCRIBER, INVALID_AUDIENCE, ...)."""


class InvalidFilter(ApplicationError):
    code = "INVALID_FILTER"
    default_message = "Invalid filter"


class InvalidPreference(ApplicationError):
    code = "INVALID_PREFERENCE"
    default_message = "Invalid subscription preference"


class NotFound(ApplicationError):
    code = "NOT_FOUND"
    status = 404
    default_message = "Not found"


class Conflict(ApplicationError):
    status = 409


class DuplicateEmail(Conflict):
    code = "DUPLICATE_EMAIL"
    default_message = "Subscriber with this email already exists"


class VersionConflict(Conflict):
    code = "VERSION_CONFLICT"
    default_message = "The resource was changed by someone else; reload it and try again"


class PayloadTooLarge(ApplicationError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413
    default_message = "Request body is too large"
