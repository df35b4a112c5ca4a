"""Admin for audiences and marketing lists. Saves and deletes go through audiences.services."""

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected as delete_selected_action
from django.core.exceptions import PermissionDenied
from django.db.models import BigIntegerField, Case, Count, F, Func, OuterRef, QuerySet, Subquery, When
from django.forms import BaseFormSet, ModelForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy

from audiences.builder import PreviewTimeout, field_catalogue, growth_chart, rules_preview
from audiences.models import (
    DEFAULT_AUDIENCE_ID,
    Audience,
    AudienceMembership,
    ListChange,
    ListMembership,
    MarketingList,
)
from audiences.selectors import audience_members, list_changes_of, list_member_counts, list_members
from audiences.services import audience_create, audience_delete, audience_update, list_create, list_delete, list_update
from core.actors import actor_of
from core.admin import EXPECTED_VERSION, RECORD_FIELDS, PublicModelForm, ServiceModelAdmin, is_changelist
from core.api.errors import error_response
from core.errors import ApplicationError, Issue
from subscribers.models import Subscriber

HISTORY_SHOWN = 20  # on the list's page; GET /api/lists/{id}/history pages through all of it


def row_count(queryset: QuerySet) -> Subquery:
    """`SELECT COUNT(*)` of the queryset as a subquery (correlated when it uses OuterRef): one count per row shown,
    from the membership indexes, without grouping the outer query."""
    return Subquery(
        queryset.order_by().values(n=Func(F("pk"), function="COUNT", output_field=BigIntegerField())),
        output_field=BigIntegerField(),
    )


# Member counts for the changelists. They follow audiences.selectors (the one rule for who is in what): everyone is in
# the default audience, a static list's members are its memberships, and a dynamic list's are its audience's.
def audience_member_count(*, audience: str, public_id: str) -> Case:
    """The member count of the audience that the `audience` reference (whose public id is at `public_id`) names."""
    return Case(
        When(**{public_id: DEFAULT_AUDIENCE_ID}, then=row_count(Subscriber.objects.all())),
        default=row_count(AudienceMembership.objects.filter(audience=OuterRef(audience))),
    )


def subscribers_url(**params: str) -> str:
    url = reverse("admin:subscribers_subscriber_changelist")
    return f"{url}?{urlencode(params)}" if params else url


def members_link(count: int, **params: str) -> str:
    return format_html('<a href="{}">{}</a>', subscribers_url(**params), count)


def autocomplete_source(request: HttpRequest) -> tuple[str, str]:
    """The model and field an autocomplete request fills (admin's AutocompleteJsonView parameters)."""
    return request.GET.get("model_name", ""), request.GET.get("field_name", "")


class RulesField(forms.JSONField):
    """The rule tree as JSON: the segment builder writes it, and without JavaScript staff edit it as text."""

    def prepare_value(self, value: Any) -> str:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return "" if value is None else json.dumps(value, indent=2, ensure_ascii=False)


class AudienceForm(PublicModelForm):
    unique_ignoring_case = ("name",)
    rules = RulesField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "class": "vLargeTextField segment-rules-json", "spellcheck": "false"}),
        help_text='A group such as {"match": "all", "negate": false, "conditions": [{"field": "email", '
        '"operation": "like", "value": "@example.com"}]}. Empty: members are only those added by hand.',
    )

    class Meta:
        model = Audience
        fields = ("name",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.is_default:
            del self.fields["rules"]  # everyone is in it: it takes no rules
        elif self.instance.pk:
            self.fields["rules"].initial = self.instance.rules


@admin.register(Audience)
class AudienceAdmin(ServiceModelAdmin):
    form = AudienceForm
    change_form_template = "admin/audiences/audience/change_form.html"
    list_display = ("name", "public_id", "member_count", "status", "created_at", "updated_at")
    search_fields = ("name", "=public_id")
    fieldsets = (
        (None, {"fields": ("name",)}),
        (
            "Rules",
            {
                "fields": ("rules",),
                "description": "Members are the subscribers who match these rules, plus those added by hand.",
            },
        ),
        ("Membership", {"fields": ("members", "status", "failure_reason", "materialized_at", "growth")}),
        ("Record", {"fields": (*RECORD_FIELDS, EXPECTED_VERSION), "classes": ("collapse",)}),
    )
    list_filter = ("status",)
    readonly_fields = ("members", "status", "failure_reason", "materialized_at", "growth", *RECORD_FIELDS)
    change_only_fields = (
        *ServiceModelAdmin.change_only_fields,
        "members",
        "status",
        "failure_reason",
        "materialized_at",
        "growth",
    )
    actions = ("delete_selected",)

    def get_urls(self) -> list[URLPattern]:
        opts = self.opts
        preview = path(
            "preview/",
            self.admin_site.admin_view(self.preview_view),
            name=f"{opts.app_label}_{opts.model_name}_preview",
        )
        return [preview, *super().get_urls()]

    def get_fieldsets(self, request: HttpRequest, obj: Audience | None = None) -> list:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and obj.is_default:
            return [(name, options) for name, options in fieldsets if name != "Rules"]
        return fieldsets

    def get_queryset(self, request: HttpRequest) -> QuerySet[Audience]:
        queryset = super().get_queryset(request)
        if is_changelist(request, self.opts):  # not for autocomplete, change or delete pages
            queryset = queryset.annotate(member_count=audience_member_count(audience="pk", public_id="public_id"))
        return queryset

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if autocomplete_source(request) == ("audiencemembership", "audience"):
            queryset = queryset.exclude(public_id=DEFAULT_AUDIENCE_ID)  # everyone is in it already
        return queryset, may_have_duplicates

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: Audience) -> str:
        params = {} if obj.is_default else {"audience": obj.public_id}
        return members_link(obj.member_count, **params)

    @admin.display(description="members")
    def members(self, obj: Audience) -> str:
        params = {} if obj.is_default else {"audience": obj.public_id}
        return members_link(audience_members(obj).count(), **params)

    def get_readonly_fields(self, request: HttpRequest, obj: Audience | None = None) -> tuple[str, ...]:
        readonly = super().get_readonly_fields(request, obj)
        return ("name", *readonly) if obj is not None and obj.is_default else readonly

    def has_delete_permission(self, request: HttpRequest, obj: Audience | None = None) -> bool:
        if obj is not None and obj.is_default:
            return False
        return super().has_delete_permission(request, obj)

    @admin.action(permissions=["delete"], description=gettext_lazy("Delete selected %(verbose_name_plural)s"))
    def delete_selected(self, request: HttpRequest, queryset: QuerySet[Audience]) -> HttpResponse | None:
        if queryset.filter(public_id=DEFAULT_AUDIENCE_ID).exists():
            self.message_user(request, "“All Subscribers” cannot be deleted; it was left out.", messages.WARNING)
            queryset = queryset.exclude(public_id=DEFAULT_AUDIENCE_ID)
            if not queryset.exists():
                return None
        return delete_selected_action(self, request, queryset)

    @admin.display(description="growth")
    def growth(self, obj: Audience) -> str:
        return render_to_string("admin/audiences/audience/growth_chart.html", {"chart": growth_chart(obj)})

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Audience | None = None,
    ) -> HttpResponse:
        if obj is None or not obj.is_default:
            rejection = getattr(request, "service_rejection", None)
            context["segment_builder"] = {
                "catalogue": field_catalogue(editing=obj),
                "config": {
                    "previewUrl": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_preview"),
                    "audience": obj.public_id if obj is not None else None,
                    "issues": [{"field": i.field, "message": i.message} for i in rejection.issues]
                    if rejection is not None
                    else [],
                },
            }
        return super().render_change_form(request, context, add, change, form_url, obj)

    def preview_view(self, request: HttpRequest) -> JsonResponse:
        """The live count and sample for the rules being edited: `{"rules": {...} | null, "audience": "aud_..."}`
        answers `{count, reachable, manual, sample}`, or 400 with the issues saving would report."""
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        if request.method != "POST":
            return error_response(405, "Use POST", "METHOD_NOT_ALLOWED")
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return error_response(400, "The body is not JSON", "VALIDATION_ERROR", [Issue("body", "expected JSON")])
        if not isinstance(body, dict):
            return error_response(400, "Expected an object", "VALIDATION_ERROR", [Issue("body", 'expected {"rules"}')])
        audience = None
        if body.get("audience"):
            audience = Audience.objects.filter(public_id=str(body["audience"])).first()
            if audience is None:
                return error_response(404, "Audience not found", "NOT_FOUND", [Issue("audience", "unknown audience")])
        try:
            preview = rules_preview(body.get("rules"), audience=audience)
        except ApplicationError as error:
            return error_response(error.status, error.message, error.code, error.issues)
        except PreviewTimeout:
            message = "Counting took too long for a preview; save the audience and it is counted in the background"
            return error_response(503, message, "PREVIEW_TIMEOUT")
        answer = preview.as_dict()
        for member in answer["sample"]:
            member["url"] = reverse("admin:subscribers_subscriber_change", args=[member.pop("pk")])
        return JsonResponse(answer)

    def service_save(
        self, request: HttpRequest, form: ModelForm, formsets: list[BaseFormSet], change: bool
    ) -> Audience:
        data = form.cleaned_data
        if not change:
            return audience_create(name=data["name"], rules=data.get("rules"))
        changes = self.changed_values(form, ("name", "rules"))
        if form.instance.status == Audience.Status.FAILED and "rules" in form.fields:
            # Saving a failed audience's rules, even as they are, gives them another chance.
            changes.setdefault("rules", data.get("rules"))
        if not changes:
            return form.instance
        return audience_update(audience=form.instance, expected_version=data.get(EXPECTED_VERSION), **changes)

    def service_delete_by(self, request: HttpRequest, obj: Audience) -> None:
        audience_delete(audience=obj, actor=actor_of(request))

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[list, dict, set, list]:
        """What the delete confirmation lists: each audience, how many memberships go with it, and what becomes of
        the lists on it (they stay, with their members). Counted, not collected row by row: an audience may have
        millions of members, and its lists are not deleted (the default would call them protected)."""
        audiences = list(objs)
        memberships = dict(
            AudienceMembership.objects.filter(audience__in=audiences)
            .values("audience")
            .annotate(n=Count("pk"))
            .values_list("audience", "n")
            .order_by()
        )
        lists = list(MarketingList.objects.filter(audience__in=audiences).order_by("name"))
        sizes = list_member_counts(lists)
        summary: list = []
        for audience in audiences:
            lines = [f"{memberships.get(audience.pk, 0)} audience memberships (the subscribers stay)"]
            for marketing_list in (lst for lst in lists if lst.audience_id == audience.pk):
                what = "becomes a static list on" if marketing_list.is_dynamic else "moves to"
                link = reverse("admin:audiences_marketinglist_change", args=[marketing_list.pk])
                lines.append(
                    format_html(
                        'List <a href="{}">{}</a> stays: it {} All Subscribers with its {} members',
                        link,
                        marketing_list.name,
                        what,
                        sizes[marketing_list.pk],
                    )
                )
            summary += [f"Audience: {audience.name}", lines]
        counts = {"audiences": len(audiences), "audience memberships": sum(memberships.values())}
        return summary, counts, set(), []


def describe_list_change(change: ListChange) -> str:
    """A list history entry in a sentence."""
    details = change.details
    audience = f"{details.get('audience_name', '')} ({details.get('audience_id', '')})"
    match change.kind:
        case ListChange.Kind.AUDIENCE_DELETED_MOVED_TO_DEFAULT:
            members = details.get("members")
            return f"Audience {audience} was deleted: moved to All Subscribers with its {members} members"
        case ListChange.Kind.AUDIENCE_DELETED_MADE_STATIC:
            return (
                f"Audience {audience} was deleted: made a static list on All Subscribers holding the "
                f"{details.get('members')} members it had"
            )
        case ListChange.Kind.SWITCHED_TO_DYNAMIC:
            return (
                f"Switched to dynamic on {details.get('audience_id')}: {details.get('static_members_removed')} static "
                f"members removed; {details.get('members_before')} members before, {details.get('members_after')} after"
            )
        case ListChange.Kind.SWITCHED_TO_STATIC:
            return f"Switched to static, keeping its {details.get('members_after')} members"
    return change.get_kind_display()


class MarketingListForm(PublicModelForm):
    class Meta:
        model = MarketingList
        fields = ("name", "mode", "audience")


@admin.register(MarketingList)
class MarketingListAdmin(ServiceModelAdmin):
    form = MarketingListForm
    list_display = ("name", "public_id", "mode", "audience", "member_count", "created_at")
    list_filter = ("mode", ("audience", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("audience",)
    search_fields = ("name", "=public_id")
    autocomplete_fields = ("audience",)
    fieldsets = (
        (None, {"fields": ("name", "mode", "audience", "members", "imports")}),
        (
            "History",
            {
                "fields": ("history",),
                "description": "Changes to what the list is: mode switches, and the deletion of its audience.",
            },
        ),
        ("Record", {"fields": (*RECORD_FIELDS, "created_by", EXPECTED_VERSION), "classes": ("collapse",)}),
    )
    readonly_fields = ("members", "imports", "history", "created_by", *RECORD_FIELDS)
    change_only_fields = (*ServiceModelAdmin.change_only_fields, "members", "imports", "history", "created_by")

    def get_queryset(self, request: HttpRequest) -> QuerySet[MarketingList]:
        queryset = super().get_queryset(request)
        if is_changelist(request, self.opts):
            queryset = queryset.annotate(
                member_count=Case(
                    When(
                        mode=MarketingList.Mode.STATIC,
                        then=row_count(ListMembership.objects.filter(marketing_list=OuterRef("pk"))),
                    ),
                    default=audience_member_count(audience="audience", public_id="audience__public_id"),
                )
            )
        return queryset

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if autocomplete_source(request) == ("listmembership", "marketing_list"):
            queryset = queryset.filter(mode=MarketingList.Mode.STATIC)  # a dynamic list's members are its audience's
        return queryset, may_have_duplicates

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: MarketingList) -> str:
        # The annotation sorts the page; a composed list (includes, excludes: few of them) is counted as its members
        # page counts it, which the annotation does not follow.
        count = list_members(obj).count() if obj.composed else obj.member_count
        return members_link(count, list=obj.public_id)

    @admin.display(description="members")
    def members(self, obj: MarketingList) -> str:
        return members_link(list_members(obj).count(), list=obj.public_id)

    @admin.display(description="imports")
    def imports(self, obj: MarketingList) -> str:
        jobs = reverse("admin:imports_importjob_changelist") + "?" + urlencode({"marketing_list__id__exact": obj.pk})
        if obj.mode != MarketingList.Mode.STATIC or obj.archived:
            return format_html('<a href="{}">Import jobs</a>', jobs)
        start = reverse("admin:imports_importjob_import") + "?" + urlencode({"list": obj.public_id})
        return format_html(
            '<a href="{}">Import subscribers into this list</a> · <a href="{}">Import jobs</a>', start, jobs
        )

    @admin.display(description="history")
    def history(self, obj: MarketingList) -> str:
        changes = list_changes_of(obj)
        shown = [(change, describe_list_change(change)) for change in changes[:HISTORY_SHOWN]]
        context = {"changes": shown, "total": changes.count() if len(shown) == HISTORY_SHOWN else len(shown)}
        return render_to_string("admin/audiences/marketinglist/history.html", {**context, "list": obj})

    def service_save(
        self, request: HttpRequest, form: ModelForm, formsets: list[BaseFormSet], change: bool
    ) -> MarketingList:
        data = form.cleaned_data
        actor = actor_of(request)
        if not change:
            return list_create(name=data["name"], mode=data["mode"], audience=data["audience"], actor=actor)
        changes = self.changed_values(form, ("name", "mode", "audience"))
        if not changes:
            return form.instance
        return list_update(
            marketing_list=form.instance, expected_version=data.get(EXPECTED_VERSION), actor=actor, **changes
        )

    def service_delete(self, obj: MarketingList) -> None:
        list_delete(marketing_list=obj)
