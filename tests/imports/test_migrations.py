"""imports/0002: jobs made before ImportJob.file_name get their file's name from their file_url."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import MarketingListFactory

BEFORE = ("imports", "0001_initial")
AFTER = ("imports", "0002_importjob_file_name")


def migrate(target: tuple[str, str]):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_existing_jobs_are_named_after_their_upload_or_url(settings):
    settings.PUBLIC_BASE_URL = "https://roster.example.com/"
    marketing_list = MarketingListFactory()
    old = migrate(BEFORE)
    Upload = old.get_model("imports", "Upload")
    ImportJob = old.get_model("imports", "ImportJob")
    Upload.objects.create(public_id="upl_A1", file="uploads/x.csv", original_name="Spring leads.csv")
    urls = {
        "https://roster.example.com/api/uploads/upl_A1/file": "Spring leads.csv",
        "upload://upl_A1": "Spring leads.csv",
        "https://files.example.com/exports/May%202024.csv?sig=abc": "May 2024.csv",
        "https://files.example.com/": "files.example.com",
        "/home/ops/people.csv": "people.csv",  # the import_subscribers command's
    }
    for index, url in enumerate(urls):
        ImportJob.objects.create(
            public_id=f"job_M{index}", marketing_list_id=marketing_list.pk, file_url=url, import_type="create_only"
        )

    new = migrate(AFTER)

    names = dict(new.get_model("imports", "ImportJob").objects.values_list("file_url", "file_name"))
    assert names == urls
