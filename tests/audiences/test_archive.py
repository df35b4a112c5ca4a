"""Archiving a list (seed 003's set-archived): filterable, takes no additions or imports, keeps its members."""

import pytest

from audiences.models import ListMembership, MarketingList
from audiences.services import ensure_list_accepts_changes
from core.errors import ValidationFailed
from tests.api_assertions import assert_error, created_id
from tests.factories import MarketingListFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def archive(api, list_id: str, archived: bool):
    return api.post(f"/api/lists/{list_id}/archive", {"archived": archived})


def listed_ids(api, archived: bool) -> set[str]:
    body = {"page": 1, "limit": 100, "filters": {"archived": {"operation": "eq", "value": archived}}}
    response = api.post("/api/lists/list", body)
    assert response.status_code == 200, response.json()
    return {row["id"] for row in response.json()["results"]}


def test_archive_and_unarchive(api):
    kept, archived_list = MarketingListFactory(), MarketingListFactory()
    member = SubscriberFactory()
    ListMembership.objects.create(marketing_list=archived_list, subscriber=member)

    response = archive(api, archived_list.public_id, True)
    assert response.status_code == 200, response.json()
    assert response.json() == {"id": archived_list.public_id, "archived": True}
    archived_list.refresh_from_db()
    assert archived_list.archived and archived_list.version == 2
    assert listed_ids(api, True) == {archived_list.public_id}
    assert listed_ids(api, False) == {kept.public_id}
    # It keeps its members.
    assert ListMembership.objects.filter(marketing_list=archived_list, subscriber=member).exists()

    assert archive(api, archived_list.public_id, True).status_code == 200  # again: nothing changes
    archived_list.refresh_from_db()
    assert archived_list.version == 2

    assert archive(api, archived_list.public_id, False).json() == {"id": archived_list.public_id, "archived": False}
    assert listed_ids(api, True) == set()


def test_archive_accepts_the_seed_query_parameter(api):
    marketing_list = MarketingListFactory()
    response = api.post(f"/api/lists/{marketing_list.public_id}/archive?archived=true")
    assert response.status_code == 200, response.json()
    marketing_list.refresh_from_db()
    assert marketing_list.archived


def test_archive_validates(api, make_client):
    marketing_list = MarketingListFactory()
    assert_error(api.post(f"/api/lists/{marketing_list.public_id}/archive", {}), 400, "VALIDATION_ERROR", "archived")
    assert_error(archive(api, marketing_list.public_id, "maybe"), 400, "VALIDATION_ERROR", "archived")
    assert_error(archive(api, "list_missing", True), 404, "LIST_NOT_FOUND")
    assert archive(make_client("lists:read"), marketing_list.public_id, True).status_code == 403
    marketing_list.refresh_from_db()
    assert not marketing_list.archived


def test_archived_list_refuses_single_additions(api):
    marketing_list = MarketingListFactory(archived=True)
    subscriber = SubscriberFactory()
    response = api.post(f"/api/lists/{marketing_list.public_id}/subscribers", {"subscriber_id": subscriber.public_id})
    assert_error(response, 400, "VALIDATION_ERROR", "list_id")
    assert not ListMembership.objects.filter(marketing_list=marketing_list).exists()
    # Unarchived, it takes them again.
    archive(api, marketing_list.public_id, False)
    response = api.post(f"/api/lists/{marketing_list.public_id}/subscribers", {"subscriber_id": subscriber.public_id})
    assert response.status_code == 200, response.json()


def test_a_subscribers_lists_cannot_join_an_archived_list_but_keep_one_it_is_in(api):
    archived = MarketingListFactory(archived=True)
    body = {"first_name": "Ann", "email": "ann@example.com", "lists": [archived.public_id]}
    assert_error(api.post("/api/subscribers", body), 400, "INVALID_SUBSCRIBER", "lists")
    subscriber_id = created_id(api.post("/api/subscribers", {**body, "lists": []}))
    assert_error(
        api.put(f"/api/subscribers/{subscriber_id}", {"lists": [archived.public_id]}),
        400,
        "INVALID_SUBSCRIBER",
        "lists",
    )
    assert not ListMembership.objects.filter(marketing_list=archived).exists()

    # A member from before the archiving stays one when the subscriber's GET body is sent back.
    archive(api, archived.public_id, False)
    assert api.put(f"/api/subscribers/{subscriber_id}", {"lists": [archived.public_id]}).status_code == 200
    archive(api, archived.public_id, True)
    read = api.get(f"/api/subscribers/{subscriber_id}").json()
    assert api.put(f"/api/subscribers/{subscriber_id}", {**read, "first_name": "Anne"}).status_code == 200
    assert ListMembership.objects.filter(marketing_list=archived).count() == 1


def test_archived_list_still_lets_members_go(api):
    marketing_list = MarketingListFactory(archived=True)
    subscriber = SubscriberFactory()
    ListMembership.objects.create(marketing_list=marketing_list, subscriber=subscriber)
    response = api.delete(f"/api/lists/{marketing_list.public_id}/subscribers/{subscriber.public_id}")
    assert response.status_code == 200, response.json()
    assert not ListMembership.objects.filter(marketing_list=marketing_list).exists()


def test_ensure_list_accepts_changes_for_imports():
    ensure_list_accepts_changes(MarketingListFactory())
    with pytest.raises(ValidationFailed) as refused:
        ensure_list_accepts_changes(MarketingListFactory(archived=True))
    assert refused.value.issues[0].field == "list_id"


@pytest.mark.django_db
def test_a_single_addition_past_the_list_limit_is_409_and_adds_nothing(api, settings):
    list_id = created_id(api.post("/api/lists", {"name": "Tiny", "mode": "static", "audience_id": "aud_default"}))
    first = created_id(api.post("/api/subscribers", {"first_name": "A", "email": "a1@example.com"}))
    second = created_id(api.post("/api/subscribers", {"first_name": "B", "email": "b1@example.com"}))
    MarketingList.objects.filter(public_id=list_id).update(max_members=1)

    assert api.post(f"/api/lists/{list_id}/subscribers", {"subscriber_id": first}).status_code == 200
    assert api.post(f"/api/lists/{list_id}/subscribers", {"subscriber_id": first}).status_code == 200  # already in
    response = api.post(f"/api/lists/{list_id}/subscribers", {"subscriber_id": second})

    assert response.status_code == 409 and response.json()["code"] == "LIST_SIZE_LIMIT_EXCEEDED"
    assert ListMembership.objects.filter(marketing_list__public_id=list_id).count() == 1
    assert api.get(f"/api/lists/{list_id}/composition").json()["archived"] is False
