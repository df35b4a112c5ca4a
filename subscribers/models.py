from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from core.models import PublicModel


class Subscriber(PublicModel):
    PUBLIC_ID_PREFIX = "sub"

    email = models.CharField(max_length=254)
    first_name = models.CharField(max_length=150, blank=True, default="")
    last_name = models.CharField(max_length=150, blank=True, default="")
    active = models.BooleanField(default=True)
    inactive_reason = models.CharField(max_length=500, blank=True, default="")
    additional_fields_data = models.JSONField(default=dict, blank=True)
    tags = models.ManyToManyField("Tag", blank=True, related_name="subscribers")
    # Bumped to revoke every link (preference center, unsubscribe, view in browser) sent to this subscriber so far.
    token_version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                name="subscriber_email_ci_unique",
                violation_error_message="Subscriber with this email already exists",
            )
        ]
        indexes = [
            models.Index(fields=["first_name"]),
            models.Index(fields=["last_name"]),
            models.Index(fields=["active"]),
        ]

    def __str__(self) -> str:
        return self.email


class SubscriptionType(PublicModel):
    """A kind of email a subscriber consents to (newsletter, promotions...)."""

    PUBLIC_ID_PREFIX = "stype"

    name = models.CharField(max_length=150)
    description = models.TextField(blank=True, default="")

    class Meta:
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint(
                Lower("name"), name="subscription_type_name_ci_unique", violation_error_message="Name already exists"
            )
        ]

    def __str__(self) -> str:
        return self.name


class SubscriptionPreference(models.Model):
    """A subscriber's consent to one subscription type, with when it was last given and withdrawn."""

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="preferences")
    subscription_type = models.ForeignKey(SubscriptionType, on_delete=models.CASCADE, related_name="preferences")
    subscribed = models.BooleanField()
    subscribed_date = models.DateTimeField(null=True, blank=True)
    unsubscribed_date = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "subscription_type"], name="preference_unique_per_type")
        ]
        indexes = [models.Index(fields=["subscription_type", "subscribed"])]

    def __str__(self) -> str:
        return f"{self.subscriber_id}:{self.subscription_type_id}={self.subscribed}"


class CustomField(PublicModel):
    """A typed definition for one key of `additional_fields_data`.

    Staff define fields (`discovered=False`): their type is enforced on every write. A key written without a
    definition is registered as `discovered`, typed by the first value seen (`subscribers.custom_fields
    .infer_field_type`): that type is a hint for filters and the segment builder, not a rule, so values of other types
    are still stored under it. Defining a discovered field (create it by name, or set `discovered` to false) makes its
    type a rule from then on."""

    PUBLIC_ID_PREFIX = "cf"

    class FieldType(models.TextChoices):
        STRING = "string"
        NUMBER = "number"
        BOOLEAN = "boolean"
        DATE = "date"
        DROPDOWN = "dropdown"

    name = models.CharField(max_length=64, unique=True, help_text="The key in additional_fields_data.")
    field_type = models.CharField(max_length=16, choices=FieldType.choices, default=FieldType.STRING)
    values = models.JSONField(default=list, blank=True, help_text="Allowed values for a dropdown.")
    required = models.BooleanField(default=False)
    default = models.JSONField(null=True, blank=True)
    description = models.CharField(max_length=500, blank=True, default="")
    discovered = models.BooleanField(
        default=False,
        db_index=True,
        help_text="Registered from data written without a definition; its type is inferred, and not enforced.",
    )

    class Meta:
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name


class Tag(PublicModel):
    PUBLIC_ID_PREFIX = "tag"

    class Status(models.IntegerChoices):
        ACTIVE = 1
        INACTIVE = 2

    name = models.CharField(max_length=100)
    status = models.PositiveSmallIntegerField(choices=Status.choices, default=Status.ACTIVE)

    class Meta:
        ordering = ("name",)
        constraints = [
            models.UniqueConstraint(
                Lower("name"), name="tag_name_ci_unique", violation_error_message="Name already exists"
            )
        ]

    def __str__(self) -> str:
        return self.name


class ConsentRecord(models.Model):
    """One change of consent: what changed, when, through what, and for pages from where."""

    class Action(models.TextChoices):
        SUBSCRIBED = "subscribed"
        UNSUBSCRIBED = "unsubscribed"
        DEACTIVATED = "deactivated"
        REACTIVATED = "reactivated"

    class Source(models.TextChoices):
        API = "api"
        ADMIN = "admin"
        PREFERENCE_CENTER = "preference_center"
        PREFERENCE_API = "preference_api"
        ONE_CLICK = "one_click"
        BOUNCE = "bounce"
        COMPLAINT = "complaint"
        IMPORT = "import"
        REPORTED_UNSUBSCRIBE = "reported_unsubscribe", "Unsubscribe reported by the sending platform"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="consent_records")
    subscription_type = models.ForeignKey(
        SubscriptionType, null=True, blank=True, on_delete=models.SET_NULL, related_name="consent_records"
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    source = models.CharField(max_length=20, choices=Source.choices)
    reason = models.CharField(max_length=500, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=500, blank=True, default="")
    marketing_email = models.ForeignKey(
        "preferences.MarketingEmail", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes = [models.Index(fields=["subscriber", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.subscriber_id} {self.action} via {self.source}"


class Engagement(models.Model):
    """What one subscriber did with one marketing email (or campaign): the seed's engagement record, kept up to date
    from events."""

    class DeliveryStatus(models.TextChoices):
        PENDING = "PENDING"
        SENT = "SENT"
        DELIVERED = "DELIVERED"
        BOUNCED = "BOUNCED"
        COMPLAINED = "COMPLAINED"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="engagements")
    marketing_email = models.ForeignKey(
        "preferences.MarketingEmail", null=True, blank=True, on_delete=models.SET_NULL, related_name="engagements"
    )
    campaign_code = models.CharField(max_length=100, blank=True, default="")
    email_sent_at = models.DateTimeField(null=True, blank=True)
    email_delivered_at = models.DateTimeField(null=True, blank=True)
    delivery_status = models.CharField(max_length=12, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    first_opened_at = models.DateTimeField(null=True, blank=True)
    last_opened_at = models.DateTimeField(null=True, blank=True)
    open_count = models.PositiveIntegerField(default=0)
    first_clicked_at = models.DateTimeField(null=True, blank=True)
    last_clicked_at = models.DateTimeField(null=True, blank=True)
    click_count = models.PositiveIntegerField(default=0)
    clicked_links = models.JSONField(default=list, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    first_page_view_at = models.DateTimeField(null=True, blank=True)
    last_page_view_at = models.DateTimeField(null=True, blank=True)
    page_view_count = models.PositiveIntegerField(default=0)
    total_engagement_time_seconds = models.PositiveIntegerField(default=0)
    first_purchase_at = models.DateTimeField(null=True, blank=True)
    last_purchase_at = models.DateTimeField(null=True, blank=True)
    purchase_count = models.PositiveIntegerField(default=0)
    total_purchase_amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    engagement_score = models.FloatField(default=0)
    campaign_metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-created_at", "-pk")
        constraints = [
            models.UniqueConstraint(
                fields=["subscriber", "marketing_email", "campaign_code"],
                name="engagement_unique_per_email",
                nulls_distinct=False,
            )
        ]
        indexes = [models.Index(fields=["subscriber", "campaign_code"])]

    def __str__(self) -> str:
        return f"{self.subscriber_id}/{self.marketing_email_id or self.campaign_code}"

    @property
    def unique_click_count(self) -> int:
        return len(self.clicked_links)


class EngagementEvent(models.Model):
    """One tracked event. `event_id` makes ingestion idempotent: an id seen before changes nothing."""

    class EventType(models.TextChoices):
        SENT = "sent"
        DELIVERED = "delivered"
        OPENED = "opened"
        CLICKED = "clicked"
        PAGE_VIEW = "page_view"
        PURCHASE = "purchase"
        UNSUBSCRIBED = "unsubscribed"
        BOUNCED = "bounced"
        COMPLAINED = "complained"

    event_id = models.CharField(max_length=200, unique=True)
    engagement = models.ForeignKey(Engagement, on_delete=models.CASCADE, related_name="events")
    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="engagement_events")
    event_type = models.CharField(max_length=16, choices=EventType.choices)
    occurred_at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("-occurred_at", "-pk")
        # Engagement rules ("opens in the last 30 days") aggregate by subscriber, type and time.
        indexes = [models.Index(fields=["subscriber", "event_type", "occurred_at"])]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"
