"""What the segmentation benchmark (`segments.py`) measures on: a deterministic data set generated set-based in SQL
(subscribers with custom fields, lists, a suppression list, consent, tags, engagement events), and the audiences built
on it (the three-condition audience of the issue, a broad one, and varied rules for live updates)."""

import random
from typing import Any

from common import Stopwatch, bulk_load, execute, log

# The three-condition audience of the issue: a custom field, a list, engagement within a window.
CUSTOMER_TYPES = (("premium", 0.20), ("standard", 0.45), ("trial", 0.25), ("enterprise", 0.05))  # 5% have none
LISTS = (("Newsletter readers", 0.30, False), ("Customers", 0.15, False), ("Webinar", 0.05, False))
SUPPRESSION_SHARE = 0.01
ENGAGED_SHARE = 0.5  # subscribers with any engagement; opens spread over the last 60 days

# A deterministic pseudo-random number in [0, 1) per (seed, salt), so every run generates the same data.
RAND_FUNCTION = """
CREATE OR REPLACE FUNCTION bench_rand(seed bigint, salt int) RETURNS double precision
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (hashint8(seed * 1000003 + salt)::bigint & 2147483647) / 2147483648.0 $$
"""

FIRST_NAMES = "Ana Ben Chloe Dan Eva Finn Gina Hugo Iris Jon Kai Lea Max Nina Omar Pia Quinn Rosa Sam Tara".split()
LAST_NAMES = (
    "Adams Brown Clark Davis Evans Frost Green Hall Irwin Jones King Lee Moore Nash Owen Park Reed Shaw Todd".split()
)


def sql_array(words: list[str]) -> str:
    return "ARRAY[" + ", ".join(f"'{word}'" for word in words) + "]"


# --- data -------------------------------------------------------------------------------------------------------------


def generate(subscribers: int) -> dict[str, Any]:
    """Everything the measures need, generated set-based; answers the objects they refer to."""
    from audiences.models import DEFAULT_AUDIENCE_ID, Audience, MarketingList
    from subscribers.models import CustomField, SubscriptionType, Tag
    from subscribers.services import custom_field_create

    execute(RAND_FUNCTION)
    execute("SET synchronous_commit = off")
    CustomField.objects.create(
        name="customer_type", field_type=CustomField.FieldType.DROPDOWN, values=[name for name, _ in CUSTOMER_TYPES]
    )
    # Through the service, as staff would: a number field gets its expression index (subscribers/indexes.py).
    custom_field_create(name="lifetime_value", field_type=CustomField.FieldType.NUMBER)
    CustomField.objects.create(name="country", field_type=CustomField.FieldType.STRING)
    default = Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID)
    lists = [MarketingList.objects.create(name=name, audience=default) for name, _, _ in LISTS]
    suppression = MarketingList.objects.create(name="Suppressed", audience=default, is_suppression=True)
    newsletter = SubscriptionType.objects.create(name="Newsletter")
    promotions = SubscriptionType.objects.create(name="Promotions")
    vip = Tag.objects.create(name="vip")
    beta = Tag.objects.create(name="beta")

    tables = [
        "subscribers_subscriber",
        "audiences_listmembership",
        "subscribers_subscriptionpreference",
        "subscribers_subscriber_tags",
        "subscribers_engagement",
        "subscribers_engagementevent",
    ]
    with Stopwatch() as total, bulk_load(tables):
        _generate_subscribers(subscribers)
        for salt, (marketing_list, (_, share, _)) in enumerate(zip(lists, LISTS, strict=True)):
            execute(
                "INSERT INTO audiences_listmembership (marketing_list_id, subscriber_id, created_at) "
                "SELECT %s, id, created_at FROM subscribers_subscriber WHERE bench_rand(id, %s) < %s",
                [marketing_list.pk, 10 + salt, share],
            )
        execute(
            "INSERT INTO audiences_listmembership (marketing_list_id, subscriber_id, created_at) "
            "SELECT %s, id, now() FROM subscribers_subscriber WHERE bench_rand(id, 19) < %s",
            [suppression.pk, SUPPRESSION_SHARE],
        )
        for stype, salt, share in ((newsletter, 20, 0.85), (promotions, 21, 0.40)):
            # Of those with a preference, 6% withdrew their consent.
            execute(
                """
                INSERT INTO subscribers_subscriptionpreference (subscriber_id, subscription_type_id, subscribed,
                    subscribed_date, unsubscribed_date)
                SELECT id, %s, r >= 0.06 * %s, created_at, CASE WHEN r < 0.06 * %s THEN now() - interval '10 days' END
                FROM subscribers_subscriber, LATERAL (SELECT bench_rand(id, %s) AS r) AS draw WHERE r < %s
                """,
                [stype.pk, share, share, salt, share],
            )
        for tag, salt, share in ((vip, 22, 0.10), (beta, 23, 0.03)):
            execute(
                "INSERT INTO subscribers_subscriber_tags (subscriber_id, tag_id) "
                "SELECT id, %s FROM subscribers_subscriber WHERE bench_rand(id, %s) < %s",
                [tag.pk, salt, share],
            )
        _generate_engagement()
        log("  rebuilding indexes")
    events = execute("SELECT count(*) FROM subscribers_engagementevent")[0][0]
    log(f"  {subscribers:,} subscribers and {events:,} engagement events, with indexes, in {total.seconds:.1f} s")
    with Stopwatch() as watch:
        execute("VACUUM ANALYZE")
    log(f"  vacuum analyze in {watch.seconds:.1f} s")
    return {
        "list_x": lists[0],
        "lists": lists,
        "suppression": suppression,
        "newsletter": newsletter,
        "promotions": promotions,
        "tags": [vip, beta],
    }


def _generate_subscribers(subscribers: int) -> None:
    bounds = [sum(share for _, share in CUSTOMER_TYPES[: i + 1]) for i in range(len(CUSTOMER_TYPES))]
    customer_type = (
        "CASE "
        + " ".join(
            f"WHEN r < {bound:.2f} THEN '{name}'" for (name, _), bound in zip(CUSTOMER_TYPES, bounds, strict=True)
        )
        + " END"
    )
    execute(
        f"""
        INSERT INTO subscribers_subscriber (public_id, created_at, updated_at, version, email, first_name,
            last_name, active, inactive_reason, additional_fields_data, token_version)
        SELECT 'sub_' || substr(md5(i::text), 1, 16), now() - interval '1095 days' * bench_rand(i, 1), NULL, 1,
            'user' || i || '@example' || (i %% 97) || '.com',
            ({sql_array(FIRST_NAMES)})[1 + i %% 20], ({sql_array(LAST_NAMES)})[1 + (i / 20) %% 19],
            bench_rand(i, 2) >= 0.03, CASE WHEN bench_rand(i, 2) < 0.03 THEN 'bounced' ELSE '' END,
            jsonb_strip_nulls(jsonb_build_object(
                'customer_type', {customer_type},
                'lifetime_value', CASE WHEN bench_rand(i, 4) < 0.95
                                       THEN round((bench_rand(i, 5) ^ 3 * 10000)::numeric, 2) END,
                'country', (ARRAY['US', 'GB', 'DE', 'FR', 'ES', 'IT', 'NL', 'SE'])[1 + i %% 8]
            )),
            1
        FROM generate_series(1, %s) AS i, LATERAL (SELECT bench_rand(i, 3) AS r) AS draw
        """,
        [subscribers],
    )


def _generate_engagement() -> None:
    """Per engaged subscriber: 3 deliveries, 0-8 opens and 0-3 clicks over the last 60 days; purchases for 1 in 10."""
    execute(
        """
        INSERT INTO subscribers_engagement (subscriber_id, marketing_email_id, campaign_code, email_sent_at,
            email_delivered_at, delivery_status, open_count, click_count, clicked_links, page_view_count,
            total_engagement_time_seconds, purchase_count, total_purchase_amount, engagement_score,
            campaign_metadata, created_at, updated_at)
        SELECT id, NULL, 'bench', now() - interval '60 days', now() - interval '60 days', 'DELIVERED', 0, 0,
            '[]', 0, 0, 0, 0, 0, '{}', now(), now()
        FROM subscribers_subscriber WHERE bench_rand(id, 30) < %s
        """,
        [ENGAGED_SHARE],
    )
    for event_type, salt, most, share in (
        ("delivered", 31, 3, 1.0),
        ("opened", 32, 8, 1.0),
        ("clicked", 33, 3, 1.0),
        ("purchase", 34, 2, 0.1),
    ):
        amount = "jsonb_build_object('amount', round((bench_rand(e.id * 16 + g, 39) * 200)::numeric, 2))"
        count = "%s" if event_type == "delivered" else f"(bench_rand(e.subscriber_id, {salt}) * %s)::int"
        execute(
            f"""
            INSERT INTO subscribers_engagementevent (event_id, engagement_id, subscriber_id, event_type,
                occurred_at, data, created_at)
            SELECT '{event_type}-' || e.id || '-' || g, e.id, e.subscriber_id, '{event_type}',
                now() - interval '60 days' * bench_rand(e.id * 16 + g, {salt}),
                {amount if event_type == "purchase" else "'{}'::jsonb"}, now()
            FROM subscribers_engagement AS e CROSS JOIN LATERAL generate_series(1, {count}) AS g
            WHERE bench_rand(e.subscriber_id, {salt + 10}) < %s
            """,
            [most, share],
        )


def load_existing() -> dict[str, Any]:
    from audiences.models import MarketingList
    from subscribers.models import SubscriptionType, Tag

    lists = [MarketingList.objects.get(name=name) for name, _, _ in LISTS]
    return {
        "list_x": lists[0],
        "lists": lists,
        "suppression": MarketingList.objects.get(name="Suppressed"),
        "newsletter": SubscriptionType.objects.get(name="Newsletter"),
        "promotions": SubscriptionType.objects.get(name="Promotions"),
        "tags": list(Tag.objects.filter(name__in=["vip", "beta"]).order_by("-name")),
    }


# --- audiences --------------------------------------------------------------------------------------------------------


def three_condition_rules(list_public_id: str, *, more_than: int = 2) -> dict:
    return {
        "match": "all",
        "conditions": [
            {"field": "additional_fields_data.customer_type", "operation": "eq", "value": "premium"},
            {"field": "lists", "operation": "in", "value": [list_public_id]},
            {"field": "engagement.opens", "operation": "gt", "value": more_than, "window": "30 days"},
        ],
    }


def broad_rules(*, at_least: float) -> dict:
    return {
        "match": "all",
        "conditions": [
            {"field": "additional_fields_data.lifetime_value", "operation": "gte", "value": at_least},
            {"field": "active", "operation": "eq", "value": True},
        ],
    }


def audience_with_rules(name: str, rules: dict):
    """An audience created as the service would store it, but not materialized: the benchmark decides when."""
    from audiences.models import Audience
    from audiences.rules import validate_rules

    group, time_relative = validate_rules(rules)
    Audience.objects.filter(name=name).delete()
    return Audience.objects.create(
        name=name,
        rules=group.model_dump(exclude_defaults=False),
        rules_are_time_relative=time_relative,
        status=Audience.Status.PENDING,
        rules_generation=1,
    )


def change_rules(audience, rules: dict) -> None:
    """What a rules change stores (see audiences.services.audience_update), without queueing the job."""
    from django.db.models import F

    from audiences.models import Audience
    from audiences.rules import validate_rules

    group, time_relative = validate_rules(rules, audience=audience)
    Audience.objects.filter(pk=audience.pk).update(
        rules=group.model_dump(exclude_defaults=False),
        rules_are_time_relative=time_relative,
        rules_generation=F("rules_generation") + 1,
        status=Audience.Status.PENDING,
    )


def varied_rules(data: dict, rng: random.Random, others: list[str]) -> dict:
    """One audience's rules for the live-update measure, drawn from what people build: custom fields, lists,
    consent, tags, engagement windows, nested any-groups, negation, and now and then another audience."""
    lists = [lst.public_id for lst in data["lists"]]
    conditions = [
        lambda: {
            "field": "additional_fields_data.customer_type",
            "operation": "eq",
            "value": rng.choice([n for n, _ in CUSTOMER_TYPES]),
        },
        lambda: {
            "field": "additional_fields_data.customer_type",
            "operation": "in",
            "value": rng.sample([n for n, _ in CUSTOMER_TYPES], 2),
        },
        lambda: {
            "field": "additional_fields_data.lifetime_value",
            "operation": rng.choice(["gt", "lt", "gte"]),
            "value": rng.choice([100, 500, 1000, 5000]),
        },
        lambda: {"field": "additional_fields_data.lifetime_value", "operation": "between", "value": [200, 2000]},
        lambda: {
            "field": "additional_fields_data.country",
            "operation": "in",
            "value": rng.sample(["US", "GB", "DE", "FR"], 2),
        },
        lambda: {"field": "lists", "operation": "in", "value": [rng.choice(lists)]},
        lambda: {"field": "lists", "operation": "nin", "value": [data["suppression"].public_id]},
        lambda: {
            "field": "subscriptions",
            "operation": "eq",
            "value": rng.choice([data["newsletter"], data["promotions"]]).public_id,
        },
        lambda: {"field": "tags", "operation": "eq", "value": rng.choice(data["tags"]).public_id},
        lambda: {
            "field": "engagement.opens",
            "operation": "gt",
            "value": rng.randint(0, 4),
            "window": rng.choice(["7 days", "30 days", "60 days"]),
        },
        lambda: {"field": "engagement.clicks", "operation": "gte", "value": 1, "window": "30 days"},
        lambda: {"field": "engagement.purchase_amount", "operation": "gt", "value": 50, "window": "60 days"},
        lambda: {"field": "engagement.last_open_at", "operation": "gt", "value": "14 days ago"},
        lambda: {"field": "email", "operation": "like", "value": f"example{rng.randint(0, 96)}."},
        lambda: {"field": "created_at", "operation": "gt", "value": "365 days ago"},
        lambda: {"field": "active", "operation": "eq", "value": True},
    ]
    chosen = [rng.choice(conditions)() for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.3:
        chosen.append(
            {"match": "any", "negate": rng.random() < 0.3, "conditions": [rng.choice(conditions)() for _ in range(2)]}
        )
    if others and rng.random() < 0.1:
        chosen.append({"field": "audiences", "operation": "eq", "value": rng.choice(others)})
    return {"match": rng.choice(["all", "all", "any"]), "conditions": chosen}
