"""Running Roster in the embedded mode `make run` uses (SQLite, jobs in-process, no Redis) in a subprocess: the suite
itself runs on PostgreSQL, and SQLite's SQL differs in the places that matter (upserts, JSON, expression limits)."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULT = "RESULT "


def embedded_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """This process's environment without the suite's database, Redis and xdist settings: a Roster keeping its SQLite
    file in `data_dir`, with `settings` on top."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "RQ_QUEUE_PREFIX") and not key.startswith("PYTEST_")
    }
    return (
        env
        | {"DEBUG": "true", "SECRET_KEY": "embedded-test", "ROSTER_DATA_DIR": str(data_dir), "REDIS_URL": ""}
        | settings
    )


def embedded_script_result(data_dir: Path, script: str, **settings: str) -> Any:
    """Migrate a fresh embedded Roster in `data_dir`, run `script` in its `manage.py shell`, and answer the JSON the
    script printed after "RESULT "."""
    env = embedded_env(data_dir, **settings)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)  # noqa: S603
    done = subprocess.run(  # noqa: S603 - our own manage.py
        [*manage, "shell", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next((line for line in done.stdout.splitlines() if line.startswith(RESULT)), None)
    assert line is not None, done.stdout + done.stderr[-3000:]
    return json.loads(line.removeprefix(RESULT))
