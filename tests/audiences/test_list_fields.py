"""Issue 16, point 8: seed 003's list fields on Roster's lists. GET one list and the items of the list page carry
`archived`, `size` (the members it has now, counted as its members page counts them) and `created_by` (the API key's
name, the staff user's username, "system", or null for lists made before it was recorded)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audiences.models import DEFAULT_AUDIENCE_ID, Audience, MarketingList
from audiences.services import list_create
from core.services import api_key_create
from tests.api_assertions import created_id
from tests.audiences.conftest import list_member_ids
from tests.conftest import RosterClient

pytestmark = pytest.mark.django_db


def make_list(api, name: str, mode: str = "static", audience_id: str = DEFAULT_AUDIENCE_ID) -> str:
    return created_id(api.post("/api/lists", {"name": name, "mode": mode, "audience_id": audience_id}))


def make_subscriber(api, email: str, *, lists=(), audiences=()) -> str:
    body = {"first_name": "Pat", "email": email, "lists": list(lists), "audiences": list(audiences)}
    return created_id(api.post("/api/subscribers", body))


def page_rows(api, **request) -> dict[str, dict]:
    response = api.post("/api/lists/list", {"page": 1, "limit": 100, **request})
    assert response.status_code == 200, response.json()
    return {row["id"]: row for row in response.json()["results"]}


@pytest.fixture
def lists(api) -> dict[str, str]:
    """A list of each kind the selector tells apart, with members: plain static, dynamic, dynamic on everyone,
    composed (an inclusion and an exclusion), an empty one and an archived one."""
    vip = created_id(api.post("/api/audiences", {"name": "VIP"}))
    ids = {
        "static": make_list(api, "Static"),
        "dynamic": make_list(api, "Dynamic", "dynamic", vip),
        "everyone": make_list(api, "Everyone", "dynamic"),
        "composed": make_list(api, "Composed"),
        "empty": make_list(api, "Empty"),
        "archived": make_list(api, "Archived"),
    }
    make_subscriber(api, "a@example.com", lists=[ids["static"], ids["archived"]], audiences=[vip])
    make_subscriber(api, "b@example.com", lists=[ids["static"], ids["composed"]])
    make_subscriber(api, "c@example.com", lists=[ids["static"]], audiences=[vip])
    make_subscriber(api, "d@example.com")
    api.put(f"/api/lists/{ids['composed']}/composition", {"include_audiences": [vip], "exclude_lists": [ids["static"]]})
    api.post(f"/api/lists/{ids['archived']}/archive", {"archived": True})
    return ids


EXPECTED_SIZES = {"static": 3, "dynamic": 2, "everyone": 4, "composed": 0, "empty": 0, "archived": 1}


def test_size_is_the_member_count_on_the_page_and_on_the_list(api, lists):
    rows = page_rows(api)

    for name, list_id in lists.items():
        members = len(list_member_ids(api, list_id))
        assert rows[list_id]["size"] == api.get(f"/api/lists/{list_id}").json()["size"] == members, name
        assert members == EXPECTED_SIZES[name], name


def test_size_follows_the_members(api, lists):
    make_subscriber(api, "late@example.com", lists=[lists["empty"]])
    api.put(f"/api/lists/{lists['composed']}/composition", {"exclude_lists": []})

    rows = page_rows(api)

    assert rows[lists["empty"]]["size"] == 1
    assert rows[lists["composed"]]["size"] == 3  # b by its row, a and c through the VIP audience


def test_archived_is_on_the_page_and_on_the_list(api, lists):
    rows = page_rows(api)

    assert {list_id for list_id, row in rows.items() if row["archived"]} == {lists["archived"]}
    assert api.get(f"/api/lists/{lists['archived']}").json()["archived"] is True
    assert api.get(f"/api/lists/{lists['static']}").json()["archived"] is False


def test_created_by_names_the_api_key_the_staff_user_or_the_system(api, admin_client):
    _, raw = api_key_create(name="crm-sync")
    by_key = make_list(RosterClient(raw), "By key")
    default = Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID)
    added = admin_client.post(
        reverse("admin:audiences_marketinglist_add"), {"name": "By staff", "mode": "static", "audience": default.pk}
    )
    assert added.status_code == 302
    by_staff = MarketingList.objects.get(name="By staff").public_id
    by_system = list_create(name="By a command", mode="static", audience=default).public_id
    older = list_create(name="Older", mode="static", audience=default)
    MarketingList.objects.filter(pk=older.pk).update(created_by="")  # as migration 0009 leaves existing lists

    rows = page_rows(api)

    expected = {by_key: "crm-sync", by_staff: "admin", by_system: "system", older.public_id: None}
    assert {list_id: rows[list_id]["created_by"] for list_id in expected} == expected
    assert {list_id: api.get(f"/api/lists/{list_id}").json()["created_by"] for list_id in expected} == expected


def test_a_get_body_put_back_changes_nothing(api, lists):
    list_id = lists["archived"]
    got = api.get(f"/api/lists/{list_id}").json()

    response = api.put(f"/api/lists/{list_id}", got)

    assert response.status_code == 200, response.json()
    assert api.get(f"/api/lists/{list_id}").json() == got


def test_a_page_row_put_back_changes_nothing(api, lists):
    row = page_rows(api)[lists["static"]]

    response = api.put(f"/api/lists/{lists['static']}", row)

    assert response.status_code == 200, response.json()
    assert page_rows(api)[lists["static"]] == row


def test_the_create_answer_stays_the_id(api):
    response = api.post("/api/lists", {"name": "New", "mode": "static", "audience_id": DEFAULT_AUDIENCE_ID})
    assert set(response.json()) == {"id"}


def queries_for_page(api) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = api.post("/api/lists/list", {"page": 1, "limit": 100})
    assert response.status_code == 200
    return len(queries)


def test_the_list_page_runs_as_many_queries_for_many_lists_as_for_a_few(api, lists):
    api.post("/api/lists/list", {"page": 1, "limit": 1})  # the key's last use is written once a minute at most
    few = queries_for_page(api)
    vip = next(row["audience_id"] for row in page_rows(api).values() if row["name"] == "Dynamic")
    for index in range(4):  # four more of each kind
        make_list(api, f"Static {index}")
        make_list(api, f"Dynamic {index}", "dynamic", vip)
        make_list(api, f"Everyone {index}", "dynamic")
        composed = make_list(api, f"Composed {index}")
        api.put(f"/api/lists/{composed}/composition", {"include_audiences": [vip], "exclude_lists": [lists["static"]]})

    many = queries_for_page(api)

    assert len(page_rows(api)) == 22
    # key, count, page with audiences, the composition of composed lists (4 prefetches), every size in one query
    assert many == few <= 8
