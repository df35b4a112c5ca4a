"""Issue 16, points 3, 4 and 8 in embedded mode (SQLite, jobs in-process, as `make run` starts Roster): the set-based
SQL that turns a dynamic list's members into rows and counts every list's size in one query runs on SQLite too.
Run for real in a subprocess on a fresh SQLite file, through the API."""

from tests.embedded import embedded_script_result

SCRIPT = """
import json
from django.test import Client
from core.services import api_key_create

_, key = api_key_create(name="embedded")
api = Client(HTTP_HOST="localhost", HTTP_X_API_KEY=key)

def call(method, path, body=None):
    response = getattr(api, method)(path, json.dumps(body), content_type="application/json") if body is not None \\
        else getattr(api, method)(path)
    return response.status_code, response.json()

def members(list_id):
    return sorted(row["id"] for row in call("get", f"/api/lists/{list_id}/members?first=100")[1]["results"])

rich = call("post", "/api/audiences", {"name": "Rich", "rules": {"match": "all", "conditions": [
    {"field": "first_name", "operation": "eq", "value": "Rich"}]}})[1]["id"]
ids = [call("post", "/api/subscribers", {"email": f"r{i}@example.com", "first_name": "Rich"})[1]["id"]
       for i in range(3)]
call("post", "/api/subscribers", {"email": "p@example.com", "first_name": "Poor"})
dynamic = call("post", "/api/lists", {"name": "Rich list", "mode": "dynamic", "audience_id": rich})[1]["id"]
flipped = call("post", "/api/lists", {"name": "Flipped", "mode": "dynamic", "audience_id": rich})[1]["id"]
out = {"before": members(dynamic)}
out["switch"] = call("put", f"/api/lists/{flipped}", {"mode": "static"})[0]
out["delete"] = call("delete", f"/api/audiences/{rich}")
out["after"] = members(dynamic)
out["flipped"] = members(flipped)
page = call("post", "/api/lists/list", {"page": 1, "limit": 10})[1]["results"]
out["sizes"] = sorted((row["name"], row["mode"], row["size"]) for row in page)
out["history"] = [entry["kind"] for entry in call("get", f"/api/lists/{dynamic}/history")[1]["results"]]
out["ids"] = sorted(ids)
print("RESULT", json.dumps(out))
"""


def test_audience_delete_and_mode_switch_keep_members_on_sqlite(tmp_path):
    out = embedded_script_result(tmp_path, SCRIPT)
    assert out["before"] == out["after"] == out["flipped"] == out["ids"]
    assert out["switch"] == 200
    assert out["delete"][0] == 200, out["delete"]
    assert out["sizes"] == [["Flipped", "static", 3], ["Rich list", "static", 3]]
    assert out["history"] == ["audience_deleted_made_static"]
