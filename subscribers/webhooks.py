"""Email providers' tracking webhooks, through django-anymail, feed the same engagement events as the API.

Anymail serves `/webhooks/anymail/<esp>/tracking/` (basic auth with ANYMAIL["WEBHOOK_SECRET"], plus the provider's
signature where it has one), normalizes each provider's payload into an `AnymailTrackingEvent` and sends the
`anymail.signals.tracking` signal; `anymail_tracking_received` (connected in SubscribersConfig.ready) turns it into
an engagement event:

    queued, sent -> sent          delivered -> delivered     opened -> opened      clicked -> clicked (click_url)
    bounced -> bounced (hard, unless the provider says soft)  rejected as an invalid address -> bounced (hard)
    complained -> complained      unsubscribed -> unsubscribed                     anything else: ignored

The subscriber is the recipient's email. The marketing email and campaign come from the message's metadata
(`marketing_email_id`, `campaign_code`) or tags (`memail_...`, `campaign:<code>`). The event id is the provider's
(prefixed with its name); providers that send none for some events (Postmark's opens and clicks) get a digest of the
payload, which a provider's retry repeats, so that a retried delivery is a duplicate.

An event Roster cannot use (unknown recipient, missing click URL) is logged and acknowledged: a provider retrying it
would not make it usable. A database failure propagates, anymail answers 500, and the provider retries.
"""

import datetime as dt
import hashlib
import json
import logging
from typing import Any

from anymail.signals import AnymailTrackingEvent, EventType, RejectReason
from django.utils import timezone

from preferences.models import MarketingEmail
from subscribers.models import EngagementEvent
from subscribers.services.engagement import BounceType, EngagementEventInput, engagement_events_record

logger = logging.getLogger(__name__)

ANYMAIL_EVENT_TYPES = {
    EventType.QUEUED: EngagementEvent.EventType.SENT,
    EventType.SENT: EngagementEvent.EventType.SENT,
    EventType.DELIVERED: EngagementEvent.EventType.DELIVERED,
    EventType.OPENED: EngagementEvent.EventType.OPENED,
    EventType.CLICKED: EngagementEvent.EventType.CLICKED,
    EventType.BOUNCED: EngagementEvent.EventType.BOUNCED,
    EventType.COMPLAINED: EngagementEvent.EventType.COMPLAINED,
    EventType.UNSUBSCRIBED: EngagementEvent.EventType.UNSUBSCRIBED,
}
# Bounces a provider marks as temporary or as not about the address (Postmark's "Type"; anymail already turns
# Mailgun's temporary failures into "deferred", which is ignored).
SOFT_BOUNCE_TYPES = {
    "SoftBounce",
    "Transient",
    "DnsError",
    "VirusNotification",
    "AutoResponder",
    "ChallengeVerification",
}
SOFT_REJECT_REASONS = {RejectReason.TIMED_OUT, RejectReason.BLOCKED}
MEMAIL_PREFIX = "memail_"
CAMPAIGN_TAG_PREFIX = "campaign:"


def _without_nul(value: Any) -> Any:
    """PostgreSQL stores no NUL character in text or JSON; provider payloads are not checked like API bodies are."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {_without_nul(str(key)): _without_nul(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_without_nul(item) for item in value]
    return value


def _event_type(event: AnymailTrackingEvent) -> tuple[str, str | None] | None:
    """The engagement event type (and bounce type) of a provider event, or None when Roster does not track it."""
    if event.event_type == EventType.REJECTED and event.reject_reason == RejectReason.INVALID:
        return EngagementEvent.EventType.BOUNCED, BounceType.HARD
    event_type = ANYMAIL_EVENT_TYPES.get(event.event_type)
    if event_type is None:
        return None
    if event_type != EngagementEvent.EventType.BOUNCED:
        return event_type, None
    esp_event = event.esp_event if isinstance(event.esp_event, dict) else {}
    soft = esp_event.get("Type") in SOFT_BOUNCE_TYPES or event.reject_reason in SOFT_REJECT_REASONS
    return event_type, BounceType.SOFT if soft else BounceType.HARD


def _event_id(event: AnymailTrackingEvent, esp_name: str) -> str:
    prefix = esp_name.lower()
    if event.event_id:
        return f"{prefix}:{event.event_id}"[:200]
    if isinstance(event.esp_event, dict):
        payload = json.dumps(event.esp_event, sort_keys=True, default=str)
    else:
        stamp = event.timestamp.isoformat() if event.timestamp else ""
        payload = "|".join(
            str(part or "")
            for part in (event.event_type, event.message_id, event.recipient, stamp, event.click_url, event.esp_event)
        )
    return f"{prefix}:sha256:{hashlib.sha256(payload.encode()).hexdigest()}"


def _attribution(event: AnymailTrackingEvent) -> tuple[str | None, str | None]:
    """(marketing email public id, campaign code) from the message's metadata, else its tags."""
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    marketing_email_id = metadata.get("marketing_email_id")
    campaign_code = metadata.get("campaign_code")
    for tag in event.tags or []:
        if not isinstance(tag, str):
            continue
        if not marketing_email_id and tag.startswith(MEMAIL_PREFIX):
            marketing_email_id = tag
        elif not campaign_code and tag.startswith(CAMPAIGN_TAG_PREFIX):
            campaign_code = tag.removeprefix(CAMPAIGN_TAG_PREFIX)
    marketing_email_id = str(marketing_email_id)[:64] if marketing_email_id else None
    campaign_code = str(campaign_code)[:100] if campaign_code else None
    if marketing_email_id and not MarketingEmail.objects.filter(public_id=marketing_email_id).exists():
        # An email deleted since it was sent: keep the event (a bounce must still count) without it.
        marketing_email_id = None
    return marketing_email_id, campaign_code


def engagement_event_from_anymail(event: AnymailTrackingEvent, esp_name: str) -> EngagementEventInput | None:
    kind = _event_type(event)
    if kind is None or not event.recipient:
        return None
    event_type, bounce_type = kind
    marketing_email_id, campaign_code = _attribution(event)
    occurred_at = event.timestamp
    if occurred_at is not None and timezone.is_naive(occurred_at):
        occurred_at = occurred_at.replace(tzinfo=dt.UTC)
    provider_metadata = event.metadata if isinstance(event.metadata, dict) else {}
    return EngagementEventInput(
        event_id=_without_nul(_event_id(event, esp_name)),
        event_type=event_type,
        email=_without_nul(event.recipient),
        marketing_email_id=_without_nul(marketing_email_id),
        campaign_code=_without_nul(campaign_code),
        occurred_at=occurred_at,
        url=_without_nul(event.click_url)[:2000] if event.click_url else None,
        bounce_type=bounce_type,
        reason=_without_nul(event.description or event.reject_reason or "")[:500] or None,
        metadata=_without_nul({**provider_metadata, "esp": esp_name, "message_id": event.message_id}),
    )


def anymail_tracking_received(sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    """Receiver of `anymail.signals.tracking`."""
    engagement_event = engagement_event_from_anymail(event, esp_name)
    if engagement_event is None:
        logger.debug("Ignored %s %s tracking event", esp_name, event.event_type)
        return
    outcome = engagement_events_record(events=[engagement_event])
    for rejected in outcome.rejected:
        logger.info("Unusable %s tracking event %s: %s", esp_name, rejected.event_id, rejected.reason)
