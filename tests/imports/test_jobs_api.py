"""Import jobs through the API, processed by a real RQ worker on real Redis (seed 000: "Bulk Import Operations",
"Job Processing & Monitoring")."""

from urllib.parse import urlsplit

import django_rq
import pytest

from audiences.models import AudienceMembership, ListMembership, MarketingList
from core.jobs import get_queue, queue_name
from imports import engine
from imports.models import ImportJob
from subscribers.models import Subscriber
from tests.api_assertions import TIMESTAMP, assert_error, created_id
from tests.imports.test_engine import SEED_MAPPING, SEED_ROWS, upload

TRANSACTIONAL = pytest.mark.django_db(transaction=True, serialized_rollback=True)
JOB_KEYS = {
    "id",
    "list_id",
    "status",
    "dry_run",
    "import_file",
    "processed_rows",
    "total_rows",
    "created_contacts",
    "updated_contacts",
    "removed_contacts",
    "invalid_contacts",
    "error_details_url",
    "failure_reason",
    "created_date",
}


class ImportsWorker:
    def __init__(self) -> None:
        self.queue = get_queue("imports")

    def run(self) -> None:
        # A worker starting up moves jobs abandoned by an earlier test (one whose worker was killed) from the started
        # to the failed registry: those are not failures of this run.
        started = set(
            self.queue.started_job_registry.get_job_ids()
        )  # first: its cleanup moves abandoned jobs to failed
        ignored = started | set(self.queue.failed_job_registry.get_job_ids())
        django_rq.get_worker(queue_name("imports"), worker_class="rq.worker.SimpleWorker").work(burst=True)
        assert set(self.queue.failed_job_registry.get_job_ids()) - ignored == set()


@pytest.fixture
def worker(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    worker = ImportsWorker()
    worker.queue.empty()
    get_queue("segments").empty()
    yield worker
    worker.queue.empty()
    get_queue("segments").empty()


def make_list(api, name: str = "Q1 2024 Campaign Targets", **extra) -> str:
    return created_id(api.post("/api/lists", {"name": name, "mode": "static", "audience_id": "aud_default", **extra}))


@TRANSACTIONAL
def test_seed_import_then_polling_until_completed(api, worker):
    list_id = make_list(api)
    file_url = upload(SEED_ROWS)
    response = api.post(
        f"/api/lists/{list_id}/import",
        {"file_url": file_url, "import_type": "create_update", "columns_mapping": SEED_MAPPING},
    )
    assert response.status_code == 200, response.json()
    job = response.json()
    assert set(job) == JOB_KEYS
    assert job["id"].startswith("job_") and job["list_id"] == list_id and job["status"] == "pending"
    assert job["dry_run"] is False
    assert job["import_file"] == {
        "file_url": file_url,
        "file_name": "people.csv",
        "import_type": "create_update",
        "audience_id": "aud_default",
    }
    assert job["error_details_url"] is None and TIMESTAMP.match(job["created_date"])

    # The seed's polling script: GET jobs?limit=1 until completed.
    polled = api.get(f"/api/lists/{list_id}/jobs?limit=1").json()
    assert polled["results"][0]["status"] == "pending" and polled["total"] == 1
    worker.run()
    polled = api.get(f"/api/lists/{list_id}/jobs", {"limit": 1}).json()
    latest = polled["results"][0]
    assert (latest["status"], latest["processed_rows"], latest["total_rows"]) == ("completed", 3, 3)
    assert (latest["created_contacts"], latest["updated_contacts"], latest["invalid_contacts"]) == (3, 0, 0)
    assert polled["totalPages"] == 1

    detail = api.get(f"/api/lists/{list_id}/jobs/{job['id']}").json()
    assert detail["status"] == "completed" and detail["failure_reason"] is None
    listed = api.get(f"/api/lists/{list_id}").json()["jobs"]
    assert [j["id"] for j in listed] == [job["id"]] and set(listed[0]) == JOB_KEYS
    assert ListMembership.objects.count() == 3


@TRANSACTIONAL
def test_jobs_are_newest_first_and_paged(api, worker):
    list_id = make_list(api)
    ids = []
    for _ in range(3):
        ids.append(
            api.post(
                f"/api/lists/{list_id}/import",
                {"file_url": upload(SEED_ROWS), "import_type": "create_update", "columns_mapping": SEED_MAPPING},
            ).json()["id"]
        )
        worker.run()
    page = api.get(f"/api/lists/{list_id}/jobs?page=1&limit=2").json()
    assert [j["id"] for j in page["results"]] == ids[::-1][:2]
    assert (page["total"], page["totalPages"]) == (3, 2)
    assert [j["id"] for j in api.get(f"/api/lists/{list_id}/jobs?page=2&limit=2").json()["results"]] == [ids[0]]
    assert api.get(f"/api/lists/{list_id}/jobs").json()["results"][0]["updated_contacts"] == 3


@TRANSACTIONAL
def test_one_running_import_per_list_while_other_lists_import_side_by_side(api, worker):
    first, second = make_list(api, "First"), make_list(api, "Second")
    body = {"file_url": upload(SEED_ROWS), "import_type": "create_update", "columns_mapping": SEED_MAPPING}
    assert api.post(f"/api/lists/{first}/import", body).status_code == 200
    assert_error(api.post(f"/api/lists/{first}/import", body), 409, "JOB_ALREADY_PROCESSING")
    assert api.post(f"/api/lists/{second}/import", body).status_code == 200
    worker.run()
    for list_id in (first, second):
        assert api.get(f"/api/lists/{list_id}/jobs?limit=1").json()["results"][0]["status"] == "completed"
    assert api.post(f"/api/lists/{first}/import", body).status_code == 200  # free again


@TRANSACTIONAL
def test_cancel_during_processing_stops_before_the_next_batch(api, worker, settings, monkeypatch):
    settings.IMPORT_BATCH_SIZE = 2
    list_id = make_list(api)
    rows = [["email"]] + [[f"p{i}@example.com"] for i in range(10)]
    job_id = api.post(f"/api/lists/{list_id}/import", {"file_url": upload(rows), "import_type": "create_only"}).json()[
        "id"
    ]
    apply = engine.BatchRunner.apply

    def apply_then_cancel(self, batch):
        apply(self, batch)
        if self.job.last_batch == 1:  # the user presses cancel while the job is processing
            response = api.post(f"/api/lists/{list_id}/jobs/{job_id}/cancel")
            assert response.status_code == 200 and response.json()["status"] == "processing"

    monkeypatch.setattr(engine.BatchRunner, "apply", apply_then_cancel)
    worker.run()
    job = api.get(f"/api/lists/{list_id}/jobs/{job_id}").json()
    assert (job["status"], job["processed_rows"], job["created_contacts"]) == ("cancelled", 4, 4)
    assert Subscriber.objects.count() == 4
    assert_error(api.post(f"/api/lists/{list_id}/jobs/{job_id}/cancel"), 400, "VALIDATION_ERROR")


@TRANSACTIONAL
def test_cancel_a_pending_job(api, worker):
    list_id = make_list(api)
    job_id = api.post(
        f"/api/lists/{list_id}/import",
        {"file_url": upload(SEED_ROWS), "import_type": "create_update", "columns_mapping": SEED_MAPPING},
    ).json()["id"]
    assert api.post(f"/api/lists/{list_id}/jobs/{job_id}/cancel").json()["status"] == "cancelled"
    worker.run()
    assert ImportJob.objects.get(public_id=job_id).status == "cancelled"
    assert not Subscriber.objects.exists()


@TRANSACTIONAL
def test_error_report_download_link(api, worker, anonymous):
    list_id = make_list(api)
    rows = [["email"], ["ok@example.com"], ["=cmd|' /C calc'!A0"], ["ok@example.com"]]
    job_id = api.post(
        f"/api/lists/{list_id}/import", {"file_url": upload(rows), "import_type": "create_update"}
    ).json()["id"]
    assert_error(api.get(f"/api/lists/{list_id}/jobs/{job_id}/errors/download"), 404, "NOT_FOUND")  # none yet
    worker.run()
    job = api.get(f"/api/lists/{list_id}/jobs?limit=1").json()["results"][0]
    assert job["invalid_contacts"] == 2 and job["error_details_url"]
    link = api.get(f"/api/lists/{list_id}/jobs/{job_id}/errors/download").json()
    assert set(link) == {"file_url"} and "token=" in link["file_url"]
    url = urlsplit(link["file_url"])
    response = anonymous.get(f"{url.path}?{url.query}")  # no API key: the token is the authorization
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "row_number,email,error_type,message,details,suggested_fix"
    assert lines[1].startswith("3,'=cmd|' /C calc'!A0,invalid_email,")
    assert lines[2].startswith("4,ok@example.com,duplicate_in_file,")
    assert_error(anonymous.get(f"{url.path}?token=forged"), 403, "INVALID_TOKEN")
    other = make_list(api, "Other")
    assert_error(anonymous.get(f"/api/lists/{other}/jobs/{job_id}/errors/file?{url.query}"), 404, "NOT_FOUND")


@TRANSACTIONAL
def test_dry_run_answers_the_would_be_results_and_changes_nothing(api, worker):
    list_id = make_list(api)
    rows = SEED_ROWS + [["broken", "", "", "", ""]]
    response = api.post(
        f"/api/lists/{list_id}/import",
        {"file_url": upload(rows), "import_type": "create_update", "columns_mapping": SEED_MAPPING, "dry_run": True},
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "completed" and body["dry_run"] is True
    assert body["summary"] == {"would_create": 3, "would_update": 0, "would_remove": 0, "would_skip": 0, "rejected": 1}
    assert body["error_details_url"]
    assert not Subscriber.objects.exists() and not ListMembership.objects.exists()
    assert get_queue("imports").count == 0


def test_job_pages_tell_dry_runs_apart_and_name_each_file(api, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    list_id = make_list(api)
    body = {"import_type": "create_update", "columns_mapping": SEED_MAPPING}
    dry = api.post(
        f"/api/lists/{list_id}/import", {**body, "file_url": upload(SEED_ROWS, "spring leads.csv"), "dry_run": True}
    ).json()
    real = api.post(
        f"/api/lists/{list_id}/import", {**body, "file_url": "https://files.example.com/exports/May%202024.csv?sig=x"}
    ).json()
    assert (dry["dry_run"], dry["import_file"]["file_name"]) == (True, "spring leads.csv")
    assert (real["dry_run"], real["import_file"]["file_name"]) == (False, "May 2024.csv")

    page = api.get(f"/api/lists/{list_id}/jobs").json()["results"]
    assert [(j["id"], j["dry_run"], j["import_file"]["file_name"]) for j in page] == [
        (real["id"], False, "May 2024.csv"),
        (dry["id"], True, "spring leads.csv"),
    ]
    assert all(set(j) == JOB_KEYS for j in page)
    for job in (dry, real):
        detail = api.get(f"/api/lists/{list_id}/jobs/{job['id']}").json()
        assert (detail["dry_run"], detail["import_file"]) == (job["dry_run"], job["import_file"])
    listed = api.get(f"/api/lists/{list_id}").json()["jobs"]
    assert [(j["dry_run"], j["import_file"]["file_name"]) for j in listed] == [
        (False, "May 2024.csv"),
        (True, "spring leads.csv"),
    ]


def test_the_schema_documents_the_dry_run_and_the_file_name(api):
    schemas = api.get("/api/schema/", {"format": "json"}).json()["components"]["schemas"]
    assert {"dry_run", "import_file"} <= set(schemas["Job"]["required"])
    assert schemas["Job"]["properties"]["dry_run"]["type"] == "boolean"
    assert "file_name" in schemas["ImportFile"]["required"]
    assert {"dry_run", "failure_reason", "started_date"} <= set(schemas["JobDetail"]["properties"])
    assert schemas["ListDetail"]["properties"]["jobs"]["items"] == {"$ref": "#/components/schemas/Job"}


@TRANSACTIONAL
def test_malformed_and_missing_files(api, worker):
    list_id = make_list(api)
    body = {"import_type": "create_update"}
    assert_error(
        api.post(f"/api/lists/{list_id}/import", {**body, "file_url": "upload://upl_nope"}),
        400,
        "INVALID_IMPORT_FILE",
        "file_url",
    )
    assert_error(
        api.post(f"/api/lists/{list_id}/import", {**body, "file_url": "ftp://x/y.csv"}), 400, "INVALID_IMPORT_FILE"
    )
    dry = api.post(f"/api/lists/{list_id}/import", {**body, "file_url": upload([["name"], ["x"]]), "dry_run": True})
    assert_error(dry, 400, "INVALID_IMPORT_FILE")
    job_id = api.post(f"/api/lists/{list_id}/import", {**body, "file_url": upload([["name"], ["x"]])}).json()["id"]
    worker.run()
    job = api.get(f"/api/lists/{list_id}/jobs/{job_id}").json()
    assert job["status"] == "failed" and "email" in job["failure_reason"]


@TRANSACTIONAL
def test_refusals(api, worker, make_client):
    list_id = make_list(api)
    body = {"file_url": upload(SEED_ROWS), "import_type": "create_update"}
    assert_error(api.post("/api/lists/list_nope/import", body), 404, "LIST_NOT_FOUND")
    assert_error(api.get("/api/lists/list_nope/jobs"), 404, "LIST_NOT_FOUND")
    assert_error(api.get(f"/api/lists/{list_id}/jobs/job_nope"), 404, "NOT_FOUND")
    assert_error(api.post(f"/api/lists/{list_id}/import", {**body, "import_type": "merge"}), 400, "VALIDATION_ERROR")
    bad_map = {**body, "columns_mapping": {"Email": "email", "X": "version"}}
    assert_error(api.post(f"/api/lists/{list_id}/import", bad_map), 400, "VALIDATION_ERROR", "columns_mapping.X")
    reader = make_client("imports:read")
    assert reader.get(f"/api/lists/{list_id}/jobs").status_code == 200
    assert_error(reader.post(f"/api/lists/{list_id}/import", body), 403, "FORBIDDEN")


@TRANSACTIONAL
def test_jobs_array_on_list_create_and_update(api, worker):
    entry = {"file_url": upload(SEED_ROWS), "import_type": "create_update", "columns_mapping": SEED_MAPPING}
    list_id = make_list(
        api, jobs=[entry, {"file_url": upload([["email"], ["ann@example.com"]]), "import_type": "remove_only"}]
    )
    jobs = api.get(f"/api/lists/{list_id}").json()["jobs"]
    assert [j["status"] for j in jobs] == ["pending", "pending"]
    worker.run()  # the second waits for the first, then runs
    jobs = api.get(f"/api/lists/{list_id}").json()["jobs"]
    assert [(j["import_file"]["import_type"], j["status"]) for j in jobs] == [
        ("remove_only", "completed"),
        ("create_update", "completed"),
    ]
    assert ListMembership.objects.count() == 2
    assert api.put(f"/api/lists/{list_id}", {"name": "Renamed", "jobs": [entry]}).status_code == 200
    worker.run()
    assert api.get(f"/api/lists/{list_id}").json()["jobs"][0]["updated_contacts"] == 3
    assert_error(
        api.post(
            "/api/lists", {"name": "X", "mode": "static", "audience_id": "aud_default", "jobs": [{"file_url": "x"}]}
        ),
        400,
        "VALIDATION_ERROR",
    )


def test_the_jobs_array_needs_imports_write_and_a_refusal_creates_nothing(make_client, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    entry = {"file_url": upload(SEED_ROWS), "import_type": "create_update", "columns_mapping": SEED_MAPPING}
    body = {"name": "Imported", "mode": "static", "audience_id": "aud_default", "jobs": [entry]}
    lists_only = make_client("lists:write")

    assert_error(lists_only.post("/api/lists", body), 403, "FORBIDDEN")
    assert not MarketingList.objects.filter(name="Imported").exists()
    assert not ImportJob.objects.exists()

    list_id = created_id(lists_only.post("/api/lists", {**body, "jobs": []}))  # no jobs: lists:write is enough
    assert_error(lists_only.put(f"/api/lists/{list_id}", {"name": "Renamed", "jobs": [entry]}), 403, "FORBIDDEN")
    unchanged = MarketingList.objects.get(public_id=list_id)
    assert (unchanged.name, unchanged.version) == ("Imported", 1)
    assert not ImportJob.objects.exists()
    assert_error(make_client("imports:write").post("/api/lists", body), 403, "FORBIDDEN")

    both = make_client("lists:write", "imports:write")
    created = created_id(both.post("/api/lists", {**body, "name": "Imported too"}))
    assert both.put(f"/api/lists/{list_id}", {"name": "Renamed", "jobs": [entry]}).status_code == 200
    jobs = ImportJob.objects.order_by("pk")
    assert [job.marketing_list.public_id for job in jobs] == [created, list_id]
    assert MarketingList.objects.get(public_id=list_id).name == "Renamed"

    # The list as GET answers it, jobs and all, goes back with lists:write alone: its jobs are history, not new imports.
    read_back = lists_only.get(f"/api/lists/{list_id}").json()
    assert len(read_back["jobs"]) == 1
    answer = lists_only.put(f"/api/lists/{list_id}", {**read_back, "name": "Renamed again"})
    assert answer.status_code == 200, answer.json()
    assert ImportJob.objects.count() == 2
    assert_error(
        lists_only.put(f"/api/lists/{list_id}", {**read_back, "jobs": [*read_back["jobs"], entry]}), 403, "FORBIDDEN"
    )


@TRANSACTIONAL
def test_audience_import_of_manual_members(api, worker):
    audience_id = created_id(api.post("/api/audiences", {"name": "VIP"}))
    body = {"file_url": upload(SEED_ROWS), "import_type": "create_update", "columns_mapping": SEED_MAPPING}
    job = api.post(f"/api/audiences/{audience_id}/import", body).json()
    assert job["list_id"] is None and job["import_file"]["audience_id"] == audience_id
    worker.run()
    assert api.get(f"/api/audiences/{audience_id}/jobs/{job['id']}").json()["status"] == "completed"
    stored = AudienceMembership.objects.filter(audience__public_id=audience_id)
    assert stored.count() == 3 and set(stored.values_list("source", flat=True)) == {AudienceMembership.MANUAL}


def test_job_pages_take_the_same_queries_however_many_jobs(api, db):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import MarketingListFactory

    marketing_list = MarketingListFactory()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            for path in (f"/api/lists/{marketing_list.public_id}/jobs", f"/api/lists/{marketing_list.public_id}"):
                assert api.get(path).status_code == 200
        return len(captured)

    ImportJob.objects.create(marketing_list=marketing_list, file_url="https://x/a.csv", import_type="create_only")
    queries()  # the key's first use is recorded once
    one = queries()
    for _ in range(9):
        ImportJob.objects.create(marketing_list=marketing_list, file_url="https://x/a.csv", import_type="create_only")
    assert queries() == one
