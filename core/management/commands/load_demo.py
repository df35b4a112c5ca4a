"""`manage.py load_demo`: a believable demo data set, made through the services so it obeys every business rule.

Idempotent: each thing is looked up by its name (or email) first and only created when missing, and the subscribers
come from a fixed seed, so a second run adds nothing and an interrupted run is completed by the next one.
Engagement (opens and clicks over the last 30 days) is recorded through the engagement service with fixed event ids;
a run more than a week after the last one adds a fresh batch, so that "opened in the last 30 days" keeps matching.
Audiences get a few weeks of daily counts the first time, so that their growth charts show something."""

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.db.models import Max
from django.db.models.functions import Lower
from django.utils import timezone

from audiences.models import Audience, AudienceDailyCount, MarketingList
from audiences.selectors import audience_members, reachable
from audiences.services import audience_create, default_audience, list_create
from audiences.tasks import record_daily_counts
from subscribers.models import CustomField, EngagementEvent, Subscriber, SubscriptionType, Tag
from subscribers.services import custom_field_create, subscriber_create, subscription_type_create, tag_create
from subscribers.services.engagement import EngagementEventInput, engagement_events_record

SEED = 20240315
DEFAULT_SUBSCRIBER_COUNT = 300
DOMAINS = ("example.com", "example.org")

NEWSLETTER = "Monthly Newsletter"
PROMOTIONS = "Promotional Emails"
PRODUCT_UPDATES = "Product Updates"
EVENTS = "Events & Webinars"
SUBSCRIPTION_TYPES = {
    NEWSLETTER: "Our best stories, customer tips and company news, once a month.",
    PROMOTIONS: "Sales, discount codes and limited-time offers, a few times a month.",
    PRODUCT_UPDATES: "New features, releases and improvements to the products you use.",
    EVENTS: "Invitations to webinars, workshops and in-person events near you.",
}
# Share of subscribers who gave consent to each type (the rest withdrew it or never chose).
CONSENT_RATES = {NEWSLETTER: 0.7, PROMOTIONS: 0.45, PRODUCT_UPDATES: 0.55, EVENTS: 0.3}

CUSTOM_FIELDS: list[dict[str, Any]] = [
    {
        "name": "customer_type",
        "field_type": CustomField.FieldType.DROPDOWN,
        "values": ["retail", "premium", "enterprise"],
        "default": "retail",
        "description": "Commercial tier of the customer.",
    },
    {"name": "lifetime_value", "field_type": CustomField.FieldType.NUMBER, "description": "Total spend to date, USD."},
    {"name": "date_of_birth", "field_type": CustomField.FieldType.DATE, "description": "For birthday offers."},
    {
        "name": "preferred_language",
        "field_type": CustomField.FieldType.STRING,
        "default": "en",
        "description": "ISO 639-1 code of the language emails are sent in.",
    },
    {
        "name": "vip",
        "field_type": CustomField.FieldType.BOOLEAN,
        "default": False,
        "description": "Hand-picked customers who get early access and a dedicated contact.",
    },
]

VIP_TAG = "VIP"
TAGS = (VIP_TAG, "Early Adopter", "Webinar Attendee", "Churn Risk", "Black Friday 2024")
TAG_RATES = {"Early Adopter": 0.12, "Webinar Attendee": 0.15, "Churn Risk": 0.08, "Black Friday 2024": 0.2}

HIGH_VALUE = "High-Value Customers"
NEWSLETTER_READERS = "Newsletter Readers"
ENTERPRISE = "Enterprise Accounts"
RECENTLY_ENGAGED = "Recently Engaged"
AUDIENCES = (HIGH_VALUE, NEWSLETTER_READERS, ENTERPRISE, RECENTLY_ENGAGED)
HIGH_VALUE_THRESHOLD = 2500

# (name, mode, audience name or None for "All Subscribers", share of subscribers in it for static lists)
LISTS: tuple[tuple[str, str, str | None, float], ...] = (
    ("Spring Sale 2025", MarketingList.Mode.STATIC, None, 0.25),
    ("Webinar Registrants", MarketingList.Mode.STATIC, None, 0.15),
    ("Beta Testers", MarketingList.Mode.STATIC, RECENTLY_ENGAGED, 0.08),
    ("High-Value Customers (auto)", MarketingList.Mode.DYNAMIC, HIGH_VALUE, 0.0),
    ("Newsletter Readers (auto)", MarketingList.Mode.DYNAMIC, NEWSLETTER_READERS, 0.0),
)

FIRST_NAMES = (
    "Olivia Liam Emma Noah Amelia Oliver Ava Elijah Sophia James Isabella William Mia Benjamin Charlotte Lucas "
    "Harper Henry Evelyn Theodore Luna Jack Camila Levi Gianna Alexander Elizabeth Jackson Eleanor Mateo Ella "
    "Daniel Abigail Michael Sofia Mason Avery Sebastian Scarlett Ethan Emily Logan Aria Owen Penelope Samuel "
    "Chloe Jacob Layla Asher Mila Aiden Nora John Hazel Joseph Madison Wyatt Ellie David Lily Leo Nova Luke "
    "Isla Julian Grace Hudson Violet Grayson Aurora Matthew Riley Ezra Zoey Gabriel Willow Carter Emilia Isaac "
    "Stella Jayden Zoe Luca Victoria Anthony Hannah Dylan Addison Lincoln Leah Thomas Lucy Maverick Eliana"
).split()
LAST_NAMES = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez Wilson "
    "Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark Ramirez Lewis "
    "Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams Nelson Baker Hall "
    "Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz Edwards Collins Reyes "
    "Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard "
    "Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price"
).split()
# Demo engagement: who opened (share of active subscribers by customer type) and the campaigns they opened.
OPEN_RATES = {"premium": 0.6, "enterprise": 0.4, "retail": 0.2}
CAMPAIGNS = (
    ("spring-sale-2025", "https://shop.example.com/spring-sale"),
    ("newsletter-2025-05", "https://blog.example.com/may-highlights"),
    ("product-update-42", "https://example.com/releases/42"),
)
ENGAGEMENT_DAYS = 30
ENGAGEMENT_REFRESH = dt.timedelta(days=7)
DEMO_EVENT_PREFIX = "demo:"
HISTORY_DAYS = 21

LANGUAGES = ("en", "en", "en", "en", "es", "es", "fr", "de", "pt", "it")
INACTIVE_REASONS = ("Unsubscribed from all emails", "Hard bounce: mailbox does not exist", "Marked an email as spam")


@dataclass
class DemoSubscriber:
    """One generated subscriber, in terms of names (resolved to public ids when created)."""

    email: str
    first_name: str
    last_name: str
    active: bool
    inactive_reason: str | None
    fields: dict[str, Any]
    consent: dict[str, bool]
    audiences: list[str] = field(default_factory=list)
    lists: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)


def _customer(rng: random.Random) -> tuple[str, float]:
    roll = rng.random()
    if roll < 0.1:
        return "enterprise", round(rng.uniform(5_000, 60_000), 2)
    if roll < 0.35:
        return "premium", round(rng.uniform(400, 6_000), 2)
    return "retail", round(rng.uniform(0, 900), 2)


def generate_subscribers(count: int, *, seed: int = SEED) -> list[DemoSubscriber]:
    """The same `count` subscribers for the same seed; the first n of a longer run are those of a shorter one."""
    rng = random.Random(seed)  # noqa: S311 - demo data must be reproducible, not secret
    taken: set[str] = set()
    people = []
    static_lists = [(name, share) for name, mode, _, share in LISTS if mode == MarketingList.Mode.STATIC]
    for _ in range(count):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        domain = rng.choice(DOMAINS)
        local, suffix = f"{first}.{last}".lower(), 1
        while f"{local}@{domain}" in taken:
            suffix += 1
            local = f"{first}.{last}{suffix}".lower()
        email = f"{local}@{domain}"
        taken.add(email)

        customer_type, lifetime_value = _customer(rng)
        vip = lifetime_value >= 20_000 or (customer_type == "premium" and lifetime_value >= 5_000)
        fields: dict[str, Any] = {
            "customer_type": customer_type,
            "lifetime_value": lifetime_value,
            "preferred_language": rng.choice(LANGUAGES),
            "vip": vip,
        }
        if rng.random() < 0.85:
            fields["date_of_birth"] = (dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20_000))).isoformat()

        active = rng.random() >= 0.08
        reason = None if active else rng.choice(INACTIVE_REASONS)
        consent: dict[str, bool] = {}
        for type_name, rate in CONSENT_RATES.items():
            if rng.random() < 0.9:  # the rest never chose either way
                consent[type_name] = active and rng.random() < rate

        person = DemoSubscriber(email, first, last, active, reason, fields, consent)
        if lifetime_value >= HIGH_VALUE_THRESHOLD:
            person.audiences.append(HIGH_VALUE)
        if consent.get(NEWSLETTER):
            person.audiences.append(NEWSLETTER_READERS)
        if customer_type == "enterprise":
            person.audiences.append(ENTERPRISE)
        if active and rng.random() < 0.3:
            person.audiences.append(RECENTLY_ENGAGED)
        person.lists = [name for name, share in static_lists if rng.random() < share]
        person.tags = [VIP_TAG] if vip else []
        person.tags += [name for name, rate in TAG_RATES.items() if rng.random() < rate]
        people.append(person)
    return people


class Command(BaseCommand):
    help = "Load demo data (subscription types, custom fields, tags, audiences, lists, subscribers). Safe to re-run."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--subscribers",
            type=int,
            default=DEFAULT_SUBSCRIBER_COUNT,
            help=f"How many demo subscribers to have (default {DEFAULT_SUBSCRIBER_COUNT}).",
        )

    def handle(self, *args: Any, subscribers: int, **options: Any) -> None:
        self.created: dict[str, int] = {}
        with transaction.atomic():
            types = {name: self._subscription_type(name, text) for name, text in SUBSCRIPTION_TYPES.items()}
            for definition in CUSTOM_FIELDS:
                self._custom_field(definition)
            tags = {name: self._tag(name) for name in TAGS}
            audiences = {name: self._audience(name) for name in AUDIENCES}
            lists = {
                name: self._list(name, mode, audiences[audience] if audience else default_audience())
                for name, mode, audience, _ in LISTS
            }
            people = generate_subscribers(max(subscribers, 0))
            self._subscribers(people, types, tags, audiences, lists)
            self._engagement(people)
            self._count_history()
        if options["verbosity"] >= 1:
            made = ", ".join(f"{count} {what}" for what, count in self.created.items() if count) or "nothing"
            self.stdout.write(self.style.SUCCESS(f"Demo data ready (created {made})."))

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

    def _count_history(self) -> None:
        """Today's count of every audience, and for audiences without any history, three weeks of made-up daily counts
        leading up to it (growing by 10 to 35 percent), so that the growth chart has a line to draw."""
        today = timezone.localdate()
        with_history = set(AudienceDailyCount.objects.values_list("audience_id", flat=True).distinct())
        rows = []
        for audience in Audience.objects.exclude(pk__in=with_history).order_by("pk"):
            members = audience_members(audience)
            count = members.count()
            reach = reachable(members).count()
            rng = random.Random(f"{SEED}:{audience.public_id}")  # noqa: S311 - reproducible demo data
            growth = rng.uniform(0.10, 0.35)
            for days_ago in range(HISTORY_DAYS, 0, -1):
                share = 1 - growth * days_ago / HISTORY_DAYS + rng.uniform(-0.015, 0.015)
                then = max(0, round(count * min(share, 1)))
                rows.append(
                    AudienceDailyCount(
                        audience=audience,
                        day=today - dt.timedelta(days=days_ago),
                        member_count=then,
                        reachable_count=round(then * reach / count) if count else 0,
                    )
                )
        AudienceDailyCount.objects.bulk_create(rows, ignore_conflicts=True)
        self.created["daily counts"] = self.created.get("daily counts", 0) + len(rows)
        record_daily_counts()
