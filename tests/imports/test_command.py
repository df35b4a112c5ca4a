"""`manage.py import_subscribers FILE --list ID --type ... [--map ...] [--dry-run]`."""

import io

import pytest
from django.core.management import CommandError, call_command

from audiences.models import ListMembership
from imports.models import ImportJob
from subscribers.models import Subscriber
from tests.factories import CustomFieldFactory, MarketingListFactory


@pytest.fixture
def people_file(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    path = tmp_path / "people.csv"
    path.write_text("Email Address,Given Name,Company\nann@example.com,Ann,Acme\nbob@example.com,Bob,\nbroken,X,\n")
    return path


def run(*args: str, stderr: io.StringIO | None = None) -> str:
    out = io.StringIO()
    call_command("import_subscribers", *args, stdout=out, stderr=stderr or io.StringIO())
    return out.getvalue()


MAP = [
    "--map",
    "Email Address=email",
    "--map",
    "Given Name=first_name",
    "--map",
    "Company=additional_fields_data.company",
]


def test_imports_a_local_file_with_a_progress_bar(db, people_file):
    marketing_list = MarketingListFactory()
    output = run(str(people_file), "--list", marketing_list.public_id, "--type", "create_update", *MAP)
    assert "[##############################] 100% 3/3 rows" in output
    assert "completed. Done: created 2, updated 0, removed 0, skipped 0, invalid 1 of 3 rows." in output
    assert "Error report: http" in output
    assert Subscriber.objects.get(email="ann@example.com").additional_fields_data == {"company": "Acme"}
    assert ListMembership.objects.filter(marketing_list=marketing_list).count() == 2
    job = ImportJob.objects.get()
    assert (job.status, job.processed_rows) == ("completed", 3)
    assert people_file.exists()  # the operator's file is left alone


def test_dry_run_changes_nothing(db, people_file):
    marketing_list = MarketingListFactory()
    output = run(str(people_file), "--list", marketing_list.public_id, "--dry-run", *MAP)
    assert "Would have created 2" in output
    assert not Subscriber.objects.exists()


def test_refusals(db, people_file, tmp_path):
    marketing_list = MarketingListFactory()
    with pytest.raises(CommandError, match="No such file"):
        run(str(tmp_path / "missing.csv"), "--list", marketing_list.public_id)
    with pytest.raises(CommandError, match="not found"):
        run(str(people_file), "--list", "list_nope")
    with pytest.raises(CommandError, match="--map takes"):
        run(str(people_file), "--list", marketing_list.public_id, "--map", "Email")
    with pytest.raises(CommandError, match="--map: the file has no column 'Emial'"):
        run(str(people_file), "--list", marketing_list.public_id, "--map", "Emial=email")
    with pytest.raises(CommandError, match="the columns 'Given Name' and 'Email Address' both map to email"):
        run(str(people_file), "--list", marketing_list.public_id, "--map", "Given Name=email", *MAP[:2])
    no_email = tmp_path / "no_email.csv"
    no_email.write_text("Name,Company\nAnn,Acme\n")
    with pytest.raises(CommandError, match="No column maps to email.*Name, Company"):
        run(str(no_email), "--list", marketing_list.public_id)
    assert not ImportJob.objects.exists()


# --- the wizard's mapping ---------------------------------------------------------------------------------------

WIZARD_HEADER = "Email Address,First Name,Last Name,loyalty_tier,Unknown Column"


@pytest.fixture
def wizard_file(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    CustomFieldFactory(name="loyalty_tier")
    path = tmp_path / "crm.csv"
    path.write_text(f"{WIZARD_HEADER}\nann@example.com,Ann,Lee,gold,x\nbob@example.com,Bob,Ray,silver,y\n")
    return path


def test_columns_map_as_in_the_wizard_and_the_unmapped_one_is_named_before_the_import(db, wizard_file):
    marketing_list = MarketingListFactory()
    warnings = io.StringIO()
    output = run(str(wizard_file), "--list", marketing_list.public_id, stderr=warnings)

    assert "Unknown Column" in warnings.getvalue() and "will not be imported" in warnings.getvalue()
    for kept in ("Email Address", "First Name", "Last Name", "loyalty_tier"):
        assert kept not in warnings.getvalue()
    assert output.index("Columns: Email Address -> email, First Name -> first_name") < output.index("[####")
    assert "completed. Done: created 2" in output
    ann = Subscriber.objects.get(email="ann@example.com")
    assert (ann.first_name, ann.last_name, ann.additional_fields_data) == ("Ann", "Lee", {"loyalty_tier": "gold"})
    assert ImportJob.objects.get().columns_mapping == {
        "Email Address": "email",
        "First Name": "first_name",
        "Last Name": "last_name",
        "loyalty_tier": "additional_fields_data.loyalty_tier",
    }


def test_map_overrides_single_columns_and_keeps_the_others(db, wizard_file):
    marketing_list = MarketingListFactory()
    warnings = io.StringIO()
    run(
        str(wizard_file),
        "--list",
        marketing_list.public_id,
        "--map",
        "Email Address=email",  # what the wizard maps anyway: nothing else is dropped for it
        "--map",
        "unknown column=additional_fields_data.source",  # the file's header, in another case
        "--map",
        "Last Name=",  # left out on purpose
        stderr=warnings,
    )

    ann = Subscriber.objects.get(email="ann@example.com")
    assert (ann.first_name, ann.last_name) == ("Ann", "")
    assert ann.additional_fields_data == {"loyalty_tier": "gold", "source": "x"}
    assert "Last Name" in warnings.getvalue() and "Unknown Column" not in warnings.getvalue()


def test_an_override_takes_its_field_from_the_column_the_wizard_suggested(db, wizard_file):
    marketing_list = MarketingListFactory()
    run(str(wizard_file), "--list", marketing_list.public_id, "--map", "Unknown Column=first_name")

    assert Subscriber.objects.get(email="bob@example.com").first_name == "y"


def test_a_failed_job_is_reported_as_failed_with_its_reason(db, wizard_file, settings):
    settings.IMPORT_MAX_ROWS = 1
    marketing_list = MarketingListFactory()
    out = io.StringIO()
    with pytest.raises(CommandError, match="Import failed: The import file has more than 1 rows") as refused:
        call_command("import_subscribers", str(wizard_file), "--list", marketing_list.public_id, stdout=out)

    assert refused.value.returncode == 1  # manage.py's exit status
    assert ImportJob.objects.get().status == "failed"
    assert "failed: The import file has more than 1 rows" in out.getvalue()
    assert "Done" not in out.getvalue() and "completed" not in out.getvalue()
    assert not Subscriber.objects.exists()
