"""The admin's import wizard and job pages, served under the ImportJob admin (every URL is wrapped in
`admin_site.admin_view`, so staff only, and each view checks its permission):

1. `import/`: a static list or an audience, and the file (stored as an Upload, with the API's checks);
2. `import/<upload>/into/<list or audience>/`: the first rows, one select per column pre-filled by imports.mapping,
   the import type; "Dry run" shows what the import would do (the API's dry run), "Start" creates the job.

Both dry run and start are `imports.services.import_job_create`, the API's service: the rules live there only.
A job's page polls `<job>/progress/` (JSON) for its progress bar; `<job>/cancel/` and `<job>/errors/` (a redirect
to the expiring report link the API gives) complete it."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode

from audiences.models import Audience, MarketingList
from core.admin import describe
from core.errors import ApplicationError
from imports.errors import InvalidImportFile, JobAlreadyProcessing
from imports.forms import ColumnMappingForm, ImportFileForm, add_service_errors
from imports.mapping import PREVIEW_ROWS, FilePreview, preview_file
from imports.models import ImportJob, Upload
from imports.services import import_job_cancel, import_job_create, import_job_error_report_url, import_target_check
from imports.uploads import upload_create, upload_file_url_of
from subscribers.models import CustomField

if TYPE_CHECKING:
    from imports.admin import ImportJobAdmin

ERRORS_SHOWN_AFTER_DRY_RUN = 10


def progress_percent(job: ImportJob) -> int:
    if not job.total_rows:
        return 100 if job.status == ImportJob.Status.COMPLETED else 0
    return min(100, 100 * job.processed_rows // job.total_rows)


def job_owner_link(job: ImportJob) -> str:
    """The job's list or audience, linked to its admin page."""
    owner = job.marketing_list or job.audience
    if owner is None:
        return "—"
    url = reverse(f"admin:audiences_{owner._meta.model_name}_change", args=[owner.pk])
    kind = "list" if job.marketing_list_id else "audience"
    return format_html('{} <a href="{}">{}</a>', kind, url, owner)


def job_progress(job: ImportJob, *, error_report_url: str | None) -> dict[str, Any]:
    """What the job page's progress bar shows, as the progress endpoint answers it."""
    return {
        "id": job.public_id,
        "status": job.status,
        "status_label": job.get_status_display(),
        "finished": job.is_finished,
        "processed_rows": job.processed_rows,
        "total_rows": job.total_rows,
        "percent": progress_percent(job),
        "created_contacts": job.created_contacts,
        "updated_contacts": job.updated_contacts,
        "removed_contacts": job.removed_contacts,
        "skipped_contacts": job.skipped_contacts,
        "invalid_contacts": job.invalid_contacts,
        "failure_reason": job.failure_reason,
        "cancel_requested": job.cancel_requested,
        "error_report_url": error_report_url if job.invalid_contacts else None,
    }


class ImportJobViews:
    """The wizard and the job page's endpoints, bound to the ImportJob admin (for its site, options and
    permissions)."""

    def __init__(self, model_admin: "ImportJobAdmin") -> None:
        self.model_admin = model_admin
        self.opts = model_admin.opts

    # -- helpers --------------------------------------------------------------------------------------------------

    def url(self, name: str, *args: Any) -> str:
        return reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_{name}", args=args)

    def render(self, request: HttpRequest, template: str, title: str, **context: Any) -> TemplateResponse:
        context = {
            **self.model_admin.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            **context,
        }
        return TemplateResponse(request, f"admin/imports/importjob/{template}", context)

    def require_import_permission(self, request: HttpRequest) -> None:
        if not self.model_admin.has_import_permission(request):
            raise PermissionDenied

    def get_job(self, request: HttpRequest, object_id: str) -> ImportJob:
        job = self.model_admin.get_object(request, object_id)
        if job is None:
            raise Http404("Import job not found")
        if not self.model_admin.has_view_permission(request, job):
            raise PermissionDenied
        return job

    @staticmethod
    def owner_of(target_id: str) -> MarketingList | Audience:
        model = MarketingList if target_id.startswith(f"{MarketingList.PUBLIC_ID_PREFIX}_") else Audience
        owner = model.objects.filter(public_id=target_id).first()
        if owner is None:
            raise Http404("List or audience not found")
        return owner

    def progress_context(self, request: HttpRequest, job: ImportJob) -> dict[str, Any]:
        """The job page's progress panel (server-rendered; static/imports/job_progress.js keeps it live)."""
        return {
            "job": job,
            "progress": job_progress(job, error_report_url=self.url("errors", job.pk)),
            "progress_url": self.url("progress", job.pk),
            "cancel_url": self.url("cancel", job.pk),
            "can_cancel": self.model_admin.has_cancel_permission(request, job) and not job.is_finished,
        }

    # -- step 1 ---------------------------------------------------------------------------------------------------

    def upload(self, request: HttpRequest) -> HttpResponse:
        """Choose where to import, and send the file."""
        self.require_import_permission(request)
        if request.method == "POST":
            form = ImportFileForm(request.POST, request.FILES)
            if form.is_valid():
                try:
                    stored = upload_create(file=form.cleaned_data["file"])
                except InvalidImportFile as error:
                    add_service_errors(form, error)
                else:
                    return redirect(self.url("import_mapping", stored.public_id, form.target.public_id))
        else:
            initial = {}
            if list_id := request.GET.get("list"):
                initial["marketing_list"] = MarketingList.objects.filter(public_id=list_id).first()
            if audience_id := request.GET.get("audience"):
                initial["audience"] = Audience.objects.filter(public_id=audience_id).first()
            form = ImportFileForm(initial=initial)
        return self.render(
            request,
            "wizard_upload.html",
            "Import subscribers",
            step=1,
            form=form,
        )

    # -- steps 2 and 3 --------------------------------------------------------------------------------------------

    def mapping(self, request: HttpRequest, upload_id: str, target_id: str) -> HttpResponse:
        """GET: the preview and the suggested mapping. POST `_dry_run`: the dry run's results, with Start.
        POST `_start`: the job, then its page. POST `_edit`: back to the mapping as it was chosen."""
        self.require_import_permission(request)
        stored = Upload.objects.filter(public_id=upload_id).first()
        if stored is None:
            raise Http404("Upload not found")
        owner = self.owner_of(target_id)
        owner_kw = {"marketing_list": owner} if isinstance(owner, MarketingList) else {"audience": owner}
        kind = "list" if isinstance(owner, MarketingList) else "audience"
        restart = f"{self.url('import')}?{urlencode({kind: target_id})}"
        try:
            import_target_check(**owner_kw)
            preview = preview_file(Path(stored.file.path))
        except ApplicationError as error:
            self.model_admin.message_user(request, describe(error), messages.ERROR)
            return HttpResponseRedirect(restart)
        names = list(CustomField.objects.order_by("name").values_list("name", flat=True))
        data = request.POST if request.method == "POST" else None
        form = ColumnMappingForm(data, headers=preview.headers, custom_field_names=names)
        context = {
            "upload": stored,
            "owner": owner,
            "owner_kind": kind,
            "preview": preview,
            "form": form,
            "restart_url": restart,
        }
        if data is None or "_edit" in data or not form.is_valid():
            return self.mapping_page(request, **context)
        job_args = {
            "file_url": upload_file_url_of(stored),
            "import_type": form.cleaned_data["import_type"],
            "columns_mapping": form.columns_mapping,
            **owner_kw,
        }
        if "_start" in data:
            return self.start(request, job_args, context)
        try:
            dry_run = import_job_create(dry_run=True, **job_args)
        except ApplicationError as error:
            add_service_errors(form, error)
            return self.mapping_page(request, **context)
        return self.review_page(request, dry_run=dry_run, **context)

    def start(self, request: HttpRequest, job_args: dict[str, Any], context: dict[str, Any]) -> HttpResponse:
        try:
            job = import_job_create(**job_args)
        except JobAlreadyProcessing as error:
            self.model_admin.message_user(
                request, f"{error.message}: wait for it to finish, or cancel it, then start again.", messages.ERROR
            )
            return self.review_page(request, dry_run=None, **context)
        except ApplicationError as error:
            add_service_errors(context["form"], error)
            return self.mapping_page(request, **context)
        self.model_admin.log_addition(request, job, [{"added": {}}])
        self.model_admin.message_user(request, f"Import {job.public_id} started.", messages.SUCCESS)
        return redirect(self.url("change", job.pk))

    def mapping_page(self, request: HttpRequest, *, preview: FilePreview, form: ColumnMappingForm, **context: Any):
        samples = {header: cells[:3] for header, cells in preview.columns}
        columns = [(form[name], samples[header]) for header, name in form.columns]
        return self.render(
            request,
            "wizard_mapping.html",
            "Import subscribers: map the columns",
            step=2,
            preview=preview,
            preview_rows=PREVIEW_ROWS,
            form=form,
            columns=columns,
            **context,
        )

    def review_page(self, request: HttpRequest, *, dry_run: ImportJob | None, **context: Any) -> TemplateResponse:
        errors = list(dry_run.row_errors.order_by("row_number", "pk")[:ERRORS_SHOWN_AFTER_DRY_RUN]) if dry_run else []
        return self.render(
            request,
            "wizard_review.html",
            "Import subscribers: dry run",
            step=3,
            dry_run=dry_run,
            errors=errors,
            more_errors=max(dry_run.invalid_contacts - len(errors), 0) if dry_run else 0,
            report_url=self.url("errors", dry_run.pk) if errors else None,
            **context,
        )

    # -- the job page's endpoints ---------------------------------------------------------------------------------

    def progress(self, request: HttpRequest, object_id: str) -> JsonResponse:
        job = self.get_job(request, object_id)
        return JsonResponse(job_progress(job, error_report_url=self.url("errors", job.pk)))  # never cached: admin_view

    def cancel(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = self.get_job(request, object_id)
        if not self.model_admin.has_cancel_permission(request, job):
            raise PermissionDenied
        try:
            job = import_job_cancel(job=job)
        except ApplicationError as error:
            self.model_admin.message_user(request, describe(error), messages.WARNING)
        else:
            self.model_admin.log_change(request, job, "Cancelled")
            done = "cancelled" if job.is_finished else "asked to stop before its next batch"
            self.model_admin.message_user(request, f"Import {job.public_id} {done}.", messages.SUCCESS)
        return redirect(self.url("change", job.pk))

    def error_report(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """A redirect to the report's expiring link (the API's), so that the page's link never expires."""
        job = self.get_job(request, object_id)
        url = import_job_error_report_url(job=job)
        if url is None:
            self.model_admin.message_user(request, "This import has no invalid rows.", messages.INFO)
            return redirect(self.url("change", job.pk))
        return HttpResponseRedirect(url)
