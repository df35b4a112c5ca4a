"""Admin for subscribers, their consent and memberships, and their vocabulary (subscription types, custom fields,
tags). A subscriber's page is saved by one subscriber_create/subscriber_update call: fields, tags, consent and
memberships together, with one version bump."""

import re
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.forms import BaseFormSet, BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from audiences.models import DEFAULT_AUDIENCE_ID, Audience, AudienceMembership, ListMembership, MarketingList
from audiences.selectors import in_audiences_q, in_lists_q
from core.admin import EXPECTED_VERSION, RECORD_FIELDS, PublicModelForm, ServiceModelAdmin, is_changelist
from subscribers.models import (
    ConsentRecord,
    CustomField,
    Engagement,
    Subscriber,
    SubscriptionPreference,
    SubscriptionType,
    Tag,
)
from subscribers.services import (
    custom_field_create,
    custom_field_delete,
    custom_field_update,
    subscriber_create,
    subscriber_delete,
    subscriber_revoke_links,
    subscriber_update,
    subscription_type_create,
    subscription_type_delete,
    subscription_type_update,
    tag_create,
    tag_delete,
    tag_update,
)
from subscribers.services.subscribers import SUBSCRIBER_FIELDS

EMAIL_LIKE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class MarketingListFilter(admin.SimpleListFilter):
    title = "list"
    parameter_name = "list"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return list(MarketingList.objects.order_by("name").values_list("public_id", "name"))

    def queryset(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> QuerySet[Subscriber]:
        if not self.value():
            return queryset
        marketing_list = MarketingList.objects.select_related("audience").filter(public_id=self.value()).first()
        return queryset.filter(in_lists_q([marketing_list])) if marketing_list else queryset.none()


class AudienceFilter(admin.SimpleListFilter):
    title = "audience"
    parameter_name = "audience"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        audiences = Audience.objects.exclude(public_id=DEFAULT_AUDIENCE_ID).order_by("name")
        return list(audiences.values_list("public_id", "name"))

    def queryset(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> QuerySet[Subscriber]:
        if not self.value():
            return queryset
        audience = Audience.objects.filter(public_id=self.value()).first()
        return queryset.filter(in_audiences_q([audience])) if audience else queryset.none()


class MembershipInline(admin.TabularInline):
    """Memberships are added or removed, never edited: existing rows show read-only with a delete box."""

    extra = 0
    readonly_fields = ("created_at",)

    def has_change_permission(self, request: HttpRequest, obj: Subscriber | None = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related(*self.autocomplete_fields)


class ListMembershipInline(MembershipInline):
    model = ListMembership
    fields = ("marketing_list", "created_at")
    autocomplete_fields = ("marketing_list",)
    verbose_name = "static list membership"


class AudienceMembershipInline(MembershipInline):
    model = AudienceMembership
    fields = ("audience", "created_at")
    autocomplete_fields = ("audience",)
    verbose_name = "audience membership (added by hand)"


class PreferenceInlineForm(forms.ModelForm):
    class Meta:
        model = SubscriptionPreference
        fields = ("subscription_type", "subscribed")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:  # a consent record stays about its type; only the choice changes
            self.fields["subscription_type"].disabled = True


class PreferenceInline(admin.TabularInline):
    model = SubscriptionPreference
    form = PreferenceInlineForm
    fields = ("subscription_type", "subscribed", "subscribed_date", "unsubscribed_date")
    readonly_fields = ("subscribed_date", "unsubscribed_date")
    extra = 0
    verbose_name = "consent"
    verbose_name_plural = "consent"

    def has_delete_permission(self, request: HttpRequest, obj: Subscriber | None = None) -> bool:
        return False  # consent is withdrawn (with its date), not erased

    def get_queryset(self, request: HttpRequest) -> QuerySet[SubscriptionPreference]:
        return super().get_queryset(request).select_related("subscription_type")


class LatestRowsFormSet(BaseInlineFormSet):
    """Shows only the latest `max_rows` rows of a history that grows without bound (consent changes, engagement),
    so that the subscriber's page costs the same however long the history is."""

    max_rows = 20
    # Never saved (the inline is read-only), yet read by the admin's change message.
    new_objects = changed_objects = deleted_objects = ()

    def get_queryset(self) -> QuerySet:
        if not hasattr(self, "_queryset"):
            self._queryset = super().get_queryset()[: self.max_rows]
        return self._queryset


class HistoryInline(admin.TabularInline):
    """A read-only history under the subscriber: nothing is added, changed or deleted here."""

    extra = 0
    max_num = 0
    can_delete = False
    max_rows = 20

    def get_formset(self, request: HttpRequest, obj: Subscriber | None = None, **kwargs: Any):
        kwargs["formset"] = type("LatestRows", (LatestRowsFormSet,), {"max_rows": self.max_rows})
        return super().get_formset(request, obj, **kwargs)

    def has_add_permission(self, request: HttpRequest, obj: Subscriber | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Subscriber | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Subscriber | None = None) -> bool:
        return False


class ConsentRecordInline(HistoryInline):
    model = ConsentRecord
    fields = (
        "created_at", "action", "subscription_type", "source", "reason", "marketing_email", "ip_address", "user_agent",
    )  # fmt: skip
    readonly_fields = fields
    max_rows = 50
    verbose_name = "consent change"
    verbose_name_plural = f"consent history (latest {max_rows})"

    def get_queryset(self, request: HttpRequest) -> QuerySet[ConsentRecord]:
        return (
            super()
            .get_queryset(request)
            .select_related("subscription_type", "marketing_email")
            .defer("marketing_email__html_content")
            .order_by("-created_at", "-pk")
        )


class EngagementInline(HistoryInline):
    model = Engagement
    fields = (
        "marketing_email", "campaign_code", "delivery_status", "email_sent_at", "open_count", "click_count",
        "page_view_count", "purchase_count", "total_purchase_amount", "engagement_score", "updated_at",
    )  # fmt: skip
    readonly_fields = fields
    show_change_link = True
    max_rows = 20
    verbose_name = "engagement"
    verbose_name_plural = f"engagement (latest {max_rows} campaigns)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Engagement]:
        return (
            super()
            .get_queryset(request)
            .select_related("marketing_email")
            .defer("marketing_email__html_content")
            .order_by("-created_at", "-pk")
        )


@dataclass
class MembershipEdit:
    """What a membership inline asks for: the targets to keep and to add, and the rows to remove."""

    formset: BaseFormSet | None
    target: str
    kept: list = field(default_factory=list)
    added: list = field(default_factory=list)
    removed: list = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.formset is None:
            return
        deleted = self.formset.deleted_forms
        for form in self.formset.initial_forms:
            (self.removed if form in deleted else self.kept).append(form.instance)
        self.added = [
            form.cleaned_data[self.target]
            for form in self.formset.extra_forms
            if form.has_changed() and form not in deleted
        ]

    @property
    def public_ids(self) -> list[str] | None:
        """All the targets wanted, or None to leave the memberships as they are."""
        if self.formset is None or not (self.added or self.removed):
            return None
        return [getattr(row, self.target).public_id for row in self.kept] + [t.public_id for t in self.added]

    def record(self, subscriber: Subscriber) -> None:
        """Tell the admin's change message what changed (it reads what formset.save() would have set)."""
        if self.formset is None:
            return
        added = self.formset.model.objects.filter(subscriber=subscriber, **{f"{self.target}__in": self.added})
        self.formset.new_objects = list(added) if self.added else []
        self.formset.changed_objects = []
        self.formset.deleted_objects = self.removed


@dataclass
class ConsentEdit:
    formset: BaseFormSet | None
    updates: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[SubscriptionPreference, list[str]]] = field(default_factory=list)
    added_types: list[SubscriptionType] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.formset is None:
            return
        for form in self.formset.forms:
            if not form.has_changed():
                continue
            subscription_type = form.cleaned_data["subscription_type"]
            self.updates.append(
                {"subscription_type_id": subscription_type.public_id, "subscribe": form.cleaned_data["subscribed"]}
            )
            if form.instance.pk:
                self.changed.append((form.instance, form.changed_data))
            else:
                self.added_types.append(subscription_type)

    def record(self, subscriber: Subscriber) -> None:
        if self.formset is None:
            return
        added = SubscriptionPreference.objects.filter(subscriber=subscriber, subscription_type__in=self.added_types)
        self.formset.new_objects = list(added) if self.added_types else []
        self.formset.changed_objects = self.changed
        self.formset.deleted_objects = []


class SubscriberForm(PublicModelForm):
    unique_ignoring_case = ("email",)

    class Meta:
        model = Subscriber
        fields = (*SUBSCRIBER_FIELDS, "tags")


@admin.register(Subscriber)
class SubscriberAdmin(ServiceModelAdmin):
    form = SubscriberForm
    list_display = ("email", "public_id", "first_name", "last_name", "active", "tag_names", "created_at")
    list_filter = ("active", "created_at", "tags", MarketingListFilter, AudienceFilter)
    search_fields = ("email", "first_name", "last_name", "=public_id")
    search_help_text = (
        "A whole email address or a sub_ id finds that subscriber; other text is looked for in emails and names."
    )
    # Counting a million rows twice per page is the slow part of a changelist.
    show_full_result_count = False
    autocomplete_fields = ("tags",)
    readonly_fields = RECORD_FIELDS
    fieldsets = (
        (None, {"fields": ("email", "first_name", "last_name")}),
        ("Status", {"fields": ("active", "inactive_reason")}),
        ("Data", {"fields": ("additional_fields_data", "tags")}),
        ("Record", {"fields": (*RECORD_FIELDS, EXPECTED_VERSION)}),
    )
    inlines = (PreferenceInline, ListMembershipInline, AudienceMembershipInline, ConsentRecordInline, EngagementInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscriber]:
        queryset = super().get_queryset(request)
        return queryset.prefetch_related("tags") if is_changelist(request, self.opts) else queryset

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        # What staff paste most, answered from the unique indexes instead of a substring scan of every row.
        if term.startswith(f"{Subscriber.PUBLIC_ID_PREFIX}_") and " " not in term:
            return queryset.filter(public_id=term), False
        if EMAIL_LIKE.fullmatch(term):
            return queryset.alias(email_lower=Lower("email")).filter(email_lower=term.lower()), False
        return super().get_search_results(request, queryset, search_term)

    actions = ("revoke_links",)

    @admin.display(description="tags")
    def tag_names(self, obj: Subscriber) -> str:
        return ", ".join(tag.name for tag in obj.tags.all())

    @admin.action(description="Revoke every link sent to the selected subscribers", permissions=["change"])
    def revoke_links(self, request: HttpRequest, queryset: QuerySet[Subscriber]) -> None:
        subscribers = list(queryset)
        for subscriber in subscribers:
            subscriber_revoke_links(subscriber=subscriber)
            self.log_change(request, subscriber, "Revoked every link (preference center, unsubscribe, view in browser)")
        self.message_user(request, f"Revoked the links of {len(subscribers)} subscriber(s).", messages.SUCCESS)

    def service_save(
        self, request: HttpRequest, form: ModelForm, formsets: list[BaseFormSet], change: bool
    ) -> Subscriber:
        data = form.cleaned_data
        by_model = {formset.model: formset for formset in formsets}
        lists = MembershipEdit(by_model.get(ListMembership), "marketing_list")
        audiences = MembershipEdit(by_model.get(AudienceMembership), "audience")
        consent = ConsentEdit(by_model.get(SubscriptionPreference))
        tags = [tag.public_id for tag in data["tags"]]
        if not change:
            subscriber = subscriber_create(
                email=data["email"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                active=data["active"],
                inactive_reason=data["inactive_reason"],
                additional_fields_data=data["additional_fields_data"] or {},
                tags=tags,
                lists=lists.public_ids or [],
                audiences=audiences.public_ids or [],
                subscription_updates=consent.updates,
            )
        else:
            fields = self.changed_values(form, SUBSCRIBER_FIELDS)
            if "additional_fields_data" in fields:
                fields["additional_fields_data"] = fields["additional_fields_data"] or {}
            tags_changed = "tags" in form.changed_data
            if not (fields or tags_changed or lists.public_ids or audiences.public_ids or consent.updates):
                return form.instance
            subscriber = subscriber_update(
                subscriber=form.instance,
                expected_version=data.get(EXPECTED_VERSION),
                tags=tags if tags_changed else None,
                lists=lists.public_ids,
                audiences=audiences.public_ids,
                subscription_updates=consent.updates,
                **fields,
            )
        for edit in (lists, audiences, consent):
            edit.record(subscriber)
        return subscriber

    def service_delete(self, obj: Subscriber) -> None:
        subscriber_delete(subscriber=obj)


class SubscriptionTypeForm(PublicModelForm):
    unique_ignoring_case = ("name",)

    class Meta:
        model = SubscriptionType
        fields = ("name", "description")


@admin.register(SubscriptionType)
class SubscriptionTypeAdmin(ServiceModelAdmin):
    form = SubscriptionTypeForm
    list_display = ("name", "public_id", "description", "created_at", "updated_at")
    search_fields = ("name", "=public_id")
    fields = ("name", "description", *RECORD_FIELDS, EXPECTED_VERSION)
    readonly_fields = RECORD_FIELDS

    def service_save(
        self, request: HttpRequest, form: ModelForm, formsets: list[BaseFormSet], change: bool
    ) -> SubscriptionType:
        data = form.cleaned_data
        if not change:
            return subscription_type_create(name=data["name"], description=data["description"])
        changes = self.changed_values(form, ("name", "description"))
        if not changes:
            return form.instance
        return subscription_type_update(
            subscription_type=form.instance, expected_version=data.get(EXPECTED_VERSION), **changes
        )

    def service_delete(self, obj: SubscriptionType) -> None:
        subscription_type_delete(subscription_type=obj)


class CustomFieldForm(PublicModelForm):
    class Meta:
        model = CustomField
        fields = ("name", "field_type", "values", "required", "default", "description", "discovered")
        help_texts = {
            "default": 'A JSON value: 42, "gold", true, "2024-01-31".',
            "discovered": "Registered from data written without a definition, its type inferred and not enforced. "
            "Untick it (or change the type) to define the field: its type is then enforced on every write.",
        }


@admin.register(CustomField)
class CustomFieldAdmin(ServiceModelAdmin):
    form = CustomFieldForm
    list_display = ("name", "field_type", "discovered", "required", "default", "values", "public_id", "created_at")
    list_filter = ("discovered", "field_type", "required")
    search_fields = ("name", "=public_id")
    fields = (
        "name", "field_type", "discovered", "values", "required", "default", "description",
        *RECORD_FIELDS, EXPECTED_VERSION,
    )  # fmt: skip
    readonly_fields = RECORD_FIELDS
    issue_fields = {"type": "field_type"}

    def get_readonly_fields(self, request: HttpRequest, obj: CustomField | None = None) -> tuple[str, ...]:
        readonly = super().get_readonly_fields(request, obj)
        if obj is None:
            return ("discovered", *readonly)  # what staff create is defined
        if obj.discovered:
            return ("name", *readonly)  # the inferred type was a guess: it may change, which defines the field
        # Stored values and rules depend on them: custom_field_update refuses to change either.
        return ("name", "field_type", "discovered", *readonly)

    def service_save(
        self, request: HttpRequest, form: ModelForm, formsets: list[BaseFormSet], change: bool
    ) -> CustomField:
        data = form.cleaned_data
        if not change:
            return custom_field_create(
                name=data["name"],
                field_type=data["field_type"],
                values=data["values"] or [],
                required=data["required"],
                default=data["default"],
                description=data["description"],
            )
        changes = self.changed_values(
            form, ("field_type", "discovered", "values", "required", "default", "description")
        )
        if "values" in changes:
            changes["values"] = changes["values"] or []
        if not changes:
            return form.instance
        return custom_field_update(custom_field=form.instance, expected_version=data.get(EXPECTED_VERSION), **changes)

    def service_delete(self, obj: CustomField) -> None:
        custom_field_delete(custom_field=obj)


class TagForm(PublicModelForm):
    unique_ignoring_case = ("name",)

    class Meta:
        model = Tag
        fields = ("name", "status")


@admin.register(Tag)
class TagAdmin(ServiceModelAdmin):
    form = TagForm
    list_display = ("name", "public_id", "status", "created_at", "updated_at")
    list_filter = ("status",)
    search_fields = ("name", "=public_id")
    fields = ("name", "status", *RECORD_FIELDS, EXPECTED_VERSION)
    readonly_fields = RECORD_FIELDS

    def service_save(self, request: HttpRequest, form: ModelForm, formsets: list[BaseFormSet], change: bool) -> Tag:
        data = form.cleaned_data
        if not change:
            return tag_create(name=data["name"], status=data["status"])
        changes = self.changed_values(form, ("name", "status"))
        if not changes:
            return form.instance
        return tag_update(tag=form.instance, expected_version=data.get(EXPECTED_VERSION), **changes)

    def service_delete(self, obj: Tag) -> None:
        tag_delete(tag=obj)


@admin.register(Engagement)
class EngagementAdmin(admin.ModelAdmin):
    """Read-only: engagement records change only through events (the API and the providers' webhooks)."""

    list_display = (
        "subscriber", "campaign_code", "marketing_email", "delivery_status", "open_count", "click_count",
        "purchase_count", "engagement_score", "updated_at",
    )  # fmt: skip
    list_filter = ("delivery_status",)
    list_select_related = ("subscriber", "marketing_email")
    search_fields = ("subscriber__email", "campaign_code", "=subscriber__public_id", "=marketing_email__public_id")
    search_help_text = "A subscriber's email (whole or part), a sub_ or memail_ id, or a campaign code."
    show_full_result_count = False
    ordering = ("-pk",)
    fields = (
        "subscriber", "marketing_email", "campaign_code", "delivery_status", "email_sent_at", "email_delivered_at",
        "first_opened_at", "last_opened_at", "open_count", "first_clicked_at", "last_clicked_at", "click_count",
        "unique_click_count", "links", "unsubscribed_at", "first_page_view_at", "last_page_view_at",
        "page_view_count", "total_engagement_time_seconds", "first_purchase_at", "last_purchase_at",
        "purchase_count", "total_purchase_amount", "engagement_score", "campaign_metadata", "created_at",
        "updated_at",
    )  # fmt: skip
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Engagement]:
        return super().get_queryset(request).defer("marketing_email__html_content")

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        term = search_term.strip()
        if EMAIL_LIKE.fullmatch(term):
            # A whole address: answered from the subscriber's unique lower(email) index.
            subscriber = Subscriber.objects.alias(email_lower=Lower("email")).filter(email_lower=term.lower())
            return queryset.filter(subscriber__in=subscriber), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="clicked links")
    def links(self, obj: Engagement) -> str:
        if not obj.clicked_links:
            return "—"
        return format_html(
            "<ul>{}</ul>",
            format_html_join(
                "",
                "<li>{} — {} click(s), first {}, last {}</li>",
                (
                    (link.get("url"), link.get("count"), link.get("first_clicked_at"), link.get("last_clicked_at"))
                    for link in obj.clicked_links
                ),
            ),
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Engagement | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Engagement | None = None) -> bool:
        return False
