import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from core.api.errors import error_response

logger = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    500: "INTERNAL_ERROR",
}


class ApiErrorEnvelopeMiddleware:
    """Last line of defence for /api/: an error that escaped DRF (CSRF, DisallowedHost, a crash in middleware)
    still reaches the client as the JSON envelope, never as an HTML page or a traceback."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if not request.path.startswith("/api/") or response.status_code < 400:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        status = response.status_code
        code = _STATUS_CODES.get(status, "INTERNAL_ERROR" if status >= 500 else "ERROR")
        message = "Internal server error" if status >= 500 else (response.reason_phrase or "Error")
        return error_response(status, message, code)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith("/api/"):
            return None
        logger.exception("Unhandled error on %s", request.path, exc_info=exception)
        return error_response(500, "Internal server error", "INTERNAL_ERROR")
