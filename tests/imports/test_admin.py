"""The admin's import jobs, uploads and import wizard, through the test client as staff use them."""

import csv
import io
import re
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audiences.models import DEFAULT_AUDIENCE_ID, Audience, ListMembership
from audiences.services import audience_create, list_create, list_set_archived
from imports.mapping import SKIP, column_choices, fold, suggest_mapping
from imports.models import ImportJob, ImportRowError, Upload
from imports.services import import_job_create
from subscribers.models import CustomField, Subscriber
from subscribers.services import custom_field_create, subscriber_create
from tests.imports.test_engine import upload
from tests.imports.test_jobs_api import ImportsWorker

TRANSACTIONAL = pytest.mark.django_db(transaction=True, serialized_rollback=True)
CHANGELIST = "admin:imports_importjob_changelist"
WIZARD = "admin:imports_importjob_import"

ROWS = [
    ["E-mail", "First Name", "Surname", "Plan", "Notes"],
    ["ann@example.com", "Ann", "Lee", "gold", "met at the fair"],
    ["bob@example.com", "Bob", "", "silver", ""],
    ["not-an-email", "Cy", "", "", ""],
]


def csv_file(rows: list[list[str]], name: str = "people.csv") -> SimpleUploadedFile:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return SimpleUploadedFile(name, buffer.getvalue().encode(), content_type="text/csv")


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def mapping_post(response, **changes: str) -> dict[str, str]:
    """What the browser posts back from the mapping page as rendered (suggestions kept), with `changes`."""
    form = response.context["form"]
    data = {name: form[name].value() or "" for name in form.fields}
    return {**data, **changes}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def default_audience(db) -> Audience:
    return Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID)


@pytest.fixture
def newsletter(default_audience):
    return list_create(name="Newsletter", mode="static", audience=default_audience)


@pytest.fixture
def plan_field(db) -> CustomField:
    return custom_field_create(name="plan", field_type="string")


def start_wizard(client, target, rows=ROWS, name: str = "people.csv"):
    field = "marketing_list" if target._meta.model_name == "marketinglist" else "audience"
    return client.post(reverse(WIZARD), {field: target.pk, "file": csv_file(rows, name)})


def mapping_page(client, target, rows=ROWS):
    response = start_wizard(client, target, rows)
    assert response.status_code == 302, response.content.decode()[:2000]
    return client.get(response["Location"]), response["Location"]


# -- suggestions -------------------------------------------------------------------------------------------------


def test_suggestions_match_names_whatever_their_spelling():
    headers = ["E-mail", "First Name", "last_name", "SURNAME", "Plan", "Loyalty Tier", "additional_fields_data.vip"]
    assert suggest_mapping(headers, ["plan"]) == {
        "E-mail": "email",
        "First Name": "first_name",
        "last_name": "last_name",
        "SURNAME": SKIP,  # last_name is already fed by an earlier column
        "Plan": "additional_fields_data.plan",
        "Loyalty Tier": SKIP,
        "additional_fields_data.vip": "additional_fields_data.vip",
    }


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("Email", "email"),
        ("Email Address", "email"),
        ("e_mail", "email"),
        ("Given name", "first_name"),
        ("Family Name", "last_name"),
        ("created_at", "created_at"),
        ("Company Size", "additional_fields_data.company_size"),
        ("Name", SKIP),
        ("", SKIP),
    ],
)
def test_suggestion_of_one_column(header, target):
    assert suggest_mapping([header], ["company_size"]) == {header: target}


def test_fold_ignores_case_spaces_underscores_and_hyphens():
    assert fold(" E-Mail_Address ") == fold("email address") == "emailaddress"


def test_a_column_may_become_a_new_custom_field():
    choices = dict(column_choices("Loyalty Tier", ["plan"]))
    assert choices["additional_fields_data.plan"] == "Custom field: plan"
    assert choices["additional_fields_data.loyalty_tier"] == "New custom field: loyalty_tier"
    assert SKIP in choices and "email" in choices
    assert "additional_fields_data.plan_2" not in dict(column_choices("Plan", ["plan"]))
    assert list(dict(column_choices("Plan", ["plan"]))).count("additional_fields_data.plan") == 1


# -- the job admin -----------------------------------------------------------------------------------------------


@pytest.fixture
def finished_job(newsletter):
    job = ImportJob.objects.create(
        marketing_list=newsletter,
        file_url="https://example.com/people.csv",
        import_type="create_update",
        status=ImportJob.Status.COMPLETED,
        total_rows=3,
        processed_rows=3,
        created_contacts=2,
        invalid_contacts=1,
        columns_mapping={"E-mail": "email"},
    )
    ImportRowError.objects.create(
        job=job, row_number=4, email="not-an-email", error_type="invalid_email", message="Invalid email format"
    )
    return job


def test_changelist_lists_jobs_with_filters_and_the_wizard_button(admin_client, finished_job, newsletter):
    pending = ImportJob.objects.create(marketing_list=newsletter, file_url="https://example.com/a.csv",
                                       import_type="create_only")  # fmt: skip

    response = admin_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert set(response.context["cl"].result_list) == {finished_job, pending}
    body = response.content.decode()
    assert f'href="{reverse(WIZARD)}"' in body and "Import subscribers" in body
    assert '<progress value="3" max="3"' in body
    for query, expected in [
        ({"status__exact": "completed"}, {finished_job}),
        ({"counts": "invalid"}, {finished_job}),
        ({"counts": "clean"}, {pending}),
        ({"progress": "all"}, {finished_job}),
        ({"progress": "not_started"}, {pending}),
        ({"marketing_list__id__exact": newsletter.pk}, {finished_job, pending}),
        ({"q": finished_job.public_id}, {finished_job}),
    ]:
        assert set(admin_client.get(reverse(CHANGELIST), query).context["cl"].result_list) == expected, query


def test_changelist_shows_which_jobs_are_dry_runs_and_their_files(admin_client, newsletter):
    dry_run = import_job_create(
        marketing_list=newsletter,
        file_url=upload([["email"], ["ann@example.com"]], "spring leads.csv"),
        import_type="create_update",
        dry_run=True,
    )
    real = import_job_create(
        marketing_list=newsletter, file_url="https://files.example.com/may/crm%20export.csv", import_type="create_only"
    )

    response = admin_client.get(reverse(CHANGELIST))

    body = response.content.decode()
    headers = re.findall(r'<th scope="col" class="[^"]*column-(\w+)', body)
    assert headers.index("run") == headers.index("status_and_reason") + 1  # beside the status, not off to the right
    assert "file" in headers
    cells = {
        job.public_id: re.search(rf"{job.public_id}</a></th>(.*?)</tr>", body, re.S).group(1) for job in (dry_run, real)
    }
    assert '<td class="field-run">dry run</td>' in cells[dry_run.public_id]
    assert '<td class="field-file">spring leads.csv</td>' in cells[dry_run.public_id]
    assert '<td class="field-run">import</td>' in cells[real.public_id]
    assert '<td class="field-file">crm export.csv</td>' in cells[real.public_id]
    searched = admin_client.get(reverse(CHANGELIST), {"q": "spring"}).context["cl"].result_list
    assert list(searched) == [dry_run]


def test_changelist_says_why_a_job_failed_or_was_cancelled(admin_client, newsletter, finished_job):
    reason = "The import file is a PNG image, not CSV or XLSX"
    failed = ImportJob.objects.create(marketing_list=newsletter, file_url="https://example.com/logo.png",
                                      import_type="create_only", status=ImportJob.Status.FAILED,
                                      failure_reason=reason)  # fmt: skip

    body = admin_client.get(reverse(CHANGELIST)).content.decode()

    rows = {job: re.search(rf"{job.public_id}</a></th>(.*?)</tr>", body, re.S) for job in (failed, finished_job)}
    cells = {job: row.group(1) for job, row in rows.items()}
    assert f'<td class="field-status_and_reason">Failed<div class="help">{reason}</div></td>' in cells[failed]
    assert '<td class="field-status_and_reason">Completed</td>' in cells[finished_job]


def test_changelist_queries_do_not_grow_with_the_jobs(admin_client, finished_job, default_audience):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin_client.get(reverse(CHANGELIST)).status_code == 200
        return len(captured)

    one = queries()
    for index in range(5):
        owner = {"audience": default_audience} if index % 2 else {"marketing_list": finished_job.marketing_list}
        ImportJob.objects.create(file_url="https://example.com/a.csv", import_type="create_only", **owner)
    assert queries() == one


def test_job_page_is_read_only_with_progress_row_errors_and_report_link(admin_client, finished_job):
    response = admin_client.get(reverse("admin:imports_importjob_change", args=[finished_job.pk]))

    assert response.status_code == 200
    body = response.content.decode()
    assert '<progress id="import-progress-bar" max="3" value="3"' in body
    assert 'aria-valuetext="3 of 3 rows"' in body
    assert "Invalid email format" in body and "not-an-email" in body
    assert reverse("admin:imports_importjob_errors", args=[finished_job.pk]) in body
    assert "Cancel this import" not in body  # finished
    assert "job_progress.js" not in body  # nothing left to poll
    assert 'name="_save"' not in body  # nothing to edit
    assert admin_client.post(reverse("admin:imports_importjob_change", args=[finished_job.pk]), {}).status_code == 403
    assert admin_client.get(reverse("admin:imports_importjob_add")).status_code == 403
    assert admin_client.get(reverse("admin:imports_importjob_delete", args=[finished_job.pk])).status_code == 403


def test_error_report_link_leads_to_the_expiring_csv(admin_client, finished_job, client):
    response = admin_client.get(reverse("admin:imports_importjob_errors", args=[finished_job.pk]))

    assert response.status_code == 302
    link = urlsplit(response["Location"])
    assert link.path == f"/api/lists/{finished_job.marketing_list.public_id}/jobs/{finished_job.public_id}/errors/file"
    report = client.get(f"{link.path}?{link.query}")  # the link needs no login: its token authorizes it
    assert report.status_code == 200
    assert b"".join(report.streaming_content).decode().splitlines()[1].startswith("4,not-an-email,invalid_email")


def test_a_job_without_errors_has_no_report(admin_client, newsletter):
    job = ImportJob.objects.create(marketing_list=newsletter, file_url="https://example.com/a.csv",
                                   import_type="create_only", status=ImportJob.Status.COMPLETED)  # fmt: skip

    page = admin_client.get(reverse("admin:imports_importjob_change", args=[job.pk])).content.decode()
    response = admin_client.get(reverse("admin:imports_importjob_errors", args=[job.pk]))

    assert "Download the error report" not in page and "No invalid rows." in page
    assert response.status_code == 302 and response["Location"].endswith(f"/{job.pk}/change/")
    assert messages_of(response) == ["This import has no invalid rows."]


def test_progress_endpoint_answers_the_counts(admin_client, finished_job):
    response = admin_client.get(reverse("admin:imports_importjob_progress", args=[finished_job.pk]))

    assert response.status_code == 200
    assert response.json() == {
        "id": finished_job.public_id,
        "status": "completed",
        "status_label": "Completed",
        "finished": True,
        "processed_rows": 3,
        "total_rows": 3,
        "percent": 100,
        "created_contacts": 2,
        "updated_contacts": 0,
        "removed_contacts": 0,
        "skipped_contacts": 0,
        "invalid_contacts": 1,
        "failure_reason": "",
        "cancel_requested": False,
        "error_report_url": reverse("admin:imports_importjob_errors", args=[finished_job.pk]),
    }
    assert "no-store" in response["Cache-Control"]
    assert admin_client.get(reverse("admin:imports_importjob_progress", args=[999999])).status_code == 404


def test_job_endpoints_are_refused_to_anonymous_and_non_staff_users(client, finished_job, default_audience):
    urls = [
        reverse("admin:imports_importjob_progress", args=[finished_job.pk]),
        reverse("admin:imports_importjob_errors", args=[finished_job.pk]),
        reverse(WIZARD),
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("admin:login")), url
    assert client.post(reverse("admin:imports_importjob_cancel", args=[finished_job.pk])).status_code == 302

    User.objects.create_user("member", password="pw", is_staff=False)
    client.login(username="member", password="pw")
    for url in urls:
        assert client.get(url).status_code == 302, url


def test_staff_need_the_import_permissions(client, finished_job, newsletter):
    staff = User.objects.create_user("viewer", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_importjob"))
    client.login(username="viewer", password="pw")

    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200 and "Import subscribers" not in page.content.decode()
    assert client.get(reverse("admin:imports_importjob_progress", args=[finished_job.pk])).status_code == 200
    assert client.get(reverse(WIZARD)).status_code == 403
    assert start_wizard(client, newsletter).status_code == 403
    pending = ImportJob.objects.create(marketing_list=newsletter, file_url="https://example.com/a.csv",
                                       import_type="create_only")  # fmt: skip
    assert client.post(reverse("admin:imports_importjob_cancel", args=[pending.pk])).status_code == 403
    assert ImportJob.objects.get(pk=pending.pk).status == ImportJob.Status.PENDING


def test_cancel_a_pending_job_from_its_page(admin_client, newsletter):
    job = import_job_create(marketing_list=newsletter, file_url=upload(ROWS), import_type="create_only")
    page = admin_client.get(reverse("admin:imports_importjob_change", args=[job.pk])).content.decode()
    cancel_url = reverse("admin:imports_importjob_cancel", args=[job.pk])
    assert f'action="{cancel_url}"' in page and "job_progress.js" in page
    assert '<progress id="import-progress-bar" max="3" value="0"' in page  # an upload is counted as the job starts

    assert admin_client.get(cancel_url).status_code == 405
    response = admin_client.post(cancel_url)

    assert response.status_code == 302
    assert messages_of(response) == [f"Import {job.public_id} cancelled."]
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CANCELLED
    again = admin_client.post(cancel_url)
    assert messages_of(again)[-1] == "Invalid import request (status: The job is already cancelled)"


def test_cancel_action_on_the_changelist(admin_client, newsletter, finished_job):
    job = import_job_create(marketing_list=newsletter, file_url=upload(ROWS), import_type="create_only")

    response = admin_client.post(
        reverse(CHANGELIST), {"action": "cancel_jobs", "_selected_action": [job.pk, finished_job.pk]}, follow=True
    )

    assert ImportJob.objects.get(pk=job.pk).status == ImportJob.Status.CANCELLED
    assert ImportJob.objects.get(pk=finished_job.pk).status == ImportJob.Status.COMPLETED
    assert "Asked 1 import job(s) to stop." in messages_of(response)


def test_upload_admin_lists_uploads_read_only(admin_client, db):
    upload(ROWS, name="people.csv")
    stored = Upload.objects.get()

    response = admin_client.get(reverse("admin:imports_upload_changelist"))
    detail = admin_client.get(reverse("admin:imports_upload_change", args=[stored.pk]))

    assert response.status_code == 200 and "people.csv" in response.content.decode()
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert f"/api/uploads/{stored.public_id}/file" in detail.content.decode()
    assert admin_client.get(reverse("admin:imports_upload_add")).status_code == 403


# -- the wizard --------------------------------------------------------------------------------------------------


def test_wizard_upload_then_preview_with_suggested_mapping(admin_client, newsletter, plan_field):
    first = admin_client.get(reverse(WIZARD), {"list": newsletter.public_id})
    assert first.status_code == 200
    assert first.context["form"]["marketing_list"].value() == newsletter.pk
    assert '<label for="id_file">CSV or XLSX file:</label>' in first.content.decode()

    response, url = mapping_page(admin_client, newsletter)

    stored = Upload.objects.get()
    assert url == reverse("admin:imports_importjob_import_mapping", args=[stored.public_id, newsletter.public_id])
    assert response.status_code == 200
    assert response.context["preview"].headers == ROWS[0]
    assert response.context["preview"].rows == ROWS[1:]
    form = response.context["form"]
    assert [form[f"column_{i}"].value() for i in range(5)] == [
        "email",
        "first_name",
        "last_name",
        "additional_fields_data.plan",
        SKIP,
    ]
    body = response.content.decode()
    assert "met at the fair" in body
    assert '<label for="id_column_0">E-mail</label>' in body
    assert '<option value="email" selected>Email</option>' in body
    assert ImportJob.objects.count() == 0


def test_preview_shows_ten_rows_at_most(admin_client, newsletter):
    rows = [["email"]] + [[f"p{i}@example.com"] for i in range(25)]
    response, _ = mapping_page(admin_client, newsletter, rows)
    assert len(response.context["preview"].rows) == 10


def test_an_xlsx_file_is_previewed_like_a_csv(admin_client, newsletter):
    import openpyxl

    workbook = openpyxl.Workbook()
    for row in [["Email Address", "Given Name"], ["ann@example.com", "Ann"], ["bob@example.com", None]]:
        workbook.active.append(row)
    content = io.BytesIO()
    workbook.save(content)
    xlsx = SimpleUploadedFile("people.xlsx", content.getvalue(), content_type="application/octet-stream")

    response = admin_client.post(reverse(WIZARD), {"marketing_list": newsletter.pk, "file": xlsx}, follow=True)

    assert response.context["preview"].rows == [["ann@example.com", "Ann"], ["bob@example.com", ""]]
    assert [response.context["form"][f"column_{i}"].value() for i in range(2)] == ["email", "first_name"]


def test_a_bad_file_is_a_form_error(admin_client, newsletter):
    pdf = SimpleUploadedFile("people.csv", b"%PDF-1.7 not a spreadsheet", content_type="text/csv")

    response = admin_client.post(reverse(WIZARD), {"marketing_list": newsletter.pk, "file": pdf})

    assert response.status_code == 200
    assert response.context["form"].errors == {"file": ["The import file is a PDF document, not CSV or XLSX"]}
    assert Upload.objects.count() == 0
    empty = admin_client.post(reverse(WIZARD), {"marketing_list": newsletter.pk, "file": csv_file([], "e.csv")})
    assert "file" in empty.context["form"].errors


def test_a_list_or_an_audience_must_be_chosen(admin_client, newsletter, default_audience):
    neither = admin_client.post(reverse(WIZARD), {"file": csv_file(ROWS)})
    both = admin_client.post(
        reverse(WIZARD), {"marketing_list": newsletter.pk, "audience": default_audience.pk, "file": csv_file(ROWS)}
    )
    for response in (neither, both):
        assert response.status_code == 200
        assert response.context["form"].non_field_errors() == ["Choose either a list or an audience to import into."]
    assert Upload.objects.count() == 0


def test_an_archived_list_is_refused(admin_client, newsletter):
    list_set_archived(marketing_list=newsletter, archived=True)

    response = start_wizard(admin_client, newsletter)

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "marketing_list": ["The list is archived and takes no imports; unarchive it first"]
    }
    assert "Newsletter (archived)" in response.content.decode()
    assert Upload.objects.count() == 0


def test_a_list_archived_after_the_upload_sends_staff_back(admin_client, newsletter):
    _, url = mapping_page(admin_client, newsletter)
    list_set_archived(marketing_list=newsletter, archived=True)

    response = admin_client.get(url)

    assert response.status_code == 302 and response["Location"].startswith(reverse(WIZARD))
    assert "archived" in messages_of(response)[0]


def test_dynamic_lists_and_tiers_are_not_offered(admin_client, default_audience, newsletter):
    dynamic = list_create(name="Dynamic", mode="dynamic", audience=audience_create(name="VIP"))
    form = admin_client.get(reverse(WIZARD)).context["form"]
    assert newsletter in form.fields["marketing_list"].queryset
    assert dynamic not in form.fields["marketing_list"].queryset
    assert default_audience in form.fields["audience"].queryset


def test_dry_run_shows_counts_and_changes_nothing(admin_client, newsletter, plan_field):
    subscriber_create(email="bob@example.com", first_name="Robert")
    page, url = mapping_page(admin_client, newsletter)

    response = admin_client.post(url, mapping_post(page, _dry_run="Dry run"))

    assert response.status_code == 200, response.context["form"].errors
    dry_run = response.context["dry_run"]
    assert dry_run.dry_run and dry_run.status == ImportJob.Status.COMPLETED
    body = response.content.decode()
    for name, count in [("would_create", 1), ("would_update", 1), ("would_remove", 0), ("rejected", 1)]:
        assert f'data-count="{name}">{count}<' in body
    assert "not-an-email" in body and "Invalid email format" in body
    assert reverse("admin:imports_importjob_errors", args=[dry_run.pk]) in body
    assert 'name="_start"' in body
    assert set(Subscriber.objects.values_list("email", "first_name")) == {("bob@example.com", "Robert")}
    assert ListMembership.objects.count() == 0
    assert ImportJob.objects.filter(dry_run=False).count() == 0


def test_the_mapping_needs_an_email_column(admin_client, newsletter):
    page, url = mapping_page(admin_client, newsletter)

    response = admin_client.post(url, mapping_post(page, column_0=SKIP, _dry_run="Dry run"))

    assert response.status_code == 200
    assert response.context["form"].non_field_errors() == ["Map one column to Email: it identifies each subscriber."]
    assert ImportJob.objects.count() == 0


def test_one_field_is_fed_by_one_column(admin_client, newsletter):
    page, url = mapping_page(admin_client, newsletter)

    response = admin_client.post(url, mapping_post(page, column_2="first_name", _dry_run="Dry run"))

    assert response.context["form"].errors == {"column_2": ["The column “First Name” already feeds this field."]}


def test_remove_only_into_the_default_audience_is_refused_by_the_service(admin_client, default_audience):
    page, url = mapping_page(admin_client, default_audience)

    response = admin_client.post(url, mapping_post(page, import_type="remove_only", _dry_run="Dry run"))

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "import_type": ["Every subscriber is in the default audience; nobody can be removed"]
    }


def test_change_the_mapping_after_a_dry_run(admin_client, newsletter):
    page, url = mapping_page(admin_client, newsletter)
    review = admin_client.post(url, mapping_post(page, column_3=SKIP, _dry_run="Dry run"))
    hidden = dict(
        re.findall(r'<input type="hidden" name="(column_\d|import_type)"(?: value="([^"]*)")?', review.content.decode())
    )
    assert hidden["column_3"] == "" and hidden["column_0"] == "email"

    back = admin_client.post(url, {**hidden, "_edit": "Change the mapping"})

    assert back.status_code == 200 and back.context["form"]["column_3"].value() == SKIP
    assert "<caption>The first 3 rows" in back.content.decode()


def test_starting_while_an_import_runs_is_an_error_message(admin_client, newsletter):
    ImportJob.objects.create(marketing_list=newsletter, file_url="https://example.com/a.csv",
                             import_type="create_only", status=ImportJob.Status.PROCESSING)  # fmt: skip
    page, url = mapping_page(admin_client, newsletter)

    response = admin_client.post(url, mapping_post(page, _start="Start the import"))

    assert response.status_code == 200
    assert messages_of(response) == [
        "An import into this list is already running: wait for it to finish, or cancel it, then start again."
    ]
    assert ImportJob.objects.count() == 1


@pytest.fixture
def worker(settings):
    worker = ImportsWorker()
    worker.queue.empty()
    yield worker
    worker.queue.empty()


@TRANSACTIONAL
def test_start_creates_the_job_and_a_worker_completes_it(admin_client, worker, plan_field):
    newsletter = list_create(
        name="Newsletter", mode="static", audience=Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID)
    )
    page, url = mapping_page(admin_client, newsletter)
    review = admin_client.post(url, mapping_post(page, _dry_run="Dry run"))
    form = review.context["form"]
    start = {name: form[name].value() or "" for name in form.fields}

    response = admin_client.post(url, {**start, "_start": "Start the import"})

    job = ImportJob.objects.get(dry_run=False)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:imports_importjob_change", args=[job.pk])
    assert messages_of(response) == [f"Import {job.public_id} started."]
    assert job.status == ImportJob.Status.PENDING and job.marketing_list == newsletter
    assert job.columns_mapping == {
        "E-mail": "email",
        "First Name": "first_name",
        "Surname": "last_name",
        "Plan": "additional_fields_data.plan",
    }
    progress_url = reverse("admin:imports_importjob_progress", args=[job.pk])
    assert admin_client.get(progress_url).json()["status"] == "pending"

    worker.run()

    progress = admin_client.get(progress_url).json()
    assert (progress["status"], progress["finished"], progress["processed_rows"], progress["total_rows"]) == (
        "completed", True, 3, 3
    )  # fmt: skip
    assert (progress["created_contacts"], progress["invalid_contacts"]) == (2, 1)
    assert progress["error_report_url"] == reverse("admin:imports_importjob_errors", args=[job.pk])
    assert ListMembership.objects.filter(marketing_list=newsletter).count() == 2
    assert Subscriber.objects.get(email="ann@example.com").additional_fields_data == {"plan": "gold"}
    page = admin_client.get(response["Location"]).content.decode()
    assert "Download the error report (CSV)" in page and "Cancel this import" not in page
