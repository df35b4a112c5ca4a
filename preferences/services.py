"""What subscribers do on public pages (and integrators through the token API): see and change their consent,
unsubscribe in one click, read an email in the browser. Pages and API call these, so both follow the same rules."""

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from core.errors import ValidationFailed
from core.versioning import lock_for_change, mark_changed
from preferences.links import subscriber_links
from preferences.models import MarketingEmail
from preferences.rendering import merge_values, render_merge_tags
from preferences.tokens import LinkClaims
from subscribers.models import Subscriber, SubscriptionPreference, SubscriptionType
from subscribers.services import (
    ConsentSource,
    engagement_record_unsubscribe,
    may_resubscribe_themselves,
    preferences_apply,
    subscriber_set_active,
)

GLOBAL_UNSUBSCRIBE_REASON = "User unsubscribed"


@dataclass(frozen=True)
class PreferenceOutcome:
    changed: bool
    reactivated: bool = False
    deactivated: bool = False
    # The subscriber chose a type but stays inactive: a bounce, a complaint or staff made them inactive.
    reactivation_refused: bool = False


def subscriber_subscriptions(subscriber: Subscriber) -> dict[int, bool]:
    """Subscription type pk -> subscribed, for the types the subscriber has a preference for."""
    return dict(
        SubscriptionPreference.objects.filter(subscriber=subscriber).values_list("subscription_type_id", "subscribed")
    )


def available_subscription_types() -> list[SubscriptionType]:
    return list(SubscriptionType.objects.order_by("name"))


@transaction.atomic
def preference_center_update(
    *,
    subscriber: Subscriber,
    updates: Iterable[Mapping[str, Any]],
    replace_all: bool,
    mark_inactive: bool = False,
    inactive_reason: str = "",
    shown_type_pks: Collection[int] | None = None,
    source: ConsentSource,
) -> PreferenceOutcome:
    """Apply a subscriber's own choices. `replace_all` withdraws the types not chosen (only among `shown_type_pks`
    when a page says which it showed). `mark_inactive` is the global unsubscribe: it withdraws every type too, so that
    a later return brings back only what the person then chooses. Choosing a type again reactivates a subscriber
    whose own unsubscribe made them inactive, and nobody else."""
    updates = list(updates)
    if mark_inactive:  # every type named is checked, and withdrawn like all the others
        updates = [{**update, "subscribe": False} for update in updates]
    changed = preferences_apply(
        subscriber=subscriber,
        updates=updates,
        replace_all=replace_all or mark_inactive,
        replace_within=None if mark_inactive else shown_type_pks,
        source=source,
    )
    subscriber.refresh_from_db(fields=["active", "inactive_reason", "version", "updated_at"])
    if mark_inactive:
        deactivated = subscriber_set_active(
            subscriber=subscriber, active=False, reason=inactive_reason or GLOBAL_UNSUBSCRIBE_REASON, source=source
        )
        if source.marketing_email_id is not None:
            engagement_record_unsubscribe(subscriber=subscriber, marketing_email_pk=source.marketing_email_id)
        return PreferenceOutcome(changed=changed or deactivated, deactivated=deactivated)
    chose_a_type = any(bool(update["subscribe"]) for update in updates)
    if chose_a_type and not subscriber.active:
        if may_resubscribe_themselves(subscriber):
            subscriber_set_active(subscriber=subscriber, active=True, source=source)
            return PreferenceOutcome(changed=True, reactivated=True)
        return PreferenceOutcome(changed=changed, reactivation_refused=True)
    return PreferenceOutcome(changed=changed)


@transaction.atomic
def one_click_unsubscribe(*, claims: LinkClaims, source: ConsentSource) -> None:
    """RFC 8058: withdraw consent for the email's subscription type, or everything when the link names none."""
    subscriber = claims.subscriber
    if claims.subscription_type is not None:
        preferences_apply(
            subscriber=subscriber,
            updates=[{"subscription_type_id": claims.subscription_type.public_id, "subscribe": False}],
            source=source,
        )
    else:
        preference_center_update(subscriber=subscriber, updates=[], replace_all=True, mark_inactive=True, source=source)
    if claims.marketing_email is not None:
        # The engagement record of the email the link came from shows when its reader unsubscribed.
        engagement_record_unsubscribe(subscriber=subscriber, marketing_email_pk=claims.marketing_email.pk)


def render_email_for(marketing_email: MarketingEmail, subscriber: Subscriber) -> str:
    """The stored HTML with this subscriber's merge values and links."""
    links = subscriber_links(
        subscriber, marketing_email=marketing_email, subscription_type=marketing_email.subscription_type
    )
    return render_merge_tags(marketing_email.html_content, merge_values(subscriber, links))


# Marketing emails: written by the API and the admin through these three functions.

MARKETING_EMAIL_FIELDS = ("name", "subject", "campaign_code", "subscription_type", "html_content", "sent_at")


def _clean_marketing_email(changes: dict[str, Any]) -> dict[str, Any]:
    for name in ("name", "subject", "campaign_code"):
        if name in changes:
            changes[name] = (changes[name] or "").strip()
    if "html_content" in changes:
        changes["html_content"] = changes["html_content"] or ""
    if "name" in changes and not changes["name"]:
        raise ValidationFailed.on("name", "Name is required")
    unknown = set(changes) - set(MARKETING_EMAIL_FIELDS)
    if unknown:
        raise TypeError(f"Not marketing email fields: {', '.join(sorted(unknown))}")
    return changes


@transaction.atomic
def marketing_email_create(
    *,
    name: str,
    subject: str = "",
    campaign_code: str = "",
    subscription_type: SubscriptionType | None = None,
    html_content: str = "",
    sent_at: datetime | None = None,
) -> MarketingEmail:
    fields = _clean_marketing_email(
        {
            "name": name,
            "subject": subject,
            "campaign_code": campaign_code,
            "subscription_type": subscription_type,
            "html_content": html_content,
            "sent_at": sent_at,
        }
    )
    return MarketingEmail.objects.create(**fields)


@transaction.atomic
def marketing_email_update(
    *, marketing_email: MarketingEmail, expected_version: int | None = None, **changes: Any
) -> MarketingEmail:
    """Change the fields given (any of MARKETING_EMAIL_FIELDS); the version grows only when something changed."""
    changes = _clean_marketing_email(changes)
    marketing_email = lock_for_change(marketing_email, expected_version=expected_version)
    changed = [name for name, value in changes.items() if getattr(marketing_email, name) != value]
    for name in changed:
        setattr(marketing_email, name, changes[name])
    if changed:
        mark_changed(marketing_email, changed)
    return marketing_email


@transaction.atomic
def marketing_email_delete(*, marketing_email: MarketingEmail) -> None:
    """Its view-in-browser links stop working; engagement and consent records keep their rows without it."""
    marketing_email.delete()
