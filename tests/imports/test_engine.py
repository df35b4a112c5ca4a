"""The import engine, run directly (no queue): mapping, validation, every import type, dry runs, both paths."""

import csv
import datetime as dt
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from email_validator import EmailNotValidError, validate_email

from audiences.models import AudienceMembership, ListMembership
from imports import engine, rows
from imports.errors import InvalidImportFile
from imports.models import ImportJob, ImportRowError
from imports.reports import error_report_csv
from imports.services import InvalidImport, import_job_create
from imports.tasks import run_import_job
from imports.uploads import upload_create, upload_file_url_of
from subscribers.models import CustomField, Subscriber
from tests.factories import AudienceFactory, CustomFieldFactory, MarketingListFactory, SubscriberFactory


def csv_text(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue()


def upload(rows: list[list[str]] | str, name: str = "people.csv") -> str:
    """Store a file as POST /api/uploads would and answer its file_url."""
    text = rows if isinstance(rows, str) else csv_text(rows)
    return upload_file_url_of(upload_create(file=SimpleUploadedFile(name, text.encode(), content_type="text/csv")))


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def run(job: ImportJob) -> ImportJob:
    run_import_job(job.pk)
    job.refresh_from_db()
    return job


def start(marketing_list=None, rows=None, import_type="create_update", mapping=None, **kwargs) -> ImportJob:
    return run(
        import_job_create(
            marketing_list=marketing_list,
            file_url=upload(rows),
            import_type=import_type,
            columns_mapping=mapping,
            **kwargs,
        )
    )


SEED_MAPPING = {
    "Email": "email",
    "FirstName": "first_name",
    "LastName": "last_name",
    "Company": "additional_fields_data.company",
    "CustomerType": "additional_fields_data.customer_type",
}
SEED_ROWS = [
    ["Email", "FirstName", "LastName", "Company", "CustomerType"],
    ["ann@example.com", "Ann", "Lee", "Acme", "premium"],
    ["Bob@Example.COM", "Bob", "", "", "basic"],
    ["cy@example.org", "", "", "Initech", ""],
]


@pytest.fixture
def static_list(db):
    return MarketingListFactory()


def test_create_update_with_the_seed_mapping(static_list, settings):
    settings.IMPORT_BATCH_SIZE = 2
    job = start(static_list, SEED_ROWS, mapping=SEED_MAPPING)
    assert (job.status, job.total_rows, job.processed_rows, job.created_contacts, job.invalid_contacts) == (
        "completed",
        3,
        3,
        3,
        0,
    )
    assert job.last_batch == 1  # two batches of at most two rows
    ann = Subscriber.objects.get(email="ann@example.com")
    assert (ann.first_name, ann.last_name, ann.version, ann.updated_at) == ("Ann", "Lee", 1, None)
    assert ann.additional_fields_data == {"company": "Acme", "customer_type": "premium"}
    assert ann.public_id.startswith("sub_") and len(ann.public_id) == 20
    assert Subscriber.objects.get(email="Bob@example.com").additional_fields_data == {"customer_type": "basic"}
    assert ListMembership.objects.filter(marketing_list=static_list).count() == 3


def test_headers_named_like_fields_map_themselves(static_list):
    CustomFieldFactory(name="score", field_type=CustomField.FieldType.NUMBER)
    rows = [
        ["EMAIL", "First_Name", "Score", "additional_fields_data.city", "Ignored"],
        ["a@example.com", "A", "42", "Paris", "x"],
    ]
    job = start(static_list, rows)
    assert job.created_contacts == 1
    subscriber = Subscriber.objects.get(email="a@example.com")
    assert subscriber.first_name == "A"
    assert subscriber.additional_fields_data == {"score": 42, "city": "Paris"}


def test_invalid_rows_are_reported_with_row_numbers_and_never_stop_the_job(static_list, settings):
    settings.IMPORT_BATCH_SIZE = 2
    CustomFieldFactory(name="score", field_type=CustomField.FieldType.NUMBER)
    rows = [
        ["email", "first_name", "score"],
        ["good@example.com", "Good", "1"],
        ["not-an-email", "Bad", "1"],
        ['=HYPERLINK("http://evil")', "Formula", ""],
        ["GOOD@example.com", "Again", "2"],
        ["", "No email", ""],
        ["typed@example.com", "Typed", "lots"],
        ["reserved@example.test", "", ""],
        ["fine@example.com", "x" * 151, ""],
        ["last@example.com", "Last", "3"],
    ]
    job = start(static_list, rows)
    assert (job.status, job.processed_rows, job.created_contacts, job.invalid_contacts) == ("completed", 9, 2, 7)
    errors = list(ImportRowError.objects.filter(job=job).values_list("row_number", "error_type"))
    assert errors == [
        (3, "invalid_email"),
        (4, "invalid_email"),
        (5, "duplicate_in_file"),
        (6, "missing_email"),
        (7, "invalid_field"),
        (8, "invalid_email"),
        (9, "value_too_long"),
    ]
    assert all(e.suggested_fix for e in ImportRowError.objects.filter(job=job))
    assert job.error_report  # written at the end
    report = list(csv.reader(io.StringIO(error_report_csv(job))))
    assert report[0] == ["row_number", "email", "error_type", "message", "details", "suggested_fix"]
    assert report[2][:3] == ["4", '\'=HYPERLINK("http://evil")', "invalid_email"]  # neutralized formula
    assert "score" in report[5][4] and "number" in report[5][4]


def test_importing_the_same_file_twice_leaves_the_same_data_and_counts_updates(static_list):
    first = start(static_list, SEED_ROWS, mapping=SEED_MAPPING)
    before = list(Subscriber.objects.order_by("email").values())
    second = start(static_list, SEED_ROWS, mapping=SEED_MAPPING)
    assert (first.created_contacts, first.updated_contacts) == (3, 0)
    assert (second.created_contacts, second.updated_contacts) == (0, 3)
    assert list(Subscriber.objects.order_by("email").values()) == before  # not even a version bump
    assert ListMembership.objects.filter(marketing_list=static_list).count() == 3


def test_update_merges_and_an_empty_cell_never_erases(static_list):
    SubscriberFactory(
        email="ann@example.com",
        first_name="Annie",
        last_name="Old",
        additional_fields_data={"company": "Old Co", "keep": 1},
    )
    job = start(
        static_list,
        [["email", "last_name", "company"], ["ANN@example.com", "", "New Co"]],
        mapping={"email": "email", "last_name": "last_name", "company": "company"},
    )
    assert (job.created_contacts, job.updated_contacts) == (0, 1)
    ann = Subscriber.objects.get()
    assert (ann.email, ann.first_name, ann.last_name, ann.version) == ("ann@example.com", "Annie", "Old", 2)
    assert ann.additional_fields_data == {"company": "New Co", "keep": 1}
    assert ann.updated_at is not None


@pytest.mark.parametrize("fast", [True, False], ids=["postgresql", "portable"])
def test_every_import_type(static_list, monkeypatch, fast):
    monkeypatch.setattr(engine, "use_fast_path", lambda: fast)
    existing = SubscriberFactory(email="old@example.com", first_name="Old")
    rows = [["email", "first_name"], ["old@example.com", "Renamed"], ["new@example.com", "New"]]

    job = start(static_list, rows, import_type="create_only")
    assert (job.created_contacts, job.updated_contacts, job.skipped_contacts) == (1, 0, 1)
    existing.refresh_from_db()
    assert existing.first_name == "Old"
    assert set(static_list.memberships.values_list("subscriber__email", flat=True)) == {"new@example.com"}

    job = start(static_list, rows + [["ghost@example.com", "Ghost"]], import_type="update_only")
    assert (job.created_contacts, job.updated_contacts, job.skipped_contacts) == (0, 2, 1)
    existing.refresh_from_db()
    assert existing.first_name == "Renamed"
    assert not Subscriber.objects.filter(email="ghost@example.com").exists()
    assert static_list.memberships.count() == 2
    version = Subscriber.objects.get(email="new@example.com").version
    start(static_list, rows, import_type="update_only")  # the same values again: nothing changes
    assert Subscriber.objects.get(email="new@example.com").version == version

    job = start(static_list, [["email"], ["new@example.com"], ["nobody@example.com"]], import_type="remove_only")
    assert (job.removed_contacts, job.skipped_contacts) == (1, 1)
    assert set(static_list.memberships.values_list("subscriber__email", flat=True)) == {"old@example.com"}
    assert Subscriber.objects.filter(email="new@example.com").exists()  # out of the list, not deleted


def test_fast_and_portable_paths_store_the_same(db, monkeypatch):
    CustomFieldFactory(name="tier", field_type=CustomField.FieldType.STRING, default="bronze")
    rows = [["email", "first_name", "tier"], ["a@example.com", "A", "gold"], ["b@example.com", "B", ""]]
    stored = {}
    for fast in (True, False):
        Subscriber.objects.all().delete()
        monkeypatch.setattr(engine, "use_fast_path", lambda fast=fast: fast)
        start(MarketingListFactory(), rows)
        stored[fast] = list(
            Subscriber.objects.order_by("email").values_list("email", "first_name", "additional_fields_data", "version")
        )
    assert stored[True] == stored[False]
    assert stored[True][1][2] == {"tier": "bronze"}  # the default, for a new subscriber only


def test_required_custom_field_is_needed_only_to_create(static_list):
    CustomFieldFactory(name="region", required=True)
    SubscriberFactory(email="old@example.com", additional_fields_data={"region": "EU"})
    job = start(static_list, [["email", "first_name"], ["old@example.com", "Old"], ["new@example.com", "New"]])
    assert (job.updated_contacts, job.created_contacts, job.invalid_contacts) == (1, 0, 1)
    assert ImportRowError.objects.get(job=job).error_type == "missing_required_field"


def test_dry_run_changes_nothing_and_counts(static_list):
    SubscriberFactory(email="ann@example.com")
    job = import_job_create(
        marketing_list=static_list,
        file_url=upload(SEED_ROWS + [["bad", "", "", "", ""]]),
        import_type="create_update",
        columns_mapping=SEED_MAPPING,
        dry_run=True,
    )
    assert job.status == "completed" and job.dry_run
    assert (job.created_contacts, job.updated_contacts, job.invalid_contacts) == (2, 1, 1)
    assert Subscriber.objects.count() == 1
    assert not ListMembership.objects.exists()
    assert job.error_report


def test_audience_import_adds_manual_members(db):
    audience = AudienceFactory()
    rows = [["email"], ["a@example.com"], ["b@example.com"]]
    job = run(import_job_create(audience=audience, file_url=upload(rows), import_type="create_update"))
    assert job.created_contacts == 2
    assert set(AudienceMembership.objects.filter(audience=audience).values_list("source", flat=True)) == {1}
    job = run(import_job_create(audience=audience, file_url=upload(rows[:2]), import_type="remove_only"))
    assert job.removed_contacts == 1
    assert AudienceMembership.objects.filter(audience=audience).count() == 1


def test_dynamic_list_takes_subscribers_but_no_removals(db):
    dynamic = MarketingListFactory(mode="dynamic", audience=AudienceFactory())
    job = start(dynamic, [["email"], ["a@example.com"]])
    assert job.created_contacts == 1 and not ListMembership.objects.exists()
    with pytest.raises(InvalidImport):
        import_job_create(
            marketing_list=dynamic, file_url=upload([["email"], ["a@example.com"]]), import_type="remove_only"
        )


def test_archived_list_takes_no_import(db):
    archived = MarketingListFactory(archived=True)
    with pytest.raises(InvalidImport):
        import_job_create(marketing_list=archived, file_url=upload(SEED_ROWS), import_type="create_update")


def test_a_file_without_an_email_column_fails_the_job_with_a_reason(static_list):
    job = start(static_list, [["name"], ["Ann"]])
    assert job.status == "failed"
    assert "email" in job.failure_reason


def test_an_unknown_upload_is_refused_at_creation(static_list):
    with pytest.raises(InvalidImportFile):
        import_job_create(marketing_list=static_list, file_url="upload://upl_nope", import_type="create_update")


def test_a_vanished_file_fails_the_job(static_list):
    url = upload(SEED_ROWS)
    job = import_job_create(marketing_list=static_list, file_url=url, import_type="create_update")
    from imports.models import Upload

    Upload.objects.all().delete()
    job = run(job)
    assert job.status == "failed" and "does not exist" in job.failure_reason


EMAIL_CASES = [
    "a@example.com",
    "A.B+c@Sub.Example.CO",
    "a..b@example.com",
    ".a@example.com",
    "a.@example.com",
    "a@example",
    "a@localhost",
    "a@example.local",
    "a@x.test",
    "a@1.2.3.4",
    "a@example.123",
    "a@-x.com",
    "a@x-.com",
    '"quoted"@example.com',
    "ünï@example.com",
    "a@exämple.com",
    "a b@example.com",
    "a@@example.com",
    "x" * 64 + "@example.com",
    "x" * 65 + "@example.com",
    "a@" + "b" * 63 + ".com",
    "a@" + "b" * 64 + ".com",
    "o'brien@example.ie",
    "a@example.com.",
    "  padded@example.com ",
    "a@xn--bcher-kva.example",
]


@pytest.mark.parametrize("text", EMAIL_CASES)
def test_fast_email_check_agrees_with_email_validator(text):
    try:
        expected = validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError:
        expected = None
    try:
        got = rows.fast_normalize_email(text)
    except Exception:
        got = None
    assert got == expected


def test_default_audience_takes_subscribers_but_no_removals(db):
    from audiences.models import Audience

    everyone = Audience.objects.get(public_id="aud_default")
    job = run(
        import_job_create(audience=everyone, file_url=upload([["email"], ["a@example.com"]]), import_type="create_only")
    )
    assert job.created_contacts == 1 and not AudienceMembership.objects.exists()
    with pytest.raises(InvalidImport):
        import_job_create(audience=everyone, file_url=upload([["email"], ["a@example.com"]]), import_type="remove_only")


def test_a_resumed_job_still_finds_duplicates_of_rows_applied_before_it_stopped(static_list, settings, monkeypatch):
    """The emails seen live in a temporary table of the worker's connection: a resumed job rebuilds it from the rows
    it skips."""
    from imports.tasks import recover_stale_jobs

    class WorkerDied(BaseException):
        pass

    settings.IMPORT_BATCH_SIZE = 2
    rows = [["email"], ["a@example.com"], ["b@example.com"], ["c@example.com"], ["A@Example.com"]]
    job = import_job_create(marketing_list=static_list, file_url=upload(rows), import_type="create_update")
    apply = engine.BatchRunner.apply

    def die_in_second_batch(self, batch):
        if self.job.last_batch == 0:
            raise WorkerDied
        apply(self, batch)

    monkeypatch.setattr(engine.BatchRunner, "apply", die_in_second_batch)
    with pytest.raises(WorkerDied):
        run_import_job(job.pk)
    monkeypatch.setattr(engine.BatchRunner, "apply", apply)
    job.refresh_from_db()
    assert (job.status, job.processed_rows) == ("processing", 2)
    assert recover_stale_jobs(older_than=dt.timedelta(0)) == 1
    job = run(job)
    assert (job.status, job.created_contacts, job.invalid_contacts) == ("completed", 3, 1)
    problem = ImportRowError.objects.get(job=job)
    assert (problem.row_number, problem.error_type) == (5, "duplicate_in_file")


def test_a_duplicate_is_reported_as_such_even_when_the_first_row_was_invalid(static_list):
    CustomFieldFactory(name="score", field_type=CustomField.FieldType.NUMBER)
    rows = [["email", "score"], ["a@example.com", "lots"], ["b@example.com", "1"], ["A@example.com", "2"]]
    job = start(static_list, rows)
    assert (job.created_contacts, job.invalid_contacts) == (1, 2)
    errors = list(ImportRowError.objects.filter(job=job).order_by("row_number").values_list("row_number", "error_type"))
    assert errors == [(2, "invalid_field"), (4, "duplicate_in_file")]
