"""Subscriber search (email and name, as `POST /api/subscribers/list` and the members pages search) can use the trigram
indexes of migration 0005: the planner is shown the plan it could use for exactly the query search builds."""

from django.db import connection

from core.api.pagination import words_search_q
from subscribers.api.views import SubscriberListView
from subscribers.models import Subscriber
from tests.factories import SubscriberFactory


def test_a_search_can_use_a_trigram_index_per_column(db, api):
    SubscriberFactory(email="wyatt.price@example.org", first_name="Wyatt", last_name="Price")
    SubscriberFactory(email="logan.morales@example.org", first_name="Logan", last_name="Morales")

    response = api.post("/api/subscribers/list", {"page": 1, "limit": 10, "search": "price"})
    assert [s["email"] for s in response.json()["results"]] == ["wyatt.price@example.org"]

    search = Subscriber.objects.filter(words_search_q("price", SubscriberListView.search_fields))
    with connection.cursor() as cursor:
        cursor.execute("SET enable_seqscan = off")  # a test-sized table: show what the planner could use
        try:
            plan = search.order_by().explain()  # as the count of every search page runs it
        finally:
            cursor.execute("RESET enable_seqscan")
    for column in ("email", "first_name", "last_name"):
        assert f"subscriber_{column}_trigram" in plan
