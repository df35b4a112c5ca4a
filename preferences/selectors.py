"""Reads for marketing emails, links and the token-authorized preference API."""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import QuerySet

from core.errors import InvalidPreference, NotFound
from core.ids import is_storable_public_id
from preferences.models import BrandSettings, MarketingEmail
from preferences.services import available_subscription_types, subscriber_subscriptions
from preferences.tokens import LinkClaims, Purpose, read_token
from subscribers.models import Subscriber, SubscriptionType


class InvalidToken(NotFound):
    """Whatever is wrong with a link token (forged, truncated, expired, revoked, another purpose, a subscriber that
    is gone): one answer, so that a token reveals nothing about who exists."""

    code = "INVALID_TOKEN"
    default_message = "This link is invalid or has expired"


class MarketingEmailNotFound(NotFound):
    default_message = "Marketing email not found"


def marketing_email_list() -> QuerySet[MarketingEmail]:
    return MarketingEmail.objects.select_related("subscription_type")


def marketing_email_get(public_id: str) -> MarketingEmail:
    found = marketing_email_list().filter(public_id=public_id).first() if is_storable_public_id(public_id) else None
    if found is None:
        raise MarketingEmailNotFound()
    return found


def subscription_type_named(public_id: str, *, field: str) -> SubscriptionType:
    """The subscription type an input names, or INVALID_PREFERENCE on `field`."""
    found = SubscriptionType.objects.filter(public_id=public_id).first() if is_storable_public_id(public_id) else None
    if found is None:
        raise InvalidPreference.on(field, f"Unknown subscription type: {public_id}")
    return found


def subscription_type_pks(public_ids: Iterable[str]) -> list[int]:
    """The primary keys of the subscription types named (unknown ids are left out)."""
    return list(SubscriptionType.objects.filter(public_id__in=list(public_ids)).values_list("pk", flat=True))


def link_claims(purpose: Purpose, token: str) -> LinkClaims:
    claims = read_token(purpose, token)
    if claims is None:
        raise InvalidToken()
    return claims


@dataclass(frozen=True)
class PreferenceCenterState:
    """What a preference page shows: the brand, the subscriber's choice for every type, and where the link came from."""

    brand: BrandSettings
    subscriber: Subscriber
    subscription_types: list[SubscriptionType]
    subscribed: dict[int, bool]
    marketing_email: MarketingEmail | None
    subscription_type: SubscriptionType | None


def preference_center_state(claims: LinkClaims) -> PreferenceCenterState:
    return PreferenceCenterState(
        brand=BrandSettings.current(),
        subscriber=claims.subscriber,
        subscription_types=available_subscription_types(),
        subscribed=subscriber_subscriptions(claims.subscriber),
        marketing_email=claims.marketing_email,
        subscription_type=claims.subscription_type,
    )
