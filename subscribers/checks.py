"""System checks of the subscribers app (run by `manage.py check`; `--deploy` adds the deploy-tagged ones)."""

from typing import Any

from django.apps import AppConfig
from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks import Warning as CheckWarning


@register(Tags.security, deploy=True)
def webhook_secret_check(app_configs: list[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    """Without the shared webhook secret, provider webhooks refuse every call (see subscribers.webhook_routes)."""
    if getattr(settings, "ANYMAIL", {}).get("WEBHOOK_SECRET"):
        return []
    return [
        CheckWarning(
            "ANYMAIL_WEBHOOK_SECRET is not set: the email provider webhooks at /webhooks/anymail/ refuse every call, "
            "so bounces, complaints and unsubscribes reported by the provider are lost (except a provider that "
            "signs its calls with a key you set, such as Mailgun with MAILGUN_WEBHOOK_SIGNING_KEY).",
            hint="Set ANYMAIL_WEBHOOK_SECRET to 'user:password' and give the provider the webhook URL with "
            "those credentials (https://user:password@host/webhooks/anymail/<provider>/tracking/).",
            id="subscribers.W001",
        )
    ]
