"""Admin for import jobs and uploads: both are read-only records. Jobs are started by the import wizard
(imports.admin_views), which calls the same service as the API, and cancelled through that service too."""

from django.contrib import admin, messages
from django.db.models import F, QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from core.admin import describe
from core.errors import ApplicationError
from imports.admin_views import ImportJobViews, job_owner_link, progress_percent
from imports.models import ImportJob, Upload
from imports.services import import_job_cancel
from imports.uploads import upload_file_url_of

ROW_ERRORS_SHOWN = 50


class ProgressFilter(admin.SimpleListFilter):
    title = "progress"
    parameter_name = "progress"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("not_started", "no row processed"), ("partial", "part of the rows"), ("all", "every row")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> QuerySet[ImportJob]:
        if self.value() == "not_started":
            return queryset.filter(processed_rows=0)
        if self.value() == "partial":
            return queryset.filter(processed_rows__gt=0, processed_rows__lt=F("total_rows"))
        if self.value() == "all":
            return queryset.filter(total_rows__gt=0, processed_rows__gte=F("total_rows"))
        return queryset


class OutcomeFilter(admin.SimpleListFilter):
    """The counts: which jobs created, updated or removed anybody, and which had invalid rows."""

    title = "counts"
    parameter_name = "counts"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [
            ("invalid", "with invalid rows"),
            ("clean", "without invalid rows"),
            ("created", "created subscribers"),
            ("updated", "updated subscribers"),
            ("removed", "removed subscribers"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> QuerySet[ImportJob]:
        match self.value():
            case "invalid":
                return queryset.filter(invalid_contacts__gt=0)
            case "clean":
                return queryset.filter(invalid_contacts=0)
            case "created" | "updated" | "removed" as counter:
                return queryset.filter(**{f"{counter}_contacts__gt": 0})
        return queryset


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    """Jobs are not edited by hand: no add, change or delete. The change page shows the job with a live progress bar
    (templates/admin/imports/importjob/change_form.html), its row errors and, while it runs, a cancel button."""

    change_list_template = "admin/imports/importjob/change_list.html"
    change_form_template = "admin/imports/importjob/change_form.html"
    list_display = (
        "public_id",
        "file",
        "owner",
        "status_and_reason",
        "run",  # next to the status: a dry run's counts changed nothing
        "import_type",
        "progress",
        "created_contacts",
        "updated_contacts",
        "removed_contacts",
        "skipped_contacts",
        "invalid_contacts",
        "created_at",
    )
    list_filter = (
        "status",
        ProgressFilter,
        OutcomeFilter,
        "import_type",
        "dry_run",
        ("marketing_list", admin.RelatedOnlyFieldListFilter),
        ("audience", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("marketing_list", "audience")
    search_fields = (
        "=public_id",
        "file_name",
        "marketing_list__name",
        "=marketing_list__public_id",
        "audience__name",
    )
    date_hierarchy = "created_at"
    actions = ("cancel_jobs",)
    fieldsets = (
        # The counts are the progress panel's, above the fields (kept live while the job runs).
        (
            None,
            {
                "fields": (
                    "public_id",
                    "owner",
                    "status",
                    "import_type",
                    "dry_run",
                    "file_name",
                    "file_url",
                    "mapping",
                    "failure_reason",
                )
            },
        ),
        ("Row errors", {"fields": ("row_error_table",)}),
        (
            "Timing",
            {
                "fields": ("created_at", "started_at", "heartbeat_at", "finished_at", "attempts"),
                "classes": ("collapse",),
            },
        ),
        ("Worker", {"fields": ("cancel_requested", "last_batch", "local_path"), "classes": ("collapse",)}),
    )
    readonly_fields = ("owner", "mapping", "row_error_table")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the import wizard starts jobs

    def has_change_permission(self, request: HttpRequest, obj: ImportJob | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ImportJob | None = None) -> bool:
        return False

    def has_import_permission(self, request: HttpRequest) -> bool:
        """Whether the user may run the import wizard (dry runs and imports)."""
        return request.user.has_perm(f"{self.opts.app_label}.add_{self.opts.model_name}")

    def has_cancel_permission(self, request: HttpRequest, obj: ImportJob | None = None) -> bool:
        return request.user.has_perm(f"{self.opts.app_label}.change_{self.opts.model_name}")

    def get_urls(self) -> list[URLPattern]:
        views = ImportJobViews(self)
        info = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("import/", wrap(views.upload), name=f"{info}_import"),
            path("import/<str:upload_id>/into/<str:target_id>/", wrap(views.mapping), name=f"{info}_import_mapping"),
            path("<path:object_id>/progress/", wrap(views.progress), name=f"{info}_progress"),
            path("<path:object_id>/cancel/", wrap(views.cancel), name=f"{info}_cancel"),
            path("<path:object_id>/errors/", wrap(views.error_report), name=f"{info}_errors"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None):
        extra_context = {**(extra_context or {}), "can_import": self.has_import_permission(request)}
        return super().changelist_view(request, extra_context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None):
        job = self.get_object(request, object_id)
        if job is not None:
            extra_context = {**(extra_context or {}), **ImportJobViews(self).progress_context(request, job)}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="list or audience")
    def owner(self, obj: ImportJob) -> str:
        return job_owner_link(obj)

    @admin.display(description="file", ordering="file_name")
    def file(self, obj: ImportJob) -> str:
        return obj.file_name or "—"

    @admin.display(description="status", ordering="status")
    def status_and_reason(self, obj: ImportJob) -> str:
        """A failed or cancelled job says why right in the list, as the API's job list does."""
        if obj.failure_reason and obj.status in (ImportJob.Status.FAILED, ImportJob.Status.CANCELLED):
            return format_html('{}<div class="help">{}</div>', obj.get_status_display(), obj.failure_reason)
        return obj.get_status_display()

    @admin.display(description="kind", ordering="dry_run")
    def run(self, obj: ImportJob) -> str:
        return "dry run" if obj.dry_run else "import"

    @admin.display(description="progress")
    def progress(self, obj: ImportJob) -> str:
        if not obj.total_rows:
            return "—" if obj.is_finished else "not counted yet"
        return format_html(
            '<progress value="{}" max="{}" aria-label="{} of {} rows">{}%</progress> {} / {}',
            obj.processed_rows,
            obj.total_rows,
            obj.processed_rows,
            obj.total_rows,
            progress_percent(obj),
            obj.processed_rows,
            obj.total_rows,
        )

    @admin.display(description="columns mapping")
    def mapping(self, obj: ImportJob) -> str:
        if not obj.columns_mapping:
            return "headers named like fields map themselves"
        return render_to_string("admin/imports/importjob/mapping.html", {"mapping": obj.columns_mapping.items()})

    @admin.display(description="row errors")
    def row_error_table(self, obj: ImportJob) -> str:
        errors = list(obj.row_errors.order_by("row_number", "pk")[:ROW_ERRORS_SHOWN])
        return render_to_string(
            "admin/imports/importjob/row_errors.html",
            {
                "errors": errors,
                "more": max(obj.invalid_contacts - len(errors), 0),
                "report_url": reverse("admin:imports_importjob_errors", args=[obj.pk]) if errors else None,
            },
        )

    @admin.action(description="Cancel selected import jobs", permissions=["cancel"])
    def cancel_jobs(self, request: HttpRequest, queryset: QuerySet[ImportJob]) -> None:
        cancelled = 0
        for job in queryset:
            try:
                import_job_cancel(job=job)
            except ApplicationError as error:
                self.message_user(request, f"{job.public_id}: {describe(error)}", messages.WARNING)
                continue
            cancelled += 1
            self.log_change(request, job, "Cancelled")
        if cancelled:
            self.message_user(request, f"Asked {cancelled} import job(s) to stop.", messages.SUCCESS)


@admin.register(Upload)
class UploadAdmin(admin.ModelAdmin):
    """Files sent to Roster for imports (by the API or the import wizard); kept as they were sent."""

    list_display = ("original_name", "public_id", "content_type", "size", "created_at")
    search_fields = ("original_name", "=public_id")
    date_hierarchy = "created_at"
    fields = ("public_id", "original_name", "content_type", "size", "stored_as", "file_url", "created_at")
    readonly_fields = ("stored_as", "file_url")

    @admin.display(description="stored as")
    def stored_as(self, obj: Upload) -> str:
        return obj.file.name  # media files are not served over HTTP: imports read them from storage

    @admin.display(description="file_url (for imports)")
    def file_url(self, obj: Upload) -> str:
        return upload_file_url_of(obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Upload | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Upload | None = None) -> bool:
        return False  # a job may still read it
