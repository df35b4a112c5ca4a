"""What GET answers can be sent back (issue 8, point 7): an import job read with GET (or the answer of a dry run)
posted to /import starts the same import again; a job's counters and dates are the server's and are ignored.
Unknown keys: tests/core/test_request_bodies.py."""

import pytest

from imports.models import ImportJob
from tests.api_assertions import assert_error, created_id
from tests.imports.test_engine import upload


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def list_id(api) -> str:
    return created_id(api.post("/api/lists", {"name": "VIP", "mode": "static", "audience_id": "aud_default"}))


def test_a_job_read_with_get_runs_again_when_posted_back(api, list_id):
    file_url = upload([["email"], ["ann@example.com"], ["not-an-email"]])
    dry_run = api.post(f"/api/lists/{list_id}/import", {"file_url": file_url, "import_type": "create_only",
                                                         "dry_run": True}).json()  # fmt: skip
    assert "summary" in dry_run and dry_run["import_file"]["file_url"] == file_url
    read = api.get(f"/api/lists/{list_id}/jobs/{dry_run['id']}").json()

    again = api.post(f"/api/lists/{list_id}/import", read)
    answered = api.post(f"/api/lists/{list_id}/import", dry_run)

    for response in (again, answered):
        assert response.status_code == 200, response.json()
        job = response.json()
        assert job["id"] != read["id"]
        assert job["import_file"] == read["import_file"]
        assert (job["status"], job["created_contacts"], job["invalid_contacts"]) == ("completed", 1, 1)
    assert ImportJob.objects.filter(dry_run=True).count() == 3


def test_a_job_from_get_starts_a_real_import_when_dry_run_is_turned_off(api, list_id):
    file_url = upload([["email"], ["ann@example.com"]])
    first = api.post(f"/api/lists/{list_id}/import", {"file_url": file_url, "import_type": "create_update",
                                                      "dry_run": True}).json()  # fmt: skip

    job = api.post(f"/api/lists/{list_id}/import", {**first, "dry_run": False}).json()

    assert (job["status"], job["import_file"]["import_type"]) == ("pending", "create_update")
    assert ImportJob.objects.get(public_id=job["id"]).file_url == file_url


def test_an_import_file_contradicting_the_body_is_refused(api, list_id):
    body = {"file_url": upload([["email"]]), "import_type": "create_only",
            "import_file": {"file_url": "https://example.com/other.csv", "import_type": "create_only"}}  # fmt: skip

    assert_error(api.post(f"/api/lists/{list_id}/import", body), 400, "VALIDATION_ERROR", "import_file.file_url")
    assert not ImportJob.objects.exists()
