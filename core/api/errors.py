"""Every error under /api/ leaves as the seeds' envelope: {"message", "code", "issues": [{"field", "message"}]}."""

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import set_rollback

from core.api.serializers import only_unknown_fields
from core.errors import ApplicationError, Issue

logger = logging.getLogger(__name__)

NON_FIELD = "body"


def envelope(message: str, code: str, issues: list[Issue] | None = None) -> dict[str, Any]:
    return {
        "message": message,
        "code": code,
        "issues": [{"field": i.field, "message": i.message} for i in issues or []],
    }


def error_response(status: int, message: str, code: str, issues: list[Issue] | None = None) -> JsonResponse:
    return JsonResponse(envelope(message, code, issues), status=status)


def flatten_validation_detail(detail: Any, prefix: str = "") -> list[Issue]:
    """Turn DRF's nested error detail into flat issues with dotted paths (`subscription_updates.0.subscribe`)."""
    if isinstance(detail, dict):
        issues: list[Issue] = []
        for key, value in detail.items():
            name = NON_FIELD if key in ("non_field_errors", api_settings.NON_FIELD_ERRORS_KEY) else str(key)
            path = f"{prefix}.{name}" if prefix and name != NON_FIELD else (prefix or name)
            issues.extend(flatten_validation_detail(value, path))
        return issues
    if isinstance(detail, list):
        if all(not isinstance(item, dict | list) for item in detail):
            return [Issue(prefix or NON_FIELD, str(item)) for item in detail]
        issues = []
        for index, item in enumerate(detail):
            if item:
                issues.extend(flatten_validation_detail(item, f"{prefix}.{index}" if prefix else str(index)))
        return issues
    return [Issue(prefix or NON_FIELD, str(detail))]


def _validation_context(context: dict[str, Any]) -> tuple[str, str]:
    view = context.get("view")
    code = getattr(view, "validation_error_code", "VALIDATION_ERROR")
    message = getattr(view, "validation_error_message", "Validation failed")
    return code, message


def _respond(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(body, status=status, headers=headers)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    set_rollback()
    if isinstance(exc, ApplicationError):
        return _respond(exc.status, envelope(exc.message, exc.code, exc.issues))
    if isinstance(exc, drf.ValidationError):
        if only_unknown_fields(exc.detail):
            code, message = "VALIDATION_ERROR", "Unknown fields in the request body"
        else:
            code, message = _validation_context(context)
        return _respond(400, envelope(message, code, flatten_validation_detail(exc.detail)))
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return _respond(401, envelope(str(exc.detail), "UNAUTHORIZED"))
    if isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        return _respond(403, envelope("This API key does not have the scope for this operation", "FORBIDDEN"))
    if isinstance(exc, drf.NotFound | Http404):
        view = context.get("view")
        code = getattr(view, "not_found_code", "NOT_FOUND")
        return _respond(404, envelope(getattr(view, "not_found_message", "Not found"), code))
    if isinstance(exc, drf.MethodNotAllowed):
        return _respond(405, envelope(str(exc.detail), "METHOD_NOT_ALLOWED"))
    if isinstance(exc, drf.ParseError):
        return _respond(400, envelope(f"Malformed request body: {exc.detail}", "VALIDATION_ERROR"))
    if isinstance(exc, drf.UnsupportedMediaType):
        return _respond(415, envelope(str(exc.detail), "UNSUPPORTED_MEDIA_TYPE"))
    if isinstance(exc, drf.NotAcceptable):
        return _respond(406, envelope(str(exc.detail), "NOT_ACCEPTABLE"))
    if isinstance(exc, drf.Throttled):
        headers = {"Retry-After": str(int(exc.wait))} if exc.wait else None
        return _respond(429, envelope("Too many requests", "RATE_LIMIT_EXCEEDED"), headers)
    if isinstance(exc, RequestDataTooBig):
        return _respond(413, envelope("Request body is too large", "PAYLOAD_TOO_LARGE"))
    if isinstance(exc, drf.APIException):
        return _respond(exc.status_code, envelope(str(exc.detail), "ERROR"))
    logger.exception("Unhandled error in API view", exc_info=exc)
    return _respond(500, envelope("Internal server error", "INTERNAL_ERROR"))
