import io

import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from imports.fetch import fetch_import_file
from imports.models import Upload
from imports.readers import open_rows

CSV_BYTES = "email;first_name\r\nzoë@example.com;Zoë\r\nbob@example.com;Bob\r\n".encode("utf-8-sig")


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PUBLIC_BASE_URL = "https://roster.example.com"


def upload(api, content: bytes, name: str = "contacts.csv", **kwargs):
    return api.post("/api/uploads", {"file": SimpleUploadedFile(name, content)}, format="multipart", **kwargs)


def test_an_uploaded_file_is_fetched_back_byte_for_byte(api, tmp_path):
    response = upload(api, CSV_BYTES)
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {"id", "file_url"}
    assert body["id"].startswith("upl_")
    assert body["file_url"] == f"https://roster.example.com/api/uploads/{body['id']}/file"

    for reference in (body["file_url"], f"upload://{body['id']}"):
        fetched = fetch_import_file(reference, tmp_path / "jobs" / "copy.csv")
        assert fetched.read_bytes() == CSV_BYTES
    with open_rows(fetched) as rows:
        assert list(rows) == [
            (2, {"email": "zoë@example.com", "first_name": "Zoë"}),
            (3, {"email": "bob@example.com", "first_name": "Bob"}),
        ]


def test_upload_metadata_and_file(api):
    upload_id = upload(api, CSV_BYTES, name="../../etc/contacts.csv").json()["id"]
    response = api.get(f"/api/uploads/{upload_id}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == upload_id
    assert body["name"] == "contacts.csv"
    assert body["size"] == len(CSV_BYTES)
    assert body["file_url"].endswith(f"/api/uploads/{upload_id}/file")
    stored = Upload.objects.get(public_id=upload_id)
    assert "etc" not in stored.file.name

    download = api.get(f"/api/uploads/{upload_id}/file")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == CSV_BYTES


def test_an_xlsx_upload_is_accepted_and_read(api, tmp_path):
    workbook = openpyxl.Workbook()
    workbook.active.append(["email", "age"])
    workbook.active.append(["ada@example.com", 36])
    buffer = io.BytesIO()
    workbook.save(buffer)
    body = upload(api, buffer.getvalue(), name="people.xlsx").json()
    path = fetch_import_file(body["file_url"], tmp_path / "people")
    with open_rows(path) as rows:
        assert list(rows) == [(2, {"email": "ada@example.com", "age": "36"})]


def test_an_unknown_upload_is_404(api):
    response = api.get("/api/uploads/upl_doesnotexist")
    assert response.status_code == 404
    assert response.json()["code"] == "UPLOAD_NOT_FOUND"


def assert_refused(response, text: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "INVALID_IMPORT_FILE"
    assert body["issues"][0]["field"] == "file"
    assert text in body["message"]
    assert not Upload.objects.exists()


def test_no_file_part_is_refused(api):
    response = api.post("/api/uploads", {"other": "x"}, format="multipart")
    assert_refused(response, "multipart part named 'file'")


def test_a_json_body_is_refused(api):
    response = api.post("/api/uploads", {"file": "x"})
    assert response.status_code == 415


def test_an_empty_file_is_refused(api):
    assert_refused(upload(api, b""), "empty")


def test_a_file_over_the_size_limit_is_refused(api, settings):
    settings.IMPORT_MAX_BYTES = 1000
    assert_refused(upload(api, b"email\n" + b"a@example.com\n" * 200), "limit")


@pytest.mark.parametrize(
    ("content", "text"),
    [
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "PDF"),
        (bytes(range(256)) * 8, "binary"),
        (b"email,email\na@example.com,b@example.com\n", "more than once"),
    ],
)
def test_files_that_cannot_be_imported_are_refused_on_upload(api, content, text, settings):
    assert_refused(upload(api, content), text)
    assert not list((settings.MEDIA_ROOT / "uploads").rglob("*.*"))


def test_uploading_needs_the_imports_write_scope(make_client):
    reader = make_client("imports:read")
    assert upload(reader, CSV_BYTES).status_code == 403
    writer = make_client("imports:write")
    assert upload(writer, CSV_BYTES).status_code == 200


def test_uploading_needs_a_key(anonymous):
    assert upload(anonymous, CSV_BYTES).status_code == 401


def test_a_body_far_over_the_limit_is_refused_before_it_is_parsed(api, settings):
    settings.IMPORT_MAX_BYTES = 1000
    assert_refused(upload(api, b"email\n" + b"a@example.com\n" * 10_000), "larger than the limit")


def test_a_file_larger_than_the_json_body_limit_uploads(api, settings, tmp_path):
    # File parts stream to disk; only JSON bodies are held to DATA_UPLOAD_MAX_MEMORY_SIZE.
    content = b"email\n" + b"".join(b"user%07d@example.com\n" % i for i in range(150_000))
    assert len(content) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = upload(api, content).json()
    assert fetch_import_file(body["file_url"], tmp_path / "big.csv").read_bytes() == content
