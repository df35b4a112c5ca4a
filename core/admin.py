"""The admin for API keys, and `ServiceModelAdmin`, the base that makes every staff edit go through the services.

A save or a delete in the admin calls the same service the API calls, so the admin cannot skip a rule (the default
audience stays, names stay unique, `version` grows on every change). When a service refuses, staff see its issues as
form errors on the page they submitted, with their input kept, instead of a 500.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models.functions import Lower
from django.forms import BaseFormSet, ModelForm
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.text import capfirst

from core.errors import ApplicationError
from core.models import ALL_SCOPES, ApiKey
from core.services import api_key_create, api_key_revoke, validate_scopes

RECORD_FIELDS = ("public_id", "created_at", "updated_at", "version")
EXPECTED_VERSION = "expected_version"


class ServiceRejected(Exception):
    """A service refused an admin save or delete; raised out of the admin's transaction so that it rolls back."""

    def __init__(self, error: ApplicationError) -> None:
        super().__init__(error.message)
        self.error = error


def describe(error: ApplicationError) -> str:
    details = "; ".join(f"{issue.field}: {issue.message}" if issue.field else issue.message for issue in error.issues)
    return f"{error.message} ({details})" if details else error.message


def form_errors(
    error: ApplicationError, form_fields: Mapping[str, forms.Field], aliases: Mapping[str, str]
) -> list[tuple[str | None, str]]:
    """Where each issue goes on the form: on the field it names when the form shows that field (`type` may be
    called `field_type` there, `additional_fields_data.plan` is the `plan` key of one field), else above the form."""
    if not error.issues:
        return [(None, error.message)]
    placed = []
    for issue in error.issues:
        name, _, key = issue.field.partition(".")
        name = aliases.get(issue.field, aliases.get(name, name))
        field = form_fields.get(name)
        if field is not None and not field.disabled and not field.widget.is_hidden:
            placed.append((name, f"{key}: {issue.message}" if key else issue.message))
        else:
            placed.append((None, f"{issue.field}: {issue.message}" if issue.field else issue.message))
    return placed


def _with_rejection(form_class: type[ModelForm], error: ApplicationError, aliases: Mapping[str, str]) -> type:
    class RejectedForm(form_class):
        def clean(self) -> dict[str, Any]:
            cleaned_data = super().clean()
            for field, message in form_errors(error, self.fields, aliases):
                self.add_error(field, message)
            return cleaned_data

    RejectedForm.__name__ = form_class.__name__
    return RejectedForm


def is_changelist(request: HttpRequest, opts: Any) -> bool:
    """Whether the request is for this model's changelist: where per-row annotations (counts) are worth their cost,
    unlike on autocomplete, change and delete pages, which share get_queryset."""
    match = request.resolver_match
    return match is not None and match.url_name == f"{opts.app_label}_{opts.model_name}_changelist"


def adopt(target: models.Model, saved: models.Model) -> None:
    """Make the admin's instance the row the service saved (pk, version, timestamps) for the log and the redirect."""
    if target is saved:
        return
    for field in saved._meta.concrete_fields:
        setattr(target, field.attname, getattr(saved, field.attname))
    target._state.adding = False
    target._state.db = saved._state.db


class PublicModelForm(forms.ModelForm):
    """Carries the version the page was loaded at, so that a save over someone else's change is a VERSION_CONFLICT
    instead of a silent overwrite."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    # Fields unique whatever their case (a UniqueConstraint on Lower(field)). Checked here so that a clash is said on
    # the field; Django would report the database constraint by its name, above the form. The service checks again.
    unique_ignoring_case: tuple[str, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields[EXPECTED_VERSION].initial = self.instance.version

    def clean(self) -> dict[str, Any]:
        cleaned_data = super().clean()
        model = self._meta.model
        for name in self.unique_ignoring_case:
            value = cleaned_data.get(name)
            if name not in self.fields or not isinstance(value, str):
                continue
            # lower() = lower(), not iexact's upper(): it is what the constraint's index covers.
            clash = model._default_manager.alias(folded=Lower(name)).filter(folded=value.strip().lower())
            if self.instance.pk is not None:
                clash = clash.exclude(pk=self.instance.pk)
            if clash.exists():
                field_name = model._meta.get_field(name).verbose_name
                self.add_error(name, f"{capfirst(model._meta.verbose_name)} with this {field_name} already exists.")
        return cleaned_data


class ServiceModelAdmin(admin.ModelAdmin):
    """An admin whose writes are `service_save` and `service_delete`.

    `save_model` writes nothing: `save_related` calls `service_save` once with the form and the inline formsets, so
    that a subscriber and its memberships are one service call and one version bump."""

    # Issue field names (as the API spells them) that the form calls differently.
    issue_fields: Mapping[str, str] = {}
    # Shown on the change page only.
    change_only_fields: tuple[str, ...] = (*RECORD_FIELDS, EXPECTED_VERSION)

    def service_save(
        self, request: HttpRequest, form: ModelForm, formsets: list[BaseFormSet], change: bool
    ) -> models.Model:
        raise NotImplementedError

    def service_delete(self, obj: models.Model) -> None:
        obj.delete()

    def service_delete_by(self, request: HttpRequest, obj: models.Model) -> None:
        """The delete of a staff request: `service_delete`, unless the admin's service records who deletes (then
        override this one, with `core.actors.actor_of(request)`)."""
        self.service_delete(obj)

    @staticmethod
    def changed_values(form: ModelForm, names: Iterable[str]) -> dict[str, Any]:
        names = set(names)
        return {name: form.cleaned_data[name] for name in form.changed_data if name in names}

    def get_fieldsets(self, request: HttpRequest, obj: models.Model | None = None) -> list:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None:
            return fieldsets
        trimmed = []
        for name, options in fieldsets:
            fields = [field for field in options["fields"] if field not in self.change_only_fields]
            if fields:
                trimmed.append((name, {**options, "fields": fields}))
        return trimmed

    def get_form(self, request: HttpRequest, obj: models.Model | None = None, change: bool = False, **kwargs: Any):
        form = super().get_form(request, obj, change, **kwargs)
        rejection = getattr(request, "service_rejection", None)
        return form if rejection is None else _with_rejection(form, rejection, self.issue_fields)

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRejected as rejected:
            # The exception left the admin's transaction, so nothing of this save was kept. Validate the same input
            # again with the service's issues added as errors: the page comes back with them and saves nothing.
            request.service_rejection = rejected.error
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request: HttpRequest, obj: models.Model, form: ModelForm, change: bool) -> None:
        """Nothing is written here; see save_related."""

    def save_related(self, request: HttpRequest, form: ModelForm, formsets: list[BaseFormSet], change: bool) -> None:
        try:
            saved = self.service_save(request, form, formsets, change)
        except ApplicationError as error:
            raise ServiceRejected(error) from error
        adopt(form.instance, saved)

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        try:
            self.service_delete_by(request, obj)
        except ApplicationError as error:
            raise ServiceRejected(error) from error

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceRejected as rejected:
            self.message_user(request, describe(rejected.error), messages.ERROR)
            opts = self.opts
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id]))

    def delete_queryset(self, request: HttpRequest, queryset: models.QuerySet) -> None:
        for obj in queryset:
            try:
                self.service_delete_by(request, obj)
            except ApplicationError as error:
                self.message_user(request, f"{obj}: {describe(error)}", messages.ERROR)


class ApiKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in ALL_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="Write also grants read on the same resource. links:read hands out a subscriber's signed links, "
        "which change their consent without any key: no other scope grants it.",
    )

    class Meta:
        model = ApiKey
        fields = ("name", "scopes", "revoked")


@admin.register(ApiKey)
class ApiKeyAdmin(ServiceModelAdmin):
    form = ApiKeyForm
    list_display = ("name", "prefix", "scope_list", "created_at", "last_used_at", "revoked")
    list_filter = ("revoked",)
    search_fields = ("name", "=prefix")
    actions = ("revoke_keys",)
    created_template = "admin/core/apikey/created.html"

    @admin.display(description="scopes")
    def scope_list(self, obj: ApiKey) -> str:
        return ", ".join(obj.scopes) or "—"

    def get_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        if obj is None:
            return ("name", "scopes")
        return ("name", "scopes", "revoked", "prefix", "created_at", "last_used_at")

    def get_readonly_fields(self, request: HttpRequest, obj: ApiKey | None = None) -> tuple[str, ...]:
        if obj is None:
            return ()
        # A revoked key may have leaked; it stays revoked, and a new key replaces it.
        return ("prefix", "created_at", "last_used_at", *(("revoked",) if obj.revoked else ()))

    def service_save(self, request: HttpRequest, form: ModelForm, formsets: list[BaseFormSet], change: bool) -> ApiKey:
        data = form.cleaned_data
        if not change:
            key, raw_key = api_key_create(name=data["name"], scopes=data["scopes"])
            # Handed to response_add on the instance and never stored: only its digest is in the database.
            form.instance.raw_key = raw_key
            return key
        key = form.instance
        if "revoked" in form.changed_data and data["revoked"]:
            api_key_revoke(key=key)
        changed = [name for name in ("name", "scopes") if name in form.changed_data]
        if changed:
            key.scopes = validate_scopes(key.scopes)
            # Only these columns: authentication updates last_used_at concurrently.
            key.save(update_fields=changed)
        return key

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: str | None = None) -> HttpResponse:
        """The one page that shows the raw key: rendered, not redirected to, so that it is never kept anywhere."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "API key created",
            "key": obj,
            "raw_key": obj.raw_key,
        }
        response = TemplateResponse(request, self.created_template, context)
        add_never_cache_headers(response)
        return response

    @admin.action(description="Revoke selected API keys", permissions=["change"])
    def revoke_keys(self, request: HttpRequest, queryset: models.QuerySet[ApiKey]) -> None:
        keys = list(queryset.filter(revoked=False))
        for key in keys:
            api_key_revoke(key=key)
            self.log_change(request, key, [{"changed": {"fields": ["revoked"]}}])
        self.message_user(request, f"Revoked {len(keys)} API key(s).", messages.SUCCESS)
