from typing import Any

from rest_framework import serializers

from core.api.fields import format_timestamp
from core.api.serializers import InputSerializer
from imports.models import ImportJob
from imports.reports import error_report_url

# What GET answers for a job (job_representation, job_detail_representation, dry_run_representation) besides the
# fields a request sets: the server's to keep.
JOB_ECHO_FIELDS = frozenset(
    {
        "id", "list_id", "status", "processed_rows", "total_rows", "created_contacts", "updated_contacts",
        "removed_contacts", "invalid_contacts", "skipped_contacts", "error_details_url", "failure_reason",
        "created_date", "started_date", "finished_date", "summary",
    }
)  # fmt: skip


class ImportFileInputSerializer(InputSerializer):
    """A job's `import_file` as GET answers it; its audience is the job's owner's, its file name the server's."""

    echo_fields = frozenset({"audience_id", "file_name"})
    file_url = serializers.CharField(max_length=2000, required=False)
    import_type = serializers.ChoiceField(choices=ImportJob.ImportType.choices, required=False)


class ImportRequestSerializer(InputSerializer):
    """Starts an import. Takes back a job as GET answers it (so that a job can be run again): its `import_file`
    gives `file_url` and `import_type`, its counters and dates are ignored."""

    echo_fields = JOB_ECHO_FIELDS
    file_url = serializers.CharField(max_length=2000)
    import_type = serializers.ChoiceField(choices=ImportJob.ImportType.choices)
    columns_mapping = serializers.DictField(
        child=serializers.CharField(max_length=200), required=False, allow_null=True, allow_empty=True
    )
    dry_run = serializers.BooleanField(required=False, default=False)
    import_file = ImportFileInputSerializer(required=False, help_text="A job's import_file as GET answers it.")

    def from_echo(self, data: dict[str, Any]) -> dict[str, Any]:
        echoed = data.get("import_file")
        if isinstance(echoed, dict):
            for name in ("file_url", "import_type"):
                if name in echoed and data.setdefault(name, echoed[name]) != echoed[name]:
                    raise serializers.ValidationError({f"import_file.{name}": [f"Differs from {name}"]})
        return super().from_echo(data)

    def validate_columns_mapping(self, value: dict | None) -> dict:
        if value and len(value) > 500:
            raise serializers.ValidationError("At most 500 columns")
        return value or {}


class ListJobSerializer(InputSerializer):
    """One new entry of the `jobs` array of a list create or update."""

    file_url = serializers.CharField(max_length=2000)
    import_type = serializers.ChoiceField(choices=ImportJob.ImportType.choices)
    columns_mapping = serializers.DictField(
        child=serializers.CharField(max_length=200), required=False, allow_null=True, allow_empty=True
    )


class JobEchoSerializer(InputSerializer):
    """An entry of a list's `jobs` as GET answers it: a job already started, which a list update leaves alone."""

    echo_fields = JOB_ECHO_FIELDS - {"id"}
    id = serializers.CharField(max_length=64)
    import_file = ImportFileInputSerializer(required=False)
    dry_run = serializers.BooleanField(required=False)


class JobPageSerializer(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, default=1)
    limit = serializers.IntegerField(min_value=1, default=20)

    def validate_limit(self, value: int) -> int:
        return min(value, 100)


def job_representation(job: ImportJob) -> dict[str, Any]:
    """The seed's job shape, with the file's name, whether it is a dry run and why it failed or was cancelled.
    `error_details_url` is an expiring link, present once the job has an error report."""
    owner = job.marketing_list or job.audience
    audience = job.marketing_list.audience if job.marketing_list_id else job.audience
    return {
        "id": job.public_id,
        "list_id": job.marketing_list.public_id if job.marketing_list_id else None,
        "status": job.status,
        "dry_run": job.dry_run,
        "import_file": {
            "file_url": job.file_url,
            "file_name": job.file_name,
            "import_type": job.import_type,
            "audience_id": audience.public_id if audience else None,
        },
        "processed_rows": job.processed_rows,
        "total_rows": job.total_rows,
        "created_contacts": job.created_contacts,
        "updated_contacts": job.updated_contacts,
        "removed_contacts": job.removed_contacts,
        "invalid_contacts": job.invalid_contacts,
        "error_details_url": error_report_url(job) if job.error_report and owner is not None else None,
        "failure_reason": job.failure_reason or None,
        "created_date": format_timestamp(job.created_at),
    }


def job_detail_representation(job: ImportJob) -> dict[str, Any]:
    """The job shape plus what only one job's page needs: skipped rows and timings."""
    return {
        **job_representation(job),
        "skipped_contacts": job.skipped_contacts,
        "started_date": format_timestamp(job.started_at),
        "finished_date": format_timestamp(job.finished_at),
    }


def dry_run_representation(job: ImportJob) -> dict[str, Any]:
    return {
        **job_detail_representation(job),
        "summary": {
            "would_create": job.created_contacts,
            "would_update": job.updated_contacts,
            "would_remove": job.removed_contacts,
            "would_skip": job.skipped_contacts,
            "rejected": job.invalid_contacts,
        },
    }


class ImportFileSerializer(serializers.Serializer):
    """For the OpenAPI schema: a job's `import_file`."""

    file_url = serializers.CharField()
    file_name = serializers.CharField(
        help_text="The uploaded file's original name, or the last segment of file_url's path"
    )
    import_type = serializers.ChoiceField(choices=ImportJob.ImportType.choices)
    audience_id = serializers.CharField(allow_null=True)


class JobSerializer(serializers.Serializer):
    """For the OpenAPI schema: the seed's job shape, with `dry_run` and the file's name."""

    id = serializers.CharField()
    list_id = serializers.CharField(allow_null=True)
    status = serializers.CharField(help_text="pending, processing, completed, failed or cancelled")
    dry_run = serializers.BooleanField(help_text="A dry run checked every row and changed nothing")
    import_file = ImportFileSerializer()
    processed_rows = serializers.IntegerField(help_text="Rows processed so far (valid or not)")
    total_rows = serializers.IntegerField(
        help_text="The file's data rows. Known when the job is created for a file uploaded to Roster (POST "
        "/api/uploads); for a remote http(s) file_url it is 0 until a worker has fetched and counted the file, "
        "moments after the job starts processing."
    )
    created_contacts = serializers.IntegerField()
    updated_contacts = serializers.IntegerField()
    removed_contacts = serializers.IntegerField()
    invalid_contacts = serializers.IntegerField()
    error_details_url = serializers.CharField(allow_null=True)
    failure_reason = serializers.CharField(
        allow_null=True,
        help_text="Why a failed job failed (a file that cannot be read or fetched, a mapping without email...) or "
        "why it was cancelled; null otherwise",
    )
    created_date = serializers.CharField()


class JobDetailSerializer(JobSerializer):
    """For the OpenAPI schema: one job, as GET .../jobs/{job_id} and its cancel answer it."""

    skipped_contacts = serializers.IntegerField()
    started_date = serializers.CharField(allow_null=True)
    finished_date = serializers.CharField(allow_null=True)


class JobPageResponseSerializer(serializers.Serializer):
    results = JobSerializer(many=True)
    total = serializers.IntegerField()
    totalPages = serializers.IntegerField()  # noqa: N815 - the seed's name


class FileUrlSerializer(serializers.Serializer):
    file_url = serializers.CharField()
