"""The segment builder in the admin: the audience page with its field catalogue, saving rules through the services,
the live preview endpoint, the growth chart and the daily counts behind it, and the worker's schedule."""

import datetime as dt
import json

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from redis import Redis
from rq.cron import CronScheduler

from audiences.membership import audience_materialize
from audiences.models import DEFAULT_AUDIENCE_ID, Audience, AudienceDailyCount, ListDailyCount, MarketingList
from audiences.services import audience_add_subscriber, audience_create, list_add_subscriber, list_create
from audiences.tasks import record_daily_counts
from core.jobs import queue_name
from subscribers.models import CustomField, EngagementEvent
from subscribers.services import custom_field_create, subscriber_create, tag_create

ADD = "admin:audiences_audience_add"
CHANGE = "admin:audiences_audience_change"
PREVIEW = "admin:audiences_audience_preview"


def premium_rule(marketing_list: MarketingList) -> dict:
    return {
        "match": "all",
        "conditions": [
            {"field": "additional_fields_data.customer_type", "operation": "eq", "value": "premium"},
            {"field": "lists", "operation": "in", "value": [marketing_list.public_id]},
        ],
    }


@pytest.fixture
def world(db):
    """Customers of two types, some of them in a static list, one inactive."""
    custom_field_create(name="customer_type", field_type=CustomField.FieldType.DROPDOWN, values=["retail", "premium"])
    custom_field_create(name="vip", field_type=CustomField.FieldType.BOOLEAN)
    spring = list_create(
        name="Spring Sale", mode="static", audience=Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID)
    )
    people = {
        "ann": ("premium", True, True),
        "bob": ("premium", True, False),
        "cat": ("retail", True, True),
        "dan": ("premium", False, True),
        "eve": ("premium", True, True),
    }
    subscribers = {}
    for name, (customer_type, in_list, active) in people.items():
        subscriber = subscriber_create(
            email=f"{name}@example.com",
            first_name=name.capitalize(),
            last_name="Tester",
            active=active,
            inactive_reason=None if active else "Hard bounce",
            additional_fields_data={"customer_type": customer_type},
        )
        if in_list:
            list_add_subscriber(marketing_list=spring, subscriber=subscriber)
        subscribers[name] = subscriber
    return {"list": spring, "subscribers": subscribers}


def preview(client: Client, rules, audience: str | None = None):
    return client.post(
        reverse(PREVIEW), json.dumps({"rules": rules, "audience": audience}), content_type="application/json"
    )


def catalogue_of(response) -> dict[str, dict]:
    return {field["name"]: field for field in response.context["segment_builder"]["catalogue"]["fields"]}


# The page


def test_builder_page_offers_the_field_catalogue(admin_client, world):
    tag_create(name="Early Adopter")
    response = admin_client.get(reverse(ADD))

    assert response.status_code == 200
    body = response.content.decode()
    assert 'id="segment-builder-catalogue"' in body
    assert 'id="segment-builder-config"' in body
    assert "audiences/segment_builder.js" in body
    assert '<textarea name="rules"' in body  # the JSON fallback without JavaScript
    fields = catalogue_of(response)
    assert fields["email"]["input"] == "text"
    assert {op["value"] for op in fields["email"]["operations"]} >= {"eq", "like", "in", "empty"}
    customer_type = fields["additional_fields_data.customer_type"]
    assert customer_type["input"] == "choice"
    assert [option["value"] for option in customer_type["options"]] == ["retail", "premium"]
    vip = fields["additional_fields_data.vip"]
    assert vip["input"] == "boolean"
    assert "gt" not in {op["value"] for op in vip["operations"]}  # only what the kind supports
    assert fields["lists"]["input"] == "ids"
    assert fields["lists"]["options"] == [{"value": world["list"].public_id, "label": "Spring Sale"}]
    assert [option["label"] for option in fields["tags"]["options"]] == ["Early Adopter"]
    opens = fields["engagement.opens"]
    assert (opens["input"], opens["window"]) == ("number", True)
    assert fields["engagement.last_open_at"]["input"] == "date"
    assert response.context["segment_builder"]["config"]["previewUrl"] == reverse(PREVIEW)


def test_change_page_loads_existing_rules_and_leaves_the_audience_out_of_its_own_choices(admin_client, world):
    other = audience_create(name="Other")
    audience = audience_create(name="Premium in the sale", rules=premium_rule(world["list"]))

    response = admin_client.get(reverse(CHANGE, args=[audience.pk]))

    assert response.status_code == 200
    assert json.loads(response.context["adminform"].form["rules"].value()) == audience.rules
    audience_choices = [option["value"] for option in catalogue_of(response)["audiences"]["options"]]
    assert audience_choices == [other.public_id]
    assert response.context["segment_builder"]["config"]["audience"] == audience.public_id


def test_default_audience_page_has_no_builder(admin_client, db):
    default = Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID)

    response = admin_client.get(reverse(CHANGE, args=[default.pk]))

    assert response.status_code == 200
    assert "segment_builder" not in response.context
    assert "rules" not in response.context["adminform"].form.fields


# Saving goes through the services


def test_adding_an_audience_with_rules_goes_through_the_service(admin_client, world):
    rules = premium_rule(world["list"])

    response = admin_client.post(reverse(ADD), {"name": "Premium in the sale", "rules": json.dumps(rules)})

    assert response.status_code == 302
    audience = Audience.objects.get(name="Premium in the sale")
    assert audience.rules["conditions"][0]["value"] == "premium"
    assert audience.rules["negate"] is False  # stored as the service normalizes it
    assert (audience.status, audience.rules_generation, audience.version) == (Audience.Status.PENDING, 1, 1)


def test_changing_the_rules_goes_through_the_service(admin_client, world):
    audience = audience_create(name="Premium")
    audience_materialize(audience_pk=audience.pk)  # any run leaves it ready
    url = reverse(CHANGE, args=[audience.pk])
    rules = premium_rule(world["list"])

    response = admin_client.post(url, {"name": "Premium", "rules": json.dumps(rules), "expected_version": 1})

    assert response.status_code == 302
    audience.refresh_from_db()
    assert audience.rules["conditions"][1] == {**rules["conditions"][1], "window": None}
    assert (audience.status, audience.version) == (Audience.Status.PENDING, 2)

    # The same rules written differently change nothing.
    same = json.dumps(audience.rules, indent=4, sort_keys=True)
    admin_client.post(url, {"name": "Premium", "rules": same, "expected_version": 2})
    audience.refresh_from_db()
    assert audience.version == 2

    # Emptying the rules removes them: members are then only those added by hand.
    admin_client.post(url, {"name": "Premium", "rules": "", "expected_version": 2})
    audience.refresh_from_db()
    assert (audience.rules, audience.version) == (None, 3)


def test_invalid_rules_are_shown_on_the_page_and_nothing_is_saved(admin_client, world):
    rules = {
        "match": "all",
        "conditions": [
            {"field": "email", "operation": "like", "value": "@example.com"},
            {"match": "any", "conditions": [{"field": "additional_fields_data.vip", "operation": "gt", "value": 1}]},
        ],
    }

    response = admin_client.post(reverse(ADD), {"name": "Broken", "rules": json.dumps(rules)})

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["rules"]
    assert any(error.startswith("conditions.1.conditions.0:") and "not supported" in error for error in errors)
    issues = response.context["segment_builder"]["config"]["issues"]
    assert [issue["field"] for issue in issues] == ["rules.conditions.1.conditions.0"]
    assert "not supported" in response.content.decode()
    assert '"@example.com"' in response.context["adminform"].form["rules"].value()  # the input is kept
    assert not Audience.objects.filter(name="Broken").exists()


def test_rules_that_refer_back_to_the_audience_are_refused(admin_client, db):
    audience = audience_create(name="Loop")
    rules = {"match": "all", "conditions": [{"field": "audiences", "operation": "in", "value": [audience.public_id]}]}

    response = admin_client.post(
        reverse(CHANGE, args=[audience.pk]), {"name": "Loop", "rules": json.dumps(rules), "expected_version": 1}
    )

    assert response.status_code == 200
    assert "depend on itself" in str(response.context["adminform"].form.errors["rules"])
    audience.refresh_from_db()
    assert (audience.rules, audience.version) == (None, 1)


def test_rules_that_are_not_json_are_a_form_error(admin_client, db):
    response = admin_client.post(reverse(ADD), {"name": "Typo", "rules": '{"match": "all",'})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["rules"] == ["Enter a valid JSON."]
    assert not Audience.objects.filter(name="Typo").exists()


# The live preview


def test_preview_counts_a_rule_over_a_custom_field_and_a_list(admin_client, world):
    response = preview(admin_client, premium_rule(world["list"]))

    assert response.status_code == 200
    body = response.json()
    # ann and eve (premium, in the list, active), bob (premium, in the list, inactive); not cat (retail) nor dan.
    assert (body["count"], body["reachable"], body["manual"]) == (3, 2, 0)
    assert [member["email"] for member in body["sample"]] == ["ann@example.com", "bob@example.com", "eve@example.com"]
    assert body["sample"][0]["name"] == "Ann Tester"
    ann = world["subscribers"]["ann"]
    assert body["sample"][0]["id"] == ann.public_id
    assert body["sample"][0]["url"] == reverse("admin:subscribers_subscriber_change", args=[ann.pk])


def test_preview_of_an_existing_audience_counts_its_manual_members_too(admin_client, world):
    audience = audience_create(name="Premium")
    audience_add_subscriber(audience=audience, subscriber=world["subscribers"]["cat"])

    body = preview(admin_client, premium_rule(world["list"]), audience.public_id).json()

    assert (body["count"], body["manual"]) == (4, 1)
    assert preview(admin_client, None, audience.public_id).json()["count"] == 1  # no rules: manual members only


def test_preview_shows_only_ten_members(admin_client, db):
    for i in range(12):
        subscriber_create(email=f"person{i:02}@example.com")
    rules = {"match": "all", "conditions": [{"field": "email", "operation": "like", "value": "person"}]}

    body = preview(admin_client, rules).json()

    assert body["count"] == 12
    assert len(body["sample"]) == 10


def one(condition: dict) -> dict:
    return {"match": "all", "conditions": [condition]}


@pytest.mark.parametrize(
    ("rules", "path", "fragment"),
    [
        (one({"field": "shoe_size", "operation": "eq", "value": 1}), "conditions.0", "unknown field"),
        (one({"field": "active", "operation": "like", "value": "x"}), "conditions.0", "not supported"),
        (one({"field": "lists", "operation": "in", "value": ["list_nope"]}), "conditions.0", "unknown list"),
        (
            one({"field": "engagement.opens", "operation": "gt", "value": 1, "window": "soon"}),
            "conditions.0.window",
            "",
        ),
        ({"match": "sometimes", "conditions": []}, "match", ""),
    ],
)
def test_preview_answers_400_with_the_issues_of_bad_rules(admin_client, db, rules, path, fragment):
    response = preview(admin_client, rules)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "INVALID_FILTER"
    assert body["issues"][0]["field"] == f"rules.{path}"
    assert fragment in body["issues"][0]["message"]


def test_preview_refuses_what_is_not_a_json_object(admin_client, db):
    bad_json = admin_client.post(reverse(PREVIEW), "{", content_type="application/json")
    not_object = admin_client.post(reverse(PREVIEW), "[1]", content_type="application/json")
    unknown = preview(admin_client, None, "aud_nope")

    assert (bad_json.status_code, not_object.status_code, unknown.status_code) == (400, 400, 404)
    assert admin_client.get(reverse(PREVIEW)).status_code == 405


def test_preview_is_for_staff_only(client, db, django_user_model):
    assert preview(client, None).status_code == 302  # to the login page

    django_user_model.objects.create_user("member", password="pw")
    client.login(username="member", password="pw")
    assert preview(client, None).status_code == 302  # not staff

    staff = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    client.login(username="staff", password="pw")
    assert preview(client, None).status_code == 403  # staff without permission on audiences

    staff.user_permissions.add(Permission.objects.get(codename="change_audience"))
    assert preview(client, None).status_code == 200


def test_preview_needs_the_csrf_token(admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)

    refused = preview(client, None)
    page = client.get(reverse(ADD))
    token = page.context["csrf_token"]
    accepted = client.post(
        reverse(PREVIEW),
        json.dumps({"rules": None}),
        content_type="application/json",
        headers={"X-CSRFToken": str(token)},
    )

    assert refused.status_code == 403
    assert accepted.status_code == 200


# Growth chart and daily counts


def test_record_daily_counts_writes_one_row_per_audience_per_day(world):
    premium = audience_create(name="Premium")
    for name in ("ann", "bob"):
        audience_add_subscriber(audience=premium, subscriber=world["subscribers"][name])

    assert record_daily_counts() == 2
    today = timezone.localdate()
    rows = {row.audience.name: row for row in AudienceDailyCount.objects.select_related("audience")}
    assert set(rows) == {"All Subscribers", "Premium"}
    assert {row.day for row in rows.values()} == {today}
    assert (rows["Premium"].member_count, rows["Premium"].reachable_count) == (2, 1)  # bob is inactive
    assert (rows["All Subscribers"].member_count, rows["All Subscribers"].reachable_count) == (5, 4)

    # A second run the same day keeps one row each, with the counts as they are now.
    audience_add_subscriber(audience=premium, subscriber=world["subscribers"]["eve"])
    record_daily_counts()
    assert AudienceDailyCount.objects.count() == 2
    assert AudienceDailyCount.objects.get(audience=premium, day=today).member_count == 3


def test_change_page_shows_the_growth_chart_status_and_count(admin_client, world):
    audience = audience_create(name="Premium", rules=premium_rule(world["list"]))
    audience_materialize(audience_pk=audience.pk)
    today = timezone.localdate()
    for days_ago, count in ((2, 1), (1, 2), (0, 3)):
        AudienceDailyCount.objects.create(
            audience=audience, day=today - dt.timedelta(days=days_ago), member_count=count, reachable_count=count - 1
        )

    response = admin_client.get(reverse(CHANGE, args=[audience.pk]))

    body = response.content.decode()
    assert 'class="audience-growth-chart"' in body
    assert body.count('<circle class="point"') == 3
    assert f"{today:%a %d %b %Y}: 3 members, 2 reachable" in body
    assert "+2 over 3 days recorded" in body
    assert f'?audience={audience.public_id}">3</a>' in body  # the current count
    assert "Ready" in body


def test_change_page_without_history_says_so(admin_client, db):
    audience = audience_create(name="New")

    body = admin_client.get(reverse(CHANGE, args=[audience.pk])).content.decode()

    assert "No history yet" in body
    assert "audience-growth-chart" not in body


# The worker's schedule


def test_rq_cron_schedules_the_refresh_hourly_and_the_daily_counts_daily():
    scheduler = CronScheduler(connection=Redis())  # not connected: loading the config only registers the jobs
    scheduler.load_config_from_file("config.rq_cron")

    jobs = {job.func_name: job for job in scheduler.get_jobs()}
    refresh = jobs["audiences.tasks.refresh_time_relative_audiences"]
    daily = jobs["audiences.tasks.record_daily_counts"]
    assert (refresh.queue_name, refresh.cron) == (queue_name("segments"), "0 * * * *")
    assert daily.queue_name == queue_name("segments")
    assert daily.cron.split()[2:] == ["*", "*", "*"]  # once a day


# The demo, as a new user would try it


def test_demo_staff_build_premium_openers_and_find_them_as_a_dynamic_list(admin_client, api):
    call_command("load_demo", "--subscribers", "80", verbosity=0)
    assert EngagementEvent.objects.filter(event_type="opened").exists()
    assert AudienceDailyCount.objects.filter(day__lt=timezone.localdate()).exists()  # history for the charts
    assert ListDailyCount.objects.filter(day__lt=timezone.localdate()).exists()  # and for the lists' growth
    made = (EngagementEvent.objects.count(), AudienceDailyCount.objects.count(), ListDailyCount.objects.count())
    call_command("load_demo", "--subscribers", "80", verbosity=0)
    # A second run adds nothing.
    assert (EngagementEvent.objects.count(), AudienceDailyCount.objects.count(), ListDailyCount.objects.count()) == made
    rules = {
        "match": "all",
        "negate": False,
        "conditions": [
            {"field": "additional_fields_data.customer_type", "operation": "eq", "value": "premium"},
            {"field": "engagement.opens", "operation": "gte", "value": 1, "window": "30 days"},
        ],
    }

    # While building: the count and a sample.
    shown = preview(admin_client, rules).json()
    assert shown["count"] > 0

    # Saved from the builder's form, then materialized by the worker.
    admin_client.post(reverse(ADD), {"name": "Premium openers", "rules": json.dumps(rules)})
    audience = Audience.objects.get(name="Premium openers")
    assert audience.rules_are_time_relative
    audience_materialize(audience_pk=audience.pk)

    # A dynamic list over it, made in the admin, answers the same members through the API.
    admin_client.post(
        reverse("admin:audiences_marketinglist_add"),
        {"name": "Premium openers", "mode": "dynamic", "audience": audience.pk},
    )
    dynamic = MarketingList.objects.get(name="Premium openers")
    members = api.get(f"/api/lists/{dynamic.public_id}/members", {"first": 100}).json()
    assert members["total"] == shown["count"]
    assert [m["email"] for m in members["results"][:10]] == [m["email"] for m in shown["sample"]]
    for member in members["results"]:
        assert member["additional_fields_data"]["customer_type"] == "premium"
