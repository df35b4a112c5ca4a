"""The demo data set `load_demo` makes: subscription types, custom fields, tags, audiences and lists by name, the
subscribers (generated from a fixed seed), the rule-based audiences, the loyalty tiers and the suppression list."""

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from audiences.models import MarketingList
from subscribers.models import CustomField

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


# --- Segments built on the data: rule audiences, loyalty tiers and a suppression list ------------------------------

RECENT_PREMIUM = "Premium customers who opened in the last 30 days"
WIN_BACK = "Valuable customers gone quiet (win-back)"


def rule_audiences(*, subscription_types: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The demo's rule audiences by name, with their rules; `subscription_types` maps names to public ids."""
    return {
        RECENT_PREMIUM: {
            "match": "all",
            "conditions": [
                {"field": "additional_fields_data.customer_type", "operation": "eq", "value": "premium"},
                {"field": "engagement.opens", "operation": "gte", "value": 1, "window": "30 days"},
            ],
        },
        # Spent at least 1,000, opened nothing for a month, and still accepts newsletters or offers.
        WIN_BACK: {
            "match": "all",
            "conditions": [
                {"field": "additional_fields_data.lifetime_value", "operation": "gte", "value": 1000},
                {"field": "engagement.opens", "operation": "eq", "value": 0, "window": "30 days"},
                {
                    "match": "any",
                    "conditions": [
                        {"field": "subscriptions", "operation": "eq", "value": subscription_types[NEWSLETTER]},
                        {"field": "subscriptions", "operation": "eq", "value": subscription_types[PROMOTIONS]},
                    ],
                },
            ],
        },
    }


LOYALTY_GROUP = "Customer loyalty"
LOYALTY_FIELD = "additional_fields_data.lifetime_value"
# (tier name, lowest lifetime value): each tier runs up to the next one's minimum, the last is open-ended.
LOYALTY_TIERS = (
    ("Loyalty: Bronze", 0),
    ("Loyalty: Silver", 500),
    ("Loyalty: Gold", 2500),
    ("Loyalty: Platinum", 10_000),
)

SUPPRESSION_LIST = "Do Not Contact"
SUPPRESSION_RATE = 0.03


def is_suppressed(email: str) -> bool:
    """Whether this demo subscriber asked never to be emailed again (about 3 in 100). Drawn per email, apart from the
    generator above, so that adding it changed no one else's data."""
    return random.Random(f"{SEED}:suppression:{email}").random() < SUPPRESSION_RATE  # noqa: S311 - demo data
