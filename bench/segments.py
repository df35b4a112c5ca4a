"""Segmentation at a million: audience counts, member pages, rematerialization and live membership, each against the
same answer written by hand in SQL (the floor), measured in one run on one machine.

    .venv/bin/python bench/segments.py                          # 100,000 subscribers, a quick run
    .venv/bin/python bench/segments.py --subscribers 1000000    # the figures in the README

It drops and recreates its own database (`roster_bench` on postgres@127.0.0.1, or BENCH_DATABASE_URL), migrates it,
generates subscribers, custom fields, lists, consent, tags and engagement events set-based in SQL, then measures.
Progress goes to stderr; the results, as Markdown, to stdout.
"""

import argparse
import datetime as dt
import random
import statistics
import sys
from typing import Any

from common import (
    Result,
    Stopwatch,
    TimedOut,
    bulk_load,
    database_url,
    execute,
    format_seconds,
    log,
    markdown_table,
    migrate,
    peak_memory_mb,
    recreate_database,
    results_table,
    run_limited,
    setup_django,
    timed,
)

DATABASE_NAME = "roster_bench"
PAGE_SIZE = 100
RULE_AUDIENCES_FOR_UPDATES = 50
# Indexes added because this benchmark showed they pay (subscribers/migrations/0003_segment_indexes.py).
SEGMENT_INDEXES = ("subscriber_cf_lifetime_value_number",)

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

    execute(RAND_FUNCTION)
    execute("SET synchronous_commit = off")
    CustomField.objects.create(
        name="customer_type", field_type=CustomField.FieldType.DROPDOWN, values=[name for name, _ in CUSTOMER_TYPES]
    )
    CustomField.objects.create(name="lifetime_value", field_type=CustomField.FieldType.NUMBER)
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


# --- hand-written SQL (the floor) -------------------------------------------------------------------------------------

# The three conditions as a careful person writes them. Two shapes, for the engagement condition: a grouped
# semi-join and a correlated count; the floor is whichever is faster here.
HAND_THREE_CONDITIONS = {
    "grouped": """
        s.additional_fields_data ->> 'customer_type' = 'premium'
        AND EXISTS (SELECT 1 FROM audiences_listmembership AS lm
                    WHERE lm.subscriber_id = s.id AND lm.marketing_list_id = %(list)s)
        AND s.id IN (SELECT e.subscriber_id FROM subscribers_engagementevent AS e
                     WHERE e.event_type = 'opened' AND e.occurred_at >= %(since)s
                     GROUP BY e.subscriber_id HAVING count(*) > %(more_than)s)
    """,
    "correlated": """
        s.additional_fields_data ->> 'customer_type' = 'premium'
        AND EXISTS (SELECT 1 FROM audiences_listmembership AS lm
                    WHERE lm.subscriber_id = s.id AND lm.marketing_list_id = %(list)s)
        AND (SELECT count(*) FROM subscribers_engagementevent AS e
             WHERE e.subscriber_id = s.id AND e.event_type = 'opened' AND e.occurred_at >= %(since)s) > %(more_than)s
    """,
}

HAND_BROAD = """
    CASE WHEN jsonb_typeof(s.additional_fields_data -> 'lifetime_value') = 'number'
         THEN (s.additional_fields_data ->> 'lifetime_value')::double precision END >= %(at_least)s
    AND s.active
"""

GOLD_TIER = {"field": "additional_fields_data.lifetime_value", "operation": "gte", "value": 5000}
HAND_GOLD_TIER = """
    CASE WHEN jsonb_typeof(s.additional_fields_data -> 'lifetime_value') = 'number'
         THEN (s.additional_fields_data ->> 'lifetime_value')::double precision END >= 5000
"""

HAND_PAGE = [
    "SELECT count(*) FROM audiences_audiencemembership WHERE audience_id = %(audience)s",
    """SELECT s.id, s.public_id, s.created_at, s.updated_at, s.version, s.email, s.first_name, s.last_name, s.active,
              s.inactive_reason, s.additional_fields_data
       FROM subscribers_subscriber AS s JOIN audiences_audiencemembership AS m ON m.subscriber_id = s.id
       WHERE m.audience_id = %(audience)s ORDER BY s.id LIMIT %(limit)s""",
]
HAND_PAGE_RELATED = [
    """SELECT m.subscriber_id, a.public_id FROM audiences_audiencemembership AS m
       JOIN audiences_audience AS a ON a.id = m.audience_id WHERE m.subscriber_id = ANY(%(ids)s) ORDER BY m.id""",
    """SELECT m.subscriber_id, l.public_id FROM audiences_listmembership AS m
       JOIN audiences_marketinglist AS l ON l.id = m.marketing_list_id WHERE m.subscriber_id = ANY(%(ids)s)
       ORDER BY m.id""",
    """SELECT p.subscriber_id, t.public_id, p.subscribed, p.subscribed_date, p.unsubscribed_date
       FROM subscribers_subscriptionpreference AS p JOIN subscribers_subscriptiontype AS t
       ON t.id = p.subscription_type_id WHERE p.subscriber_id = ANY(%(ids)s) ORDER BY t.name""",
    """SELECT st.subscriber_id, t.public_id FROM subscribers_subscriber_tags AS st
       JOIN subscribers_tag AS t ON t.id = st.tag_id WHERE st.subscriber_id = ANY(%(ids)s) ORDER BY t.name""",
]

SCRATCH = "bench_scratch_membership"


def hand_count(where: str, params: dict) -> int:
    return execute(f"SELECT count(*) FROM subscribers_subscriber AS s WHERE {where}", params)[0][0]  # noqa: S608


def hand_page(audience_pk: int) -> list[tuple]:
    params = {"audience": audience_pk, "limit": PAGE_SIZE + 1}
    execute(HAND_PAGE[0], params)
    rows = execute(HAND_PAGE[1], params)[:PAGE_SIZE]
    ids = [row[0] for row in rows]
    for sql in HAND_PAGE_RELATED:
        execute(sql, {"ids": ids})
    return rows


def hand_insert_select(where: str, params: dict, audience_pk: int) -> None:
    execute(
        f"INSERT INTO {SCRATCH} (audience_id, subscriber_id, source, created_at) "  # noqa: S608
        f"SELECT %(audience)s, s.id, 2, now() FROM subscribers_subscriber AS s WHERE {where}",
        {**params, "audience": audience_pk},
    )


def explain(label: str, sql: str, params: Any = None) -> None:
    rows = execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
    log(f"--- EXPLAIN ANALYZE: {label}\n" + "\n".join(row[0] for row in rows))


def window_start(days: int) -> dt.datetime:
    from django.utils import timezone

    return timezone.now() - dt.timedelta(days=days)


# --- measures ---------------------------------------------------------------------------------------------------------


def measure_counts(audience, data: dict, repeat: int, show_plans: bool) -> list[Result]:
    from audiences.rules import audience_rules_q
    from audiences.selectors import audience_members
    from subscribers.models import Subscriber

    params = lambda: {"list": data["list_x"].pk, "since": window_start(30), "more_than": 2}  # noqa: E731
    answers = {
        "materialized": audience_members(audience).count(),
        "fresh": Subscriber.objects.filter(audience_rules_q(audience)).count(),
    }
    for shape, where in HAND_THREE_CONDITIONS.items():
        answers[f"hand {shape}"] = hand_count(where, params())
    log(f"  three-condition audience: {answers}")
    if len(set(answers.values())) > 1:
        log("  WARNING: the answers differ (a window edge moving between queries explains a difference of a few)")

    hand = {
        shape: timed(lambda w=where: hand_count(w, params()), repeat=repeat)
        for shape, where in HAND_THREE_CONDITIONS.items()
    }
    best_shape = min(hand, key=lambda shape: sorted(hand[shape])[len(hand[shape]) // 2])
    floor = hand[best_shape]
    materialized = timed(lambda: audience_members(audience).count(), repeat=repeat)
    fresh = timed(lambda: Subscriber.objects.filter(audience_rules_q(audience)).count(), repeat=repeat)
    table_floor = timed(
        lambda: execute("SELECT count(*) FROM audiences_audiencemembership WHERE audience_id = %s", [audience.pk]),
        repeat=repeat,
    )
    if show_plans:
        query = Subscriber.objects.filter(audience_rules_q(audience)).order_by().values("pk").query
        sql, sql_params = query.sql_with_params()
        explain("fresh count (Roster)", f"SELECT count(*) FROM ({sql}) AS matches", sql_params)
        sql, sql_params = audience_members(audience).order_by().values("pk").query.sql_with_params()
        explain("materialized count (Roster)", f"SELECT count(*) FROM ({sql}) AS members", sql_params)
        for shape, where in HAND_THREE_CONDITIONS.items():
            explain(
                f"hand count ({shape})", f"SELECT count(*) FROM subscribers_subscriber AS s WHERE {where}", params()
            )
    n = answers["materialized"]
    return [
        Result(
            "a. count, materialized: `audience_members(aud).count()`",
            materialized,
            floor,
            f"≤ 2x; {n:,} members; hand SQL = rules by hand ({best_shape})",
        ),
        Result(
            "a. count, materialized, vs count(*) of its rows by hand",
            materialized,
            table_floor,
            "reading the materialized table itself",
        ),
        Result(
            "a. count, rules compiled fresh: `filter(audience_rules_q(aud)).count()`",
            fresh,
            floor,
            f"≤ 2x; hand {', '.join(f'{k} {format_seconds(sorted(v)[len(v) // 2])}' for k, v in hand.items())}",
        ),
    ]


def measure_range_count(repeat: int, show_plans: bool) -> list[Result]:
    """One custom-field range, the gold tier of a loyalty group: what an expression index on the field serves."""
    from core.conditions import Group, compile_group
    from subscribers.filters import subscriber_registry
    from subscribers.models import Subscriber

    rules = {"match": "all", "conditions": [GOLD_TIER]}

    def roster() -> int:
        return Subscriber.objects.filter(compile_group(Group.model_validate(rules), subscriber_registry())).count()

    hand = timed(lambda: hand_count(HAND_GOLD_TIER, {}), repeat=repeat)
    fresh = timed(roster, repeat=repeat)
    if show_plans:
        explain("gold tier count (hand)", f"SELECT count(*) FROM subscribers_subscriber AS s WHERE {HAND_GOLD_TIER}")
    n = roster()
    return [Result("a. count, one custom-field range: lifetime_value ≥ 5000", fresh, hand, f"≤ 2x; {n:,} subscribers")]


def measure_page(audience, repeat: int, show_plans: bool) -> list[Result]:
    from audiences.selectors import audience_members
    from core.api.pagination import CursorPage, cursor_page_envelope
    from subscribers.api.serializers import SubscriberOutputSerializer
    from subscribers.selectors import subscribers_with_relations

    page = CursorPage(first=PAGE_SIZE, after=None, search=None)

    def roster_queries() -> None:
        cursor_page_envelope(subscribers_with_relations(audience_members(audience)), page, lambda rows: rows)

    def roster_response() -> None:
        cursor_page_envelope(
            subscribers_with_relations(audience_members(audience)),
            page,
            lambda rows: SubscriberOutputSerializer(rows, many=True).data,
        )

    hand = timed(lambda: hand_page(audience.pk), repeat=repeat)
    queries = timed(roster_queries, repeat=repeat)
    response = timed(roster_response, repeat=repeat)
    if show_plans:
        sql, params = audience_members(audience).order_by("pk").values("pk")[: PAGE_SIZE + 1].query.sql_with_params()
        explain("members page (Roster)", sql, params)
        explain("members page (hand)", HAND_PAGE[1], {"audience": audience.pk, "limit": PAGE_SIZE + 1})
    return [
        Result(
            f"b. first members page of {PAGE_SIZE}: selector, count, prefetches",
            queries,
            hand,
            "≤ 2x; the same 6 queries by hand, rows as tuples",
        ),
        Result(
            f"b. first members page of {PAGE_SIZE}: + serializer (the GET's body)",
            response,
            hand,
            "≤ 2x / tens of ms; adds DRF serialization",
        ),
    ]


def measure_first_materialization(name: str, audience, where: str, params: dict, timeout: float) -> Result:
    """Empty to full, once: what creating an audience (or a first run after deploying) costs."""
    from audiences.membership import audience_materialize

    execute(f"TRUNCATE {SCRATCH}")
    floor = run_limited(lambda: hand_insert_select(where, params, audience.pk), timeout=timeout)
    try:
        roster = run_limited(lambda: audience_materialize(audience_pk=audience.pk), timeout=timeout)
    except TimedOut:
        return Result(
            f"c. first materialization (empty → full): {name}",
            [timeout],
            [floor],
            "one run; cut off",
            timed_out_after=timeout,
        )
    # Reads below are measured in the steady state, as after autovacuum has analyzed the new rows.
    execute("ANALYZE audiences_audiencemembership")
    return Result(f"c. first materialization (empty → full): {name}", [roster], [floor], "one run")


def measure_rematerialize(
    name: str, audience, versions: list[tuple[dict, str, dict]], repeat: int, timeout: float, show_plans: bool
) -> list[Result]:
    """Alternate the audience between rule versions (each run is a real rules change) and time audience_materialize;
    the floor inserts the same rows, by hand, into an empty table shaped and indexed like the membership table."""
    from audiences.membership import audience_materialize
    from audiences.models import AudienceMembership

    roster, floor, sizes = [], [], []
    timed_out_after = None
    for run in range(repeat):
        rules, where, params = versions[(run + 1) % len(versions)]
        change_rules(audience, rules)
        execute(f"TRUNCATE {SCRATCH}")
        floor.append(run_limited(lambda w=where, p=params: hand_insert_select(w, p, audience.pk), timeout=timeout))
        try:
            roster.append(run_limited(lambda: audience_materialize(audience_pk=audience.pk), timeout=timeout))
        except TimedOut:
            roster, timed_out_after = [timeout], timeout
            break
        sizes.append(AudienceMembership.objects.filter(audience=audience).count())
    if show_plans:
        from audiences.models import Audience
        from audiences.rules import audience_rules_q
        from subscribers.models import Subscriber

        audience = Audience.objects.get(pk=audience.pk)
        matching = Subscriber.objects.filter(audience_rules_q(audience)).order_by().values("pk")
        sql, params = matching.query.sql_with_params()
        explain(f"{name}: matching rows (Roster)", sql, params)
        execute(f"TRUNCATE {SCRATCH}")
        rules, where, hand_params = versions[len(floor) % len(versions)]
        explain(
            f"{name}: INSERT ... SELECT (hand)",
            f"INSERT INTO {SCRATCH} (audience_id, subscriber_id, source, created_at) "  # noqa: S608
            f"SELECT %(audience)s, s.id, 2, now() FROM subscribers_subscriber AS s WHERE {where}",
            {**hand_params, "audience": audience.pk},
        )
    size = f"{min(sizes):,}–{max(sizes):,} members" if sizes else "cut off"
    return [
        Result(
            f"c. rematerialize after a rules change: {name}",
            roster,
            floor,
            f"≤ 2x of one INSERT … SELECT; {size}",
            timed_out_after=timed_out_after,
        )
    ]


def measure_live_updates(data: dict, repeat: int) -> list[Result]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import subscribers.services.subscribers as subscriber_services
    from audiences.membership import membership_refresh_subscribers
    from audiences.models import Audience
    from subscribers.models import Subscriber
    from subscribers.services import subscriber_update

    rng = random.Random(7)
    made: list[str] = []
    for index in range(RULE_AUDIENCES_FOR_UPDATES):
        audience = audience_with_rules(f"Bench live {index}", varied_rules(data, rng, made))
        made.append(audience.public_id)
    rule_audiences = sum(1 for a in Audience.objects.exclude(rules=None) if a.has_rules)
    # Someone in most of the data: on the big list, engaged, with a preference and custom fields.
    subscriber = (
        Subscriber.objects.filter(list_memberships__marketing_list=data["list_x"], engagement_events__isnull=False)
        .order_by("pk")
        .first()
    )
    fields = dict(subscriber.additional_fields_data)
    toggle = iter(range(10**6))

    def update() -> None:
        fresh = Subscriber.objects.get(pk=subscriber.pk)
        kind = "premium" if next(toggle) % 2 else "standard"
        subscriber_update(subscriber=fresh, additional_fields_data={**fields, "customer_type": kind})

    update()  # warm: the first call pays imports and connection setup
    with_live = timed(update, repeat=repeat * 4)
    refresh = timed(lambda: membership_refresh_subscribers([subscriber.pk]), repeat=repeat * 4)
    with CaptureQueriesContext(connection) as captured:
        membership_refresh_subscribers([subscriber.pk])
    original = subscriber_services.membership_refresh_subscribers
    subscriber_services.membership_refresh_subscribers = lambda pks: None
    try:
        without_live = timed(update, repeat=repeat * 4)
    finally:
        subscriber_services.membership_refresh_subscribers = original
    added = statistics.median(with_live) - statistics.median(without_live)
    return [
        Result(
            f"d. `subscriber_update` of one subscriber, {rule_audiences} rule audiences live",
            with_live,
            None,
            f"tens of ms; the same update without live membership {format_seconds(statistics.median(without_live))}"
            f", so live membership adds {format_seconds(added)}",
        ),
        Result(
            f"d. `membership_refresh_subscribers` alone (one subscriber, {rule_audiences} audiences)",
            refresh,
            None,
            f"tens of ms; {len(captured)} queries",
        ),
    ]


# --- run --------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="repetitions of each measure (medians are reported)")
    parser.add_argument("--reuse", action="store_true", help="keep the data of an earlier run of the same size")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of each query to stderr")
    parser.add_argument(
        "--no-segment-indexes", action="store_true", help="drop the indexes chosen from this benchmark (for a before)"
    )
    parser.add_argument("--timeout", type=float, default=120, help="cut off any one statement after this many seconds")
    args = parser.parse_args(argv)

    url = database_url(DATABASE_NAME)
    reuse = args.reuse and _holds(url, args.subscribers)
    if not reuse:
        log(f"Recreating {url.rsplit('/', 1)[-1]} and migrating")
        recreate_database(url)
    setup_django(url)
    with Stopwatch() as watch:
        migrate()
    log(f"  migrated in {watch.seconds:.1f} s")
    if args.no_segment_indexes:
        for name in SEGMENT_INDEXES:
            execute(f"DROP INDEX IF EXISTS {name}")
    if reuse:
        log("Reusing the data of an earlier run")
        from audiences.models import Audience

        Audience.objects.filter(name__startswith="Bench ").delete()
        data = load_existing()
    else:
        log(f"Generating {args.subscribers:,} subscribers")
        data = generate(args.subscribers)
    execute(f"DROP TABLE IF EXISTS {SCRATCH}")
    execute(f"CREATE TABLE {SCRATCH} (LIKE audiences_audiencemembership INCLUDING ALL)")

    list_x = data["list_x"]
    timeout = args.timeout
    results: list[Result] = []

    def three_version(more_than: int) -> tuple[dict, str, dict]:
        return (
            three_condition_rules(list_x.public_id, more_than=more_than),
            HAND_THREE_CONDITIONS["correlated"],
            {"list": list_x.pk, "since": window_start(30), "more_than": more_than},
        )

    def broad_version(at_least: float) -> tuple[dict, str, dict]:
        return broad_rules(at_least=at_least), HAND_BROAD, {"at_least": at_least}

    log("Three-condition audience: first materialization")
    three = audience_with_rules("Bench premium engaged readers", three_condition_rules(list_x.public_id))
    results.append(measure_first_materialization("three conditions", three, *three_version(2)[1:], timeout))
    log("a. counts")
    results += measure_counts(three, data, args.repeat, args.explain)
    results += measure_range_count(args.repeat, args.explain)
    log("b. first members page")
    results += measure_page(three, args.repeat, args.explain)

    log("c. rematerialization after a rules change")
    results += measure_rematerialize(
        "three conditions (opens > 2 ↔ > 1)",
        three,
        [three_version(2), three_version(1)],
        args.repeat,
        timeout,
        args.explain,
    )
    broad = audience_with_rules("Bench broad value", broad_rules(at_least=100))
    results.append(
        measure_first_materialization("lifetime_value ≥ 100 and active", broad, *broad_version(100)[1:], timeout)
    )
    results += measure_rematerialize(
        "lifetime_value ≥ 100 ↔ ≥ 150, active",
        broad,
        [broad_version(100), broad_version(150)],
        args.repeat,
        timeout,
        args.explain,
    )

    log(f"d. live membership with {RULE_AUDIENCES_FOR_UPDATES} rule audiences")
    results += measure_live_updates(data, args.repeat)

    import django

    subscribers = execute("SELECT count(*) FROM subscribers_subscriber")[0][0]
    events = execute("SELECT count(*) FROM subscribers_engagementevent")[0][0]
    server = execute("SHOW server_version")[0][0]
    print(f"### Segmentation benchmark: {subscribers:,} subscribers, {events:,} engagement events\n")
    print(results_table(sorted(results, key=lambda result: result.name[:2])))
    print()
    print(
        markdown_table(
            ["setting", "value"],
            [
                [
                    "command",
                    f"`.venv/bin/python bench/segments.py --subscribers {args.subscribers} --repeat {args.repeat}"
                    f" --timeout {args.timeout:g}{' --no-segment-indexes' if args.no_segment_indexes else ''}`",
                ],
                ["repetitions", f"{args.repeat} (d: {args.repeat * 4}); medians"],
                ["PostgreSQL", server],
                ["Django / Python", f"{django.get_version()} / {sys.version.split()[0]}"],
                ["peak memory (benchmark process)", f"{peak_memory_mb():.0f} MB"],
            ],
        )
    )
    return 0


def _holds(url: str, subscribers: int) -> bool:
    """Whether the database holds exactly that many subscribers from an earlier run, with every index the migrations
    made (a run with --no-segment-indexes dropped some, so its data is not reused)."""
    import psycopg

    try:
        with psycopg.connect(url) as conn:
            count = conn.execute("SELECT count(*) FROM subscribers_subscriber").fetchone()[0]
            present = conn.execute("SELECT count(*) FROM pg_indexes WHERE indexname = ANY(%s)", [list(SEGMENT_INDEXES)])
            return count == subscribers and present.fetchone()[0] == len(SEGMENT_INDEXES)
    except psycopg.Error:
        return False


if __name__ == "__main__":
    sys.exit(main())
