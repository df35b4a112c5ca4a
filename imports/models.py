from django.db import models
from django.utils import timezone

from core.models import PublicModel


class Upload(PublicModel):
    """A file uploaded to Roster (POST /api/uploads), usable as an import's `file_url`."""

    PUBLIC_ID_PREFIX = "upl"

    file = models.FileField(upload_to="uploads/%Y/%m/")
    original_name = models.CharField(max_length=255, blank=True, default="")
    content_type = models.CharField(max_length=100, blank=True, default="")
    size = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return self.original_name or self.public_id


class ImportJob(PublicModel):
    """One bulk import into a list (or an audience's manual members): pending -> processing -> completed | failed |
    cancelled. Rows are applied in batches; `last_batch` is the last one committed, so a job whose worker died
    resumes after it."""

    PUBLIC_ID_PREFIX = "job"

    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSING = "processing"
        COMPLETED = "completed"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class ImportType(models.TextChoices):
        CREATE_ONLY = "create_only"
        UPDATE_ONLY = "update_only"
        CREATE_UPDATE = "create_update"
        REMOVE_ONLY = "remove_only"

    marketing_list = models.ForeignKey(
        "audiences.MarketingList", null=True, blank=True, on_delete=models.CASCADE, related_name="import_jobs"
    )
    audience = models.ForeignKey(
        "audiences.Audience", null=True, blank=True, on_delete=models.CASCADE, related_name="import_jobs"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    file_url = models.CharField(max_length=2000)
    # What staff know the file as: an upload's original name, else the last segment of file_url's path.
    file_name = models.CharField(max_length=255, blank=True, default="")
    import_type = models.CharField(max_length=16, choices=ImportType.choices)
    columns_mapping = models.JSONField(default=dict, blank=True)
    dry_run = models.BooleanField(default=False)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_contacts = models.PositiveIntegerField(default=0)
    updated_contacts = models.PositiveIntegerField(default=0)
    removed_contacts = models.PositiveIntegerField(default=0)
    invalid_contacts = models.PositiveIntegerField(default=0)
    skipped_contacts = models.PositiveIntegerField(default=0)
    # Where the fetched file is kept while the job runs (so a resumed job reads the same bytes).
    local_path = models.CharField(max_length=500, blank=True, default="")
    error_report = models.FileField(upload_to="import-errors/%Y/%m/", blank=True, default="")
    failure_reason = models.CharField(max_length=1000, blank=True, default="")
    last_batch = models.IntegerField(default=-1)
    attempts = models.PositiveSmallIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written by the worker after every batch; a processing job whose heartbeat is old lost its worker.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-pk")
        indexes = [models.Index(fields=["marketing_list", "status"]), models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.COMPLETED, self.Status.FAILED, self.Status.CANCELLED)


class ImportRowError(models.Model):
    """One invalid row of a job, for its error report."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.PositiveIntegerField()
    email = models.CharField(max_length=320, blank=True, default="")
    error_type = models.CharField(max_length=50)
    message = models.CharField(max_length=1000)
    details = models.CharField(max_length=1000, blank=True, default="")
    suggested_fix = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("job", "row_number", "pk")
        indexes = [models.Index(fields=["job", "row_number"])]

    def __str__(self) -> str:
        return f"{self.job_id} row {self.row_number}: {self.error_type}"
