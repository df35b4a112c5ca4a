"""Import jobs over HTTP: start one (list or audience), page through them, read, cancel, fetch the error report."""

import math

from django.http import FileResponse, HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audiences.models import Audience, MarketingList
from audiences.selectors import audience_list, marketing_list_list
from core.api.errors import error_response
from core.api.schema import RosterAutoSchema
from core.api.views import ApiView, get_by_public_id, scopes_for
from core.errors import NotFound
from imports import selectors, services
from imports.api import serializers as s
from imports.models import ImportJob
from imports.reports import job_from_token


class AudienceNotFound(NotFound):
    default_message = "Audience not found"


class JobNotFound(NotFound):
    default_message = "Import job not found"


class ImportJobSchema(RosterAutoSchema):
    """The same views serve lists and audiences: their operation ids say which."""

    names = {
        "ImportStartView": "import_create",
        "JobCollectionView": "jobs_list",
        "JobDetailView": "job_retrieve",
        "JobCancelView": "job_cancel",
        "JobErrorsDownloadView": "job_errors_download",
        "ErrorReportFileView": "job_errors_file",
    }

    def get_operation_id(self) -> str:
        name = self.names.get(type(self.view).__name__)
        return f"{self.view.owner_kind}_{name}" if name else super().get_operation_id()


class ImportApiView(ApiView):
    """Base of the import endpoints; `owner_kind` says whether the URL names a list or an audience."""

    scope_map = scopes_for("imports")
    owner_kind = "list"
    schema = ImportJobSchema()

    def get_owner(self, owner_id: str) -> MarketingList | Audience:
        if self.owner_kind == "list":
            return get_by_public_id(marketing_list_list(), owner_id, services.ListNotFound())
        return get_by_public_id(audience_list(), owner_id, AudienceNotFound())

    def owner_filter(self, owner: MarketingList | Audience) -> dict:
        return {"marketing_list": owner} if isinstance(owner, MarketingList) else {"audience": owner}

    def get_job(self, owner_id: str, job_id: str) -> ImportJob:
        owner = self.get_owner(owner_id)
        job = selectors.import_job_get(job_id, **self.owner_filter(owner))
        if job is None:
            raise JobNotFound()
        return job


class ImportStartView(ImportApiView):
    """POST /api/lists/{id}/import (or /api/audiences/{id}/import): the pending job, or a dry run's results."""

    @extend_schema(request=s.ImportRequestSerializer, responses=s.JobSerializer)
    def post(self, request: Request, owner_id: str) -> Response:
        """Start importing a CSV or XLSX file (`file_url`, from POST /api/uploads or http(s)) into a list, or into an
        audience's manual members.

        `import_type` is `create_only`, `update_only`, `create_update` or `remove_only`; `columns_mapping` maps
        file columns to fields (dot notation into `additional_fields_data`). The answer is the pending job; with
        `dry_run` the file is checked and counted without changing anything, and the answer carries a `summary`."""
        owner = self.get_owner(owner_id)
        data = self.parse(s.ImportRequestSerializer)
        job = services.import_job_create(
            file_url=data["file_url"],
            import_type=data["import_type"],
            columns_mapping=data.get("columns_mapping"),
            dry_run=data["dry_run"],
            **self.owner_filter(owner),
        )
        if job.dry_run:
            return Response(s.dry_run_representation(job))
        return Response(s.job_representation(job))


class JobCollectionView(ImportApiView):
    @extend_schema(
        parameters=[OpenApiParameter("page", int), OpenApiParameter("limit", int)],
        responses=s.JobPageResponseSerializer,
    )
    def get(self, request: Request, owner_id: str) -> Response:
        """Page through the import jobs of a list or audience, newest first (`page`, `limit` up to 100)."""
        owner = self.get_owner(owner_id)
        page = self.parse(s.JobPageSerializer, data=request.query_params.dict())
        jobs = selectors.import_jobs_of(**self.owner_filter(owner))
        total = jobs.count()
        offset = (page["page"] - 1) * page["limit"]
        rows = list(jobs[offset : offset + page["limit"]]) if offset < total else []
        return Response(
            {
                "results": [s.job_representation(job) for job in rows],
                "total": total,
                "totalPages": math.ceil(total / page["limit"]),
            }
        )


class JobDetailView(ImportApiView):
    @extend_schema(responses=s.JobDetailSerializer)
    def get(self, request: Request, owner_id: str, job_id: str) -> Response:
        """One import job: status, progress (`processed_rows` of `total_rows`), counters and failure reason."""
        return Response(s.job_detail_representation(self.get_job(owner_id, job_id)))


class JobCancelView(ImportApiView):
    @extend_schema(request=None, responses=s.JobDetailSerializer)
    def post(self, request: Request, owner_id: str, job_id: str) -> Response:
        """Cancel a pending or running import job; a running one stops before its next batch."""
        job = services.import_job_cancel(job=self.get_job(owner_id, job_id))
        job = selectors.import_job_by_public_id(job.public_id)
        return Response(s.job_detail_representation(job))


class JobErrorsDownloadView(ImportApiView):
    """An expiring link to the error report; 404 when the job has no invalid rows."""

    @extend_schema(responses=s.FileUrlSerializer)
    def get(self, request: Request, owner_id: str, job_id: str) -> Response:
        """An expiring link to a job's error report (CSV: row, email, error type, message, suggested fix).

        404 when the job has no invalid rows."""
        file_url = services.import_job_error_report_url(job=self.get_job(owner_id, job_id))
        if file_url is None:
            raise NotFound("This import job has no errors", code="NOT_FOUND")
        return Response({"file_url": file_url})


class ErrorReportFileView(APIView):
    """GET .../jobs/{job_id}/errors/file?token=...: the report's CSV. The signed, expiring token is the authorization
    (the link opens in a browser, without an API key)."""

    authentication_classes: list = []
    permission_classes: list = []
    owner_kind = "list"
    schema = ImportJobSchema()

    @extend_schema(
        auth=[],
        parameters=[OpenApiParameter("token", str, required=True)],
        responses={(200, "text/csv"): bytes},
    )
    def get(self, request: Request, owner_id: str, job_id: str) -> HttpResponse:
        """A job's error report as CSV, reached through the link of .../errors/download.

        The signed, expiring `token` is the authorization (the link opens in a browser, without an API key)."""
        signed_job = job_from_token(request.query_params.get("token", ""))
        if signed_job is None or signed_job != job_id:
            return error_response(403, "The link is invalid or has expired; ask for a new one", "INVALID_TOKEN")
        job = selectors.import_job_by_public_id(job_id)
        owner = job and (job.marketing_list or job.audience)
        if job is None or owner is None or owner.public_id != owner_id or not job.error_report:
            return error_response(404, "Error report not found", "NOT_FOUND")
        response = FileResponse(job.error_report.open("rb"), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{job.public_id}_errors.csv"'
        response["Cache-Control"] = "private, no-store"
        return response
