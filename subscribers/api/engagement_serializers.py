"""Engagement: the events batch (`POST /api/engagements/events`) and the seed's engagement history page
(`POST /api/subscribers/{id}/engagements`)."""

from decimal import ROUND_HALF_UP
from typing import Any

from rest_framework import serializers

from core.api.fields import TimestampField
from core.api.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from core.api.serializers import InputSerializer
from subscribers.models import Engagement, EngagementEvent
from subscribers.services.engagement import MAX_EVENT_ID_LENGTH, MAX_EVENTS_PER_BATCH, MAX_URL_LENGTH, BounceType

MAX_PAGE_VIEW_SECONDS = 24 * 60 * 60


class EngagementEventSerializer(InputSerializer):
    """One event of a batch."""

    event_id = serializers.CharField(
        max_length=MAX_EVENT_ID_LENGTH, help_text="Your unique id for this event; an id seen before changes nothing."
    )
    type = serializers.ChoiceField(choices=EngagementEvent.EventType.choices)
    subscriber_id = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True)
    email = serializers.CharField(
        max_length=254, required=False, allow_null=True, allow_blank=True, help_text="Instead of subscriber_id."
    )
    marketing_email_id = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True)
    campaign_code = serializers.CharField(
        max_length=100,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="Defaults to the marketing email's campaign code.",
    )
    occurred_at = serializers.DateTimeField(required=False, allow_null=True, help_text="Defaults to now.")
    url = serializers.CharField(
        max_length=MAX_URL_LENGTH, required=False, allow_null=True, allow_blank=True, help_text="Required for clicked."
    )
    amount = serializers.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=0,
        rounding=ROUND_HALF_UP,
        coerce_to_string=False,
        required=False,
        allow_null=True,
        help_text="For purchase.",
    )
    duration_seconds = serializers.IntegerField(
        min_value=0, max_value=MAX_PAGE_VIEW_SECONDS, required=False, allow_null=True, help_text="For page_view."
    )
    bounce_type = serializers.ChoiceField(
        choices=[b.value for b in BounceType],
        required=False,
        allow_null=True,
        help_text="For bounced: a hard bounce (the default) makes the subscriber inactive, a soft one does not.",
    )
    reason = serializers.CharField(
        max_length=500,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text='For bounced, "hard" or "soft" is read as bounce_type; any other text is kept with the event.',
    )
    metadata = serializers.DictField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("subscriber_id") and not attrs.get("email"):
            raise serializers.ValidationError({"subscriber_id": ["subscriber_id or email is required"]})
        if attrs["type"] == EngagementEvent.EventType.CLICKED and not attrs.get("url"):
            raise serializers.ValidationError({"url": ["url is required for a clicked event"]})
        reason = (attrs.get("reason") or "").strip().lower()
        if not attrs.get("bounce_type") and reason in {b.value for b in BounceType}:
            attrs["bounce_type"] = reason
        return attrs


class EngagementEventsRequestSerializer(InputSerializer):
    """What the schema documents; the view checks each event on its own so that one bad event fails alone."""

    events = EngagementEventSerializer(many=True, max_length=MAX_EVENTS_PER_BATCH)


class EventsEnvelopeSerializer(InputSerializer):
    events = serializers.ListField(child=serializers.JSONField(), allow_empty=False, max_length=MAX_EVENTS_PER_BATCH)


class InvalidEventSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the event in the request's events list, from 0.")
    event_id = serializers.CharField(allow_null=True)
    reason = serializers.CharField()


class EngagementEventsResponseSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Events applied now.")
    duplicates = serializers.IntegerField(help_text="Events whose event_id was seen before: nothing changed.")
    invalid = InvalidEventSerializer(many=True)


class EngagementFiltersSerializer(InputSerializer):
    campaignCode = serializers.CharField(max_length=100, required=False, allow_null=True, allow_blank=True)  # noqa: N815
    marketingEmailId = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True)  # noqa: N815


class EngagementPageRequestSerializer(InputSerializer):
    page = serializers.IntegerField(min_value=1, default=1)
    limit = serializers.IntegerField(min_value=1, default=DEFAULT_PAGE_SIZE, help_text=f"At most {MAX_PAGE_SIZE}.")
    filters = EngagementFiltersSerializer(required=False, allow_null=True)

    def validate_limit(self, value: int) -> int:
        return min(value, MAX_PAGE_SIZE)


class ClickedLinkSerializer(serializers.Serializer):
    url = serializers.CharField()
    count = serializers.IntegerField()
    first_clicked_at = serializers.CharField()
    last_clicked_at = serializers.CharField()


class CampaignMetadataSerializer(serializers.Serializer):
    send_date = serializers.CharField(allow_null=True)
    subscription_type = serializers.CharField(allow_null=True)
    subject_line = serializers.CharField(allow_null=True)


def _timestamp() -> TimestampField:
    return TimestampField(read_only=True, allow_null=True)


class EngagementOutputSerializer(serializers.ModelSerializer):
    """What one subscriber did with one marketing email (or campaign)."""

    # Reads the `marketing_email_public_id` annotation of `subscriber_engagements` and the subscriber from the context.

    subscriber_id = serializers.SerializerMethodField()
    campaign_code = serializers.SerializerMethodField()
    marketing_email_id = serializers.CharField(source="marketing_email_public_id", allow_null=True, read_only=True)
    email_sent_at = _timestamp()
    email_delivered_at = _timestamp()
    first_opened_at = _timestamp()
    last_opened_at = _timestamp()
    first_clicked_at = _timestamp()
    last_clicked_at = _timestamp()
    unique_click_count = serializers.IntegerField(read_only=True)
    clicked_links = ClickedLinkSerializer(many=True, read_only=True)
    unsubscribed_at = _timestamp()
    first_page_view_at = _timestamp()
    last_page_view_at = _timestamp()
    first_purchase_at = _timestamp()
    last_purchase_at = _timestamp()
    total_purchase_amount = serializers.FloatField(read_only=True)
    updated_at = _timestamp()
    campaign_metadata = CampaignMetadataSerializer(read_only=True)

    class Meta:
        model = Engagement
        fields = (
            "subscriber_id", "campaign_code", "marketing_email_id", "email_sent_at", "email_delivered_at",
            "delivery_status", "first_opened_at", "last_opened_at", "open_count", "first_clicked_at",
            "last_clicked_at", "click_count", "unique_click_count", "clicked_links", "unsubscribed_at",
            "first_page_view_at", "last_page_view_at", "page_view_count", "total_engagement_time_seconds",
            "first_purchase_at", "last_purchase_at", "purchase_count", "total_purchase_amount", "engagement_score",
            "updated_at", "campaign_metadata",
        )  # fmt: skip

    def get_subscriber_id(self, engagement: Engagement) -> str:
        return self.context["subscriber"].public_id

    def get_campaign_code(self, engagement: Engagement) -> str | None:
        return engagement.campaign_code or None


class EngagementPageSerializer(serializers.Serializer):
    results = EngagementOutputSerializer(many=True)
    total = serializers.IntegerField()
    totalPages = serializers.IntegerField()  # noqa: N815
