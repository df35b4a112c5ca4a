"""Uploads: files sent to Roster (POST /api/uploads) to be imported by reference to their `file_url`."""

from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from core.errors import Issue
from imports.errors import InvalidImportFile
from imports.fetch import upload_file_url
from imports.models import Upload
from imports.readers import open_rows

MAX_NAME_LENGTH = 255


def _refuse(message: str) -> InvalidImportFile:
    return InvalidImportFile(message, issues=[Issue("file", message)])


@transaction.atomic
def upload_create(*, file: UploadedFile | None) -> Upload:
    """Store an uploaded file after checking it is a readable CSV or XLSX with a header row, so a bad file is refused
    now rather than failing its import later. Raises InvalidImportFile (on the `file` field)."""
    if file is None:
        raise _refuse("Send the file as the multipart part named 'file'")
    if not file.size:
        raise _refuse("The file is empty")
    if file.size > settings.IMPORT_MAX_BYTES:
        raise _refuse(f"The file is {file.size} bytes; the limit is {settings.IMPORT_MAX_BYTES}")
    name = Path(file.name or "upload").name[-MAX_NAME_LENGTH:]
    upload = Upload(original_name=name, content_type=(file.content_type or "")[:100], size=file.size)
    upload.file.save(name, file, save=False)
    try:
        with open_rows(Path(upload.file.path)):
            pass
    except InvalidImportFile as error:
        upload.file.delete(save=False)
        raise _refuse(error.message) from None
    upload.save()
    return upload


def upload_count_rows(upload: Upload) -> int:
    """How many data rows the uploaded file holds, read as the import will read it (one streaming pass, memory flat).
    Raises InvalidImportFile when it is not a readable CSV or XLSX (an upload stored before the upload checks, or a
    file changed in storage since), or has more than IMPORT_MAX_ROWS rows."""
    if not upload.file:
        raise InvalidImportFile(f"The file of upload {upload.public_id} is missing from storage")
    with open_rows(Path(upload.file.path)) as reader:
        return reader.count_rows()


def upload_file_url_of(upload: Upload) -> str:
    return upload_file_url(upload.public_id)
