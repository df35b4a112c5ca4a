"""Every way into a static list honours both size limits with seed 003's 409 codes: a list's own limit
(LIST_SIZE_LIMIT_EXCEEDED) and all lists' together (TOTAL_SIZE_LIMIT_EXCEEDED). Contact files and imports:
tests/imports/test_contacts_api.py, test_contacts_seed.py and test_import_limits.py."""

import threading

import pytest
from django.db import connection
from django.urls import reverse

from audiences import services as audience_services
from audiences.models import ListMembership, MarketingList
from subscribers.models import Subscriber
from tests.api_assertions import assert_error, created_id
from tests.subscribers.test_admin import add_inline_row, form_data

pytestmark = pytest.mark.django_db


def make_list(api, name: str = "Tiny", max_members: int | None = None) -> str:
    list_id = created_id(api.post("/api/lists", {"name": name, "mode": "static", "audience_id": "aud_default"}))
    MarketingList.objects.filter(public_id=list_id).update(max_members=max_members)
    return list_id


def make_subscriber(api, email: str, lists: list[str] | None = None) -> str:
    return created_id(api.post("/api/subscribers", {"first_name": "Pat", "email": email, "lists": lists or []}))


def members(list_id: str) -> set[str]:
    return set(
        ListMembership.objects.filter(marketing_list__public_id=list_id).values_list("subscriber__email", flat=True)
    )


def test_a_create_into_a_full_list_is_409_and_creates_nothing(api):
    list_id = make_list(api, max_members=1)
    make_subscriber(api, "first@example.com", [list_id])

    response = api.post("/api/subscribers", {"first_name": "B", "email": "second@example.com", "lists": [list_id]})

    body = assert_error(response, 409, "LIST_SIZE_LIMIT_EXCEEDED", "lists")
    assert list_id in body["issues"][0]["message"]
    assert not Subscriber.objects.filter(email="second@example.com").exists()
    assert members(list_id) == {"first@example.com"}


def test_an_update_adding_a_full_list_is_409_and_changes_nothing(api):
    full = make_list(api, "Full", max_members=1)
    roomy = make_list(api, "Roomy")
    make_subscriber(api, "first@example.com", [full])
    second = make_subscriber(api, "second@example.com", [roomy])
    before = api.get(f"/api/subscribers/{second}").json()

    response = api.put(f"/api/subscribers/{second}", {"first_name": "Changed", "lists": [roomy, full]})

    assert_error(response, 409, "LIST_SIZE_LIMIT_EXCEEDED", "lists")
    assert api.get(f"/api/subscribers/{second}").json() == before
    # A member of a full list sends its lists back unchanged (the round trip adds nobody): fine.
    first = Subscriber.objects.get(email="first@example.com").public_id
    assert api.put(f"/api/subscribers/{first}", {"first_name": "Again", "lists": [full]}).status_code == 200


def test_creates_and_updates_past_the_total_limit_are_409(api, settings):
    one, two = make_list(api, "One"), make_list(api, "Two")
    first = make_subscriber(api, "first@example.com", [one])
    settings.TOTAL_MAX_SUBSCRIBERS = 1

    response = api.post("/api/subscribers", {"first_name": "B", "email": "second@example.com", "lists": [two]})
    assert_error(response, 409, "TOTAL_SIZE_LIMIT_EXCEEDED", "lists")
    assert_error(api.put(f"/api/subscribers/{first}", {"lists": [one, two]}), 409, "TOTAL_SIZE_LIMIT_EXCEEDED", "lists")
    # Moving from one list to another takes no more room.
    assert api.put(f"/api/subscribers/{first}", {"lists": [two]}).status_code == 200
    assert (members(one), members(two)) == (set(), {"first@example.com"})


def test_a_single_addition_past_the_total_limit_is_409(api, settings):
    one, two = make_list(api, "One"), make_list(api, "Two")
    make_subscriber(api, "first@example.com", [one])
    second = make_subscriber(api, "second@example.com")
    settings.TOTAL_MAX_SUBSCRIBERS = 1

    response = api.post(f"/api/lists/{two}/subscribers", {"subscriber_id": second})

    assert_error(response, 409, "TOTAL_SIZE_LIMIT_EXCEEDED", "list_id")
    assert members(two) == set()


def test_a_batch_into_a_full_list_answers_each_contact_over_the_limit_invalid_naming_the_list(api):
    list_id = make_list(api, max_members=1)

    response = api.post(
        "/api/subscribers/batch",
        {"data": [{"email": "one@example.com"}, {"email": "two@example.com"}], "list_id": list_id},
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["total_valid"], body["total_invalid"]) == (1, 1)
    [invalid] = body["invalid_contacts"]
    assert invalid["email"] == "two@example.com"
    assert invalid["reason"].startswith(f"list_id: List {list_id} holds 1 members")
    assert "csv" not in invalid["reason"]
    assert not Subscriber.objects.filter(email="two@example.com").exists()
    assert members(list_id) == {"one@example.com"}


def test_the_admin_cannot_add_a_subscriber_to_a_full_list(admin_client, api):
    list_id = make_list(api, max_members=1)
    make_subscriber(api, "first@example.com", [list_id])
    second = Subscriber.objects.get(public_id=make_subscriber(api, "second@example.com"))
    url = reverse("admin:subscribers_subscriber_change", args=[second.pk])
    data = form_data(admin_client.get(url))
    full = MarketingList.objects.get(public_id=list_id)
    add_inline_row(data, "list_memberships", marketing_list=full.pk, subscriber=second.pk)

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert f"List {list_id} holds 1 members" in str(response.context["adminform"].form.non_field_errors())
    assert members(list_id) == {"first@example.com"}

    add = reverse("admin:subscribers_subscriber_add")
    data = form_data(admin_client.get(add))
    data.update(email="third@example.com", first_name="Third")
    add_inline_row(data, "list_memberships", marketing_list=full.pk)
    response = admin_client.post(add, data)
    assert response.status_code == 200
    assert f"List {list_id} holds 1 members" in str(response.context["adminform"].form.non_field_errors())
    assert not Subscriber.objects.filter(email="third@example.com").exists()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_concurrent_adders_cannot_both_take_the_last_place(make_client, monkeypatch):
    """Both requests reach the list lock before either adds: the lock makes the second count after the first."""
    api = make_client()
    list_id = make_list(api, max_members=1)
    clients = [make_client(), make_client()]
    both_ready = threading.Barrier(2, timeout=10)
    original_lock = audience_services.lists_lock_for_adding

    def wait_then_lock(lists):
        lists = list(lists)
        both_ready.wait()
        return original_lock(lists)

    monkeypatch.setattr(audience_services, "lists_lock_for_adding", wait_then_lock)
    responses = [None, None]

    def create(index: int) -> None:
        try:
            body = {"first_name": "R", "email": f"racer{index}@example.com", "lists": [list_id]}
            responses[index] = clients[index].post("/api/subscribers", body)
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(response.status_code for response in responses) == [200, 409]
    loser = next(response for response in responses if response.status_code == 409)
    assert loser.json()["code"] == "LIST_SIZE_LIMIT_EXCEEDED"
    assert len(members(list_id)) == 1
    assert Subscriber.objects.filter(email__startswith="racer").count() == 1
