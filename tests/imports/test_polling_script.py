"""The README's copy of seed 000's "Monitor Import Job Progress" script, run with bash, curl and jq against a live
server with only its host, key and list changed: it shows the total from the first poll, follows the job to its end
and stops on `failed` (saying why) as on `completed` and `cancelled`."""

import re
import subprocess
from pathlib import Path

import pytest

from core.models import ALL_SCOPES
from core.services import api_key_create
from imports.models import ImportJob
from tests.imports.test_engine import SEED_MAPPING, SEED_ROWS, upload
from tests.imports.test_jobs_api import TRANSACTIONAL, make_list, worker  # noqa: F401 - the worker fixture

README = Path(__file__).resolve().parents[2] / "README.md"
SCRIPT_TIMEOUT_SECONDS = 30


def polling_script() -> str:
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)
    [script] = [block for block in blocks if "jobs?limit=1" in block]
    return script


def run_script(live_server, key: str, list_id: str) -> subprocess.Popen:
    script = polling_script()
    for name, value in (("ROSTER_URL", live_server.url), ("API_KEY", key), ("LIST_ID", list_id)):
        script, replaced = re.subn(rf'^{name}=".*"$', f'{name}="{value}"', script, count=1, flags=re.M)
        assert replaced == 1, f"the README's script sets no {name}"
    return subprocess.Popen(  # noqa: S603 - bash runs the README's script
        ["bash", "-c", script],  # noqa: S607
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "POLL_SECONDS": "0.1"},
    )


@pytest.fixture
def key(db) -> str:
    return api_key_create(name="polling script", scopes=list(ALL_SCOPES))[1]


@TRANSACTIONAL
def test_the_script_follows_a_job_from_pending_to_completed(live_server, api, key, worker):  # noqa: F811
    list_id = make_list(api)
    body = {"file_url": upload(SEED_ROWS), "import_type": "create_update", "columns_mapping": SEED_MAPPING}
    assert api.post(f"/api/lists/{list_id}/import", body).status_code == 200

    script = run_script(live_server, key, list_id)
    assert script.stdout.readline() == "Status: pending | Progress: 0/3\n"  # counted from the start, as the seed shows
    worker.run()
    output, errors = script.communicate(timeout=SCRIPT_TIMEOUT_SECONDS)

    assert output.splitlines()[-5:] == [
        "Status: completed | Progress: 3/3",
        "Import completed",
        "Created: 3",
        "Updated: 0",
        "Errors: 0",
    ], errors
    assert script.returncode == 0


@TRANSACTIONAL
def test_the_script_stops_on_a_failed_job_and_says_why(live_server, api, key, worker):  # noqa: F811
    list_id = make_list(api)
    api.post(f"/api/lists/{list_id}/import", {"file_url": upload([["name"], ["Ann"]]), "import_type": "create_only"})
    worker.run()
    reason = ImportJob.objects.get().failure_reason
    assert reason

    script = run_script(live_server, key, list_id)
    output, errors = script.communicate(timeout=SCRIPT_TIMEOUT_SECONDS)

    assert output.splitlines() == [
        "Status: failed | Progress: 0/1",
        "Import failed",
        f"Reason: {reason}",
        "Created: 0",
        "Updated: 0",
        "Errors: 0",
    ], errors
    assert script.returncode == 1


@TRANSACTIONAL
def test_the_script_stops_on_a_cancelled_job(live_server, api, key, worker):  # noqa: F811
    list_id = make_list(api)
    body = {"file_url": upload(SEED_ROWS), "import_type": "create_update", "columns_mapping": SEED_MAPPING}
    job = api.post(f"/api/lists/{list_id}/import", body).json()
    assert api.post(f"/api/lists/{list_id}/jobs/{job['id']}/cancel").json()["status"] == "cancelled"

    output, errors = run_script(live_server, key, list_id).communicate(timeout=SCRIPT_TIMEOUT_SECONDS)

    assert output.splitlines()[:3] == [
        "Status: cancelled | Progress: 0/3",
        "Import cancelled",
        "Reason: Cancelled on request",
    ], errors


@TRANSACTIONAL
def test_the_script_stops_when_there_is_no_job_to_follow(live_server, key):
    script = run_script(live_server, key, "list_doesNotExist1")
    output, errors = script.communicate(timeout=SCRIPT_TIMEOUT_SECONDS)
    assert script.returncode == 1 and output == ""
    assert errors.startswith("No job to follow: ") and "LIST_NOT_FOUND" in errors
