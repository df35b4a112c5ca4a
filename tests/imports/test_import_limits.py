"""Imports honour the lists' size limits (seed 003's 409 codes): the rows that would take a list past its limit, or all
lists past theirs, are errors of the job with that reason, in the error report; the job completes with the others."""

from urllib.parse import urlsplit

import pytest

from audiences.models import ListMembership
from imports import engine
from imports.models import ImportRowError
from subscribers.models import Subscriber
from tests.api_assertions import created_id
from tests.factories import AudienceFactory, MarketingListFactory, SubscriberFactory
from tests.imports import test_engine, test_jobs_api
from tests.imports.test_engine import start, upload
from tests.imports.test_jobs_api import TRANSACTIONAL, make_list

media = test_engine.media
worker = test_jobs_api.worker

ROWS = [["email"], ["ann@example.com"], ["bo@example.com"], ["cy@example.com"], ["di@example.com"], ["ed@example.com"]]


def members(list_id: str) -> set[str]:
    return set(
        ListMembership.objects.filter(marketing_list__public_id=list_id).values_list("subscriber__email", flat=True)
    )


def error_report(api, anonymous, list_id: str, job_id: str) -> list[str]:
    link = api.get(f"/api/lists/{list_id}/jobs/{job_id}/errors/download").json()
    url = urlsplit(link["file_url"])
    response = anonymous.get(f"{url.path}?{url.query}")
    return b"".join(response.streaming_content).decode().splitlines()[1:]


@TRANSACTIONAL
def test_an_import_past_the_list_limit_completes_with_the_rows_over_it_as_errors(api, anonymous, worker, settings):
    settings.LIST_MAX_MEMBERS = 3
    settings.IMPORT_BATCH_SIZE = 2  # the limit holds across batches
    list_id = make_list(api)
    ann_body = {"first_name": "Ann", "email": "ann@example.com", "lists": [list_id]}
    ann = created_id(api.post("/api/subscribers", ann_body))

    job_id = api.post(f"/api/lists/{list_id}/import", {"file_url": upload(ROWS), "import_type": "create_update"})
    job_id = job_id.json()["id"]
    worker.run()

    job = api.get(f"/api/lists/{list_id}/jobs/{job_id}").json()
    assert job["status"] == "completed"
    assert (job["processed_rows"], job["created_contacts"], job["updated_contacts"]) == (5, 2, 1)
    assert job["invalid_contacts"] == 2
    # ann was a member already: her row takes no place; bo and cy fill the list; di and ed are left out entirely.
    assert members(list_id) == {"ann@example.com", "bo@example.com", "cy@example.com"}
    assert not Subscriber.objects.filter(email__in=["di@example.com", "ed@example.com"]).exists()
    report = error_report(api, anonymous, list_id, job_id)
    assert [line.split(",")[:3] for line in report] == [
        ["5", "di@example.com", "list_size_limit_exceeded"],
        ["6", "ed@example.com", "list_size_limit_exceeded"],
    ]
    assert f"List {list_id} is full" in report[0]
    assert api.get(f"/api/subscribers/{ann}").json()["lists"] == [list_id]


@TRANSACTIONAL
def test_an_import_past_the_total_limit_completes_with_the_rows_over_it_as_errors(api, anonymous, worker, settings):
    other = make_list(api, "Other")
    api.post("/api/subscribers", {"first_name": "Zed", "email": "zed@example.com", "lists": [other]})
    settings.TOTAL_MAX_SUBSCRIBERS = 3
    list_id = make_list(api)

    job_id = api.post(f"/api/lists/{list_id}/import", {"file_url": upload(ROWS), "import_type": "create_only"})
    job_id = job_id.json()["id"]
    worker.run()

    job = api.get(f"/api/lists/{list_id}/jobs/{job_id}").json()
    assert (job["status"], job["created_contacts"], job["invalid_contacts"]) == ("completed", 2, 3)
    assert members(list_id) == {"ann@example.com", "bo@example.com"}
    assert ListMembership.objects.count() == 3
    report = error_report(api, anonymous, list_id, job_id)
    assert [line.split(",")[2] for line in report] == ["total_size_limit_exceeded"] * 3


@TRANSACTIONAL
def test_a_dry_run_reports_the_rows_over_the_limit(api, worker, settings):
    settings.LIST_MAX_MEMBERS = 2
    settings.IMPORT_BATCH_SIZE = 2
    list_id = make_list(api)
    response = api.post(
        f"/api/lists/{list_id}/import",
        {"file_url": upload(ROWS), "import_type": "create_update", "dry_run": True},
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["summary"] == {"would_create": 2, "would_update": 0, "would_remove": 0, "would_skip": 0, "rejected": 3}
    assert not Subscriber.objects.exists() and not ListMembership.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("fast", [True, False], ids=["postgresql", "portable"])
def test_both_paths_keep_the_limit_for_each_import_type(monkeypatch, settings, media, fast):
    monkeypatch.setattr(engine, "use_fast_path", lambda: fast)
    settings.IMPORT_BATCH_SIZE = 3
    marketing_list = MarketingListFactory(max_members=3)
    member = SubscriberFactory(email="ann@example.com")
    ListMembership.objects.create(marketing_list=marketing_list, subscriber=member)
    SubscriberFactory(email="bo@example.com")  # exists, not a member

    # update_only: only existing non-members join (bo); the new ones are skipped, not over the limit.
    job = start(marketing_list, ROWS, import_type="update_only")
    assert (job.status, job.updated_contacts, job.skipped_contacts, job.invalid_contacts) == ("completed", 2, 3, 0)
    # create_only: existing subscribers do not join; of the new ones, one place is left.
    job = start(marketing_list, ROWS, import_type="create_only")
    assert (job.created_contacts, job.skipped_contacts, job.invalid_contacts) == (1, 2, 2)
    assert set(marketing_list.memberships.values_list("subscriber__email", flat=True)) == {
        "ann@example.com",
        "bo@example.com",
        "cy@example.com",
    }
    errors = ImportRowError.objects.filter(job=job).order_by("row_number")
    assert [(e.email, e.error_type) for e in errors] == [
        ("di@example.com", "list_size_limit_exceeded"),
        ("ed@example.com", "list_size_limit_exceeded"),
    ]


@pytest.mark.django_db
def test_removals_and_audience_imports_have_no_list_limit(settings, media):
    settings.LIST_MAX_MEMBERS = 0
    settings.TOTAL_MAX_SUBSCRIBERS = 0
    marketing_list = MarketingListFactory()
    job = start(marketing_list, ROWS, import_type="remove_only")
    assert (job.status, job.invalid_contacts) == ("completed", 0)
    job = start(audience=AudienceFactory(), rows=ROWS)
    assert (job.status, job.created_contacts, job.invalid_contacts) == ("completed", 5, 0)
