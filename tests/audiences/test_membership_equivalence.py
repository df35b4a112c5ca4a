"""Materialized membership is always the same answer as evaluating the rules fresh (issue 4, point 2).

A seeded random world: ~40 subscribers with custom fields (typed and untyped), tags, static lists, consent, activity
and a few engagement events; ~8 audiences with random rule trees (nested all/any groups, negation, every kind of
field, references to other audiences and to dynamic and composed lists), materialized by the worker. Then random
changes through the API, most of them applied live, and after each one, for every audience:

    stored members == Subscriber.objects.filter(audience_rules_q(audience)) | manual additions

with the RULE and MANUAL bits each equal to their side, and GET /count equal to it. A failure prints the seed and
the steps taken, so that it can be replayed with EQUIVALENCE_SEEDS=<seed>."""

import datetime as dt
import os
import random
from typing import Any

import pytest
from django.utils import timezone

from audiences.models import AudienceMembership
from subscribers.models import Subscriber
from tests.api_assertions import created_id
from tests.audiences.conftest import (
    count,
    create_audience,
    fresh_matches,
    list_member_ids,
    member_ids,
    stored_members,
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

MANUAL, RULE = AudienceMembership.MANUAL, AudienceMembership.RULE
SUBSCRIBERS = 40
RULE_AUDIENCES = 8
STEPS = 30

CUSTOMER_TYPES = ["premium", "standard", "basic", "Premium"]
LIFETIME_VALUES = [0, 250, 999.5, 1000, 1500, 5000]
SIGNUP_DAYS = ["2023-01-15", "2024-06-30", "2024-12-31T23:00:00Z"]
SCORES = [1, 5, 10, "high", "5"]
FIRST_NAMES = ["Ann", "Bob", "Cat", "Dan", "anna", ""]


class World:
    def __init__(self, api, rng: random.Random, worker) -> None:
        self.api, self.rng, self.worker = api, rng, worker
        self.log: list[str] = []
        self.serial = 0
        self.subscribers: list[str] = []
        self.audiences: list[str] = []  # rule audiences, in order of creation
        self.manual: dict[str, set[str]] = {}  # audience -> subscribers added by hand

        for name, field_type in (
            ("customer_type", "string"),
            ("lifetime_value", "number"),
            ("signup_day", "date"),
            ("vip", "boolean"),
        ):
            created_id(api.post("/api/custom-fields", {"name": name, "type": field_type}))
        self.tags = [created_id(api.post("/api/tags", {"name": f"tag{i}"})) for i in range(3)]
        self.types = [created_id(api.post("/api/subscription-types", {"name": f"Type {i}"})) for i in range(2)]
        self.static_lists = [self._list(f"Static {i}", "static", "aud_default") for i in range(2)]
        self.hand_picked = create_audience(api, "Hand-picked")
        self.manual[self.hand_picked] = set()
        self.hand_picked_list = self._list("Hand-picked list", "dynamic", self.hand_picked)
        self.composed = self._list("Composed", "static", "aud_default")
        self._compose(include_lists=[self.static_lists[0]], include_audiences=[self.hand_picked])
        self.base_list: str | None = None  # a dynamic list on the first rule audience

    # --- setup -------------------------------------------------------------------------------------------------

    def _list(self, name: str, mode: str, audience_id: str) -> str:
        return created_id(self.api.post("/api/lists", {"name": name, "mode": mode, "audience_id": audience_id}))

    def _compose(self, **parts: list[str]) -> None:
        response = self.api.put(f"/api/lists/{self.composed}/composition", parts)
        assert response.status_code == 200, response.json()

    def random_fields(self) -> dict[str, Any]:
        rng, data = self.rng, {}
        for key, pool, chance in (
            ("customer_type", CUSTOMER_TYPES, 0.8),
            ("lifetime_value", LIFETIME_VALUES, 0.7),
            ("signup_day", SIGNUP_DAYS, 0.5),
            ("vip", [True, False], 0.5),
            ("score", SCORES, 0.4),  # no definition: typed by the value in a condition
        ):
            if rng.random() < chance:
                data[key] = rng.choice(pool)
        return data

    def some(self, pool: list[str], chance: float = 0.4) -> list[str]:
        return [item for item in pool if self.rng.random() < chance]

    def random_consent(self) -> list[dict]:
        return [
            {"subscription_type_id": type_id, "subscribe": self.rng.random() < 0.6} for type_id in self.some(self.types)
        ]

    def create_subscriber(self, *, audiences: list[str] = ()) -> str:
        rng = self.rng
        self.serial += 1
        body: dict[str, Any] = {
            "email": f"user{self.serial}@{rng.choice(['example.com', 'shop.example.org'])}",
            "first_name": rng.choice(FIRST_NAMES),
            "additional_fields_data": self.random_fields(),
            "tags": self.some(self.tags),
            "lists": self.some(self.static_lists),
            "subscription_updates": self.random_consent(),
            "audiences": list(audiences),
        }
        if rng.random() < 0.2:
            body |= {"active": False, "inactive_reason": "bounced"}
        subscriber_id = created_id(self.api.post("/api/subscribers", body))
        self.subscribers.append(subscriber_id)
        for audience_id in audiences:
            self.manual[audience_id].add(subscriber_id)
        return subscriber_id

    def record_events(self) -> None:
        now, events = timezone.now(), []
        for subscriber_id in self.subscribers:
            for i in range(self.rng.choice([0, 0, 1, 2, 4])):
                event = {
                    "event_id": f"{subscriber_id}-{i}",
                    "type": self.rng.choice(["opened", "opened", "clicked", "purchase"]),
                    "subscriber_id": subscriber_id,
                    "campaign_code": "spring",
                    "occurred_at": (now - dt.timedelta(days=self.rng.uniform(0, 60))).isoformat(),
                }
                if event["type"] == "clicked":
                    event["url"] = "https://example.com/offer"
                if event["type"] == "purchase":
                    event["amount"] = self.rng.choice([20, 150, 600])
                events.append(event)
        response = self.api.post("/api/engagements/events", {"events": events})
        assert response.status_code == 200, response.json()
        assert response.json()["accepted"] == len(events), response.json()

    # --- random rules ------------------------------------------------------------------------------------------

    def random_condition(self, index: int) -> dict:
        """A condition for the rule audience at `index`, naming only audiences made before it (no loops)."""
        rng = self.rng
        c = lambda field, operation, value=None, **extra: {  # noqa: E731
            "field": field, "operation": operation, "value": value, **extra}  # fmt: skip
        earlier = [self.hand_picked, *self.audiences[:index]]
        lists = [*self.static_lists, self.composed, self.hand_picked_list]
        if index > 0 and self.base_list:
            lists.append(self.base_list)
        makers = [
            lambda: c("additional_fields_data.customer_type", rng.choice(["eq", "ne", "like", "nlike"]),
                      rng.choice(CUSTOMER_TYPES)),
            lambda: c("additional_fields_data.customer_type", rng.choice(["in", "nin"]),
                      rng.sample(CUSTOMER_TYPES, 2)),
            lambda: c("additional_fields_data.customer_type", rng.choice(["empty", "nempty"])),
            lambda: c("additional_fields_data.lifetime_value", rng.choice(["gt", "gte", "lt", "lte", "eq", "ne"]),
                      rng.choice(LIFETIME_VALUES)),
            lambda: c("additional_fields_data.lifetime_value", "between", sorted(rng.sample(LIFETIME_VALUES, 2))),
            lambda: c("additional_fields_data.lifetime_value", rng.choice(["empty", "nempty"])),
            lambda: c("additional_fields_data.signup_day", rng.choice(["gt", "lt", "eq"]),
                      rng.choice(["2024-01-01", "2024-06-30", "2024-12-31"])),
            lambda: c("additional_fields_data.vip", rng.choice(["eq", "ne"]), rng.choice([True, False])),
            lambda: c("additional_fields_data.score", rng.choice(["eq", "gt", "ne"]), rng.choice([5, 3])),
            lambda: c("additional_fields_data.score", rng.choice(["eq", "like"]), rng.choice(["high", "5"])),
            lambda: c("first_name", rng.choice(["eq", "ne", "like"]), rng.choice(["Ann", "an", "Bob"])),
            lambda: c("first_name", rng.choice(["empty", "nempty"])),
            lambda: c("email", rng.choice(["like", "nlike"]), "shop"),
            lambda: c("active", "eq", rng.choice([True, False])),
            lambda: c("tags", rng.choice(["eq", "ne"]), rng.choice(self.tags)),
            lambda: c("tags", rng.choice(["in", "nin"]), rng.sample(self.tags, 2)),
            lambda: c("tags", rng.choice(["empty", "nempty"])),
            lambda: c("lists", rng.choice(["eq", "ne"]), rng.choice(lists)),
            lambda: c("lists", rng.choice(["in", "nin"]), rng.sample(lists, 2)),
            lambda: c("lists", rng.choice(["empty", "nempty"])),
            lambda: c("subscriptions", rng.choice(["eq", "ne"]), rng.choice(self.types)),
            lambda: c("subscriptions", rng.choice(["empty", "nempty"])),
            lambda: c("audiences", rng.choice(["eq", "ne"]), rng.choice(earlier)),
            lambda: c("audiences", rng.choice(["in", "nin"]), rng.sample(earlier, min(2, len(earlier)))),
            lambda: c("engagement.opens", rng.choice(["gt", "gte", "lt"]), rng.choice([0, 1, 2]),
                      window=rng.choice(["30 days", "2 weeks", None])),
            lambda: c("engagement.clicks", rng.choice(["gte", "eq"]), 1),
            lambda: c("engagement.purchases", "gte", 1, window="45 days"),
            lambda: c("engagement.purchase_amount", rng.choice(["gt", "lte"]), rng.choice([100, 500])),
            lambda: c("engagement.last_open_at", "gt", rng.choice(["20 days ago", "1 week ago"])),
            lambda: c("engagement.last_activity_at", rng.choice(["empty", "nempty"])),
            lambda: c("created_at", "gt", "1 day ago"),
        ]  # fmt: skip
        if index == 0:  # the base audience, on which a dynamic list is built, names no list or audience
            makers = [m for m in makers if m()["field"] not in ("lists", "audiences")]
        return rng.choice(makers)()

    def random_group(self, index: int, depth: int = 0) -> dict:
        rng = self.rng
        children = []
        for _ in range(rng.randint(1, 3)):
            if depth < 2 and rng.random() < 0.3:
                children.append(self.random_group(index, depth + 1))
            else:
                children.append(self.random_condition(index))
        return {"match": rng.choice(["all", "any"]), "negate": rng.random() < 0.25, "conditions": children}

    def random_rules(self, index: int) -> dict:
        """Random rules; the second and third audiences always depend on the first, through its dynamic list and by
        naming it, so that a change to the first must reach them in the same request or the same worker run."""
        rules = self.random_group(index)
        if index in (1, 2) and self.base_list:
            field, value = ("lists", [self.base_list]) if index == 1 else ("audiences", [self.audiences[0]])
            operation = self.rng.choice(["in", "nin"])
            rules = {"match": "all", "negate": False, "conditions": [
                {"field": field, "operation": operation, "value": value}, rules]}  # fmt: skip
        return rules

    def create_rule_audiences(self) -> None:
        for index in range(RULE_AUDIENCES):
            audience_id = create_audience(self.api, f"Random {index}", self.random_rules(index))
            self.audiences.append(audience_id)
            self.manual[audience_id] = set()
            if index == 0:
                self.base_list = self._list("Base list", "dynamic", audience_id)
        self.worker.run()

    # --- checks ------------------------------------------------------------------------------------------------

    def check(self) -> None:
        trail = f"seed steps: {self.log}"
        assert self.worker.waiting == 0, trail
        for audience_id in [self.hand_picked, *self.audiences]:
            stored = stored_members(audience_id)
            fresh = fresh_matches(audience_id)
            manual = self.manual[audience_id]
            assert {s for s, bits in stored.items() if bits & RULE} == fresh, (audience_id, trail)
            assert {s for s, bits in stored.items() if bits & MANUAL} == manual, (audience_id, trail)
            assert set(stored) == fresh | manual, (audience_id, trail)
            assert count(self.api, audience_id) == len(stored), (audience_id, trail)
        assert count(self.api, "aud_default") == Subscriber.objects.count()

    def check_pages(self) -> None:
        """The members pages and a dynamic list on a rule audience give the same answer as the stored rows."""
        for audience_id in self.audiences[:3]:
            assert member_ids(self.api, audience_id) == set(stored_members(audience_id)), self.log
        assert list_member_ids(self.api, self.base_list) == set(stored_members(self.audiences[0])), self.log

    # --- random changes ----------------------------------------------------------------------------------------

    def put(self, subscriber_id: str, body: dict) -> None:
        response = self.api.put(f"/api/subscribers/{subscriber_id}", body)
        assert response.status_code == 200, (response.json(), self.log)

    def step(self) -> None:
        rng = self.rng
        subscriber_id = rng.choice(self.subscribers)
        everything = [self.hand_picked, *self.audiences]
        action = rng.choice(
            [
                "fields", "fields", "tags", "consent", "list_add", "list_remove", "activity", "name",
                "manual_add", "manual_remove", "put_audiences", "echo_audiences", "create", "delete",
                "rules", "rules", "composition",
            ]
        )  # fmt: skip
        self.log.append(f"{action} {subscriber_id}")
        if action == "fields":
            self.put(subscriber_id, {"additional_fields_data": self.random_fields()})
        elif action == "tags":
            self.put(subscriber_id, {"tags": self.some(self.tags, 0.5)})
        elif action == "consent":
            self.put(subscriber_id, {"subscription_updates": self.random_consent() or [
                {"subscription_type_id": self.types[0], "subscribe": rng.random() < 0.5}]})  # fmt: skip
        elif action in ("list_add", "list_remove"):
            list_id = rng.choice(self.static_lists)
            if action == "list_add":
                response = self.api.post(f"/api/lists/{list_id}/subscribers", {"subscriber_id": subscriber_id})
            else:
                response = self.api.delete(f"/api/lists/{list_id}/subscribers/{subscriber_id}")
            assert response.status_code == 200, (response.json(), self.log)
        elif action == "activity":
            active = rng.random() < 0.5
            self.put(subscriber_id, {"active": active, **({} if active else {"inactive_reason": "complaint"})})
        elif action == "name":
            self.put(subscriber_id, {"first_name": rng.choice(FIRST_NAMES)})
        elif action == "manual_add":
            audience_id = rng.choice(everything)
            response = self.api.post(f"/api/audiences/{audience_id}/subscribers", {"subscriber_id": subscriber_id})
            assert response.status_code == 200, (response.json(), self.log)
            self.manual[audience_id].add(subscriber_id)
        elif action == "manual_remove":
            audience_id = rng.choice(everything)
            response = self.api.delete(f"/api/audiences/{audience_id}/subscribers/{subscriber_id}")
            assert response.status_code == 200, (response.json(), self.log)
            self.manual[audience_id].discard(subscriber_id)
        elif action == "put_audiences":
            wanted = self.some(everything, 0.3)
            had_row = {a for a in everything if subscriber_id in stored_members(a)}
            self.put(subscriber_id, {"audiences": wanted})
            for audience_id in everything:
                keeps = subscriber_id in self.manual[audience_id] and audience_id in wanted
                joins = audience_id in wanted and audience_id not in had_row
                (self.manual[audience_id].add if keeps or joins else self.manual[audience_id].discard)(subscriber_id)
        elif action == "echo_audiences":
            shown = self.api.get(f"/api/subscribers/{subscriber_id}").json()
            before = sorted(AudienceMembership.objects.values_list("audience_id", "subscriber_id", "source"))
            self.put(subscriber_id, {"audiences": shown["audiences"]})
            after = sorted(AudienceMembership.objects.values_list("audience_id", "subscriber_id", "source"))
            assert after == before, self.log
        elif action == "create":
            self.create_subscriber(audiences=self.some(everything, 0.2))
        elif action == "delete":
            response = self.api.delete(f"/api/subscribers/{subscriber_id}")
            assert response.status_code == 200, (response.json(), self.log)
            self.subscribers.remove(subscriber_id)
            for manual in self.manual.values():
                manual.discard(subscriber_id)
        elif action == "rules":
            index = rng.choice([0, 0, rng.randrange(len(self.audiences))])  # often the one others depend on
            rules = self.random_rules(index) if rng.random() < 0.85 else None
            self.log.append(f"rules of {index}: {rules}")
            response = self.api.post(f"/api/audiences/{self.audiences[index]}/rules", {"rules": rules})
            assert response.status_code == 200, (response.json(), self.log)
            self.worker.run()
        elif action == "composition":
            exclude = self.some(self.static_lists[1:], 0.5)
            include_audiences = self.some([self.hand_picked, self.audiences[0]], 0.5)
            self._compose(exclude_lists=exclude, include_audiences=include_audiences)
            self.log.append(f"composed: exclude {exclude}, include {include_audiences}")
            self.worker.run()


# Two seeds by default; EQUIVALENCE_SEEDS="1,2,3" replays others (a failure names its seed).
SEEDS = [int(seed) for seed in os.environ.get("EQUIVALENCE_SEEDS", "20240315,7").split(",")]


@pytest.mark.parametrize("seed", SEEDS)
def test_stored_membership_always_equals_the_rules_evaluated_fresh(api, segments_worker, seed):
    world = World(api, random.Random(seed), segments_worker)
    for _ in range(SUBSCRIBERS):
        world.create_subscriber(audiences=[world.hand_picked] if world.rng.random() < 0.15 else [])
    world.record_events()
    world.create_rule_audiences()
    world.log.append(f"seed {seed}")
    world.check()
    world.check_pages()
    assert any(stored_members(a) for a in world.audiences), "the random rules should select someone"

    for number in range(STEPS):
        world.step()
        world.check()
        if number % 10 == 9:
            world.check_pages()
