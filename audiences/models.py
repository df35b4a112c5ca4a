from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from core.models import PublicModel

DEFAULT_AUDIENCE_ID = "aud_default"


class AudienceGroup(PublicModel):
    """Audiences made and kept together: loyalty tiers over one value field (each subscriber in exactly one tier,
    by priority where tiers overlap), or a plain segment group."""

    PUBLIC_ID_PREFIX = "agrp"

    class Kind(models.TextChoices):
        LOYALTY_TIERS = "loyalty_tiers"
        SEGMENTS = "segments"

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.LOYALTY_TIERS)
    # The field tiers compare, in the condition language (e.g. "additional_fields_data.lifetime_value").
    value_field = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.name


class Audience(PublicModel):
    """A segment of subscribers. `aud_default` ("All Subscribers") matches everyone and always exists."""

    PUBLIC_ID_PREFIX = "aud"

    class Status(models.TextChoices):
        PENDING = "pending"
        MATERIALIZING = "materializing"
        READY = "ready"
        # Its rules could not be evaluated (a database error or timeout): skipped until its rules change.
        FAILED = "failed"

    name = models.CharField(max_length=200)
    # A rule group ({"match": "all"|"any", "negate", "conditions": [...]}); None for an audience of manual members only.
    rules = models.JSONField(null=True, blank=True)
    # Rules with relative dates or engagement windows drift with time: the worker refreshes these on a schedule.
    rules_are_time_relative = models.BooleanField(default=False, editable=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY, editable=False)
    materialized_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Why the status is `failed` (empty otherwise).
    failure_reason = models.TextField(blank=True, default="", editable=False)
    # Bumped with every rules change; a materialization started for an older generation gives way to the newer one.
    rules_generation = models.PositiveIntegerField(default=0, editable=False)
    group = models.ForeignKey(AudienceGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="audiences")
    # Within a group: higher priority wins where tiers overlap. A tier covers tier_min <= value < tier_max.
    priority = models.IntegerField(default=0)
    tier_min = models.FloatField(null=True, blank=True)
    tier_max = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        constraints = [
            models.UniqueConstraint(
                Lower("name"), name="audience_name_ci_unique", violation_error_message="Audience name already exists"
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_default(self) -> bool:
        return self.public_id == DEFAULT_AUDIENCE_ID

    @property
    def has_rules(self) -> bool:
        return bool(self.rules and self.rules.get("conditions"))


class AudienceMembership(models.Model):
    """A subscriber's membership of an audience, materialized: a row exists while the subscriber was added by hand
    (MANUAL), matches the rules (RULE), or both. Counts and member pages read this table alone."""

    MANUAL = 1
    RULE = 2

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="memberships")
    subscriber = models.ForeignKey(
        "subscribers.Subscriber", on_delete=models.CASCADE, related_name="audience_memberships"
    )
    source = models.PositiveSmallIntegerField(default=MANUAL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["audience", "subscriber"], name="audience_member_unique")]
        indexes = [models.Index(fields=["subscriber", "audience"])]

    def __str__(self) -> str:
        return f"{self.subscriber_id} in audience {self.audience_id}"

    @property
    def is_manual(self) -> bool:
        return bool(self.source & self.MANUAL)

    @property
    def is_rule_match(self) -> bool:
        return bool(self.source & self.RULE)


class MarketingList(PublicModel):
    PUBLIC_ID_PREFIX = "list"

    class Mode(models.TextChoices):
        STATIC = "static"
        DYNAMIC = "dynamic"

    name = models.CharField(max_length=200)
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.STATIC)
    audience = models.ForeignKey(Audience, on_delete=models.PROTECT, related_name="lists")
    # A suppression list's members are reachable through no list or audience.
    is_suppression = models.BooleanField(default=False)
    # An archived list keeps its members and takes no imports or additions.
    archived = models.BooleanField(default=False, db_index=True)
    # Most members the list may hold (None: the installation's default, settings.LIST_MAX_MEMBERS).
    max_members = models.PositiveIntegerField(null=True, blank=True)
    # Members = own members, plus those of included lists and audiences, minus those of excluded ones.
    include_lists = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="included_in")
    include_audiences = models.ManyToManyField(Audience, blank=True, related_name="included_in_lists")
    exclude_lists = models.ManyToManyField("self", symmetrical=False, blank=True, related_name="excluded_from")
    exclude_audiences = models.ManyToManyField(Audience, blank=True, related_name="excluded_from_lists")
    # Whether any of the four above is set, kept by list_set_composition: most lists are plain, and this spares them
    # the four lookups that composing a list's members needs.
    composed = models.BooleanField(default=False, editable=False)
    # Who created it: the API key's name, the staff user's username, or "system"; empty for lists older than the field
    # (the API answers null).
    created_by = models.CharField(max_length=150, blank=True, default="", editable=False)

    class Meta:
        ordering = ("-created_at",)
        verbose_name = "marketing list"
        indexes = [models.Index(fields=["name"]), models.Index(fields=["mode"])]

    def __str__(self) -> str:
        return self.name

    @property
    def is_dynamic(self) -> bool:
        return self.mode == self.Mode.DYNAMIC


class ListMembership(models.Model):
    """A subscriber's place in a static list."""

    marketing_list = models.ForeignKey(MarketingList, on_delete=models.CASCADE, related_name="memberships")
    subscriber = models.ForeignKey("subscribers.Subscriber", on_delete=models.CASCADE, related_name="list_memberships")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["marketing_list", "subscriber"], name="list_member_unique")]
        indexes = [models.Index(fields=["subscriber", "marketing_list"])]

    def __str__(self) -> str:
        return f"{self.subscriber_id} in list {self.marketing_list_id}"


class ListChange(models.Model):
    """One entry of a list's history: a change to what the list is (its mode, its audience) that the list's own
    fields no longer show. Small on purpose: the change log of the coming `events` app replaces it."""

    class Kind(models.TextChoices):
        AUDIENCE_DELETED_MOVED_TO_DEFAULT = (
            "audience_deleted_moved_to_default",
            "Its audience was deleted: moved to All Subscribers",
        )
        AUDIENCE_DELETED_MADE_STATIC = "audience_deleted_made_static", "Its audience was deleted: made static"
        SWITCHED_TO_DYNAMIC = "switched_to_dynamic", "Switched to dynamic"
        SWITCHED_TO_STATIC = "switched_to_static", "Switched to static"

    class ActorType(models.TextChoices):
        API_KEY = "api_key", "API key"
        STAFF = "staff", "Staff user"
        SYSTEM = "system", "System"

    marketing_list = models.ForeignKey(MarketingList, on_delete=models.CASCADE, related_name="changes")
    created_at = models.DateTimeField(default=timezone.now)
    kind = models.CharField(max_length=40, choices=Kind.choices)
    actor_type = models.CharField(max_length=10, choices=ActorType.choices)
    actor_name = models.CharField(max_length=150)
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes = [models.Index(fields=["marketing_list", "-created_at", "-id"], name="list_change_newest")]

    def __str__(self) -> str:
        return f"{self.marketing_list_id} {self.kind} at {self.created_at:%Y-%m-%d %H:%M}"


class AudienceDailyCount(models.Model):
    """An audience's member count on one day, kept by the worker, for the growth chart."""

    audience = models.ForeignKey(Audience, on_delete=models.CASCADE, related_name="daily_counts")
    day = models.DateField()
    member_count = models.PositiveIntegerField()
    reachable_count = models.PositiveIntegerField()

    class Meta:
        ordering = ("audience", "day")
        constraints = [models.UniqueConstraint(fields=["audience", "day"], name="audience_daily_count_unique")]

    def __str__(self) -> str:
        return f"{self.audience_id} {self.day}: {self.member_count}"


class ListDailyCount(models.Model):
    """A list's member count on one day, kept by the worker with the audiences' (`record_daily_counts`): a list's
    members are not always its audience's (static lists, compositions, a changed audience), so they are counted."""

    marketing_list = models.ForeignKey(MarketingList, on_delete=models.CASCADE, related_name="daily_counts")
    day = models.DateField()
    member_count = models.PositiveIntegerField()
    reachable_count = models.PositiveIntegerField()

    class Meta:
        ordering = ("marketing_list", "day")
        constraints = [models.UniqueConstraint(fields=["marketing_list", "day"], name="list_daily_count_unique")]

    def __str__(self) -> str:
        return f"{self.marketing_list_id} {self.day}: {self.member_count}"
