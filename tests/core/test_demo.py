"""The demo shows the product (issue 8, point 15): `bootstrap`, as `make run` runs it, loads a demo with rule audiences
that are materialized (`ready`, with counts that match their members) by the time it ends, a loyalty-tier group and a
suppression list that work, and prints a line per step; running `load_demo` again creates nothing."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

from audiences.models import Audience, AudienceDailyCount, AudienceGroup, AudienceMembership, ListMembership
from audiences.models import MarketingList as List
from core.management.demo_data import LOYALTY_GROUP, LOYALTY_TIERS, RECENT_PREMIUM, SUPPRESSION_LIST, WIN_BACK
from subscribers.models import EngagementEvent, Subscriber, SubscriptionPreference
from tests.audiences.conftest import fresh_matches, walk_members

RULE_AUDIENCES = (RECENT_PREMIUM, WIN_BACK)
TIERS = tuple(name for name, _ in LOYALTY_TIERS)


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def stored_counts() -> dict[str, int]:
    models = (
        Subscriber,
        SubscriptionPreference,
        Audience,
        AudienceGroup,
        AudienceMembership,
        List,
        ListMembership,
        EngagementEvent,
        AudienceDailyCount,
    )
    return {model.__name__: model.objects.count() for model in models}


def audience_id(name: str) -> str:
    return Audience.objects.get(name=name).public_id


@pytest.fixture
def local_run(settings, tmp_path, monkeypatch):
    settings.DEBUG = True
    settings.DATA_DIR = tmp_path
    monkeypatch.delenv("ROSTER_ADMIN_PASSWORD", raising=False)


@pytest.mark.django_db
def test_bootstrap_leaves_rule_audiences_ready_with_tiers_and_suppression_and_a_rerun_adds_nothing(local_run, api):
    output = run("bootstrap", "--url", "http://127.0.0.1:8000")

    # A line per step, with counts, before the credentials.
    for line in (
        "Subscribers: 300 (300 new)",
        "Rule audiences: 2 (2 new)",
        f'Loyalty tiers of "{LOYALTY_GROUP}": 4 (4 new)',
        "100 subscribers created...",
    ):
        assert line in output, output
    assert output.index("Demo data ready") < output.index("Roster is ready")

    for name in (*RULE_AUDIENCES, *TIERS):
        public_id = audience_id(name)
        status = api.get(f"/api/audiences/{public_id}/status").json()
        assert (status["status"], status["has_rules"], status["failure_reason"]) == ("ready", True, None), name
        members = {row["id"] for row in walk_members(api, f"/api/audiences/{public_id}/members")}
        count = api.get(f"/api/audiences/{public_id}/count").json()
        assert count["count"] == len(members) > 0, name
        assert members == fresh_matches(public_id), name  # what the rules say now
        assert re.search(rf'Audience "{re.escape(name)}": ready, {count["count"]} members \(\d+ reachable\)', output)

    # Explain has something to say about a member of the premium openers.
    premium = audience_id(RECENT_PREMIUM)
    member = walk_members(api, f"/api/audiences/{premium}/members")[0]
    assert member["additional_fields_data"]["customer_type"] == "premium"
    explained = api.get(f"/api/audiences/{premium}/members/{member['id']}/explain").json()
    assert (explained["member"], explained["matches_rules"], explained["reason"]) == (True, True, "Matches the rules")

    # Loyalty tiers: every subscriber with a lifetime value is in exactly the tier of its range.
    group = AudienceGroup.objects.get(name=LOYALTY_GROUP)
    tiers = api.get(f"/api/audiences/groups/{group.public_id}").json()["audiences"]
    assert [(tier["name"], tier["min"], tier["status"]) for tier in tiers] == [
        (name, low, "ready") for name, low in LOYALTY_TIERS
    ]
    tier_of = {
        subscriber: tier["name"]
        for tier in tiers
        for subscriber in AudienceMembership.objects.filter(audience__public_id=tier["id"]).values_list(
            "subscriber__email", flat=True
        )
    }
    valued = dict(Subscriber.objects.values_list("email", "additional_fields_data__lifetime_value"))
    assert set(tier_of) == set(valued)
    for email, value in valued.items():
        expected = [name for name, low in LOYALTY_TIERS if value >= low][-1]
        assert tier_of[email] == expected, (email, value)
    assert sum(tier["count"] for tier in tiers) == len(valued)

    # The suppression list holds a few subscribers, and no reachable count includes them.
    suppression = List.objects.get(name=SUPPRESSION_LIST)
    composition = api.get(f"/api/lists/{suppression.public_id}/composition").json()
    assert composition["is_suppression"] is True
    suppressed = {row["id"] for row in walk_members(api, f"/api/lists/{suppression.public_id}/members")}
    assert 0 < len(suppressed) < 30
    active = set(Subscriber.objects.filter(active=True).values_list("public_id", flat=True))
    everyone = api.get("/api/audiences/aud_default/count").json()
    assert everyone["reachable"] == len(active - suppressed) < len(active)

    # Bootstrap is re-runnable: a second load creates nothing and says so.
    before = stored_counts()
    again = run("load_demo")

    assert stored_counts() == before
    for line in (
        "Subscribers: 300 (0 new)",
        "Rule audiences: 2 (0 new)",
        f'Loyalty tiers of "{LOYALTY_GROUP}": 4 (0 new)',
    ):
        assert line in again, again
    assert f'Suppression list "{SUPPRESSION_LIST}" (members): {len(suppressed)} (0 new)' in again
    assert "created nothing" in again
    assert all(Audience.objects.get(name=name).status == "ready" for name in (*RULE_AUDIENCES, *TIERS))
