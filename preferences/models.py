from django.db import models
from django.utils import timezone

from core.models import PublicModel


class MarketingEmail(PublicModel):
    """An email a campaign tool sends; Roster keeps it to show "view in browser" and to attribute engagement."""

    PUBLIC_ID_PREFIX = "memail"

    name = models.CharField(max_length=200)
    subject = models.CharField(max_length=500, blank=True, default="")
    campaign_code = models.CharField(max_length=100, blank=True, default="", db_index=True)
    subscription_type = models.ForeignKey(
        "subscribers.SubscriptionType", null=True, blank=True, on_delete=models.SET_NULL, related_name="emails"
    )
    html_content = models.TextField(
        blank=True,
        default="",
        help_text="HTML with merge tags such as {{ first_name }}, {{ preference_center_url }}, {{ unsubscribe_url }}.",
    )
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.name


class BrandSettings(models.Model):
    """The tenant's brand on public pages. One row (pk=1), edited in the admin."""

    tenant_id = models.CharField(max_length=64, default="tenant_default")
    name = models.CharField(max_length=200, default="Roster")
    brand_logo_url = models.URLField(max_length=500, blank=True, default="")
    brand_primary_color = models.CharField(max_length=7, default="#1F6FEB", help_text="A hex colour such as #FF5733.")
    support_email = models.EmailField(blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "brand settings"
        verbose_name_plural = "brand settings"

    def __str__(self) -> str:
        return self.name

    @classmethod
    def current(cls) -> "BrandSettings":
        brand, _ = cls.objects.get_or_create(pk=1)
        return brand
