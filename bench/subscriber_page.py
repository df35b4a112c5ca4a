"""The cost of a page of 100 subscribers as `POST /api/subscribers/list` answers it, through the whole request
(key, count, page, relations, `memberships`, serializer, JSON), on a few thousand subscribers who are members of many
lists: static ones, dynamic ones on "All Subscribers" (every subscriber is in each) and on other audiences, and
composed ones. A quick measure, not a floor comparison: run it on two versions of the code to compare them.

    .venv/bin/python bench/subscriber_page.py [--subscribers 5000] [--dynamic-lists 20] [--repeat 30]

It drops and recreates its own database, `roster_bench_page` (or BENCH_DATABASE_URL; a name without "bench" is
refused). Progress goes to stderr, the Markdown result to stdout."""

import argparse
import os
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import database_url, execute, migrate, recreate_database, setup_django, timed  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def generate(subscribers: int, dynamic_lists: int) -> None:
    from audiences.models import DEFAULT_AUDIENCE_ID, Audience, AudienceMembership, ListMembership, MarketingList
    from core.ids import new_public_id
    from subscribers.models import Subscriber

    rng = random.Random(16)  # noqa: S311 - reproducible data
    Subscriber.objects.bulk_create(
        [
            Subscriber(public_id=new_public_id("sub"), email=f"person{i}@example.com", first_name=f"P{i}")
            for i in range(subscribers)
        ],
        batch_size=2000,
    )
    pks = list(Subscriber.objects.values_list("pk", flat=True))
    default = Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID)
    audiences = [Audience.objects.create(name=f"Audience {i}") for i in range(10)]
    AudienceMembership.objects.bulk_create(
        [AudienceMembership(audience=a, subscriber_id=pk) for a in audiences for pk in pks if rng.random() < 0.3],
        batch_size=5000,
    )
    static = [MarketingList.objects.create(name=f"Static {i}", audience=audiences[0]) for i in range(10)]
    ListMembership.objects.bulk_create(
        [ListMembership(marketing_list=lst, subscriber_id=pk) for lst in static for pk in pks if rng.random() < 0.2],
        batch_size=5000,
    )
    for i in range(dynamic_lists):
        audience = default if i % 2 == 0 else audiences[i % len(audiences)]
        MarketingList.objects.create(name=f"Dynamic {i}", mode=MarketingList.Mode.DYNAMIC, audience=audience)
    if dynamic_lists:
        composed = MarketingList.objects.create(name="Composed", audience=audiences[0], composed=True)
        composed.include_lists.set(static[:3])
        composed.exclude_audiences.set(audiences[1:2])
        suppression = MarketingList.objects.create(name="Suppression", audience=default, is_suppression=True)
        ListMembership.objects.bulk_create(
            [ListMembership(marketing_list=suppression, subscriber_id=pk) for pk in pks[:: max(len(pks) // 50, 1)]]
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--dynamic-lists", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    url = database_url("roster_bench_page")
    recreate_database(url)
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    setup_django(url)
    migrate()
    log(f"generating {args.subscribers:,} subscribers, {args.dynamic_lists} dynamic lists")
    generate(args.subscribers, args.dynamic_lists)
    execute("ANALYZE")  # as autovacuum would have by then

    from django.db import connection
    from django.test import Client

    from core.services import api_key_create

    _, raw = api_key_create(name="bench", scopes=["subscribers:read"])
    client = Client(headers={"X-API-Key": raw})

    def page() -> bytes:
        response = client.post("/api/subscribers/list", {"page": 2, "limit": 100}, content_type="application/json")
        assert response.status_code == 200, response.content[:500]
        return response.content

    body = page()
    captured = []
    with connection.execute_wrapper(lambda execute, sql, *rest: captured.append(sql) or execute(sql, *rest)):
        page()
    seconds = timed(page, repeat=args.repeat)
    print(
        f"| {args.subscribers:,} subscribers, {args.dynamic_lists} dynamic lists | "
        f"{statistics.median(seconds) * 1000:.1f} ms | {min(seconds) * 1000:.1f} – {max(seconds) * 1000:.1f} ms | "
        f"{len(captured)} | {len(body) / 1024:.0f} KiB |"
    )


if __name__ == "__main__":
    main()
