"""The embedded mode `make run` uses (SQLite, jobs in-process, no Redis), run for real in a subprocess: the suite
itself runs on PostgreSQL, and SQLite's SQL differs in the places that matter (upserts, JSON)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """
from django.db import transaction
from audiences.selectors import audience_members
from audiences.services import audience_create, list_create
from subscribers.services import custom_field_create, subscriber_create

custom_field_create(name="lifetime_value", field_type="number")
for index, value in enumerate([50, 1500, 7000, "n/a"]):
    subscriber_create(email=f"s{index}@example.com", first_name="S", additional_fields_data={"note": str(value)}
                      if value == "n/a" else {"lifetime_value": value})
with transaction.atomic():
    audience = audience_create(name="Big spenders", rules={"match": "all", "conditions": [
        {"field": "additional_fields_data.lifetime_value", "operation": "gte", "value": 1000}]})
audience.refresh_from_db()
dynamic = list_create(name="Big spenders list", mode="dynamic", audience=audience)
subscriber_create(email="late@example.com", first_name="L", additional_fields_data={"lifetime_value": 9000})
print("RESULT", audience.status, audience_members(audience).count())
"""


def test_rule_audiences_materialize_in_process_on_sqlite(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "REDIS_URL")}
    env |= {"DEBUG": "true", "SECRET_KEY": "embedded-test", "ROSTER_DATA_DIR": str(tmp_path)}
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True, timeout=120)
    done = subprocess.run(
        [*manage, "shell", "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert "RESULT ready 3" in done.stdout, done.stdout + done.stderr
    assert (tmp_path / "roster.sqlite3").exists()
