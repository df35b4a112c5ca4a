"""Embedded mode, as `make run` starts Roster: SQLite, no REDIS_URL, jobs run in-process. Real `manage.py` processes
against a fresh SQLite file: migrate, import with the command, and queue an import as the API does (it runs at once,
in-process, on the portable path), then read what landed straight from the file."""

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

ROWS = [
    "Email,FirstName,Plan",
    "ann@example.com,Ann,gold",
    "Bob@Example.COM,Bob,",
    "not-an-email,Nobody,",
    "ANN@example.com,Ann again,silver",
    "cy@example.org,Cy,bronze",
]

# Creates the list, then queues a second import the way the API does (no run_inline): with REDIS_URL unset,
# core.jobs.enqueue_on_commit runs it in this process after the commit.
SHELL_CREATE_LIST = """
from audiences.models import DEFAULT_AUDIENCE_ID, Audience, MarketingList
everyone = Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID)
print(MarketingList.objects.create(name="Embedded", audience=everyone).public_id)
"""
SHELL_QUEUE_IMPORT = """
import json, os
from audiences.models import MarketingList
from imports.models import ImportJob
from imports.services import import_job_create
path = os.environ["EMBEDDED_IMPORT_FILE"]
job = import_job_create(marketing_list=MarketingList.objects.get(name="Embedded"), file_url=path, local_path=path,
                        import_type="create_update", columns_mapping={"Email": "email"})
job = ImportJob.objects.get(pk=job.pk)
print(json.dumps([job.status, job.created_contacts, job.updated_contacts, job.invalid_contacts]))
"""


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603 - our own manage.py
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def embedded_env(tmp_path: Path, database: Path) -> dict[str, str]:
    """The environment of a Roster process in embedded mode on the SQLite file `database`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "RQ_QUEUE_PREFIX") and not key.startswith("PYTEST_")
    }
    env.update(
        DATABASE_URL=f"sqlite:///{database}",
        REDIS_URL="",  # unset in effect: .env may not set it either, and an empty value means embedded mode
        ROSTER_DATA_DIR=str(tmp_path / "data"),
        DEBUG="false",
    )
    return env


def test_migrate_and_import_on_sqlite_with_jobs_in_process(tmp_path):
    database = tmp_path / "db.sqlite3"
    env = embedded_env(tmp_path, database)
    env["IMPORT_BATCH_SIZE"] = "2"  # several batches, so duplicates are found across them too
    people = tmp_path / "people.csv"
    people.write_text("\n".join(ROWS) + "\n")
    second = tmp_path / "more.csv"
    second.write_text("Email\ncy@example.org\ndee@example.net\n")

    manage(env, "migrate", "--noinput", "-v", "0")
    list_id = manage(env, "shell", "-c", SHELL_CREATE_LIST).strip().splitlines()[-1]
    output = manage(
        env, "import_subscribers", str(people), "--list", list_id, "--type", "create_update",
        "--map", "Email=email", "--map", "FirstName=first_name", "--map", "Plan=additional_fields_data.plan",
    )  # fmt: skip
    assert "completed" in output and "created 3" in output and "invalid 2" in output, output
    queued = manage({**env, "EMBEDDED_IMPORT_FILE": str(second)}, "shell", "-c", SHELL_QUEUE_IMPORT)
    queued = queued.strip().splitlines()[-1]
    assert json.loads(queued) == ["completed", 1, 1, 0]

    with sqlite3.connect(database) as db:
        subscribers = db.execute(
            "SELECT email, first_name, additional_fields_data FROM subscribers_subscriber ORDER BY email"
        ).fetchall()
        members = db.execute(
            "SELECT count(*) FROM audiences_listmembership AS m JOIN audiences_marketinglist AS l "
            "ON l.id = m.marketing_list_id WHERE l.public_id = ?",
            [list_id],
        ).fetchone()[0]
        errors = db.execute("SELECT row_number, error_type FROM imports_importrowerror ORDER BY row_number").fetchall()
    assert [(email, name, json.loads(data)) for email, name, data in subscribers] == [
        ("Bob@example.com", "Bob", {}),
        ("ann@example.com", "Ann", {"plan": "gold"}),
        ("cy@example.org", "Cy", {"plan": "bronze"}),
        ("dee@example.net", "", {}),
    ]
    assert members == 4
    assert errors == [(4, "invalid_email"), (5, "duplicate_in_file")]


# Seed 003's contacts calls through the API (the test client, in a shell of the embedded instance): the SQLite path of
# imports.contacts, creating subscribers for unknown emails, and the size limit.
SHELL_CONTACTS = """
import json
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient
from core.models import ALL_SCOPES
from core.services import api_key_create
_, key = api_key_create(name="embedded", scopes=list(ALL_SCOPES))
client = APIClient()
client.credentials(HTTP_X_API_KEY=key)
def post(path, text, **form):
    part = SimpleUploadedFile("contacts.csv", text.encode(), "text/csv")
    return client.post(path, {**form, "csv": part}, format="multipart")
created = post("/api/lists", "email\\nann@example.com\\nNew@Example.com\\nnew@example.com\\nsub_Nobody1", name="File")
list_id = created.json()["id"]
added = post(f"/api/lists/{list_id}/contacts", "ann@example.com\\ncy@example.com\\na..b@example.com\\n")
refused = post(f"/api/lists/{list_id}/contacts", "dee@example.com\\neve@example.com\\n")
removed = post(f"/api/lists/{list_id}/contacts/remove", "ann@example.com\\nghost@example.com\\n")
print(json.dumps([list_id, created.json()["statistics"], added.json()["statistics"], refused.status_code,
                  refused.json()["code"], removed.json()["statistics"]]))
"""


def test_contacts_files_on_sqlite(tmp_path):
    database = tmp_path / "db.sqlite3"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "RQ_QUEUE_PREFIX") and not key.startswith("PYTEST_")
    }
    env.update(
        DATABASE_URL=f"sqlite:///{database}",
        REDIS_URL="",
        ROSTER_DATA_DIR=str(tmp_path / "data"),
        DEBUG="false",
        ALLOWED_HOSTS="testserver",
        LIST_MAX_MEMBERS="4",
    )
    manage(env, "migrate", "--noinput", "-v", "0")
    output = manage(env, "shell", "-c", SHELL_CONTACTS).strip().splitlines()[-1]
    list_id, created, added, refused_status, refused_code, removed = json.loads(output)
    assert created == {"added": 2, "invalid": 1, "skipped": 0, "duplicated": 1}
    assert added == {"added": 1, "invalid": 1, "skipped": 1, "duplicated": 0}
    assert (refused_status, refused_code) == (409, "LIST_SIZE_LIMIT_EXCEEDED")
    assert removed == {"deleted": 1, "invalid": 0, "skipped": 1, "duplicated": 0}
    with sqlite3.connect(database) as db:
        emails = [row[0] for row in db.execute("SELECT email FROM subscribers_subscriber ORDER BY email")]
        members = db.execute(
            "SELECT s.email FROM audiences_listmembership AS m JOIN audiences_marketinglist AS l "
            "ON l.id = m.marketing_list_id JOIN subscribers_subscriber AS s ON s.id = m.subscriber_id "
            "WHERE l.public_id = ? ORDER BY s.email",
            [list_id],
        ).fetchall()
    assert emails == ["New@example.com", "ann@example.com", "cy@example.com"]
    assert [row[0] for row in members] == ["New@example.com", "cy@example.com"]
