"""Growth over time (seed 000, "Monitor Changes: Track membership fluctuations"): GET /api/audiences/{id}/growth and
GET /api/lists/{id}/growth answer the daily counts the worker records and the admin's growth chart draws."""

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from audiences.models import DEFAULT_AUDIENCE_ID, Audience, AudienceDailyCount, ListDailyCount, MarketingList
from audiences.tasks import record_daily_counts
from tests.api_assertions import assert_error, created_id

pytestmark = pytest.mark.django_db


def audience_pk(public_id: str) -> int:
    return Audience.objects.get(public_id=public_id).pk


def make_subscriber(api, email: str, **extra) -> str:
    return created_id(api.post("/api/subscribers", {"first_name": "A", "email": email, **extra}))


@pytest.fixture
def catalog(api) -> dict[str, str]:
    """An audience with three manual members (one inactive), a static list of two of them, a dynamic list on the
    audience, and a static list composed of the static list minus a suppression list holding one of them."""
    audience = created_id(api.post("/api/audiences", {"name": "Customers"}))
    static = created_id(api.post("/api/lists", {"name": "VIP", "mode": "static", "audience_id": audience}))
    dynamic = created_id(api.post("/api/lists", {"name": "All customers", "mode": "dynamic", "audience_id": audience}))
    suppression = created_id(api.post("/api/lists", {"name": "Do not contact", "mode": "static",
                                                     "audience_id": DEFAULT_AUDIENCE_ID}))  # fmt: skip
    composed = created_id(api.post("/api/lists", {"name": "VIP minus DNC", "mode": "static", "audience_id": audience}))
    ann = make_subscriber(api, "ann@example.com", audiences=[audience], lists=[static])
    bob = make_subscriber(api, "bob@example.com", audiences=[audience], lists=[static, suppression], active=False,
                          inactive_reason="bounced")  # fmt: skip
    make_subscriber(api, "cy@example.com", audiences=[audience])
    make_subscriber(api, "dee@example.com")
    for list_id, body in (
        (suppression, {"is_suppression": True}),
        (composed, {"include_lists": [static], "exclude_lists": [suppression]}),
    ):
        assert api.put(f"/api/lists/{list_id}/composition", body).status_code == 200
    return {"audience": audience, "static": static, "dynamic": dynamic, "suppression": suppression,
            "composed": composed, "ann": ann, "bob": bob}  # fmt: skip


def growth(api, path: str, **params) -> dict:
    response = api.get(path, params)
    assert response.status_code == 200, response.json()
    return response.json()


def members_total(api, list_id: str) -> int:
    return api.get(f"/api/lists/{list_id}/members").json()["total"]


def test_audience_growth_answers_the_recorded_days_oldest_first_leaving_gaps_out(api, catalog):
    audience_id = catalog["audience"]
    today = timezone.localdate()
    for days_ago, members in ((40, 1), (29, 2), (10, 3), (9, 5), (2, 4)):  # no record 8 to 3 days ago, nor today
        AudienceDailyCount.objects.create(
            audience_id=audience_pk(audience_id), day=today - dt.timedelta(days=days_ago),
            member_count=members, reachable_count=members - 1,
        )  # fmt: skip

    body = growth(api, f"/api/audiences/{audience_id}/growth")

    assert body == {
        "id": audience_id,
        "days": 30,
        "results": [
            {"date": (today - dt.timedelta(days=days_ago)).isoformat(), "count": count, "reachable": count - 1}
            for days_ago, count in ((29, 2), (10, 3), (9, 5), (2, 4))
        ],
    }
    assert [row["count"] for row in growth(api, f"/api/audiences/{audience_id}/growth", days=10)["results"]] == [5, 4]
    assert growth(api, f"/api/audiences/{audience_id}/growth", days=1)["results"] == []
    assert len(growth(api, f"/api/audiences/{audience_id}/growth", days=366)["results"]) == 5

    # Once the worker records today, today is the last day, with the audience's count as the count endpoint says.
    record_daily_counts()
    last = growth(api, f"/api/audiences/{audience_id}/growth", days=1)["results"]
    count = api.get(f"/api/audiences/{audience_id}/count").json()
    assert last == [{"date": today.isoformat(), "count": count["count"], "reachable": count["reachable"]}]
    assert (count["count"], count["reachable"]) == (3, 2)  # bob is inactive (and suppressed)


def test_the_worker_records_every_lists_count_as_its_members_page_counts_it(api, catalog):
    lists = [catalog[name] for name in ("static", "dynamic", "suppression", "composed")]
    for list_id in lists:
        assert growth(api, f"/api/lists/{list_id}/growth")["results"] == []  # nothing recorded yet

    record_daily_counts()

    today = timezone.localdate().isoformat()
    for list_id in lists:
        [day] = growth(api, f"/api/lists/{list_id}/growth", days=7)["results"]
        assert (day["date"], day["count"]) == (today, members_total(api, list_id))
    counts = {name: growth(api, f"/api/lists/{catalog[name]}/growth")["results"][0] for name in ("static", "dynamic",
              "suppression", "composed")}  # fmt: skip
    assert {name: (day["count"], day["reachable"]) for name, day in counts.items()} == {
        "static": (2, 1),
        "dynamic": (3, 2),
        "suppression": (1, 0),
        "composed": (1, 1),  # VIP without bob, who is on the suppression list
    }

    # The same day again: one record, with the counts as they are now.
    make_subscriber(api, "eve@example.com", lists=[catalog["static"]])
    record_daily_counts()
    assert ListDailyCount.objects.filter(marketing_list__public_id=catalog["static"]).count() == 1
    assert growth(api, f"/api/lists/{catalog['static']}/growth")["results"][0]["count"] == 3


def test_list_growth_keeps_the_days_recorded_before(api, catalog):
    marketing_list = MarketingList.objects.get(public_id=catalog["dynamic"])
    today = timezone.localdate()
    ListDailyCount.objects.create(marketing_list=marketing_list, day=today - dt.timedelta(days=3), member_count=1,
                                  reachable_count=1)  # fmt: skip
    record_daily_counts()

    body = growth(api, f"/api/lists/{catalog['dynamic']}/growth", days=5)

    assert body["id"] == catalog["dynamic"] and body["days"] == 5
    assert [(row["date"], row["count"]) for row in body["results"]] == [
        ((today - dt.timedelta(days=3)).isoformat(), 1),
        (today.isoformat(), 3),
    ]


@pytest.mark.parametrize("days", ["0", "367", "-1", "abc", "1.5", ""])
@pytest.mark.parametrize("kind", ["audiences", "lists"])
def test_a_bad_days_is_400(api, catalog, kind, days):
    target = catalog["audience"] if kind == "audiences" else catalog["static"]
    response = api.get(f"/api/{kind}/{target}/growth", {"days": days})
    assert_error(response, 400, "VALIDATION_ERROR", "days")


def test_unknown_ids_are_404(api, db):
    assert_error(api.get("/api/audiences/aud_nothere/growth"), 404, "NOT_FOUND")
    assert_error(api.get("/api/lists/list_nothere/growth"), 404, "LIST_NOT_FOUND")


def test_growth_needs_the_read_scope_of_its_resource(make_client, api, catalog):
    audiences_reader, lists_reader = make_client("audiences:read"), make_client("lists:read")
    audience_path, list_path = f"/api/audiences/{catalog['audience']}/growth", f"/api/lists/{catalog['static']}/growth"

    assert audiences_reader.get(audience_path).status_code == 200
    assert lists_reader.get(list_path).status_code == 200
    assert_error(audiences_reader.get(list_path), 403, "FORBIDDEN")
    assert_error(lists_reader.get(audience_path), 403, "FORBIDDEN")


def test_the_admin_chart_draws_the_counts_the_api_answers(admin_client, api, catalog):
    audience_id = catalog["audience"]
    today = timezone.localdate()
    for days_ago, members in ((2, 1), (1, 2)):
        AudienceDailyCount.objects.create(audience_id=audience_pk(audience_id),
                                          day=today - dt.timedelta(days=days_ago), member_count=members,
                                          reachable_count=members)  # fmt: skip
    record_daily_counts()

    days = growth(api, f"/api/audiences/{audience_id}/growth", days=90)["results"]
    page = admin_client.get(reverse("admin:audiences_audience_change", args=[audience_pk(audience_id)]))

    body = page.content.decode()
    assert body.count('<circle class="point"') == len(days) == 3
    for day in days:
        shown = dt.date.fromisoformat(day["date"])
        assert f"{shown:%a %d %b %Y}: {day['count']:,} members, {day['reachable']:,} reachable" in body
