"""Every link an integrator puts in an email for one subscriber, absolute and ready for templates and headers."""

from urllib.parse import urljoin

from django.conf import settings
from django.urls import reverse

from preferences.models import MarketingEmail
from preferences.tokens import Purpose, make_token
from subscribers.models import Subscriber, SubscriptionType


def _absolute(base: str, path: str) -> str:
    return urljoin(base.rstrip("/") + "/", path.lstrip("/"))


def subscriber_links(
    subscriber: Subscriber,
    *,
    marketing_email: MarketingEmail | None = None,
    subscription_type: SubscriptionType | None = None,
) -> dict[str, str | None]:
    subscription_type = subscription_type or (marketing_email.subscription_type if marketing_email else None)
    claims = {"marketing_email": marketing_email, "subscription_type": subscription_type}
    preference_token = make_token(Purpose.PREFERENCES, subscriber, **claims)
    unsubscribe_url = _absolute(
        settings.PUBLIC_BASE_URL,
        reverse("preferences:unsubscribe", args=[make_token(Purpose.UNSUBSCRIBE, subscriber, **claims)]),
    )
    view_in_browser_url = None
    if marketing_email is not None:
        view_token = make_token(Purpose.EMAIL_VIEW, subscriber, **claims)
        view_in_browser_url = _absolute(settings.PUBLIC_BASE_URL, reverse("preferences:email-view", args=[view_token]))
    return {
        "preference_center_url": _absolute(
            settings.PUBLIC_BASE_URL, reverse("preferences:center", args=[preference_token])
        ),
        "preference_token": preference_token,
        "view_in_browser_url": view_in_browser_url,
        "unsubscribe_url": unsubscribe_url,
        # RFC 2369 / RFC 8058 header values, ready to copy into the message.
        "list_unsubscribe": f"<{unsubscribe_url}>",
        "list_unsubscribe_post": "List-Unsubscribe=One-Click",
    }
