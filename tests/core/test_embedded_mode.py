"""The embedded mode `make run` uses (SQLite, jobs in-process, no Redis), run for real in a subprocess: the suite
itself runs on PostgreSQL, and SQLite's SQL differs in the places that matter (upserts, JSON)."""

from tests.embedded import embedded_script_result

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
import json
print("RESULT", json.dumps([audience.status, audience_members(audience).count()]))
"""


def test_rule_audiences_materialize_in_process_on_sqlite(tmp_path):
    assert embedded_script_result(tmp_path, SCRIPT) == ["ready", 3]
    assert (tmp_path / "roster.sqlite3").exists()
