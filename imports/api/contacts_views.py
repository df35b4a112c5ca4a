"""Seed 003's contact operations on a list: create a list from a CSV, add, remove and clear from a CSV with
statistics, archive, and the streaming export of its members."""

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from audiences import services
from audiences.api import views as list_views
from audiences.api.serializers import ListInputSerializer
from audiences.api.views import ListApiView
from audiences.models import DEFAULT_AUDIENCE_ID
from core.actors import actor_of
from core.api.parsers import BoundedJSONParser
from core.errors import ValidationFailed
from imports import contacts, exports
from imports.api.contacts_serializers import (
    AddStatisticsSerializer,
    ArchiveInputSerializer,
    ArchiveOutputSerializer,
    ContactsFileSerializer,
    ListCreatedSerializer,
    ListFromFileSerializer,
    RemoveStatisticsSerializer,
)
from imports.api.upload_views import MULTIPART_OVERHEAD_BYTES
from imports.errors import InvalidImportFile


def _contacts_file(request: Request):  # noqa: ANN202 - an UploadedFile
    declared = request.META.get("CONTENT_LENGTH") or ""
    if declared.isdigit() and int(declared) > settings.IMPORT_MAX_BYTES + MULTIPART_OVERHEAD_BYTES:
        message = f"The file is larger than the limit of {settings.IMPORT_MAX_BYTES} bytes"
        raise InvalidImportFile.on("csv", message, summary=message)
    upload = request.FILES.get("csv")
    if upload is None:
        raise ValidationFailed.on(
            "csv", "Send the contacts as a multipart/form-data part named `csv`, one email or customer ID a line"
        )
    return upload


def _is_multipart(request: Request) -> bool:
    return (request.content_type or "").lower().startswith("multipart/form-data")


class ListCollectionView(list_views.ListCollectionView):
    """POST: create a list, from a JSON body or (seed 003's create-new) a multipart form with a file of contacts."""

    parser_classes = [BoundedJSONParser, MultiPartParser]

    def body_scopes(self, request: Request) -> tuple[str, ...]:
        # A form starts no import jobs; and its file is not read before the size check.
        return () if _is_multipart(request) else super().body_scopes(request)

    @extend_schema(
        request={"application/json": ListInputSerializer, "multipart/form-data": ListFromFileSerializer},
        responses=ListCreatedSerializer,
    )
    def post(self, request: Request) -> Response:
        """Create a list on an audience: `static` (members added one by one, from a file or imported) or `dynamic`
        (its members are the audience's). Answers `{"id"}`.

        As JSON, each entry of `jobs` starts an import into the new list. As multipart/form-data (seed 003's
        create-new), `name`, optional `audience_id` (aud_default by default) and the part `csv`, one email or customer
        ID (sub_...) a line, create a static list holding those contacts, and the answer adds the file's
        `statistics` as `POST /api/lists/{id}/contacts` gives them (an email naming no subscriber creates one). A size
        limit refusal (409) creates nothing."""
        if not _is_multipart(request):
            return super().post(request)
        upload = _contacts_file(request)
        data = self.parse(ListFromFileSerializer, request.data.dict())
        marketing_list, statistics = contacts.list_create_with_contacts(
            name=data["name"],
            audience=self.get_audience(data.get("audience_id") or DEFAULT_AUDIENCE_ID),
            source=upload,
            actor=actor_of(request),
        )
        return Response({"id": marketing_list.public_id, "statistics": contacts.statistics_dict(statistics)})


class ListContactsView(ListApiView):
    """POST: add the subscribers a file names (one email or customer ID a line) to a static list.
    DELETE: remove every member of a static list."""

    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": ContactsFileSerializer}, responses=AddStatisticsSerializer)
    def post(self, request: Request, list_id: str) -> Response:
        """Add the subscribers a file names to a static list, with statistics.

        The multipart part `csv` holds one email or customer ID (sub_...) a line. An email naming no subscriber
        creates one (as an import would) and counts as added; a customer ID naming nobody is invalid; `skipped`
        counts the subscribers already in the list. Past a size limit, 409 and nothing changes."""
        marketing_list = self.get_object(list_id)
        statistics = contacts.list_add_contacts(marketing_list=marketing_list, source=_contacts_file(request))
        return Response({"id": marketing_list.public_id, "statistics": contacts.statistics_dict(statistics)})

    @extend_schema(request=None, responses=RemoveStatisticsSerializer)
    def delete(self, request: Request, list_id: str) -> Response:
        """Remove every member of a static list (the subscribers stay), with statistics."""
        statistics = contacts.list_clear_contacts(marketing_list=self.get_object(list_id))
        return Response({"statistics": contacts.statistics_dict(statistics)})


class ListContactsRemoveView(ListApiView):
    """POST: remove the subscribers a file names from a static list."""

    parser_classes = [MultiPartParser]

    @extend_schema(request={"multipart/form-data": ContactsFileSerializer}, responses=RemoveStatisticsSerializer)
    def post(self, request: Request, list_id: str) -> Response:
        """Remove the subscribers a file names from a static list, with statistics.

        The multipart part `csv` holds one email or customer ID (sub_...) a line."""
        marketing_list = self.get_object(list_id)
        statistics = contacts.list_remove_contacts(marketing_list=marketing_list, source=_contacts_file(request))
        return Response({"statistics": contacts.statistics_dict(statistics)})


class ListArchiveView(ListApiView):
    """POST {"archived": true|false} (or `?archived=true|false`, as seed 003 sends it): an archived list keeps its
    members and takes no additions or imports."""

    parser_classes = [BoundedJSONParser]

    @extend_schema(
        request=ArchiveInputSerializer,
        parameters=[OpenApiParameter("archived", bool, required=False)],
        responses=ArchiveOutputSerializer,
    )
    def post(self, request: Request, list_id: str) -> Response:
        """Archive or restore a list (`{"archived": true|false}`, or `?archived=` as seed 003 sends it).

        An archived list keeps its members and takes no additions or imports."""
        marketing_list = self.get_object(list_id)
        data = request.data if isinstance(request.data, dict) and request.data else dict(request.query_params.items())
        archived = self.parse(ArchiveInputSerializer, data)["archived"]
        marketing_list = services.list_set_archived(marketing_list=marketing_list, archived=archived)
        return Response({"id": marketing_list.public_id, "archived": marketing_list.archived})


class ListExportView(ListApiView):
    """GET: the list's members streamed as CSV (default), NDJSON (`format=ndjson`) or one email a line
    (`format=lines`, `kind=customerId` for customer IDs). See imports.exports for the columns."""

    def perform_content_negotiation(self, request: Request, force: bool = False):  # noqa: ANN201 - DRF's signature
        # `format` names the export, not one of DRF's renderers: errors are rendered as JSON whatever it says.
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=list(exports.FORMATS), required=False),
            OpenApiParameter("kind", str, enum=list(exports.LINE_KINDS), required=False),
        ],
        responses={
            (200, "text/csv"): bytes,
            (200, "application/x-ndjson"): bytes,
            (200, "text/plain"): bytes,
        },
    )
    def get(self, request: Request, list_id: str) -> StreamingHttpResponse:
        """Stream a list's members: CSV (default), NDJSON (`format=ndjson`), or one email a line (`format=lines`;
        `kind=customerId` for customer IDs)."""
        marketing_list = self.get_object(list_id)
        export_format = request.query_params.get("format", "csv")
        if export_format not in exports.FORMATS:
            raise ValidationFailed.on("format", f"Format must be one of: {', '.join(exports.FORMATS)}")
        kind = request.query_params.get("kind", "email")
        if kind not in exports.LINE_KINDS:
            raise ValidationFailed.on("kind", f"Kind must be one of: {', '.join(exports.LINE_KINDS)}")
        content_type, extension = exports.FORMATS[export_format]
        response = StreamingHttpResponse(
            exports.export_stream(marketing_list, export_format=export_format, kind=kind), content_type=content_type
        )
        response["Content-Disposition"] = f'attachment; filename="{marketing_list.public_id}-members.{extension}"'
        response["Cache-Control"] = "no-store"
        return response
