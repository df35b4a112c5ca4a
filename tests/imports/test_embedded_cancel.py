"""Cancelling a running import in embedded mode: a real `runserver` on a fresh SQLite file, no REDIS_URL, so the import
runs in-process in the request that started it while other requests (other threads, other connections) cancel it.

SQLite allows one writer at a time: the import's batches and the cancel must queue for the write lock, never fail on
it ("database is locked", SQLITE_BUSY on a deferred transaction's upgrade), whatever the timing."""

import socket
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.imports.test_embedded_mode import ROOT, embedded_env, manage

ROWS = 4000
BATCH_SIZE = 100
ROUNDS = 3
CANCELS_PER_ROUND = 6
DEADLINE_SECONDS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition, what: str):
    """Poll `condition` until it answers something truthy; fail after DEADLINE_SECONDS."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if answer := condition():
            return answer
        time.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")


class EmbeddedServer:
    def __init__(self, tmp_path: Path) -> None:
        self.database = tmp_path / "db.sqlite3"
        env = embedded_env(tmp_path, self.database)
        env.update(
            IMPORT_BATCH_SIZE=str(BATCH_SIZE),
            IMPORT_BATCH_PAUSE_SECONDS="0.01",  # time between batches for the cancels to land in and between
            ALLOWED_HOSTS="127.0.0.1",
        )
        manage(env, "migrate", "--noinput", "-v", "0")
        self.key = manage(env, "create_api_key", "embedded-cancel").strip().splitlines()[-1]
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.log = (tmp_path / "server.log").open("w")
        self.process = subprocess.Popen(  # noqa: S603 - our own manage.py
            [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env={**env, "PUBLIC_BASE_URL": self.url},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(self._answers, "runserver to start")

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            pytest.fail(f"runserver exited: {self.log_text()}")
        try:
            return requests.get(f"{self.url}/api/schema/", timeout=5).status_code == 200
        except requests.ConnectionError:
            return False

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()[-5000:]

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        # A connection per request (a Session is not meant to be shared by threads).
        headers = {"X-API-Key": self.key}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=DEADLINE_SECONDS, **kwargs)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture
def server(tmp_path):
    server = EmbeddedServer(tmp_path)
    yield server
    server.stop()


def start_import(server: EmbeddedServer, round_number: int) -> tuple[str, object]:
    """Create a list, upload its file and start the import in a thread (the request lasts as long as the import)."""
    response = server.request(
        "POST", "/api/lists", json={"name": f"Round {round_number}", "mode": "static", "audience_id": "aud_default"}
    )
    assert response.status_code == 200, response.text
    list_id = response.json()["id"]
    rows = "\n".join(["email", *(f"r{round_number}-{i}@example.com" for i in range(ROWS))]) + "\n"
    uploaded = server.request("POST", "/api/uploads", files={"file": ("people.csv", rows.encode(), "text/csv")})
    assert uploaded.status_code == 200, uploaded.text
    body = {"file_url": uploaded.json()["file_url"], "import_type": "create_only"}
    pool = ThreadPoolExecutor(1)
    started = pool.submit(server.request, "POST", f"/api/lists/{list_id}/import", json=body)
    pool.shutdown(wait=False)
    return list_id, started


def test_cancelling_a_running_import_never_fails_and_keeps_the_committed_batches(server):
    created = 0
    for round_number in range(ROUNDS):
        list_id, started = start_import(server, round_number)

        def running(list_id=list_id):
            jobs = server.request("GET", f"/api/lists/{list_id}/jobs?limit=1").json()["results"]
            return jobs and jobs[0]["status"] == "processing" and jobs[0]["processed_rows"] >= BATCH_SIZE and jobs[0]

        job = wait_for(running, "the import to be running")
        cancel = f"/api/lists/{list_id}/jobs/{job['id']}/cancel"
        # Several at once, as impatient users and retrying clients send them, while the batches go on writing.
        with ThreadPoolExecutor(CANCELS_PER_ROUND) as pool:
            answers = list(pool.map(server.request, ["POST"] * CANCELS_PER_ROUND, [cancel] * CANCELS_PER_ROUND))
        for answer in answers:
            assert answer.status_code in (200, 400), (answer.status_code, answer.text, server.log_text())
            if answer.status_code == 400:  # a later cancel, once the job stopped
                assert answer.json()["code"] == "VALIDATION_ERROR", answer.text
        assert any(answer.status_code == 200 for answer in answers)

        assert started.result(timeout=DEADLINE_SECONDS).status_code == 200
        job = server.request("GET", f"/api/lists/{list_id}/jobs/{job['id']}").json()
        assert job["status"] == "cancelled", (job, server.log_text())
        assert job["total_rows"] == ROWS
        assert 0 < job["processed_rows"] < ROWS and job["processed_rows"] % BATCH_SIZE == 0
        assert job["created_contacts"] == job["processed_rows"]
        created += job["created_contacts"]

    server.stop()
    with sqlite3.connect(server.database) as db:
        assert db.execute("SELECT count(*) FROM subscribers_subscriber").fetchone()[0] == created
        assert db.execute("SELECT count(*) FROM audiences_listmembership").fetchone()[0] == created
