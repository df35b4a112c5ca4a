"""`manage.py load_demo`: a believable demo data set, made through the services so it obeys every business rule, with
segments to explore: audiences added by hand and by rules (premium customers who opened in the last 30 days, a
win-back segment with a nested group), a loyalty-tier group over lifetime value, and a suppression list. Rule audiences
are materialized before the command ends, so their counts, members and explanations are there when `make run` has
started. It prints a line per step, with counts.

Idempotent: each thing is looked up by its name (or email) first and only created when missing, and the subscribers
come from a fixed seed, so a second run adds nothing and an interrupted run is completed by the next one.
Engagement (opens and clicks over the last 30 days) is recorded through the engagement service with fixed event ids;
a run more than a week after the last one adds a fresh batch, so that "opened in the last 30 days" keeps matching.
Audiences and lists get a few weeks of daily counts the first time, so that their growth charts and growth endpoints
show something."""

import datetime as dt
import random
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.db.models import Max, QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from audiences.groups import TierSpec, loyalty_tiers_create
from audiences.membership import audience_materialize
from audiences.models import (
    Audience,
    AudienceDailyCount,
    AudienceGroup,
    ListDailyCount,
    ListMembership,
    MarketingList,
)
from audiences.selectors import audience_members, list_members, reachable
from audiences.services import (
    audience_create,
    default_audience,
    list_add_subscriber,
    list_create,
    list_set_composition,
)
from audiences.tasks import record_daily_counts
from core.errors import ApplicationError
from core.management.demo_data import (
    AUDIENCES,
    CAMPAIGNS,
    CUSTOM_FIELDS,
    DEFAULT_SUBSCRIBER_COUNT,
    DEMO_EVENT_PREFIX,
    ENGAGEMENT_DAYS,
    ENGAGEMENT_REFRESH,
    HISTORY_DAYS,
    LISTS,
    LOYALTY_FIELD,
    LOYALTY_GROUP,
    LOYALTY_TIERS,
    OPEN_RATES,
    SEED,
    SUBSCRIPTION_TYPES,
    SUPPRESSION_LIST,
    TAGS,
    DemoSubscriber,
    generate_subscribers,
    is_suppressed,
    rule_audiences,
)
from subscribers.models import CustomField, EngagementEvent, Subscriber, SubscriptionType, Tag
from subscribers.services import custom_field_create, subscriber_create, subscription_type_create, tag_create
from subscribers.services.engagement import EngagementEventInput, engagement_events_record

PROGRESS_EVERY = 100  # subscribers created between two progress lines


class Command(BaseCommand):
    help = (
        "Load demo data (subscription types, custom fields, tags, subscribers with engagement, lists, a suppression "
        "list, audiences by hand and by rules, loyalty tiers), printing each step. Safe to re-run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--subscribers",
            type=int,
            default=DEFAULT_SUBSCRIBER_COUNT,
            help=f"How many demo subscribers to have (default {DEFAULT_SUBSCRIBER_COUNT}).",
        )

    def handle(self, *args: Any, subscribers: int, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        self.created: dict[str, int] = {}
        started = time.monotonic()
        with transaction.atomic():
            types = {name: self._subscription_type(name, text) for name, text in SUBSCRIPTION_TYPES.items()}
            self._progress("Subscription types", len(types), "subscription types")
            for definition in CUSTOM_FIELDS:
                self._custom_field(definition)
            self._progress("Custom fields", len(CUSTOM_FIELDS), "custom fields")
            tags = {name: self._tag(name) for name in TAGS}
            self._progress("Tags", len(tags), "tags")
            audiences = {name: self._audience(name) for name in AUDIENCES}
            self._progress("Audiences added by hand", len(audiences), "audiences")
            lists = {
                name: self._list(name, mode, audiences[audience] if audience else default_audience())
                for name, mode, audience, _ in LISTS
            }
            self._progress("Lists", len(lists), "lists")
            people = generate_subscribers(max(subscribers, 0))
            self._subscribers(people, types, tags, audiences, lists)
            self._progress("Subscribers", len(people), "subscribers")
            self._engagement(people)
            demo_events = EngagementEvent.objects.filter(event_id__startswith=DEMO_EVENT_PREFIX).count()
            self._progress("Engagement events (opens and clicks)", demo_events, "engagement events")
            suppressed = self._suppression_list(people)
            self._progress(f'Suppression list "{SUPPRESSION_LIST}" (members)', suppressed, "suppressed subscribers")
            segments = self._rule_audiences(types)
            self._progress("Rule audiences", len(segments), "rule audiences")
            tiers = self._loyalty_tiers()
            self._progress(f'Loyalty tiers of "{LOYALTY_GROUP}"', len(tiers), "loyalty tiers")
        # After the commit: in embedded mode the in-process jobs have materialized them by now; with a worker, do it
        # here rather than leave the demo's segments empty until it gets to them.
        for audience in [*segments, *tiers]:
            self._materialize(audience)
        self._count_history()
        daily_counts = AudienceDailyCount.objects.count() + ListDailyCount.objects.count()
        self._progress("Daily counts for the growth charts", daily_counts, "daily counts")
        if self.verbosity >= 1:
            made = ", ".join(f"{what}: {count}" for what, count in self.created.items() if count) or "nothing"
            elapsed = time.monotonic() - started
            self.stdout.write(self.style.SUCCESS(f"Demo data ready in {elapsed:.1f} s (created {made})."))

    def _progress(self, label: str, total: int, what: str | None) -> None:
        """One line per step: how many there are, and how many this run created."""
        if self.verbosity < 1:
            return
        new = f" ({self.created.get(what, 0)} new)" if what else ""
        self.stdout.write(f"{label}: {total}{new}")
        self.stdout.flush()

    def _count(self, what: str, created: bool) -> None:
        self.created[what] = self.created.get(what, 0) + int(created)

    def _subscription_type(self, name: str, description: str) -> SubscriptionType:
        existing = SubscriptionType.objects.filter(name__iexact=name).first()
        self._count("subscription types", existing is None)
        return existing or subscription_type_create(name=name, description=description)

    def _custom_field(self, definition: dict[str, Any]) -> CustomField:
        existing = CustomField.objects.filter(name=definition["name"]).first()
        self._count("custom fields", existing is None)
        return existing or custom_field_create(**definition)

    def _tag(self, name: str) -> Tag:
        existing = Tag.objects.filter(name__iexact=name).first()
        self._count("tags", existing is None)
        return existing or tag_create(name=name)

    def _audience(self, name: str) -> Audience:
        existing = Audience.objects.filter(name__iexact=name).first()
        self._count("audiences", existing is None)
        return existing or audience_create(name=name)

    def _list(self, name: str, mode: str, audience: Audience) -> MarketingList:
        existing = MarketingList.objects.filter(name=name).first()
        self._count("lists", existing is None)
        return existing or list_create(name=name, mode=mode, audience=audience)

    def _subscribers(
        self,
        people: list[DemoSubscriber],
        types: dict[str, SubscriptionType],
        tags: dict[str, Tag],
        audiences: dict[str, Audience],
        lists: dict[str, MarketingList],
    ) -> None:
        emails = [person.email for person in people]
        by_email = Subscriber.objects.annotate(email_ci=Lower("email")).filter(email_ci__in=emails)
        existing = set(by_email.values_list("email_ci", flat=True))
        for person in people:
            if person.email in existing:
                continue
            subscriber_create(
                email=person.email,
                first_name=person.first_name,
                last_name=person.last_name,
                active=person.active,
                inactive_reason=person.inactive_reason,
                additional_fields_data=person.fields,
                audiences=[audiences[name].public_id for name in person.audiences],
                lists=[lists[name].public_id for name in person.lists],
                tags=[tags[name].public_id for name in person.tags],
                subscription_updates=[
                    {"subscription_type_id": types[name].public_id, "subscribe": subscribe}
                    for name, subscribe in person.consent.items()
                ],
            )
            self._count("subscribers", True)
            if self.verbosity >= 1 and self.created["subscribers"] % PROGRESS_EVERY == 0:
                self.stdout.write(f"  {self.created['subscribers']} subscribers created...")
                self.stdout.flush()

    def _engagement(self, people: list[DemoSubscriber]) -> None:
        """Opens (and some clicks) over the last 30 days, most of them by premium customers. Skipped while the last
        demo batch is under a week old; a later run adds a batch dated from then."""
        now = timezone.now()
        latest = EngagementEvent.objects.filter(event_id__startswith=DEMO_EVENT_PREFIX).aggregate(at=Max("occurred_at"))
        if latest["at"] is not None and latest["at"] > now - ENGAGEMENT_REFRESH:
            return
        public_ids = dict(
            Subscriber.objects.annotate(email_ci=Lower("email"))
            .filter(email_ci__in=[person.email for person in people])
            .values_list("email_ci", "public_id")
        )
        batch = f"{DEMO_EVENT_PREFIX}{now:%Y%m%d}"
        events = []
        for person in people:
            # One generator per person (not the subscribers' one): the same events for the same person and day.
            rng = random.Random(f"{batch}:{person.email}")  # noqa: S311 - reproducible demo data
            rate = OPEN_RATES.get(person.fields["customer_type"], 0)
            if not person.active or person.email not in public_ids or rng.random() >= rate:
                continue
            # Few campaigns per person: each (person, campaign) is one engagement record to write.
            campaigns = rng.sample(CAMPAIGNS, rng.choice((1, 1, 2)))
            for number in range(rng.randint(1, 6)):
                campaign, url = rng.choice(campaigns)
                opened_at = now - dt.timedelta(days=rng.uniform(0.1, ENGAGEMENT_DAYS - 1))
                common = {"subscriber_id": public_ids[person.email], "campaign_code": campaign}
                events.append(
                    EngagementEventInput(
                        event_id=f"{batch}:{person.email}:open:{number}",
                        event_type=EngagementEvent.EventType.OPENED,
                        occurred_at=opened_at,
                        **common,
                    )
                )
                if rng.random() < 0.35:
                    events.append(
                        EngagementEventInput(
                            event_id=f"{batch}:{person.email}:click:{number}",
                            event_type=EngagementEvent.EventType.CLICKED,
                            occurred_at=opened_at + dt.timedelta(minutes=rng.randint(1, 90)),
                            url=url,
                            **common,
                        )
                    )
        for start in range(0, len(events), 1000):
            outcome = engagement_events_record(events=events[start : start + 1000])
            self.created["engagement events"] = self.created.get("engagement events", 0) + outcome.accepted

    def _suppression_list(self, people: list[DemoSubscriber]) -> int:
        """A static list flagged as suppression, holding the few demo subscribers who asked never to be emailed:
        they stay in their audiences and lists, but no count of reachable members includes them. Answers its size."""
        existing = MarketingList.objects.filter(name=SUPPRESSION_LIST).first()
        self._count("suppression lists", existing is None)
        suppression = existing
        if suppression is None:
            suppression = list_create(
                name=SUPPRESSION_LIST, mode=MarketingList.Mode.STATIC, audience=default_audience()
            )
            suppression = list_set_composition(marketing_list=suppression, is_suppression=True)
        emails = [person.email for person in people if is_suppressed(person.email)]
        members = set(ListMembership.objects.filter(marketing_list=suppression).values_list("subscriber_id", flat=True))
        wanted = Subscriber.objects.annotate(email_ci=Lower("email")).filter(email_ci__in=emails).order_by("pk")
        for subscriber in wanted.exclude(pk__in=members):
            list_add_subscriber(marketing_list=suppression, subscriber=subscriber)
            self._count("suppressed subscribers", True)
        return ListMembership.objects.filter(marketing_list=suppression).count()

    def _rule_audiences(self, types: dict[str, SubscriptionType]) -> list[Audience]:
        made = []
        ids = {name: subscription_type.public_id for name, subscription_type in types.items()}
        for name, rules in rule_audiences(subscription_types=ids).items():
            existing = Audience.objects.filter(name__iexact=name).first()
            self._count("rule audiences", existing is None)
            made.append(existing or audience_create(name=name, rules=rules))
        return made

    def _loyalty_tiers(self) -> list[Audience]:
        """A loyalty-tier group over lifetime value: each subscriber with a value is in exactly one tier."""
        group = AudienceGroup.objects.filter(name=LOYALTY_GROUP, kind=AudienceGroup.Kind.LOYALTY_TIERS).first()
        if group is None:
            try:
                group, _ = loyalty_tiers_create(
                    name=LOYALTY_GROUP,
                    value_field=LOYALTY_FIELD,
                    tiers=[TierSpec(name=name, min=low) for name, low in LOYALTY_TIERS],
                )
            except ApplicationError as error:  # e.g. a tier's name taken by an audience of the user's
                reasons = "; ".join(issue.message for issue in error.issues) or error.message
                self.stderr.write(f"Loyalty tiers not created: {reasons}")
                return []
            self.created["loyalty tiers"] = len(LOYALTY_TIERS)
        return list(group.audiences.order_by("tier_min", "pk"))

    def _materialize(self, audience: Audience) -> None:
        audience.refresh_from_db()
        if audience.status != Audience.Status.READY:
            audience_materialize(audience_pk=audience.pk, generation=audience.rules_generation)
            audience.refresh_from_db()
        if self.verbosity >= 1:
            members = audience_members(audience)
            self.stdout.write(
                f'Audience "{audience.name}": {audience.status}, {members.count()} members '
                f"({reachable(members).count()} reachable)"
            )
            self.stdout.flush()

    def _count_history(self) -> None:
        """Today's count of every audience and list, and for those without any history, three weeks of made-up daily
        counts leading up to it (growing by 10 to 35 percent), so that the growth charts and the growth endpoints
        have a line to draw."""
        with_history = set(AudienceDailyCount.objects.values_list("audience_id", flat=True).distinct())
        rows = [
            AudienceDailyCount(audience=audience, **day)
            for audience in Audience.objects.exclude(pk__in=with_history).order_by("pk")
            for day in self._made_up_history(audience.public_id, audience_members(audience))
        ]
        AudienceDailyCount.objects.bulk_create(rows, ignore_conflicts=True)
        with_history = set(ListDailyCount.objects.values_list("marketing_list_id", flat=True).distinct())
        list_rows = [
            ListDailyCount(marketing_list=marketing_list, **day)
            for marketing_list in MarketingList.objects.exclude(pk__in=with_history).select_related("audience")
            for day in self._made_up_history(marketing_list.public_id, list_members(marketing_list))
        ]
        ListDailyCount.objects.bulk_create(list_rows, ignore_conflicts=True)
        self.created["daily counts"] = self.created.get("daily counts", 0) + len(rows) + len(list_rows)
        record_daily_counts()

    @staticmethod
    def _made_up_history(public_id: str, members: QuerySet[Subscriber]) -> list[dict]:
        today = timezone.localdate()
        count = members.count()
        reach = reachable(members).count()
        rng = random.Random(f"{SEED}:{public_id}")  # noqa: S311 - reproducible demo data
        growth = rng.uniform(0.10, 0.35)
        days = []
        for days_ago in range(HISTORY_DAYS, 0, -1):
            share = 1 - growth * days_ago / HISTORY_DAYS + rng.uniform(-0.015, 0.015)
            then = max(0, round(count * min(share, 1)))
            days.append(
                {
                    "day": today - dt.timedelta(days=days_ago),
                    "member_count": then,
                    "reachable_count": round(then * reach / count) if count else 0,
                }
            )
        return days
