"""Consent: per subscription type, and the subscriber's global active flag. Every change is recorded with its source
(and, from public pages, the IP address and user agent) in ConsentRecord."""

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from audiences.membership import membership_refresh_subscribers
from core.errors import InvalidPreference, Issue, ValidationFailed
from core.versioning import touch
from subscribers.models import ConsentRecord, Subscriber, SubscriptionPreference, SubscriptionType

Action = ConsentRecord.Action
Source = ConsentRecord.Source
# Sources through which the subscriber acted: an inactive subscriber who unsubscribed themselves may subscribe again
# from the preference center; one made inactive by a bounce, a complaint or staff may not.
SELF_SERVICE_SOURCES = (Source.PREFERENCE_CENTER, Source.PREFERENCE_API, Source.ONE_CLICK)
UNDELIVERABLE_SOURCES = (Source.BOUNCE, Source.COMPLAINT)


@dataclass(frozen=True)
class ConsentSource:
    source: str = Source.API
    ip_address: str | None = None
    user_agent: str = ""
    marketing_email_id: int | None = None

    def record(self, subscriber: Subscriber, action: str, *, subscription_type=None, reason: str = "") -> ConsentRecord:
        return ConsentRecord.objects.create(
            subscriber=subscriber,
            subscription_type=subscription_type,
            action=action,
            source=self.source,
            reason=reason[:500],
            ip_address=self.ip_address,
            user_agent=self.user_agent[:500],
            marketing_email_id=self.marketing_email_id,
        )


API_SOURCE = ConsentSource()


def _set_preference(
    subscriber: Subscriber,
    subscription_type: SubscriptionType,
    preference: SubscriptionPreference | None,
    subscribe: bool,
    source: ConsentSource,
) -> bool:
    now = timezone.now()
    if preference is None:
        SubscriptionPreference.objects.create(
            subscriber=subscriber,
            subscription_type=subscription_type,
            subscribed=subscribe,
            subscribed_date=now if subscribe else None,
            unsubscribed_date=None if subscribe else now,
        )
    elif preference.subscribed != subscribe:
        preference.subscribed = subscribe
        if subscribe:
            preference.subscribed_date = now
        else:
            preference.unsubscribed_date = now
        preference.save(update_fields=["subscribed", "subscribed_date", "unsubscribed_date"])
    else:
        return False
    source.record(
        subscriber, Action.SUBSCRIBED if subscribe else Action.UNSUBSCRIBED, subscription_type=subscription_type
    )
    return True


@transaction.atomic
def preferences_apply(
    *,
    subscriber: Subscriber,
    updates: Iterable[Mapping[str, Any]],
    replace_all: bool = False,
    replace_within: Collection[int] | None = None,
    bump_version: bool = True,
    source: ConsentSource = API_SOURCE,
) -> bool:
    """Give or withdraw consent per subscription type, keeping when each was last given and withdrawn.

    With `replace_all`, types not named are withdrawn: all of them, or only those in `replace_within` (the types a
    page showed, so that a type added since keeps its state). Answers whether anything changed."""
    wanted: dict[str, bool] = {}
    for update in updates:
        wanted[update["subscription_type_id"]] = bool(update["subscribe"])
    types = {t.public_id: t for t in SubscriptionType.objects.filter(public_id__in=list(wanted))}
    missing = [public_id for public_id in wanted if public_id not in types]
    if missing:
        raise InvalidPreference(
            issues=[Issue("subscription_updates", f"Unknown subscription type: {public_id}") for public_id in missing]
        )
    existing = {
        p.subscription_type_id: p
        for p in SubscriptionPreference.objects.filter(subscriber=subscriber).select_related("subscription_type")
    }
    changed = False
    if replace_all:
        named = {t.pk for t in types.values()}
        for type_pk, preference in existing.items():
            in_scope = replace_within is None or type_pk in replace_within
            if type_pk not in named and in_scope and preference.subscribed:
                changed |= _set_preference(subscriber, preference.subscription_type, preference, False, source)
    for public_id, subscribe in wanted.items():
        subscription_type = types[public_id]
        changed |= _set_preference(subscriber, subscription_type, existing.get(subscription_type.pk), subscribe, source)
    if changed and bump_version:
        touch(Subscriber, subscriber.pk)
        membership_refresh_subscribers([subscriber.pk])
    return changed


def record_active_change(subscriber: Subscriber, *, active: bool, reason: str, source: ConsentSource) -> None:
    source.record(subscriber, Action.REACTIVATED if active else Action.DEACTIVATED, reason=reason)


@transaction.atomic
def subscriber_set_active(
    *, subscriber: Subscriber, active: bool, reason: str = "", source: ConsentSource = API_SOURCE
) -> bool:
    """Make a subscriber inactive (global unsubscribe, bounce, complaint) or active again; True if it changed."""
    subscriber = Subscriber.objects.select_for_update().get(pk=subscriber.pk)
    if subscriber.active == active:
        if not active and source.source in UNDELIVERABLE_SOURCES and not _undeliverable(subscriber):
            # Already inactive (say, unsubscribed themselves): the first bounce or complaint is still recorded, and
            # it now keeps the subscriber from reactivating themselves from a public page.
            subscriber.inactive_reason = reason.strip()[:500] or subscriber.inactive_reason
            subscriber.save(update_fields=["inactive_reason"])
            record_active_change(subscriber, active=False, reason=subscriber.inactive_reason, source=source)
        return False
    if not active and not reason.strip():
        raise ValidationFailed.on("inactive_reason", "A reason is required to make a subscriber inactive")
    subscriber.active = active
    subscriber.inactive_reason = "" if active else reason.strip()[:500]
    subscriber.version += 1
    subscriber.updated_at = timezone.now()
    subscriber.save(update_fields=["active", "inactive_reason", "version", "updated_at"])
    record_active_change(subscriber, active=active, reason=subscriber.inactive_reason, source=source)
    membership_refresh_subscribers([subscriber.pk])
    return True


def may_resubscribe_themselves(subscriber: Subscriber) -> bool:
    """An inactive subscriber may reactivate from a public page only if their own unsubscribe made them inactive."""
    if subscriber.active:
        return True
    return _last_deactivation_source(subscriber) in SELF_SERVICE_SOURCES


def _undeliverable(subscriber: Subscriber) -> bool:
    return _last_deactivation_source(subscriber) in UNDELIVERABLE_SOURCES


def _last_deactivation_source(subscriber: Subscriber) -> str | None:
    deactivations = ConsentRecord.objects.filter(subscriber=subscriber, action=Action.DEACTIVATED)
    return deactivations.order_by("-created_at", "-pk").values_list("source", flat=True).first()
