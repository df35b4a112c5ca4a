"""A new import job as seed 000 shows it ("status": "pending", "total_rows": 10000): an uploaded file is counted (and a
file that is not CSV or XLSX refused) when the job is created; a job that failed says why wherever it is listed."""

import io

import openpyxl
import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from imports.models import ImportJob, Upload
from imports.uploads import upload_file_url_of
from tests.api_assertions import assert_error, created_id
from tests.imports.test_engine import SEED_MAPPING, SEED_ROWS, upload
from tests.imports.test_jobs_api import TRANSACTIONAL, make_list, worker  # noqa: F401 - the worker fixture

PNG_BYTES = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
PDF_BYTES = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def xlsx_bytes(rows: list[list]) -> bytes:
    workbook = openpyxl.Workbook()
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def uploaded(api, name: str, content: bytes, content_type: str) -> str:
    """POST /api/uploads, as an integrator sends a file; answers its file_url."""
    response = api.post("/api/uploads", {"file": SimpleUploadedFile(name, content, content_type)}, format="multipart")
    assert response.status_code == 200, response.json()
    return response.json()["file_url"]


def stored_upload(name: str, content: bytes) -> str:
    """An upload whose bytes are not CSV or XLSX: stored before POST /api/uploads checked files, or changed in storage
    since. Job creation must refuse it on its own."""
    stored = Upload(original_name=name, size=len(content))
    stored.file.save(name, ContentFile(content), save=True)
    return upload_file_url_of(stored)


def test_a_new_job_of_an_uploaded_csv_answers_its_total_rows(api):
    list_id = make_list(api)
    rows = [["Email Address", "First Name"]] + [[f"p{i}@example.com", f"P{i}"] for i in range(25)] + [["", ""]]
    file_url = uploaded(api, "people.csv", "\n".join(",".join(row) for row in rows).encode(), "text/csv")

    job = api.post(
        f"/api/lists/{list_id}/import",
        {"file_url": file_url, "import_type": "create_update", "columns_mapping": {"Email Address": "email"}},
    ).json()

    assert (job["status"], job["processed_rows"], job["total_rows"]) == ("pending", 0, 25)  # the empty row is no row
    polled = api.get(f"/api/lists/{list_id}/jobs?limit=1").json()["results"][0]
    assert (polled["id"], polled["status"], polled["total_rows"]) == (job["id"], "pending", 25)
    assert api.get(f"/api/lists/{list_id}/jobs/{job['id']}").json()["total_rows"] == 25


def test_a_new_job_of_an_uploaded_xlsx_answers_its_total_rows(api):
    audience_id = created_id(api.post("/api/audiences", {"name": "VIP"}))
    content = xlsx_bytes([["email", "plan"], *([f"x{i}@example.com", "gold"] for i in range(12))])
    file_url = uploaded(api, "people.xlsx", content, "application/vnd.ms-excel")

    job = api.post(f"/api/audiences/{audience_id}/import", {"file_url": file_url, "import_type": "create_only"}).json()

    assert (job["status"], job["total_rows"]) == ("pending", 12)
    assert api.get(f"/api/audiences/{audience_id}/jobs").json()["results"][0]["total_rows"] == 12


def test_the_jobs_array_of_a_list_counts_its_uploads_too(api):
    entry = {"file_url": upload(SEED_ROWS), "import_type": "create_update", "columns_mapping": SEED_MAPPING}
    list_id = make_list(api, jobs=[entry])
    assert [(j["status"], j["total_rows"]) for j in api.get(f"/api/lists/{list_id}").json()["jobs"]] == [("pending", 3)]


@pytest.mark.parametrize(
    ("name", "content", "what"), [("logo.png", PNG_BYTES, "PNG"), ("people.csv", PDF_BYTES, "PDF")], ids=["png", "pdf"]
)
def test_an_upload_that_is_not_csv_or_xlsx_is_refused_when_the_job_is_created(api, name, content, what):
    list_id = make_list(api)
    file_url = stored_upload(name, content)
    for body in ({"import_type": "create_update"}, {"import_type": "create_update", "dry_run": True}):
        body = assert_error(
            api.post(f"/api/lists/{list_id}/import", {**body, "file_url": file_url}),
            400,
            "INVALID_IMPORT_FILE",
            "file_url",
        )
        assert what in body["message"], body
    jobs = {"file_url": file_url, "import_type": "create_update"}
    with_job = {"name": "With a job", "mode": "static", "audience_id": "aud_default", "jobs": [jobs]}
    assert_error(api.post("/api/lists", with_job), 400, "INVALID_IMPORT_FILE")
    assert api.post("/api/lists/list", {}).json()["total"] == 1  # the list of the refused request was not kept
    assert not ImportJob.objects.exists()
    assert api.get(f"/api/lists/{list_id}/jobs").json()["total"] == 0


def test_an_upload_over_the_row_limit_is_refused_when_the_job_is_created(api, settings):
    list_id = make_list(api)
    file_url = upload([["email"], *([f"p{i}@example.com"] for i in range(6))])
    settings.IMPORT_MAX_ROWS = 5
    body = assert_error(
        api.post(f"/api/lists/{list_id}/import", {"file_url": file_url, "import_type": "create_only"}),
        400,
        "INVALID_IMPORT_FILE",
        "file_url",
    )
    assert "more than 5 rows" in body["message"]
    assert not ImportJob.objects.exists()


def test_a_remote_file_is_counted_once_fetched(api):
    list_id = make_list(api)
    body = {"file_url": "https://files.example.com/people.csv", "import_type": "create_only"}
    job = api.post(f"/api/lists/{list_id}/import", body).json()
    assert (job["status"], job["total_rows"]) == ("pending", 0)
    schema = api.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    assert "until a worker has fetched" in schema["Job"]["properties"]["total_rows"]["description"]


@TRANSACTIONAL
def test_a_failed_job_says_why_in_every_job_list(api, worker):  # noqa: F811 - the fixture imported above
    list_id = make_list(api)
    audience_id = created_id(api.post("/api/audiences", {"name": "VIP"}))
    no_email = {"file_url": upload([["name"], ["Ann"]]), "import_type": "create_update"}
    list_job = api.post(f"/api/lists/{list_id}/import", no_email).json()
    audience_job = api.post(f"/api/audiences/{audience_id}/import", no_email).json()
    assert audience_job["failure_reason"] is None
    assert list_job["failure_reason"] is None and list_job["total_rows"] == 1
    worker.run()

    reason = api.get(f"/api/lists/{list_id}/jobs/{list_job['id']}").json()["failure_reason"]
    assert "email" in reason
    listed = api.get(f"/api/lists/{list_id}/jobs").json()["results"][0]
    assert (listed["id"], listed["status"], listed["failure_reason"]) == (list_job["id"], "failed", reason)
    assert api.get(f"/api/lists/{list_id}").json()["jobs"][0]["failure_reason"] == reason
    in_audience = api.get(f"/api/audiences/{audience_id}/jobs").json()["results"][0]
    assert in_audience["id"] == audience_job["id"]
    assert (in_audience["status"], in_audience["failure_reason"]) == ("failed", reason)

    completed = api.post(
        f"/api/lists/{list_id}/import",
        {"file_url": upload(SEED_ROWS), "import_type": "create_update", "columns_mapping": SEED_MAPPING},
    ).json()
    worker.run()
    newest = api.get(f"/api/lists/{list_id}/jobs?limit=1").json()["results"][0]
    assert (newest["id"], newest["status"], newest["failure_reason"]) == (completed["id"], "completed", None)


def test_the_schema_documents_the_failure_reason_of_every_listed_job(api):
    schemas = api.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    assert "failure_reason" in schemas["Job"]["required"]
    assert schemas["JobPageResponse"]["properties"]["results"]["items"] == {"$ref": "#/components/schemas/Job"}
