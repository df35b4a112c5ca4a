"""`manage.py import_subscribers FILE --list ID --type ... [--map ...] [--dry-run]`."""

import io

import pytest
from django.core.management import CommandError, call_command

from audiences.models import ListMembership
from imports.models import ImportJob
from subscribers.models import Subscriber
from tests.factories import MarketingListFactory


@pytest.fixture
def people_file(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    path = tmp_path / "people.csv"
    path.write_text("Email Address,Given Name,Company\nann@example.com,Ann,Acme\nbob@example.com,Bob,\nbroken,X,\n")
    return path


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("import_subscribers", *args, stdout=out)
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
    with pytest.raises(CommandError, match="Import failed: .*email"):
        run(str(people_file), "--list", marketing_list.public_id)  # no mapping, no column named email
