"""Admin for marketing emails (saved through the services, like the API) and the brand shown on public pages."""

import re
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.validators import URLValidator
from django.forms import BaseFormSet, ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone

from core.admin import EXPECTED_VERSION, RECORD_FIELDS, PublicModelForm, ServiceModelAdmin
from preferences.models import BrandSettings, MarketingEmail
from preferences.services import (
    MARKETING_EMAIL_FIELDS,
    marketing_email_create,
    marketing_email_delete,
    marketing_email_update,
)

HEX_COLOUR = re.compile(r"\A#[0-9A-Fa-f]{6}\Z")


class MarketingEmailForm(PublicModelForm):
    class Meta:
        model = MarketingEmail
        fields = MARKETING_EMAIL_FIELDS


@admin.register(MarketingEmail)
class MarketingEmailAdmin(ServiceModelAdmin):
    form = MarketingEmailForm
    list_display = ("name", "public_id", "subject", "campaign_code", "subscription_type", "sent_at", "created_at")
    list_filter = ("subscription_type", "sent_at")
    list_select_related = ("subscription_type",)
    search_fields = ("name", "subject", "campaign_code", "=public_id")
    date_hierarchy = "created_at"
    fields = (*MARKETING_EMAIL_FIELDS, *RECORD_FIELDS, EXPECTED_VERSION)
    readonly_fields = RECORD_FIELDS
    issue_fields = {"subscription_type_id": "subscription_type"}

    def get_queryset(self, request: HttpRequest):
        queryset = super().get_queryset(request)
        match = request.resolver_match
        # The changelist never shows the HTML, which may be large.
        return queryset.defer("html_content") if match and match.url_name.endswith("_changelist") else queryset

    def service_save(
        self, request: HttpRequest, form: ModelForm, formsets: list[BaseFormSet], change: bool
    ) -> MarketingEmail:
        data = form.cleaned_data
        if not change:
            return marketing_email_create(**{name: data[name] for name in MARKETING_EMAIL_FIELDS})
        changes = self.changed_values(form, MARKETING_EMAIL_FIELDS)
        if not changes:
            return form.instance
        return marketing_email_update(
            marketing_email=form.instance, expected_version=data.get(EXPECTED_VERSION), **changes
        )

    def service_delete(self, obj: MarketingEmail) -> None:
        marketing_email_delete(marketing_email=obj)


class BrandSettingsForm(forms.ModelForm):
    brand_logo_url = forms.URLField(
        max_length=500,
        required=False,
        assume_scheme="https",
        validators=[URLValidator(schemes=["https", "http"])],
        help_text="An http(s) address of the logo image shown on public pages.",
    )

    class Meta:
        model = BrandSettings
        fields = ("name", "brand_logo_url", "brand_primary_color", "support_email")

    def clean_brand_primary_color(self) -> str:
        colour = (self.cleaned_data.get("brand_primary_color") or "").strip()
        # Public pages put it in CSS: nothing but #RRGGBB may reach them.
        if not HEX_COLOUR.match(colour):
            raise forms.ValidationError("Enter a colour as # followed by six hex digits, such as #FF5733.")
        return colour.upper()


@admin.register(BrandSettings)
class BrandSettingsAdmin(admin.ModelAdmin):
    """One row, the one `BrandSettings.current()` reads: the list goes straight to it, and it cannot be deleted."""

    form = BrandSettingsForm
    fields = ("tenant_id", "name", "brand_logo_url", "brand_primary_color", "support_email", "updated_at")
    readonly_fields = ("tenant_id", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not BrandSettings.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        brand = BrandSettings.current()
        return HttpResponseRedirect(reverse("admin:preferences_brandsettings_change", args=[brand.pk]))

    def save_model(self, request: HttpRequest, obj: BrandSettings, form: ModelForm, change: bool) -> None:
        if not change:
            obj.pk = 1  # the row current() reads; adding is offered only while there is none
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)
