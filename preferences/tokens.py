"""Signed link tokens for the public pages.

A token is Django's signing of a small payload, with a salt per purpose, so a preference token cannot open the
unsubscribe endpoint. It names the subscriber by public id and is bound to the subscriber's current email and
`token_version`: changing either kills every token already sent, as Django's password-reset tokens die when the
password changes. Reading a token answers None for anything wrong (tampered, truncated, expired, revoked, unknown
subscriber) and never says which, so a token reveals nothing about who exists.
"""

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core import signing

from core.ids import is_storable_public_id
from preferences.models import MarketingEmail
from subscribers.models import Subscriber, SubscriptionType

MAX_TOKEN_LENGTH = 600


class Purpose(StrEnum):
    PREFERENCES = "preferences"
    EMAIL_VIEW = "email-view"
    UNSUBSCRIBE = "unsubscribe"


@dataclass(frozen=True)
class LinkClaims:
    subscriber: Subscriber
    marketing_email: MarketingEmail | None = None
    subscription_type: SubscriptionType | None = None


def _salt(purpose: Purpose) -> str:
    return f"roster.links.{purpose.value}"


def _email_binding(subscriber: Subscriber) -> str:
    return hashlib.sha256(subscriber.email.lower().encode()).hexdigest()[:12]


def make_token(
    purpose: Purpose,
    subscriber: Subscriber,
    *,
    marketing_email: MarketingEmail | None = None,
    subscription_type: SubscriptionType | None = None,
) -> str:
    payload: dict[str, Any] = {
        "s": subscriber.public_id,
        "v": subscriber.token_version,
        "e": _email_binding(subscriber),
    }
    if marketing_email is not None:
        payload["m"] = marketing_email.public_id
    if subscription_type is not None:
        payload["t"] = subscription_type.public_id
    return signing.dumps(payload, salt=_salt(purpose), compress=True)


def read_token(purpose: Purpose, token: str) -> LinkClaims | None:
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    try:
        payload = signing.loads(token, salt=_salt(purpose), max_age=settings.LINK_TOKEN_MAX_AGE)
    except (signing.BadSignature, ValueError, UnicodeError):
        return None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("s"), str)
        or not is_storable_public_id(payload["s"])
    ):
        return None
    subscriber = Subscriber.objects.filter(public_id=payload["s"]).first()
    if (
        subscriber is None
        or payload.get("v") != subscriber.token_version
        or payload.get("e") != _email_binding(subscriber)
    ):
        return None
    marketing_email = subscription_type = None
    if isinstance(payload.get("m"), str):
        marketing_email = (
            MarketingEmail.objects.filter(public_id=payload["m"]).select_related("subscription_type").first()
        )
    if isinstance(payload.get("t"), str):
        subscription_type = SubscriptionType.objects.filter(public_id=payload["t"]).first()
    if subscription_type is None and marketing_email is not None:
        subscription_type = marketing_email.subscription_type
    return LinkClaims(subscriber, marketing_email, subscription_type)
