"""Engagement: what each subscriber did with each marketing email, kept up to date from tracked events.

Events arrive in batches from `POST /api/engagements/events`, one at a time from email providers' tracking webhooks
(`subscribers.webhooks`), and from Roster's own one-click unsubscribe; all of them go through
`engagement_events_record`.

- **One record per subscriber and email.** An event names its subscriber (public id or email address) and, when it
  can, the marketing email (`memail_` id) and campaign code; the record for (subscriber, marketing email, campaign code)
  is created by its first event. The campaign code defaults to the marketing email's; `campaign_metadata` (send date,
  subscription type, subject line) comes from the marketing email.
- **Idempotent.** Every event carries an `event_id`, stored with a unique constraint. An id seen before changes
  nothing and is counted as a duplicate: within a batch, against earlier batches, and against a concurrent request
  (the insert hits the constraint, and that group of events is replayed one event at a time).
- **Order-free.** Events may arrive late or out of order: first/last timestamps are minimums and maximums, counters
  add, and the delivery status only moves forward (PENDING < SENT < DELIVERED < BOUNCED < COMPLAINED; a soft bounce
  does not move it past SENT).
- **Consequences.** A hard bounce makes the subscriber inactive with the reason "Hard bounce - Invalid email", a spam
  complaint with "Spam complaint", through `subscriber_set_active` with the bounce or complaint as the consent source,
  so that a ConsentRecord says when and why. A soft bounce changes nothing but the record. An unsubscribe reported by
  a sending platform or an integrator withdraws consent as Roster's own one-click unsubscribe does: to the email's
  subscription type, or, when the email names none, to everything, making the subscriber inactive.
- **Score.** `engagement_score` is recomputed on every change: see `subscribers.engagement_score`
  (min(10, 0.5 × opens + 1 × unique links clicked + 0.25 × page views + 2 × purchases), 0 after a complaint).

Concurrency: the events of one record are applied while holding its row lock (`SELECT ... FOR UPDATE`), so two
requests updating the same record never lose each other's counts. A group that will deactivate the subscriber locks
the subscriber first, in the same order as `subscriber_set_active`.
"""

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from audiences.membership import membership_refresh_subscribers
from core.api.fields import format_timestamp
from core.ids import is_storable_public_id
from preferences.models import MarketingEmail
from subscribers.engagement_score import engagement_score
from subscribers.models import ConsentRecord, Engagement, EngagementEvent, Subscriber
from subscribers.services.preferences import ConsentSource, preferences_apply, subscriber_set_active

EventType = EngagementEvent.EventType
DeliveryStatus = Engagement.DeliveryStatus

MAX_EVENTS_PER_BATCH = 1000
MAX_EVENT_ID_LENGTH = 200
MAX_URL_LENGTH = 2000
HARD_BOUNCE_REASON = "Hard bounce - Invalid email"
COMPLAINT_REASON = "Spam complaint"
REPORTED_UNSUBSCRIBE_REASON = "Unsubscribed (reported by the sending platform)"
OWN_UNSUBSCRIBE_PREFIX = "roster:unsubscribed:"
METADATA_KEYS = ("send_date", "subscription_type", "subject_line")

# The delivery status only moves up this ladder, whatever order events arrive in.
STATUS_RANK = {
    DeliveryStatus.PENDING: 0,
    DeliveryStatus.SENT: 1,
    DeliveryStatus.DELIVERED: 2,
    DeliveryStatus.BOUNCED: 3,
    DeliveryStatus.COMPLAINED: 4,
}

ENGAGEMENT_UPDATE_FIELDS = (
    "email_sent_at", "email_delivered_at", "delivery_status", "first_opened_at", "last_opened_at", "open_count",
    "first_clicked_at", "last_clicked_at", "click_count", "clicked_links", "unsubscribed_at", "first_page_view_at",
    "last_page_view_at", "page_view_count", "total_engagement_time_seconds", "first_purchase_at", "last_purchase_at",
    "purchase_count", "total_purchase_amount", "engagement_score", "campaign_metadata", "updated_at",
)  # fmt: skip


class BounceType(StrEnum):
    HARD = "hard"
    SOFT = "soft"


@dataclass(frozen=True)
class EngagementEventInput:
    """One tracked event. `subscriber_id` or `email` names the subscriber; `url` is for clicks, `amount` for
    purchases, `duration_seconds` for page views, `bounce_type` for bounces (hard when not said)."""

    event_id: str
    event_type: str
    subscriber_id: str | None = None
    email: str | None = None
    marketing_email_id: str | None = None
    campaign_code: str | None = None
    occurred_at: dt.datetime | None = None
    url: str | None = None
    amount: Decimal | None = None
    duration_seconds: int | None = None
    bounce_type: str | None = None
    reason: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def deactivates_subscriber(self) -> bool:
        return self.event_type == EventType.COMPLAINED or (
            self.event_type == EventType.BOUNCED and self.bounce_type != BounceType.SOFT
        )

    @property
    def withdraws_consent(self) -> bool:
        """An unsubscribe reported by a sending platform or an integrator. Roster's own (one-click, preference
        center) withdrew consent before recording the event."""
        return self.event_type == EventType.UNSUBSCRIBED and not self.event_id.startswith(OWN_UNSUBSCRIBE_PREFIX)


@dataclass(frozen=True)
class RejectedEvent:
    position: int  # in the sequence given to engagement_events_record
    event_id: str | None
    reason: str


@dataclass
class EventsOutcome:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[RejectedEvent] = field(default_factory=list)


@dataclass(frozen=True)
class _Target:
    """The engagement record a group of events updates."""

    subscriber: Subscriber
    marketing_email: MarketingEmail | None
    campaign_code: str

    @property
    def sort_key(self) -> tuple[int, int, str]:
        return (self.subscriber.pk, self.marketing_email.pk if self.marketing_email else 0, self.campaign_code)


def _problem(event: EngagementEventInput) -> str | None:
    """What makes an event unusable on its face (before looking anything up), or None."""
    if not isinstance(event.event_id, str) or not event.event_id.strip():
        return "event_id is required"
    if len(event.event_id) > MAX_EVENT_ID_LENGTH:
        return f"event_id is longer than {MAX_EVENT_ID_LENGTH} characters"
    if event.event_type not in EventType.values:
        return f"unknown event type {event.event_type!r}; use one of {', '.join(EventType.values)}"
    if not (event.subscriber_id or event.email):
        return "subscriber_id or email is required"
    if event.occurred_at is not None and timezone.is_naive(event.occurred_at):
        return "occurred_at needs a time zone"
    if event.event_type == EventType.CLICKED and not event.url:
        return "url is required for a clicked event"
    if event.url and len(event.url) > MAX_URL_LENGTH:
        return f"url is longer than {MAX_URL_LENGTH} characters"
    if event.amount is not None and event.amount < 0:
        return "amount must not be negative"
    if event.duration_seconds is not None and event.duration_seconds < 0:
        return "duration_seconds must not be negative"
    if event.bounce_type is not None and event.bounce_type not in {b.value for b in BounceType}:
        return "bounce_type must be hard or soft"
    return None


def _subscribers_named(events: Iterable[EngagementEventInput]) -> tuple[dict[str, Subscriber], dict[str, Subscriber]]:
    """The subscribers the events name, by public id and by lower-cased email, in two queries."""
    events = list(events)
    public_ids = {e.subscriber_id for e in events if e.subscriber_id and is_storable_public_id(e.subscriber_id)}
    emails = {e.email.strip().lower() for e in events if e.email and not e.subscriber_id}
    by_id = {s.public_id: s for s in Subscriber.objects.filter(public_id__in=public_ids)} if public_ids else {}
    by_email: dict[str, Subscriber] = {}
    if emails:
        # lower(email) = ..., which the unique index covers (iexact would compare upper()).
        found = Subscriber.objects.annotate(email_lower=Lower("email")).filter(email_lower__in=emails)
        by_email = {s.email_lower: s for s in found}
    return by_id, by_email


def _marketing_emails_named(events: Iterable[EngagementEventInput]) -> dict[str, MarketingEmail]:
    public_ids = {e.marketing_email_id for e in events if e.marketing_email_id}
    public_ids = {public_id for public_id in public_ids if is_storable_public_id(public_id)}
    if not public_ids:
        return {}
    # Not html_content: it can be large and nothing here reads it.
    emails = MarketingEmail.objects.filter(public_id__in=public_ids).select_related("subscription_type")
    return {m.public_id: m for m in emails.defer("html_content")}


def _target(
    event: EngagementEventInput,
    subscribers: tuple[dict[str, Subscriber], dict[str, Subscriber]],
    marketing_emails: Mapping[str, MarketingEmail],
) -> _Target | str:
    """The record an event updates, or why it has none."""
    by_id, by_email = subscribers
    if event.subscriber_id:
        subscriber = by_id.get(event.subscriber_id)
        if subscriber is None:
            return "subscriber not found"
        if event.email and event.email.strip().lower() != subscriber.email.lower():
            return "email does not match the subscriber"
    else:
        subscriber = by_email.get((event.email or "").strip().lower())
        if subscriber is None:
            return "no subscriber with this email"
    marketing_email = None
    if event.marketing_email_id:
        marketing_email = marketing_emails.get(event.marketing_email_id)
        if marketing_email is None:
            return "marketing email not found"
    campaign_code = (event.campaign_code or "").strip()
    if marketing_email is not None and marketing_email.campaign_code:
        if campaign_code and campaign_code != marketing_email.campaign_code:
            return f"campaign_code does not match the marketing email's ({marketing_email.campaign_code})"
        campaign_code = marketing_email.campaign_code
    return _Target(subscriber, marketing_email, campaign_code[:100])


def engagement_events_record(*, events: Sequence[EngagementEventInput]) -> EventsOutcome:
    """Apply a batch of events to their engagement records. An unusable event is reported by its position and never
    stops the others; an event id seen before is counted as a duplicate and changes nothing."""
    outcome = EventsOutcome()
    now = timezone.now()
    usable: list[tuple[int, EngagementEventInput]] = []
    seen: set[str] = set()
    for position, event in enumerate(events):
        problem = _problem(event)
        if problem is not None:
            event_id = event.event_id if isinstance(event.event_id, str) else None
            outcome.rejected.append(RejectedEvent(position, event_id, problem))
        elif event.event_id in seen:
            outcome.duplicates += 1
        else:
            seen.add(event.event_id)
            usable.append((position, dataclasses.replace(event, occurred_at=event.occurred_at or now)))
    if not usable:
        return outcome

    recorded = set(EngagementEvent.objects.filter(event_id__in=seen).values_list("event_id", flat=True))
    fresh = [(position, event) for position, event in usable if event.event_id not in recorded]
    outcome.duplicates += len(usable) - len(fresh)
    subscribers = _subscribers_named(event for _, event in fresh)
    marketing_emails = _marketing_emails_named(event for _, event in fresh)

    groups: dict[tuple[int, int, str], tuple[_Target, list[EngagementEventInput]]] = {}
    for position, event in fresh:
        target = _target(event, subscribers, marketing_emails)
        if isinstance(target, str):
            outcome.rejected.append(RejectedEvent(position, event.event_id, target))
            continue
        groups.setdefault(target.sort_key, (target, []))[1].append(event)
    # A fixed order of row locks across requests: no deadlock between two batches touching the same records.
    touched: set[int] = set()
    for key in sorted(groups):
        target, group = groups[key]
        accepted, duplicates = _record_group(target, group)
        outcome.accepted += accepted
        outcome.duplicates += duplicates
        if accepted:
            touched.add(target.subscriber.pk)
    # Engagement rules ("opened in the last 30 days") follow new events at once, as other subscriber changes do.
    membership_refresh_subscribers(sorted(touched))
    outcome.rejected.sort(key=lambda rejected: rejected.position)
    return outcome


def _record_group(target: _Target, events: list[EngagementEventInput]) -> tuple[int, int]:
    """Apply the events of one engagement record; answers (accepted, duplicates)."""
    events = sorted(events, key=lambda event: event.occurred_at)
    try:
        with transaction.atomic():
            return _apply_group(target, events, one_by_one=False)
    except IntegrityError:
        # A concurrent request recorded one of these event ids after the duplicate check: the unique constraint
        # refused the batch insert. Replay the group one event at a time, skipping the ids already there.
        with transaction.atomic():
            return _apply_group(target, events, one_by_one=True)


def _apply_group(target: _Target, events: list[EngagementEventInput], *, one_by_one: bool) -> tuple[int, int]:
    subscriber, marketing_email = target.subscriber, target.marketing_email
    if any(event.deactivates_subscriber or event.withdraws_consent for event in events):
        # Lock the subscriber before the engagement row, as subscriber_set_active will.
        list(Subscriber.objects.select_for_update().filter(pk=subscriber.pk).values_list("pk", flat=True))
    engagement, _ = Engagement.objects.select_for_update().get_or_create(
        subscriber=subscriber, marketing_email=marketing_email, campaign_code=target.campaign_code
    )
    rows = [
        EngagementEvent(
            event_id=event.event_id,
            engagement=engagement,
            subscriber=subscriber,
            event_type=event.event_type,
            occurred_at=event.occurred_at,
            data=_event_data(event),
        )
        for event in events
    ]
    if one_by_one:
        applied = []
        for row, event in zip(rows, events, strict=True):
            try:
                with transaction.atomic():
                    row.save(force_insert=True)
            except IntegrityError:
                continue
            applied.append(event)
    else:
        EngagementEvent.objects.bulk_create(rows)
        applied = events
    if not applied:
        return 0, len(events)

    for event in applied:
        _apply_event(engagement, event)
    engagement.campaign_metadata = _campaign_metadata(engagement, marketing_email, applied)
    engagement.engagement_score = engagement_score(engagement)
    engagement.updated_at = timezone.now()
    engagement.save(update_fields=ENGAGEMENT_UPDATE_FIELDS)

    for event in applied:
        if event.deactivates_subscriber:
            complaint = event.event_type == EventType.COMPLAINED
            subscriber_set_active(
                subscriber=subscriber,
                active=False,
                reason=COMPLAINT_REASON if complaint else HARD_BOUNCE_REASON,
                source=ConsentSource(
                    source=ConsentRecord.Source.COMPLAINT if complaint else ConsentRecord.Source.BOUNCE,
                    marketing_email_id=marketing_email.pk if marketing_email else None,
                ),
            )
        elif event.withdraws_consent:
            _withdraw_reported_unsubscribe(subscriber, marketing_email)
    return len(applied), len(events) - len(applied)


def _withdraw_reported_unsubscribe(subscriber: Subscriber, marketing_email: MarketingEmail | None) -> None:
    """As Roster's own one-click unsubscribe: consent to the email's subscription type is withdrawn, or, when the
    email names none (or is unknown), every consent, and the subscriber becomes inactive."""
    source = ConsentSource(
        source=ConsentRecord.Source.REPORTED_UNSUBSCRIBE,
        marketing_email_id=marketing_email.pk if marketing_email else None,
    )
    subscription_type = marketing_email.subscription_type if marketing_email else None
    if subscription_type is not None:
        updates = [{"subscription_type_id": subscription_type.public_id, "subscribe": False}]
        preferences_apply(subscriber=subscriber, updates=updates, source=source)
        return
    preferences_apply(subscriber=subscriber, updates=[], replace_all=True, source=source)
    subscriber_set_active(subscriber=subscriber, active=False, reason=REPORTED_UNSUBSCRIBE_REASON, source=source)


def _event_data(event: EngagementEventInput) -> dict[str, Any]:
    data: dict[str, Any] = {
        "url": event.url,
        "amount": str(event.amount) if event.amount is not None else None,
        "duration_seconds": event.duration_seconds,
        "bounce_type": event.bounce_type,
        "reason": event.reason,
        "metadata": dict(event.metadata) if event.metadata else None,
    }
    return {key: value for key, value in data.items() if value not in (None, "")}


def _earliest(current: dt.datetime | None, at: dt.datetime) -> dt.datetime:
    return at if current is None or at < current else current


def _latest(current: dt.datetime | None, at: dt.datetime) -> dt.datetime:
    return at if current is None or at > current else current


def _raise_status(engagement: Engagement, status: str) -> None:
    if STATUS_RANK[status] > STATUS_RANK[engagement.delivery_status]:
        engagement.delivery_status = status


def _apply_event(engagement: Engagement, event: EngagementEventInput) -> None:
    at = event.occurred_at
    assert at is not None  # filled in by engagement_events_record
    match event.event_type:
        case EventType.SENT:
            engagement.email_sent_at = _earliest(engagement.email_sent_at, at)
            _raise_status(engagement, DeliveryStatus.SENT)
        case EventType.DELIVERED:
            engagement.email_delivered_at = _earliest(engagement.email_delivered_at, at)
            _raise_status(engagement, DeliveryStatus.DELIVERED)
        case EventType.OPENED:
            engagement.open_count += 1
            engagement.first_opened_at = _earliest(engagement.first_opened_at, at)
            engagement.last_opened_at = _latest(engagement.last_opened_at, at)
        case EventType.CLICKED:
            engagement.click_count += 1
            engagement.first_clicked_at = _earliest(engagement.first_clicked_at, at)
            engagement.last_clicked_at = _latest(engagement.last_clicked_at, at)
            engagement.clicked_links = _count_link(engagement.clicked_links, event.url or "", at)
        case EventType.PAGE_VIEW:
            engagement.page_view_count += 1
            engagement.first_page_view_at = _earliest(engagement.first_page_view_at, at)
            engagement.last_page_view_at = _latest(engagement.last_page_view_at, at)
            engagement.total_engagement_time_seconds += event.duration_seconds or 0
        case EventType.PURCHASE:
            engagement.purchase_count += 1
            engagement.first_purchase_at = _earliest(engagement.first_purchase_at, at)
            engagement.last_purchase_at = _latest(engagement.last_purchase_at, at)
            engagement.total_purchase_amount = Decimal(engagement.total_purchase_amount) + (event.amount or 0)
        case EventType.UNSUBSCRIBED:
            engagement.unsubscribed_at = _earliest(engagement.unsubscribed_at, at)
        case EventType.BOUNCED:
            hard = event.bounce_type != BounceType.SOFT
            _raise_status(engagement, DeliveryStatus.BOUNCED if hard else DeliveryStatus.SENT)
        case EventType.COMPLAINED:
            _raise_status(engagement, DeliveryStatus.COMPLAINED)


def _count_link(links: list[dict[str, Any]], url: str, at: dt.datetime) -> list[dict[str, Any]]:
    """Per-URL click counts, in the order links were first clicked. Timestamps are stored as the API shows them
    (UTC, milliseconds, Z), which sort as text in time order."""
    stamp = format_timestamp(at)
    links = [dict(link) for link in links or []]
    for link in links:
        if link.get("url") == url:
            link["count"] = int(link.get("count", 0)) + 1
            link["first_clicked_at"] = min(link.get("first_clicked_at") or stamp, stamp)
            link["last_clicked_at"] = max(link.get("last_clicked_at") or stamp, stamp)
            break
    else:
        links.append({"url": url, "count": 1, "first_clicked_at": stamp, "last_clicked_at": stamp})
    return sorted(links, key=lambda link: link["first_clicked_at"])


def _campaign_metadata(
    engagement: Engagement, marketing_email: MarketingEmail | None, events: Sequence[EngagementEventInput]
) -> dict[str, Any]:
    """send_date, subscription_type and subject_line: from the marketing email when there is one, else from what the
    events' metadata said; the send date falls back to when this subscriber's copy was sent."""
    metadata = {key: value for key, value in (engagement.campaign_metadata or {}).items() if key in METADATA_KEYS}
    for event in events:
        for key in METADATA_KEYS:
            value = (event.metadata or {}).get(key)
            if isinstance(value, str) and value:
                metadata[key] = value[:500]
    if marketing_email is not None:
        metadata["subject_line"] = marketing_email.subject
        metadata["subscription_type"] = (
            marketing_email.subscription_type.public_id if marketing_email.subscription_type else None
        )
        if marketing_email.sent_at:
            metadata["send_date"] = format_timestamp(marketing_email.sent_at)
    if not metadata.get("send_date") and engagement.email_sent_at:
        metadata["send_date"] = format_timestamp(engagement.email_sent_at)
    return {key: metadata.get(key) for key in METADATA_KEYS}


def unsubscribe_event_id(subscriber: Subscriber, marketing_email: MarketingEmail) -> str:
    """One unsubscribe per subscriber and email: a repeated one-click POST (mail clients retry) is a duplicate."""
    return f"roster:unsubscribed:{subscriber.public_id}:{marketing_email.public_id}"


def engagement_record_unsubscribe(*, subscriber: Subscriber, marketing_email_pk: int) -> bool:
    """Record that a subscriber unsubscribed through a link of this marketing email (one-click or the preference
    center). Answers whether it was recorded now (False: already recorded, or no such email)."""
    marketing_email = (
        MarketingEmail.objects.select_related("subscription_type").defer("html_content").filter(pk=marketing_email_pk)
    ).first()
    if marketing_email is None:
        return False
    event = EngagementEventInput(
        event_id=unsubscribe_event_id(subscriber, marketing_email),
        event_type=EventType.UNSUBSCRIBED,
        subscriber_id=subscriber.public_id,
        marketing_email_id=marketing_email.public_id,
        occurred_at=timezone.now(),
    )
    if EngagementEvent.objects.filter(event_id=event.event_id).exists():
        return False
    target = _Target(subscriber, marketing_email, marketing_email.campaign_code)
    accepted, _ = _record_group(target, [event])
    return accepted == 1


def subscriber_engagements(
    *, subscriber: Subscriber, campaign_code: str | None = None, marketing_email_id: str | None = None
) -> QuerySet[Engagement]:
    """A subscriber's engagement records, latest send first, with the marketing email's public id annotated (so
    that listing them reads no email HTML and makes no query per row)."""
    queryset = Engagement.objects.filter(subscriber=subscriber)
    if campaign_code:
        queryset = queryset.filter(campaign_code=campaign_code)
    if marketing_email_id:
        queryset = queryset.filter(marketing_email__public_id=marketing_email_id)
    return queryset.annotate(marketing_email_public_id=F("marketing_email__public_id")).order_by(
        F("email_sent_at").desc(nulls_last=True), "-created_at", "-pk"
    )
