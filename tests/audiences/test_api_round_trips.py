"""What GET answers can be sent back (issue 8, point 7): audiences, their rules, lists (with their jobs), list
composition and archive, and loyalty-tier groups. PUT of a body read with GET succeeds and changes nothing; POST of
one with its name changed creates the same thing. Unknown keys: tests/core/test_request_bodies.py."""

import pytest

from audiences.models import Audience, MarketingList
from imports.models import ImportJob
from tests.api_assertions import assert_error, created_id
from tests.imports.test_engine import upload

RECORD_KEYS = ("id", "created_at", "updated_at", "version")
RULES = {
    "match": "any",
    "negate": False,
    "conditions": [
        {"field": "email", "operation": "like", "value": "@example.com", "window": None},
        {"match": "all", "negate": True, "conditions": [
            {"field": "active", "operation": "eq", "value": False, "window": None}]},
    ],
}  # fmt: skip


def without(body: dict, *names: str) -> dict:
    return {key: value for key, value in body.items() if key not in names}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def test_an_audience_and_its_rules_round_trip(api):
    audience = created_id(api.post("/api/audiences", {"name": "Fans", "rules": RULES}))
    path = f"/api/audiences/{audience}"
    read, rules = api.get(path).json(), api.get(f"{path}/rules").json()

    assert created_id(api.put(path, read)) == audience
    assert api.post(f"{path}/rules", rules).status_code == 200

    assert api.get(path).json() == read  # same version: nothing changed, no recount
    assert api.get(f"{path}/rules").json() == rules
    copy = created_id(api.post("/api/audiences", {**read, "name": "Fans again", "rules": rules["rules"]}))
    assert api.get(f"/api/audiences/{copy}/rules").json()["rules"] == rules["rules"]


def test_a_list_with_jobs_round_trips_without_starting_them_again(api):
    audience = created_id(api.post("/api/audiences", {"name": "Fans"}))
    job = {"file_url": upload([["email"], ["ann@example.com"]]), "import_type": "create_only"}
    list_id = created_id(api.post("/api/lists", {"name": "VIP", "mode": "static", "audience_id": audience,
                                                 "jobs": [job]}))  # fmt: skip
    path = f"/api/lists/{list_id}"
    read = api.get(path).json()
    assert len(read["jobs"]) == 1

    assert created_id(api.put(path, read)) == list_id

    assert api.get(path).json() == read
    assert ImportJob.objects.count() == 1
    copy = created_id(api.post("/api/lists", {**read, "name": "VIP 2"}))
    assert without(api.get(f"/api/lists/{copy}").json(), *RECORD_KEYS) == {**without(read, *RECORD_KEYS),
                                                                            "name": "VIP 2", "jobs": []}  # fmt: skip
    assert ImportJob.objects.count() == 1


def test_a_row_of_the_list_page_is_taken_back_too(api):
    list_id = created_id(api.post("/api/lists", {"name": "VIP", "mode": "static", "audience_id": "aud_default"}))
    [row] = api.post("/api/lists/list", {}).json()["results"]
    assert "audience_name" in row

    assert created_id(api.put(f"/api/lists/{list_id}", row)) == list_id
    assert MarketingList.objects.get(public_id=list_id).version == 1


def test_a_list_job_naming_another_file_is_started_alongside_the_echoed_ones(api):
    list_id = created_id(api.post("/api/lists", {"name": "VIP", "mode": "static", "audience_id": "aud_default",
                                                 "jobs": [{"file_url": upload([["email"], ["a@example.com"]]),
                                                           "import_type": "create_only"}]}))  # fmt: skip
    read = api.get(f"/api/lists/{list_id}").json()
    new_job = {"file_url": upload([["email"], ["b@example.com"]]), "import_type": "create_update"}

    assert api.put(f"/api/lists/{list_id}", {**read, "jobs": [*read["jobs"], new_job]}).status_code == 200

    assert ImportJob.objects.count() == 2


def test_composition_round_trips_and_its_archived_flag_is_taken(api):
    list_id = created_id(api.post("/api/lists", {"name": "VIP", "mode": "static", "audience_id": "aud_default"}))
    other = created_id(api.post("/api/lists", {"name": "Other", "mode": "static", "audience_id": "aud_default"}))
    path = f"/api/lists/{list_id}/composition"
    read = api.put(path, {"include_lists": [other], "is_suppression": True}).json()

    assert api.put(path, read).json() == read  # same version: nothing changed

    archived = api.put(path, {**read, "archived": True}).json()
    assert (archived["archived"], archived["version"]) == (True, read["version"] + 1)
    assert MarketingList.objects.get(public_id=list_id).archived
    answer = api.post(f"/api/lists/{list_id}/archive", {"id": list_id, "archived": False}).json()
    assert answer == {"id": list_id, "archived": False}


def test_a_loyalty_tier_group_read_with_get_round_trips(api):
    created = api.post(
        "/api/audiences/loyalty-tiers",
        {"name": "Buyers", "value_field": "engagement.purchases",
         "tiers": [{"name": "Some", "min": 1}, {"name": "Many", "min": 5, "priority": 9}]},
    ).json()  # fmt: skip
    path = f"/api/audiences/groups/{created['id']}"
    read = api.get(path).json()
    versions = dict(Audience.objects.filter(group__isnull=False).values_list("public_id", "version"))

    answer = api.put(f"/api/audiences/loyalty-tiers/{created['id']}", read)

    assert answer.status_code == 200, answer.json()
    assert answer.json() == created
    assert api.get(path).json() == read
    assert dict(Audience.objects.filter(group__isnull=False).values_list("public_id", "version")) == versions

    renamed = [{**tier, "name": f"{tier['name']} 2"} for tier in read["audiences"]]
    copy = api.post("/api/audiences/loyalty-tiers", {**read, "name": "Buyers 2", "audiences": renamed})
    assert copy.status_code == 200, copy.json()
    tiers = [(t["name"], t["min"], t["max"], t["priority"]) for t in copy.json()["audiences"]]
    assert tiers == [("Some 2", 1, 5, 1), ("Many 2", 5, None, 9)]


def test_a_group_body_may_not_give_both_tiers_and_audiences(api):
    tiers = [{"name": "Some", "min": 1}]
    body = {"name": "Buyers", "value_field": "engagement.purchases", "tiers": tiers, "audiences": tiers}

    assert_error(api.post("/api/audiences/loyalty-tiers", body), 400, "INVALID_AUDIENCE", "audiences")
