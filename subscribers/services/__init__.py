"""Writes and business rules for subscribers, their consent and their vocabulary (types, fields, tags)."""

from subscribers.services.batch import subscribers_batch_create
from subscribers.services.catalog import (
    custom_field_create,
    custom_field_delete,
    custom_field_update,
    subscription_type_create,
    subscription_type_delete,
    subscription_type_update,
    tag_create,
    tag_delete,
    tag_update,
)
from subscribers.services.engagement import (
    EngagementEventInput,
    EventsOutcome,
    engagement_events_record,
    engagement_record_unsubscribe,
    subscriber_engagements,
)
from subscribers.services.preferences import (
    API_SOURCE,
    ConsentSource,
    may_resubscribe_themselves,
    preferences_apply,
    subscriber_set_active,
)
from subscribers.services.subscribers import (
    InvalidSubscriber,
    normalize_email,
    subscriber_create,
    subscriber_delete,
    subscriber_revoke_links,
    subscriber_update,
)

__all__ = [
    "API_SOURCE",
    "EngagementEventInput",
    "EventsOutcome",
    "engagement_events_record",
    "engagement_record_unsubscribe",
    "subscriber_engagements",
    "ConsentSource",
    "may_resubscribe_themselves",
    "subscriber_set_active",
    "InvalidSubscriber",
    "custom_field_create",
    "custom_field_delete",
    "custom_field_update",
    "normalize_email",
    "preferences_apply",
    "subscriber_create",
    "subscriber_delete",
    "subscriber_revoke_links",
    "subscriber_update",
    "subscribers_batch_create",
    "subscription_type_create",
    "subscription_type_delete",
    "subscription_type_update",
    "tag_create",
    "tag_delete",
    "tag_update",
]
