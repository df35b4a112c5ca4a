"""Forms of the admin's import wizard: where to import and which file (step 1), then how its columns map (step 2).

They check what a form can; the import's rules (archived lists, tiers, the mapping's targets, one running import per
list) are `imports.services`', whose refusals come back as errors on these forms."""

from collections.abc import Iterable, Sequence
from typing import Any

from django import forms

from audiences.models import Audience, MarketingList
from core.admin import form_errors
from core.errors import ApplicationError
from imports.mapping import SKIP, column_choices, suggest_mapping
from imports.models import ImportJob
from imports.services import import_target_check

# Issue fields of imports.services and imports.uploads (as the API names them) -> the wizard's form fields.
ISSUE_FIELDS = {"list_id": "marketing_list", "audience_id": "audience", "file_url": "file"}

IMPORT_TYPE_HELP = {
    ImportJob.ImportType.CREATE_UPDATE: "create new subscribers and update existing ones",
    ImportJob.ImportType.CREATE_ONLY: "create new subscribers; existing ones are left as they are",
    ImportJob.ImportType.UPDATE_ONLY: "update existing subscribers; unknown emails are skipped",
    ImportJob.ImportType.REMOVE_ONLY: "take the subscribers out of the list (or the audience's manual members)",
}


def add_service_errors(form: forms.Form, error: ApplicationError) -> None:
    """A service's refusal as errors on the fields it names (above the form for the others)."""
    for field, message in form_errors(error, form.fields, ISSUE_FIELDS):
        form.add_error(field, message)


class ListChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: MarketingList) -> str:
        return f"{obj.name} (archived)" if obj.archived else obj.name


class ImportFileForm(forms.Form):
    """Step 1: a static list or an audience, and the file."""

    marketing_list = ListChoiceField(
        queryset=MarketingList.objects.filter(mode=MarketingList.Mode.STATIC).order_by("name", "pk"),
        required=False,
        label="Into the static list",
    )
    audience = forms.ModelChoiceField(
        queryset=Audience.objects.filter(group__isnull=True).order_by("name", "pk"),
        required=False,
        label="Or as manual members of the audience",
        help_text="Choose a list or an audience, not both.",
    )
    file = forms.FileField(
        label="CSV or XLSX file",
        help_text="The first row names the columns. Any common delimiter and encoding; for XLSX, the first sheet.",
        widget=forms.FileInput(attrs={"accept": ".csv,.txt,.tsv,.xlsx,text/csv"}),
    )

    def clean(self) -> dict[str, Any]:
        cleaned_data = super().clean()
        marketing_list, audience = cleaned_data.get("marketing_list"), cleaned_data.get("audience")
        if (marketing_list is None) == (audience is None):
            if not self.has_error("marketing_list") and not self.has_error("audience"):
                self.add_error(None, "Choose either a list or an audience to import into.")
            return cleaned_data
        try:
            import_target_check(marketing_list=marketing_list, audience=audience)
        except ApplicationError as error:
            add_service_errors(self, error)
        return cleaned_data

    @property
    def target(self) -> MarketingList | Audience:
        return self.cleaned_data.get("marketing_list") or self.cleaned_data["audience"]


class ColumnMappingForm(forms.Form):
    """Step 2: one select per column of the file, pre-filled with the suggested field, and the import type."""

    import_type = forms.ChoiceField(
        choices=[(value, f"{label} — {IMPORT_TYPE_HELP[value]}") for value, label in ImportJob.ImportType.choices],
        initial=ImportJob.ImportType.CREATE_UPDATE,
        widget=forms.RadioSelect(attrs={"class": "radiolist"}),
        label="Import type",
    )

    def __init__(self, *args: Any, headers: Sequence[str], custom_field_names: Iterable[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = list(custom_field_names)
        suggested = suggest_mapping(headers, names)
        # (header, form field name): headers are arbitrary text, so fields are named by position.
        self.columns: list[tuple[str, str]] = []
        for index, header in enumerate(headers):
            name = f"column_{index}"
            self.fields[name] = forms.ChoiceField(
                label=header,
                choices=column_choices(header, names),
                initial=suggested[header],
                required=False,
            )
            self.columns.append((header, name))

    def clean(self) -> dict[str, Any]:
        cleaned_data = super().clean()
        fed_by: dict[str, str] = {}
        for header, name in self.columns:
            target = cleaned_data.get(name) or SKIP
            if target == SKIP:
                continue
            if target in fed_by:
                self.add_error(name, f"The column “{fed_by[target]}” already feeds this field.")
                continue
            fed_by[target] = header
        if self.columns and "email" not in fed_by:
            self.add_error(None, "Map one column to Email: it identifies each subscriber.")
        cleaned_data["columns_mapping"] = {header: target for target, header in fed_by.items()}
        return cleaned_data

    @property
    def columns_mapping(self) -> dict[str, str]:
        return self.cleaned_data["columns_mapping"]
