"""django-anymail's webhook routes (`/webhooks/anymail/<esp>/...`), made to fail closed.

Left alone, an anymail route with no `WEBHOOK_SECRET` only warns and accepts anyone's call, so a forged bounce would
deactivate any subscriber; and a provider whose view needs a signing key that is missing (Mailgun without
`MAILGUN_WEBHOOK_SIGNING_KEY`) crashes with a 500. Here every anymail view is served through `FailClosedWebhookMixin`:

- a route accepts a call only when it holds a secret that authenticates it: the shared basic auth
  (`ANYMAIL["WEBHOOK_SECRET"]`), or the provider's own signing key, which anymail's view checks and signals by
  `warn_if_no_basic_auth = False` (Mailgun, MailerSend, Postal, Mandrill, Unisender Go; SendGrid, Resend and Mailtrap
  when their key is set);
- without one it answers 403 to every call, before reading the body;
- a call whose basic auth or signature does not match answers 401 (anymail would raise SuspiciousOperation: a 400, or
  a debug page under DEBUG).

Refusals are the API's small JSON envelope, logged with the reason for the operator.
"""

import logging
from typing import Any

from anymail import urls as anymail_urls
from anymail.exceptions import AnymailConfigurationError, AnymailWebhookValidationFailure
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt

from core.api.errors import error_response

logger = logging.getLogger(__name__)

NOT_CONFIGURED_MESSAGE = "This webhook is not configured: it refuses every call until it has a secret to check them."
REFUSED_MESSAGE = "Webhook authentication failed."


class FailClosedWebhookMixin:
    """Put before an anymail webhook view class: refuses every call unless the view can authenticate it."""

    # Why this route refuses every call, for the log; None when it is configured.
    misconfiguration: str | None = None

    def __init__(self, **kwargs: Any) -> None:
        try:
            super().__init__(**kwargs)
        except AnymailConfigurationError as exc:  # a provider key the view cannot work without
            self.misconfiguration = str(exc)
            return
        if not self.basic_auth and self.warn_if_no_basic_auth:
            self.misconfiguration = "no ANYMAIL_WEBHOOK_SECRET and no signing key for this provider"

    # Anymail's views are CSRF-exempt through their dispatch; as_view() copies that mark from the overriding method.
    @method_decorator(csrf_exempt)
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if self.misconfiguration:
            return self._not_configured(request, self.misconfiguration)
        try:
            return super().dispatch(request, *args, **kwargs)
        except AnymailConfigurationError as exc:  # Mandrill only looks for its key when a POST arrives
            return self._not_configured(request, str(exc))
        except AnymailWebhookValidationFailure as exc:
            logger.warning("Refused a %s webhook call: %s", self.esp_name, exc)
            response = error_response(401, REFUSED_MESSAGE, "UNAUTHORIZED")
            if self.basic_auth:
                response["WWW-Authenticate"] = 'Basic realm="Roster webhooks"'
            return response

    def _not_configured(self, request: HttpRequest, reason: str) -> JsonResponse:
        logger.warning("Refused a %s webhook call to %s: %s", self.esp_name, request.path, reason)
        return error_response(403, NOT_CONFIGURED_MESSAGE, "FORBIDDEN")


def fail_closed(pattern: URLPattern) -> URLPattern:
    """The same route (path and name) served by a fail-closed subclass of its anymail view."""
    callback = pattern.callback
    view_class = callback.view_class
    guarded = type(view_class.__name__, (FailClosedWebhookMixin, view_class), {"__module__": __name__})
    return URLPattern(pattern.pattern, guarded.as_view(**callback.view_initkwargs), pattern.default_args, pattern.name)


app_name = anymail_urls.app_name
urlpatterns = [fail_closed(pattern) for pattern in anymail_urls.urlpatterns]
