"""Segmentation at a million: audience counts, member pages, rematerialization and live membership, each against the
same answer written by hand in SQL (the floor), measured in one run on one machine.

    .venv/bin/python bench/segments.py                          # 100,000 subscribers, a quick run
    .venv/bin/python bench/segments.py --subscribers 1000000    # the figures in the README

It drops and recreates its own database (`roster_bench` on postgres@127.0.0.1, or BENCH_DATABASE_URL), migrates it,
generates subscribers, custom fields, lists, consent, tags and engagement events set-based in SQL (`segments_data.py`),
then measures.
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
from segments_data import (
    audience_with_rules,
    broad_rules,
    change_rules,
    generate,
    load_existing,
    three_condition_rules,
    varied_rules,
)

DATABASE_NAME = "roster_bench"
PAGE_SIZE = 100
RULE_AUDIENCES_FOR_UPDATES = 50
# Indexes added because this benchmark showed they pay (subscribers/indexes.py: one per number custom field).
SEGMENT_INDEXES = ("subscriber_cf_lifetime_value_number",)

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
# The same, with the membership table's two foreign keys (deferred, as Django makes them): what writing these rows
# into the real table by hand costs. Each row inserted pays two foreign-key checks at commit, which lock the
# subscriber row (FOR KEY SHARE); a table without them is the stricter floor.
SCRATCH_FK = "bench_scratch_membership_fk"


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


def hand_insert_select(where: str, params: dict, audience_pk: int, *, table: str = SCRATCH) -> None:
    from django.db import transaction

    with transaction.atomic():  # one transaction, as audience_materialize: deferred key checks run at its commit
        execute(
            f"INSERT INTO {table} (audience_id, subscriber_id, source, created_at) "  # noqa: S608
            f"SELECT %(audience)s, s.id, 2, now() FROM subscribers_subscriber AS s WHERE {where}",
            {**params, "audience": audience_pk},
        )


def create_scratch_tables() -> None:
    for table in (SCRATCH, SCRATCH_FK):
        execute(f"DROP TABLE IF EXISTS {table}")
        execute(f"CREATE TABLE {table} (LIKE audiences_audiencemembership INCLUDING ALL)")
    for column, target in (("subscriber_id", "subscribers_subscriber"), ("audience_id", "audiences_audience")):
        execute(
            f"ALTER TABLE {SCRATCH_FK} ADD FOREIGN KEY ({column}) REFERENCES {target} (id) "
            "DEFERRABLE INITIALLY DEFERRED"
        )


def with_keys_note(roster: list[float], with_keys: list[float]) -> str:
    keyed = statistics.median(with_keys)
    return f"vs the same INSERT into a table with the two foreign keys: {format_seconds(keyed)}, " + (
        f"{statistics.median(roster) / keyed:.2f}x"
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
    from audiences.api.views import subscriber_cursor_page
    from audiences.selectors import audience_members
    from core.api.pagination import CursorPage, cursor_page_envelope
    from subscribers.selectors import subscribers_with_relations

    page = CursorPage(first=PAGE_SIZE, after=None, search=None)

    # What the members GET does (subscriber_cursor_page): the count, the page's rows, then their relations as lists
    # in one query; the second measure adds the serializer, the first only reads.
    def roster_queries() -> None:
        cursor_page_envelope(audience_members(audience), page, subscribers_with_relations)

    def roster_response() -> None:
        subscriber_cursor_page(audience_members(audience), page)

    hand = timed(lambda: hand_page(audience.pk), repeat=repeat)
    queries = timed(roster_queries, repeat=repeat)
    response = timed(roster_response, repeat=repeat)
    if show_plans:
        sql, params = audience_members(audience).order_by("pk").values("pk")[: PAGE_SIZE + 1].query.sql_with_params()
        explain("members page (Roster)", sql, params)
        explain("members page (hand)", HAND_PAGE[1], {"audience": audience.pk, "limit": PAGE_SIZE + 1})
    return [
        Result(
            f"b. first members page of {PAGE_SIZE}: selector, count, relation lists",
            queries,
            hand,
            "≤ 2x; Roster's 3 queries (count, page, its relations as lists) against the same rows by hand in 6 "
            "queries, as tuples",
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

    execute(f"TRUNCATE {SCRATCH}, {SCRATCH_FK}")
    floor = run_limited(lambda: hand_insert_select(where, params, audience.pk), timeout=timeout)
    with_keys = run_limited(lambda: hand_insert_select(where, params, audience.pk, table=SCRATCH_FK), timeout=timeout)
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
    return Result(
        f"c. first materialization (empty → full): {name}",
        [roster],
        [floor],
        f"≤ 2x; one run; {with_keys_note([roster], [with_keys])}",
    )


def measure_rematerialize(
    name: str, audience, versions: list[tuple[dict, str, dict]], repeat: int, timeout: float, show_plans: bool
) -> list[Result]:
    """Alternate the audience between rule versions (each run is a real rules change) and time audience_materialize;
    the floor inserts the same rows, by hand, into an empty table shaped and indexed like the membership table."""
    from audiences.membership import audience_materialize
    from audiences.models import AudienceMembership

    roster, floor, with_keys, sizes = [], [], [], []
    timed_out_after = None
    for run in range(repeat):
        rules, where, params = versions[(run + 1) % len(versions)]
        change_rules(audience, rules)
        execute(f"TRUNCATE {SCRATCH}, {SCRATCH_FK}")
        floor.append(run_limited(lambda w=where, p=params: hand_insert_select(w, p, audience.pk), timeout=timeout))
        with_keys.append(
            run_limited(
                lambda w=where, p=params: hand_insert_select(w, p, audience.pk, table=SCRATCH_FK), timeout=timeout
            )
        )
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
            f"≤ 2x of one INSERT … SELECT; {size}; {with_keys_note(roster, with_keys)}",
            timed_out_after=timed_out_after,
        )
    ]


def measure_live_updates(data: dict, repeat: int) -> list[Result]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    import subscribers.services.subscribers as subscriber_services
    from audiences import compiled_rules
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
    # The first refresh after a rules change (or a restart, or a change to lists, tags or custom fields) compiles
    # the rules again: measured with the kept compilations thrown away before each call.
    cold = timed(
        lambda: membership_refresh_subscribers([subscriber.pk]), repeat=repeat, before=compiled_rules.clear_cache
    )
    with CaptureQueriesContext(connection) as cold_captured:
        compiled_rules.clear_cache()
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
            f"tens of ms; {len(captured)} queries; compiled rules kept from earlier calls",
        ),
        Result(
            f"d. `membership_refresh_subscribers`, rules compiled afresh (one subscriber, {rule_audiences} audiences)",
            cold,
            None,
            f"the first call after a rules change or a restart; {len(cold_captured)} queries",
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

        for table in (SCRATCH, SCRATCH_FK):  # the floor's tables of the earlier run refer to its audiences
            execute(f"DROP TABLE IF EXISTS {table}")
        Audience.objects.filter(name__startswith="Bench ").delete()
        data = load_existing()
    else:
        log(f"Generating {args.subscribers:,} subscribers")
        data = generate(args.subscribers)
    create_scratch_tables()

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
