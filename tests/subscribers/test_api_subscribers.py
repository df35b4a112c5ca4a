"""Subscribers through the API (seed 001): create, list with search and filters, get, update, delete."""

import datetime as dt
import re
import threading

import pytest
from django.db import connection

from audiences.models import AudienceMembership, ListMembership
from subscribers.models import CustomField, Subscriber, SubscriptionPreference
from tests.api_assertions import TIMESTAMP, assert_error, created_id


def make_audience(api, name: str) -> str:
    return created_id(api.post("/api/audiences", {"name": name}))


def make_list(api, name: str, audience_id: str, mode: str = "static") -> str:
    return created_id(api.post("/api/lists", {"name": name, "mode": mode, "audience_id": audience_id}))


def make_stype(api, name: str) -> str:
    return created_id(api.post("/api/subscription-types", {"name": name, "description": f"{name} emails"}))


def make_subscriber(api, email: str, **fields) -> str:
    return created_id(api.post("/api/subscribers", {"first_name": "Sam", "email": email, **fields}))


def stored() -> dict:
    """Everything a subscriber write can touch, to compare before and after a refused request."""
    return {
        "subscribers": list(Subscriber.objects.order_by("pk").values()),
        "audiences": list(AudienceMembership.objects.order_by("pk").values("audience_id", "subscriber_id")),
        "lists": list(ListMembership.objects.order_by("pk").values("marketing_list_id", "subscriber_id")),
        "preferences": list(SubscriptionPreference.objects.order_by("pk").values()),
        "tags": list(Subscriber.tags.through.objects.order_by("pk").values("subscriber_id", "tag_id")),
    }


def list_ids(api, **request) -> list[str]:
    response = api.post("/api/subscribers/list", {"page": 1, "limit": 100, "filters": {}, **request})
    assert response.status_code == 200, response.json()
    return sorted(row["id"] for row in response.json()["results"])


# Create and get


@pytest.fixture
def seed_ids(api) -> dict[str, str]:
    """The audiences and lists the seed's examples name, created through the API."""
    ids = {
        "aud_retail_customers": make_audience(api, "Retail customers"),
        "aud_newsletter": make_audience(api, "Newsletter"),
        "aud_loyalty_program": make_audience(api, "Loyalty program"),
    }
    for name in ("list_vip_members", "list_product_updates", "list_special_offers"):
        ids[name] = make_list(api, name.removeprefix("list_"), ids["aud_retail_customers"])
    for name in ("stype_promotional", "stype_newsletter", "stype_transactional"):
        ids[name] = make_stype(api, name.removeprefix("stype_"))
    return ids


def seed_create_payload(ids: dict[str, str]) -> dict:
    return {
        "first_name": "John",
        "last_name": "Doe",
        "email": "john.doe@example.com",
        "active": True,
        "audiences": [ids["aud_retail_customers"], ids["aud_newsletter"]],
        "lists": [ids["list_vip_members"], ids["list_product_updates"]],
        "additional_fields_data": {
            "customer_type": "premium",
            "preferred_language": "en",
            "date_of_birth": "1985-03-15",
            "phone_number": "+1-555-0123",
            "company": "Acme Corp",
            "job_title": "Marketing Director",
        },
    }


def test_create_with_the_seed_example_then_get_answers_the_seed_shape(api, seed_ids):
    payload = seed_create_payload(seed_ids)

    subscriber_id = created_id(api.post("/api/subscribers", payload))

    assert re.match(r"^sub_[A-Za-z0-9]+$", subscriber_id)
    response = api.get(f"/api/subscribers/{subscriber_id}")
    assert response.status_code == 200
    body = response.json()
    seed_keys = {
        "version", "created_at", "updated_at", "id", "first_name", "last_name", "email", "active",
        "audiences", "lists", "subscription_preferences", "additional_fields_data",
    }  # fmt: skip
    assert set(body) == seed_keys | {"inactive_reason", "tags", "memberships"}
    assert body["id"] == subscriber_id
    assert body["version"] == 1
    assert TIMESTAMP.match(body["created_at"])
    assert body["updated_at"] is None
    assert (body["first_name"], body["last_name"], body["email"]) == ("John", "Doe", "john.doe@example.com")
    assert body["active"] is True
    assert body["inactive_reason"] is None
    assert sorted(body["audiences"]) == sorted(["aud_default", *payload["audiences"]])
    assert sorted(body["lists"]) == sorted(payload["lists"])
    assert body["subscription_preferences"] == []
    assert body["additional_fields_data"] == payload["additional_fields_data"]
    assert body["tags"] == []
    assert response["ETag"] == '"1"'

    subscriber = Subscriber.objects.get(public_id=subscriber_id)
    assert subscriber.email == "john.doe@example.com"
    assert subscriber.additional_fields_data == payload["additional_fields_data"]
    assert body["created_at"] == subscriber.created_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert AudienceMembership.objects.filter(subscriber=subscriber).count() == 2
    assert ListMembership.objects.filter(subscriber=subscriber).count() == 2


def test_seed_update_example_changes_profile_segments_fields_and_preferences(api, seed_ids):
    subscriber_id = created_id(api.post("/api/subscribers", seed_create_payload(seed_ids)))
    created_id(
        api.put(
            f"/api/subscribers/{subscriber_id}",
            {"subscription_updates": [{"subscription_type_id": seed_ids["stype_promotional"], "subscribe": True}]},
        )
    )
    update = {
        "first_name": "John",
        "last_name": "Smith",
        "email": "john.smith@newcompany.com",
        "active": True,
        "audiences": [seed_ids[a] for a in ("aud_retail_customers", "aud_newsletter", "aud_loyalty_program")],
        "lists": [seed_ids[n] for n in ("list_vip_members", "list_product_updates", "list_special_offers")],
        "additional_fields_data": {
            "customer_type": "enterprise",
            "preferred_language": "en",
            "company": "New Company Inc",
            "loyalty_tier": "platinum",
        },
        "subscription_updates": [
            {"subscription_type_id": seed_ids["stype_promotional"], "subscribe": False},
            {"subscription_type_id": seed_ids["stype_transactional"], "subscribe": True},
        ],
    }

    response = api.put(f"/api/subscribers/{subscriber_id}", update)

    assert created_id(response) == subscriber_id
    body = api.get(f"/api/subscribers/{subscriber_id}").json()
    assert body["version"] == 3
    assert TIMESTAMP.match(body["updated_at"])
    assert (body["last_name"], body["email"]) == ("Smith", "john.smith@newcompany.com")
    assert sorted(body["audiences"]) == sorted(["aud_default", *update["audiences"]])
    assert sorted(body["lists"]) == sorted(update["lists"])
    assert body["additional_fields_data"] == update["additional_fields_data"]  # PUT replaces the object
    preferences = {p["subscription_type_id"]: p for p in body["subscription_preferences"]}
    assert set(preferences) == {seed_ids["stype_promotional"], seed_ids["stype_transactional"]}
    promotional = preferences[seed_ids["stype_promotional"]]
    assert promotional["subscribed"] is False
    assert TIMESTAMP.match(promotional["subscribed_date"]) and TIMESTAMP.match(promotional["unsubscribed_date"])
    transactional = preferences[seed_ids["stype_transactional"]]
    assert transactional["subscribed"] is True
    assert TIMESTAMP.match(transactional["subscribed_date"])
    assert transactional["unsubscribed_date"] is None


def test_create_keeps_the_domain_lower_cased_and_trims_names(api):
    subscriber_id = make_subscriber(api, "  Jane.Roe@EXAMPLE.com ", first_name=" Jane ", last_name=None)

    subscriber = Subscriber.objects.get(public_id=subscriber_id)
    assert (subscriber.email, subscriber.first_name, subscriber.last_name) == ("Jane.Roe@example.com", "Jane", "")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"first_name": "A", "email": "not-an-email"}, "email"),
        ({"first_name": "A", "email": "a@b@example.com"}, "email"),
        ({"first_name": "A", "email": ""}, "email"),
        ({"first_name": "A"}, "email"),
        ({"email": "a@example.com"}, "first_name"),
        ({"first_name": "A", "email": "a@example.com", "active": "perhaps"}, "active"),
        ({"first_name": "A", "email": "a@example.com", "active": False}, "inactive_reason"),
        ({"first_name": "A", "email": "a@example.com", "active": False, "inactive_reason": "  "}, "inactive_reason"),
        ({"first_name": {"x": 1}, "email": "a@example.com"}, "first_name"),
        ({"first_name": "A", "email": "a@example.com", "audiences": "aud_default"}, "audiences"),
        ({"first_name": "A", "email": "a@example.com", "additional_fields_data": [1, 2]}, "additional_fields_data"),
        ({"first_name": "A", "email": "a@example.com", "subscription_updates": [{"subscribe": True}]},
         "subscription_updates.0.subscription_type_id"),
    ],
)  # fmt: skip
def test_create_with_invalid_data_is_invalid_subscriber_and_stores_nothing(api, payload, field):
    before = stored()

    response = api.post("/api/subscribers", payload)

    assert_error(response, 400, "INVALID_SUBSCRIBER", field)
    assert stored() == before


@pytest.mark.parametrize("body", [[], ["a@example.com"], "a@example.com", None, 3])
def test_create_with_a_body_that_is_not_an_object_is_a_400_envelope(api, body):
    response = api.post("/api/subscribers", body)

    assert_error(response, 400, "INVALID_SUBSCRIBER")
    assert Subscriber.objects.count() == 0


def test_create_inactive_with_a_reason_stores_and_shows_it(api):
    subscriber_id = make_subscriber(api, "gone@example.com", active=False, inactive_reason=" Bounced ")

    body = api.get(f"/api/subscribers/{subscriber_id}").json()
    assert (body["active"], body["inactive_reason"]) == (False, "Bounced")


@pytest.mark.parametrize("second", ["john.doe@example.com", "JOHN.DOE@EXAMPLE.COM", " John.Doe@Example.com"])
def test_duplicate_email_is_409_case_insensitively(api, second):
    make_subscriber(api, "john.doe@example.com")
    before = stored()

    response = api.post("/api/subscribers", {"first_name": "Other", "email": second})

    body = assert_error(response, 409, "DUPLICATE_EMAIL")
    assert body["message"] == "Subscriber with this email already exists"
    assert stored() == before


def test_update_to_an_email_taken_case_insensitively_is_409_and_changes_nothing(api):
    make_subscriber(api, "taken@example.com")
    subscriber_id = make_subscriber(api, "mine@example.com")
    before = stored()

    response = api.put(f"/api/subscribers/{subscriber_id}", {"email": "TAKEN@example.com", "first_name": "New"})

    assert_error(response, 409, "DUPLICATE_EMAIL")
    assert stored() == before


def test_update_changing_only_the_case_of_ones_own_email_is_allowed(api):
    subscriber_id = make_subscriber(api, "mine@example.com")

    created_id(api.put(f"/api/subscribers/{subscriber_id}", {"email": "Mine@example.com"}))

    assert Subscriber.objects.get(public_id=subscriber_id).email == "Mine@example.com"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_creates_of_one_email_store_one_and_answer_409_to_the_other(make_client, monkeypatch):
    """Both requests pass the "is the email taken?" check before either inserts: the unique index decides."""
    from subscribers.services import subscribers as subscriber_services

    clients = [make_client(), make_client()]
    both_checked = threading.Barrier(2, timeout=10)
    original_check = subscriber_services.email_taken

    def check_then_wait(email, **kwargs):
        taken = original_check(email, **kwargs)
        both_checked.wait()
        return taken

    monkeypatch.setattr(subscriber_services, "email_taken", check_then_wait)
    responses = [None, None]

    def create(index: int) -> None:
        try:
            email = "race@example.com" if index == 0 else "RACE@example.com"
            responses[index] = clients[index].post("/api/subscribers", {"first_name": "R", "email": email})
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 409]
    loser = next(response for response in responses if response.status_code == 409)
    assert loser.json()["code"] == "DUPLICATE_EMAIL"
    assert Subscriber.objects.filter(email__iexact="race@example.com").count() == 1


def test_unknown_audience_and_list_ids_are_400_naming_each_and_store_nothing(api):
    audience_id = make_audience(api, "Known")
    before = stored()

    response = api.post(
        "/api/subscribers",
        {
            "first_name": "A",
            "email": "a@example.com",
            "audiences": [audience_id, "aud_missing1"],
            "lists": ["list_missing2", "list_missing3"],
        },
    )

    body = assert_error(response, 400, "INVALID_SUBSCRIBER", "audiences", "lists")
    messages = " ".join(issue["message"] for issue in body["issues"])
    for missing in ("aud_missing1", "list_missing2", "list_missing3"):
        assert missing in messages
    assert audience_id not in messages
    assert stored() == before


def test_adding_a_subscriber_to_a_dynamic_list_through_lists_is_400(api):
    audience_id = make_audience(api, "Segment")
    dynamic_id = make_list(api, "Dynamic", audience_id, mode="dynamic")
    subscriber_id = make_subscriber(api, "kept@example.com")
    before = stored()

    on_create = api.post("/api/subscribers", {"first_name": "A", "email": "a@example.com", "lists": [dynamic_id]})
    on_update = api.put(f"/api/subscribers/{subscriber_id}", {"first_name": "Changed", "lists": [dynamic_id]})

    for response in (on_create, on_update):
        body = assert_error(response, 400, "INVALID_SUBSCRIBER", "lists")
        assert dynamic_id in body["issues"][0]["message"]
    assert stored() == before


def test_the_default_audience_is_accepted_and_not_stored_as_a_membership(api):
    subscriber_id = make_subscriber(api, "a@example.com", audiences=["aud_default"])

    assert not AudienceMembership.objects.filter(subscriber__public_id=subscriber_id).exists()
    assert list_ids(api, filters={"audiences": {"operation": "in", "value": ["aud_default"]}}) == [subscriber_id]


# List: search, filters, pagination, sort


@pytest.fixture
def population(api) -> dict[str, str]:
    """Five subscribers spread over audiences, lists (static and dynamic) and a number custom field."""
    created_id(api.post("/api/custom-fields", {"name": "lifetime_value", "type": "number"}))
    vip = make_audience(api, "VIP")
    other = make_audience(api, "Other")
    static = make_list(api, "Static", other)
    dynamic = make_list(api, "Dynamic VIP", vip, mode="dynamic")
    ids = {
        "john": make_subscriber(
            api, "john.doe@example.com", first_name="John", last_name="Doe", audiences=[vip], lists=[static],
            additional_fields_data={"lifetime_value": 9},
        ),
        "jane": make_subscriber(
            api, "jane@example.com", first_name="Jane", last_name="Johnson", audiences=[vip],
            additional_fields_data={"lifetime_value": 100},
        ),
        "ann": make_subscriber(
            api, "ann@johnny.example", first_name="Ann", last_name="Lee", lists=[static],
            additional_fields_data={"lifetime_value": "15420.50"},
        ),
        "bob": make_subscriber(
            api, "bob@example.com", first_name="Bob", last_name="Stone", active=False, inactive_reason="Bounced",
            audiences=[other],
        ),
        "eve": make_subscriber(api, "eve@example.org", first_name="Eve", last_name="Adams"),
    }  # fmt: skip
    return {**ids, "vip": vip, "other": other, "static": static, "dynamic": dynamic}


def test_list_answers_the_page_envelope_with_subscribers_in_the_seed_shape(api, population):
    response = api.post("/api/subscribers/list", {"page": 1, "limit": 25, "filters": {}})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "total", "totalPages"}
    assert (body["total"], body["totalPages"]) == (5, 1)
    detail = api.get(f"/api/subscribers/{population['john']}").json()
    assert next(row for row in body["results"] if row["id"] == population["john"]) == detail


def test_list_search_looks_in_first_name_last_name_and_email(api, population):
    found = list_ids(api, search="john")

    assert found == sorted([population["john"], population["jane"], population["ann"]])
    assert list_ids(api, search="EXAMPLE.ORG") == [population["eve"]]
    assert list_ids(api, search="nobody-matches") == []


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"first_name": {"operation": "eq", "value": "John"}}, ["john"]),
        ({"first_name": {"operation": "like", "value": "j"}}, ["john", "jane"]),
        ({"last_name": {"operation": "in", "value": ["Doe", "Lee"]}}, ["john", "ann"]),
        ({"last_name": {"operation": "nlike", "value": "o"}}, ["ann", "eve"]),
        ({"email": {"operation": "eq", "value": "JANE@example.com"}}, ["jane"]),
        ({"email": {"operation": "like", "value": "@example.com"}}, ["john", "jane", "bob"]),
        ({"email": {"operation": "nin", "value": ["jane@example.com", "bob@example.com"]}}, ["john", "ann", "eve"]),
        ({"active": {"operation": "eq", "value": False}}, ["bob"]),
        ({"active": {"operation": "ne", "value": False}}, ["john", "jane", "ann", "eve"]),
        ({"audiences": {"operation": "in", "value": ["aud_default"]}}, ["john", "jane", "ann", "bob", "eve"]),
        ({"audiences": {"operation": "in", "value": ["<vip>"]}}, ["john", "jane"]),
        ({"audiences": {"operation": "eq", "value": "<other>"}}, ["bob"]),
        ({"audiences": {"operation": "nin", "value": ["<vip>"]}}, ["ann", "bob", "eve"]),
        ({"audiences": {"operation": "empty"}}, ["ann", "eve"]),
        ({"lists": {"operation": "in", "value": ["<static>"]}}, ["john", "ann"]),
        ({"lists": {"operation": "in", "value": ["<dynamic>"]}}, ["john", "jane"]),
        ({"lists": {"operation": "in", "value": ["<static>", "<dynamic>"]}}, ["john", "jane", "ann"]),
        ({"lists": {"operation": "nempty"}}, ["john", "jane", "ann"]),
        ({"additional_fields_data.lifetime_value": {"operation": "gt", "value": 20}}, ["jane", "ann"]),
        ({"additional_fields_data.lifetime_value": {"operation": "lt", "value": "10"}}, ["john"]),
        ({"additional_fields_data.lifetime_value": {"operation": "between", "value": [9, 100]}}, ["john", "jane"]),
        ({"additional_fields_data.lifetime_value": {"operation": "eq", "value": 15420.5}}, ["ann"]),
        ({"additional_fields_data.lifetime_value": {"operation": "empty"}}, ["bob", "eve"]),
        ({"active": {"operation": "eq", "value": True}, "audiences": {"operation": "in", "value": ["<vip>"]},
          "additional_fields_data.lifetime_value": {"operation": "gte", "value": 10}}, ["jane"]),
    ],
)  # fmt: skip
def test_list_filters(api, population, filters, expected):
    def resolve(value):
        if isinstance(value, list):
            return [resolve(item) for item in value]
        if isinstance(value, str) and value.startswith("<"):
            return population[value.strip("<>")]
        return value

    filters = {
        name: {**spec, **({"value": resolve(spec["value"])} if "value" in spec else {})}
        for name, spec in filters.items()
    }

    assert list_ids(api, filters=filters) == sorted(population[name] for name in expected)


def test_list_search_finds_a_full_name(api, population):
    assert list_ids(api, search="John Doe") == [population["john"]]


def test_list_filters_on_created_at_and_updated_at(api, population):
    stamps = {
        "john": dt.datetime(2024, 1, 10, tzinfo=dt.UTC),
        "jane": dt.datetime(2024, 3, 15, 10, 30, tzinfo=dt.UTC),
        "ann": dt.datetime(2024, 6, 1, tzinfo=dt.UTC),
    }
    for name, stamp in stamps.items():
        Subscriber.objects.filter(public_id=population[name]).update(created_at=stamp)
    created_id(api.put(f"/api/subscribers/{population['eve']}", {"first_name": "Evelyn"}))

    between = {"created_at": {"operation": "between", "value": ["2024-01-01T00:00:00Z", "2024-03-31"]}}
    assert list_ids(api, filters=between) == sorted([population["john"], population["jane"]])
    since = {"created_at": {"operation": "gte", "value": "2024-03-15T10:30:00.000Z"}}
    assert population["john"] not in list_ids(api, filters=since)
    assert list_ids(api, filters={"updated_at": {"operation": "nempty"}}) == [population["eve"]]
    assert list_ids(api, filters={"created_at": {"operation": "gt", "value": "1 day ago"}}) == sorted(
        [population["bob"], population["eve"]]
    )


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"nickname": {"operation": "eq", "value": "x"}}, "filters.nickname"),
        ({"email": {"operation": "sounds_like", "value": "x"}}, "filters.email.operation"),
        ({"email": {"value": "x"}}, "filters.email.operation"),
        ({"email": "x"}, "filters.email"),
        ({"email": {"operation": "eq", "value": "x", "extra": 1}}, "filters.email.extra"),
        ({"active": {"operation": "eq", "value": "maybe"}}, "filters.active"),
        ({"active": {"operation": "gt", "value": True}}, "filters.active"),
        ({"created_at": {"operation": "gte", "value": "last tuesday"}}, "filters.created_at"),
        ({"created_at": {"operation": "between", "value": ["2024-01-01"]}}, "filters.created_at"),
        ({"audiences": {"operation": "in", "value": ["aud_nope"]}}, "filters.audiences"),
        ({"lists": {"operation": "in", "value": ["list_nope"]}}, "filters.lists"),
        ({"additional_fields_data.lifetime_value": {"operation": "gt", "value": "lots"}},
         "filters.additional_fields_data.lifetime_value"),
        ({"additional_fields_data.bad-key; drop": {"operation": "eq", "value": 1}},
         "filters.additional_fields_data.bad-key; drop"),
        ({"email": {"operation": "in", "value": "not-a-list"}}, "filters.email"),
    ],
)  # fmt: skip
def test_a_bad_filter_is_invalid_filter_naming_the_field(api, filters, field):
    make_subscriber(api, "a@example.com")
    created_id(api.post("/api/custom-fields", {"name": "lifetime_value", "type": "number"}))

    response = api.post("/api/subscribers/list", {"page": 1, "limit": 10, "filters": filters})

    assert_error(response, 400, "INVALID_FILTER", field)


def test_filters_that_are_not_an_object_are_invalid_filter(api):
    response = api.post("/api/subscribers/list", {"page": 1, "limit": 10, "filters": ["email"]})

    assert_error(response, 400, "INVALID_FILTER", "filters")


def test_pagination_totals_and_pages(api):
    emails = [f"user{index:02d}@example.com" for index in range(7)]
    for email in emails:
        make_subscriber(api, email)

    pages = [
        api.post("/api/subscribers/list", {"page": page, "limit": 3, "sort": "email", "filters": {}}).json()
        for page in (1, 2, 3, 4)
    ]

    assert [(p["total"], p["totalPages"]) for p in pages] == [(7, 3)] * 4
    assert [[row["email"] for row in p["results"]] for p in pages] == [emails[0:3], emails[3:6], emails[6:], []]


def test_an_empty_list_has_no_pages(api):
    body = api.post("/api/subscribers/list", {"page": 1, "limit": 10, "filters": {}}).json()

    assert body == {"results": [], "total": 0, "totalPages": 0}


def test_sort_descending_and_default_newest_first(api):
    first = make_subscriber(api, "b@example.com")
    second = make_subscriber(api, "a@example.com")
    Subscriber.objects.filter(public_id=first).update(created_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))

    by_default = api.post("/api/subscribers/list", {"page": 1, "limit": 10}).json()["results"]
    by_email_desc = api.post("/api/subscribers/list", {"page": 1, "limit": 10, "sort": "-email"}).json()["results"]

    assert [row["id"] for row in by_default] == [second, first]
    assert [row["email"] for row in by_email_desc] == ["b@example.com", "a@example.com"]


@pytest.mark.parametrize(
    ("request_body", "field"),
    [
        ({"page": 0, "limit": 10}, "page"),
        ({"page": 1, "limit": 0}, "limit"),
        ({"page": "first", "limit": 10}, "page"),
        ({"page": 1, "limit": 10, "sort": "password"}, "sort"),
        ({"page": 1, "limit": 10, "search": "x" * 201}, "search"),
    ],
)
def test_a_bad_list_request_is_400_naming_the_field(api, request_body, field):
    assert_error(api.post("/api/subscribers/list", request_body), 400, "VALIDATION_ERROR", field)


def test_listing_twenty_richly_related_subscribers_takes_a_bounded_number_of_queries(
    api, django_assert_max_num_queries
):
    audiences = [make_audience(api, f"Audience {index}") for index in range(2)]
    lists = [make_list(api, f"List {index}", audiences[0]) for index in range(2)]
    stypes = [make_stype(api, f"Type {index}") for index in range(2)]
    tags = [created_id(api.post("/api/tags", {"name": f"tag-{index}"})) for index in range(2)]
    for index in range(20):
        make_subscriber(
            api,
            f"rich{index}@example.com",
            audiences=audiences,
            lists=lists,
            tags=tags,
            subscription_updates=[{"subscription_type_id": t, "subscribe": True} for t in stypes],
        )

    # + 4 for `memberships` (aud_default, audience rows, list rows, dynamic and composed lists)
    with django_assert_max_num_queries(14):
        response = api.post(
            "/api/subscribers/list",
            {"page": 1, "limit": 100, "filters": {"lists": {"operation": "in", "value": lists}}},
        )

    body = response.json()
    assert body["total"] == 20
    assert all(
        len(row["audiences"]) - 1 == len(row["lists"]) == len(row["tags"]) == len(row["subscription_preferences"]) == 2
        for row in body["results"]
    )
    assert all(len(row["memberships"]["audiences"]) == 3 and len(row["memberships"]["lists"]) == 2
               for row in body["results"])  # fmt: skip


# Get, update, versioning, delete


def test_get_an_unknown_subscriber_is_404(api):
    for subscriber_id in ("sub_doesnotexist", "x" * 300, "aud_default"):
        assert_error(api.get(f"/api/subscribers/{subscriber_id}"), 404, "SUBSCRIBER_NOT_FOUND")


def test_update_changes_only_what_is_sent_and_bumps_version_once(api):
    audience_id = make_audience(api, "Kept")
    subscriber_id = make_subscriber(api, "a@example.com", last_name="Doe", audiences=[audience_id])

    created_id(api.put(f"/api/subscribers/{subscriber_id}", {"first_name": "Samantha"}))

    body = api.get(f"/api/subscribers/{subscriber_id}").json()
    assert (body["first_name"], body["last_name"], body["email"]) == ("Samantha", "Doe", "a@example.com")
    assert body["audiences"] == ["aud_default", audience_id]
    assert body["version"] == 2
    assert TIMESTAMP.match(body["updated_at"])


def test_an_update_that_changes_nothing_keeps_the_version(api):
    subscriber_id = make_subscriber(api, "a@example.com", first_name="Sam")

    response = api.put(f"/api/subscribers/{subscriber_id}", {"first_name": "Sam", "email": "a@example.com"})

    assert created_id(response) == subscriber_id
    subscriber = Subscriber.objects.get(public_id=subscriber_id)
    assert (subscriber.version, subscriber.updated_at) == (1, None)


def test_membership_only_changes_bump_the_version(api):
    audience_id = make_audience(api, "Joined")
    subscriber_id = make_subscriber(api, "a@example.com")

    created_id(api.put(f"/api/subscribers/{subscriber_id}", {"audiences": [audience_id]}))

    subscriber = Subscriber.objects.get(public_id=subscriber_id)
    assert subscriber.version == 2
    assert subscriber.updated_at is not None


def test_update_deactivating_needs_a_reason_and_reactivating_clears_it(api):
    subscriber_id = make_subscriber(api, "a@example.com")
    before = stored()

    refused = api.put(f"/api/subscribers/{subscriber_id}", {"active": False})

    assert_error(refused, 400, "INVALID_SUBSCRIBER", "inactive_reason")
    assert stored() == before
    created_id(api.put(f"/api/subscribers/{subscriber_id}", {"active": False, "inactive_reason": "Asked"}))
    assert api.get(f"/api/subscribers/{subscriber_id}").json()["inactive_reason"] == "Asked"
    created_id(api.put(f"/api/subscribers/{subscriber_id}", {"active": True}))
    body = api.get(f"/api/subscribers/{subscriber_id}").json()
    assert (body["active"], body["inactive_reason"], body["version"]) == (True, None, 3)


@pytest.mark.parametrize(
    ("payload", "status", "code", "field"),
    [
        ({"email": "broken"}, 400, "INVALID_SUBSCRIBER", "email"),
        ({"first_name": "X", "audiences": ["aud_unknown"]}, 400, "INVALID_SUBSCRIBER", "audiences"),
        ({"first_name": "X", "lists": ["list_unknown"]}, 400, "INVALID_SUBSCRIBER", "lists"),
        ({"first_name": "X", "tags": ["tag_unknown"]}, 400, "INVALID_SUBSCRIBER", "tags"),
        ({"first_name": "X", "version": 0}, 400, "INVALID_SUBSCRIBER", "version"),
        ([{"first_name": "X"}], 400, "INVALID_SUBSCRIBER", "body"),
        ({"first_name": "X", "additional_fields_data": "text"}, 400, "INVALID_SUBSCRIBER", "additional_fields_data"),
        ({"first_name": "X", "subscription_updates": [{"subscription_type_id": "stype_nope", "subscribe": True}]},
         400, "INVALID_PREFERENCE", "subscription_updates"),
    ],
)  # fmt: skip
def test_a_refused_update_changes_nothing(api, payload, status, code, field):
    audience_id = make_audience(api, "Before")
    subscriber_id = make_subscriber(api, "a@example.com", audiences=[audience_id])
    before = stored()

    response = api.put(f"/api/subscribers/{subscriber_id}", payload)

    assert_error(response, status, code, field)
    assert stored() == before


def test_update_or_delete_of_an_unknown_subscriber_is_404(api):
    make_subscriber(api, "a@example.com")
    before = stored()

    assert_error(api.put("/api/subscribers/sub_unknown", {"first_name": "X"}), 404, "SUBSCRIBER_NOT_FOUND")
    assert_error(api.delete("/api/subscribers/sub_unknown"), 404, "SUBSCRIBER_NOT_FOUND")
    assert stored() == before


def test_put_with_a_stale_version_in_the_body_is_409_and_changes_nothing(api):
    subscriber_id = make_subscriber(api, "a@example.com", first_name="One")
    created_id(api.put(f"/api/subscribers/{subscriber_id}", {"first_name": "Two", "version": 1}))
    before = stored()

    response = api.put(f"/api/subscribers/{subscriber_id}", {"first_name": "Lost", "version": 1})

    assert_error(response, 409, "VERSION_CONFLICT")
    assert stored() == before
    created_id(api.put(f"/api/subscribers/{subscriber_id}", {"first_name": "Three", "version": 2}))
    assert Subscriber.objects.get(public_id=subscriber_id).version == 3


def test_put_with_a_stale_if_match_is_409_and_changes_nothing(api):
    subscriber_id = make_subscriber(api, "a@example.com", first_name="One")
    etag = api.get(f"/api/subscribers/{subscriber_id}")["ETag"]
    created_id(api.put(f"/api/subscribers/{subscriber_id}", {"first_name": "Two"}, HTTP_IF_MATCH=etag))
    before = stored()

    response = api.put(
        f"/api/subscribers/{subscriber_id}",
        {"first_name": "Lost", "subscription_updates": []},
        HTTP_IF_MATCH=etag,
    )

    assert_error(response, 409, "VERSION_CONFLICT")
    assert stored() == before
    fresh = api.get(f"/api/subscribers/{subscriber_id}")["ETag"]
    assert fresh == '"2"'
    ok = api.put(f"/api/subscribers/{subscriber_id}", {"first_name": "Three"}, HTTP_IF_MATCH=f"W/{fresh}")
    assert ok.status_code == 200
    assert ok["ETag"] == '"3"'


def test_delete_removes_the_subscriber_and_everything_attached(api):
    audience_id = make_audience(api, "A")
    list_id = make_list(api, "L", audience_id)
    stype_id = make_stype(api, "News")
    kept_id = make_subscriber(api, "kept@example.com", lists=[list_id])
    subscriber_id = make_subscriber(
        api,
        "gone@example.com",
        audiences=[audience_id],
        lists=[list_id],
        subscription_updates=[{"subscription_type_id": stype_id, "subscribe": True}],
    )

    response = api.delete(f"/api/subscribers/{subscriber_id}")

    assert response.status_code == 200
    assert response.json() == {"id": subscriber_id}
    assert_error(api.get(f"/api/subscribers/{subscriber_id}"), 404, "SUBSCRIBER_NOT_FOUND")
    assert_error(api.delete(f"/api/subscribers/{subscriber_id}"), 404, "SUBSCRIBER_NOT_FOUND")
    assert list(Subscriber.objects.values_list("public_id", flat=True)) == [kept_id]
    assert AudienceMembership.objects.count() == 0
    assert ListMembership.objects.count() == 1
    assert SubscriptionPreference.objects.count() == 0


def test_custom_field_definitions_are_read_once_per_list_request(api, django_assert_max_num_queries):
    CustomField.objects.create(name="score", field_type="number")
    make_subscriber(api, "a@example.com", additional_fields_data={"score": 3})

    # key, custom-field types (once for both conditions), count, page, relations, four for `memberships`
    with django_assert_max_num_queries(12):
        found = list_ids(
            api,
            filters={
                "additional_fields_data.score": [
                    {"operation": "gte", "value": 1},
                    {"operation": "lte", "value": 5},
                ]
            },
        )

    assert len(found) == 1
