from django.conf import settings
from django.http import FileResponse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.views import ApiView, get_by_public_id, scopes_for
from core.errors import NotFound
from imports.errors import InvalidImportFile
from imports.models import Upload
from imports.uploads import upload_create, upload_file_url_of

# Multipart framing around the file: boundaries and part headers.
MULTIPART_OVERHEAD_BYTES = 64 * 1024


class UploadNotFound(NotFound):
    code = "UPLOAD_NOT_FOUND"
    default_message = "Upload not found"


class UploadOutputSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    file_url = serializers.SerializerMethodField()
    name = serializers.CharField(source="original_name")
    content_type = serializers.CharField()
    size = serializers.IntegerField()
    created_at = serializers.DateTimeField()

    def get_file_url(self, upload: Upload) -> str:
        return upload_file_url_of(upload)


class UploadApiView(ApiView):
    scope_map = scopes_for("imports")
    validation_error_code = "INVALID_IMPORT_FILE"
    validation_error_message = "Invalid import file"
    not_found_code = "UPLOAD_NOT_FOUND"
    not_found_message = "Upload not found"

    def get_object(self, public_id: str) -> Upload:
        return get_by_public_id(Upload.objects.all(), public_id, UploadNotFound())


class UploadCollectionView(UploadApiView):
    """POST /api/uploads: multipart with the part `file`; Django streams large parts to a temporary file."""

    parser_classes = [MultiPartParser]

    @property
    def max_body_bytes(self) -> int:  # type: ignore[override]
        return settings.IMPORT_MAX_BYTES + MULTIPART_OVERHEAD_BYTES

    @extend_schema(
        request={"multipart/form-data": inline_serializer("UploadInput", {"file": serializers.FileField()})},
        responses=inline_serializer(
            "UploadCreated", {"id": serializers.CharField(), "file_url": serializers.URLField()}
        ),
    )
    def post(self, request: Request) -> Response:
        """Store a file (multipart part `file`) for imports, and answer its id and `file_url`.

        Pass the `file_url` to POST /api/lists/{id}/import."""
        declared = request.META.get("CONTENT_LENGTH") or ""
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            message = f"The file is larger than the limit of {settings.IMPORT_MAX_BYTES} bytes"
            raise InvalidImportFile.on("file", message, summary=message)
        upload = upload_create(file=request.FILES.get("file"))
        return Response({"id": upload.public_id, "file_url": upload_file_url_of(upload)})


class UploadDetailView(UploadApiView):
    @extend_schema(responses=UploadOutputSerializer)
    def get(self, request: Request, upload_id: str) -> Response:
        """An uploaded file's name, content type, size and `file_url`."""
        return Response(UploadOutputSerializer(self.get_object(upload_id)).data)


class UploadFileView(UploadApiView):
    """GET /api/uploads/{id}/file: the stored bytes (imports read them from storage, not through this view)."""

    @extend_schema(responses={(200, "*/*"): bytes})
    def get(self, request: Request, upload_id: str) -> FileResponse:
        """Download an uploaded file's bytes."""
        upload = self.get_object(upload_id)
        return FileResponse(upload.file.open("rb"), as_attachment=True, filename=upload.original_name or None)
