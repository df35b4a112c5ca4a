"""One audience cannot break every write, in embedded mode (issue 8, point 3b): SQLite, as `make run` starts Roster.

The issue's report: after one audience with rules SQLite cannot evaluate, every subscriber write, the public one-click
unsubscribe included, answered 500. Such rules need not be huge: one condition `additional_fields_data.<key> in [1,000
values]` (well within every limit) compiles to an expression SQLite refuses ("Expression tree is too large"). Run for
real in a subprocess on a fresh SQLite file, through the API and the public page, with jobs in-process."""

from tests.embedded import embedded_script_result

SCRIPT = """
import json
from django.test import Client
from django.urls import reverse
from audiences.models import Audience
from core.services import api_key_create
from preferences.tokens import Purpose, make_token
from subscribers.models import Subscriber

_, key = api_key_create(name="embedded")
api = Client(HTTP_HOST="localhost", HTTP_X_API_KEY=key)
out = {}

def call(method, path, body=None):
    response = getattr(api, method)(path, json.dumps(body), content_type="application/json") if body is not None \\
        else getattr(api, method)(path)
    return response.status_code, response.json()

def status(audience_id):
    return call("get", f"/api/audiences/{audience_id}/status")[1]

def members(audience_id):
    return {row["id"] for row in call("get", f"/api/audiences/{audience_id}/members?first=100")[1]["results"]}

call("post", "/api/custom-fields", {"name": "company", "type": "string"})
ann = call("post", "/api/subscribers", {"email": "ann@example.com", "first_name": "Ann",
                                        "additional_fields_data": {"company": "c1"}})[1]["id"]
bob = call("post", "/api/subscribers", {"email": "bob@example.com", "first_name": "Bob"})[1]["id"]
active = call("post", "/api/audiences", {"name": "Active", "rules": {"match": "all", "conditions": [
    {"field": "active", "operation": "eq", "value": True}]}})[1]["id"]
robs = call("post", "/api/audiences", {"name": "Robs", "rules": {"match": "all", "conditions": [
    {"field": "first_name", "operation": "eq", "value": "Rob"}]}})[1]["id"]
too_complex = {"match": "all", "conditions": [
    {"field": "additional_fields_data.company", "operation": "in", "value": [f"c{i}" for i in range(1000)]}]}

# Created through the API: its in-process materialization fails, and marks it.
out["create"] = call("post", "/api/audiences", {"name": "Companies", "rules": too_complex})
companies = out["create"][1]["id"]
out["companies_status"] = status(companies)

# Rules stored before they were checked (as an older Roster accepted them) fail in the request instead.
earlier = call("post", "/api/audiences", {"name": "Earlier", "rules": {"match": "all", "conditions": [
    {"field": "additional_fields_data.company", "operation": "eq", "value": "c1"}]}})[1]["id"]
out["earlier_before"] = [status(earlier)["status"], sorted(members(earlier)) == [ann]]
Audience.objects.filter(public_id=earlier).update(rules=too_complex)

out["update"] = call("put", f"/api/subscribers/{bob}", {"first_name": "Rob"})
out["earlier_status"] = status(earlier)
out["robs"] = sorted(members(robs)) == [bob]

token = make_token(Purpose.UNSUBSCRIBE, Subscriber.objects.get(public_id=ann))
page = Client(HTTP_HOST="localhost").post(reverse("preferences:unsubscribe", args=[token]),
                                         {"List-Unsubscribe": "One-Click"})
out["one_click"] = page.status_code
out["active"] = sorted(members(active)) == [bob]
out["companies_after"] = status(companies)["status"]
out["explain"] = call("get", f"/api/audiences/{companies}/members/{ann}/explain")

from django.contrib.auth import get_user_model
staff = Client(HTTP_HOST="localhost")
staff.force_login(get_user_model().objects.create_superuser("staff", "staff@example.com", "unused-password"))
preview = staff.post(reverse("admin:audiences_audience_preview"), json.dumps({"rules": too_complex}),
                     content_type="application/json")
out["preview"] = [preview.status_code, preview.json()]
print("RESULT " + json.dumps(out))
"""


def test_rules_sqlite_cannot_evaluate_fail_their_audience_not_the_writes(tmp_path):
    out = embedded_script_result(tmp_path, SCRIPT)

    assert out["create"][0] == 200
    assert out["companies_status"]["status"] == "failed"
    assert "Expression tree is too large" in out["companies_status"]["failure_reason"]
    assert out["earlier_before"] == ["ready", True]
    assert out["update"] == [200, {"id": out["update"][1]["id"]}]
    assert out["earlier_status"]["status"] == "failed"
    assert "for a changed subscriber" in out["earlier_status"]["failure_reason"]
    assert "Expression tree is too large" in out["earlier_status"]["failure_reason"]
    assert out["robs"] is True  # the other audiences were refreshed in the same write
    assert out["one_click"] == 200
    assert out["active"] is True  # ann left "Active" when she unsubscribed from everything
    assert out["companies_after"] == "failed"
    status, body = out["explain"]  # explaining a member answers why it cannot, not a server error
    assert (status, body["code"]) == (409, "INVALID_AUDIENCE")
    assert "Expression tree is too large" in body["issues"][0]["message"]
    status, body = out["preview"]  # so does the segment builder's live count of such rules
    assert (status, body["code"]) == (409, "INVALID_AUDIENCE")
    assert "Expression tree is too large" in body["issues"][0]["message"]
