"""ImportJob.file_name: what staff know an import's file as (the API and the admin show it). Jobs made before it get
it from their file_url, as imports.services names new jobs' files."""

import re
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.db import migrations, models

MAX_LENGTH = 255
UPLOAD_REFERENCE = re.compile(r"^upload://(?P<public_id>upl_[A-Za-z0-9]+)/?$")
UPLOAD_PATH = re.compile(r"^/api/uploads/(?P<public_id>upl_[A-Za-z0-9]+)/file/?$")


def _upload_id(file_url: str) -> str | None:
    if match := UPLOAD_REFERENCE.match(file_url):
        return match["public_id"]
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    if file_url.startswith(base + "/") and (match := UPLOAD_PATH.match(file_url[len(base) :].split("?", 1)[0])):
        return match["public_id"]
    return None


def _name(file_url: str, upload_names: dict[str, str]) -> str:
    upload_id = _upload_id(file_url)
    if upload_id is not None:
        return upload_names.get(upload_id) or upload_id
    if not file_url.lower().startswith(("http://", "https://")):
        return PurePosixPath(file_url).name  # a path given to the import_subscribers command
    parts = urlsplit(file_url)
    segments = [segment for segment in parts.path.split("/") if segment]
    return unquote(segments[-1]) if segments else parts.hostname or ""


def name_existing_files(apps, schema_editor) -> None:
    ImportJob = apps.get_model("imports", "ImportJob")
    Upload = apps.get_model("imports", "Upload")
    upload_names = dict(Upload.objects.values_list("public_id", "original_name"))
    batch = []
    for job in ImportJob.objects.filter(file_name="").only("pk", "file_url").iterator(chunk_size=1000):
        job.file_name = _name(job.file_url.strip(), upload_names)[:MAX_LENGTH]
        batch.append(job)
        if len(batch) == 1000:
            ImportJob.objects.bulk_update(batch, ["file_name"])
            batch = []
    ImportJob.objects.bulk_update(batch, ["file_name"])


class Migration(migrations.Migration):
    dependencies = [("imports", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="importjob",
            name="file_name",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.RunPython(name_existing_files, migrations.RunPython.noop),
    ]
