from django.db import models
from django.utils import timezone

from core.ids import PUBLIC_ID_MAX_LENGTH, new_public_id

API_RESOURCES = ("audiences", "lists", "subscribers", "imports", "settings")
API_ACTIONS = ("read", "write")
# A subscriber's links carry tokens that change their consent without any key: reading them is a scope of its own,
# which no other scope implies (there is nothing to write).
LINKS_READ = "links:read"
ALL_SCOPES = (*(f"{resource}:{action}" for resource in API_RESOURCES for action in API_ACTIONS), LINKS_READ)


class PublicModel(models.Model):
    """A row with a public id (`<prefix>_...`), `created_at`, `updated_at` (null until the first change) and `version`
    (1 at creation, one more on every change)."""

    PUBLIC_ID_PREFIX = ""

    public_id = models.CharField(max_length=PUBLIC_ID_MAX_LENGTH, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.public_id

    def save(self, *args, **kwargs) -> None:
        if not self.public_id:
            self.public_id = new_public_id(self.PUBLIC_ID_PREFIX)
        super().save(*args, **kwargs)


class ApiKey(models.Model):
    """An integrator's key. Only a SHA-256 digest is stored; the raw key is shown once, at creation."""

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    key_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked = models.BooleanField(default=False)

    class Meta:
        verbose_name = "API key"
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        resource, _, action = scope.partition(":")
        granted = set(self.scopes)
        # write implies read on the same resource
        return scope in granted or (action == "read" and f"{resource}:write" in granted)
