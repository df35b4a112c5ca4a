"""What a subscriber is in (issue 16, point 5). `audiences` and `lists` mean on GET what they mean on a write (manual
audience additions, with `aud_default` always first; static lists), and the read-only `memberships` answers every
audience and list the subscriber is in, with how: as the members pages answer them, in as many queries for one
subscriber as for a page."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audiences.models import DEFAULT_AUDIENCE_ID, AudienceMembership, ListMembership
from subscribers.models import Subscriber
from tests.api_assertions import created_id
from tests.audiences.conftest import cond, create_audience, create_subscriber, group, list_member_ids, member_ids
from tests.subscribers.memberships_reference import memberships_by_hand

pytestmark = pytest.mark.django_db

EVERYONE = {"id": DEFAULT_AUDIENCE_ID, "name": "All Subscribers", "how": ["default"]}


def get(api, subscriber_id: str) -> dict:
    response = api.get(f"/api/subscribers/{subscriber_id}")
    assert response.status_code == 200, response.json()
    return response.json()


def create_list(api, name: str, mode: str, audience_id: str) -> str:
    return created_id(api.post("/api/lists", {"name": name, "mode": mode, "audience_id": audience_id}))


def compose(api, list_id: str, **parts) -> None:
    response = api.put(f"/api/lists/{list_id}/composition", parts)
    assert response.status_code == 200, response.json()


def stored() -> list[tuple]:
    return sorted(AudienceMembership.objects.values_list("audience_id", "subscriber_id", "source")) + sorted(
        ListMembership.objects.values_list("marketing_list_id", "subscriber_id")
    )


# --- aud_default ---------------------------------------------------------------------------------------------------


def test_aud_default_is_accepted_on_write_and_always_read_back(api):
    subscriber_id = create_subscriber(api, "ann@example.com", audiences=[DEFAULT_AUDIENCE_ID])

    body = get(api, subscriber_id)
    assert body["audiences"] == [DEFAULT_AUDIENCE_ID]
    assert body["memberships"] == {"audiences": [EVERYONE], "lists": []}
    assert not AudienceMembership.objects.exists()  # everyone is in it: nothing to store

    plain = get(api, create_subscriber(api, "bob@example.com"))  # nothing sent: in it all the same
    assert plain["audiences"] == [DEFAULT_AUDIENCE_ID] and plain["memberships"]["audiences"] == [EVERYONE]

    hand_picked = create_audience(api, "Hand-picked")
    created_id(api.put(f"/api/subscribers/{subscriber_id}", {"audiences": [hand_picked, DEFAULT_AUDIENCE_ID]}))
    body = get(api, subscriber_id)
    assert (body["audiences"], body["version"]) == ([DEFAULT_AUDIENCE_ID, hand_picked], 2)
    created_id(api.put(f"/api/subscribers/{subscriber_id}", {"audiences": [DEFAULT_AUDIENCE_ID]}))
    body = get(api, subscriber_id)
    assert (body["audiences"], body["version"]) == ([DEFAULT_AUDIENCE_ID], 3)
    # Sending it again, alone or as GET answered it, changes nothing.
    before = stored()
    created_id(api.put(f"/api/subscribers/{subscriber_id}", {"audiences": [DEFAULT_AUDIENCE_ID]}))
    created_id(api.put(f"/api/subscribers/{subscriber_id}", body))
    assert get(api, subscriber_id)["version"] == 3 and stored() == before


# --- how -------------------------------------------------------------------------------------------------------------


@pytest.fixture
def world(api) -> dict[str, str]:
    """A rule audience (created before its members, who join it live), a manual one, lists of every kind on them,
    and subscribers in them in every way."""
    ids = {
        "premium": create_audience(api, "Premium", group(cond("additional_fields_data.tier", "eq", "premium"))),
        "hand": create_audience(api, "Hand-picked"),
    }
    ids["vip"] = create_list(api, "VIP", "static", ids["hand"])
    ids["premium_list"] = create_list(api, "Premium list", "dynamic", ids["premium"])
    ids["everyone"] = create_list(api, "Everyone", "dynamic", DEFAULT_AUDIENCE_ID)
    ids["dnc"] = create_list(api, "Do not contact", "static", DEFAULT_AUDIENCE_ID)
    ids["campaign"] = create_list(api, "Campaign", "static", ids["hand"])  # VIP + Premium - Do not contact
    ids["premium_plus"] = create_list(api, "Premium plus", "dynamic", ids["premium"])  # + Hand-picked - VIP
    compose(api, ids["dnc"], is_suppression=True)
    compose(api, ids["campaign"], include_lists=[ids["vip"]], include_audiences=[ids["premium"]],
            exclude_lists=[ids["dnc"]])  # fmt: skip
    compose(api, ids["premium_plus"], include_audiences=[ids["hand"]], exclude_lists=[ids["vip"]])
    premium = {"additional_fields_data": {"tier": "premium"}}
    ids["ann"] = create_subscriber(api, "ann@example.com", audiences=[ids["hand"]], lists=[ids["vip"]], **premium)
    ids["bob"] = create_subscriber(api, "bob@example.com", lists=[ids["dnc"], ids["campaign"]], **premium)
    ids["cy"] = create_subscriber(api, "cy@example.com", audiences=[ids["hand"]])
    ids["dee"] = create_subscriber(api, "dee@example.com", lists=[ids["campaign"]])
    ids["eve"] = create_subscriber(api, "eve@example.com")
    return ids


def how(body: dict, kind: str) -> dict[str, list[str]]:
    return {item["id"]: item["how"] for item in body["memberships"][kind]}


def test_memberships_say_every_audience_and_list_and_how(api, world):
    ann, bob, cy, dee, eve = (get(api, world[name]) for name in ("ann", "bob", "cy", "dee", "eve"))

    # Ann: by hand and by rule in Premium's case too, on the static list VIP, so in Campaign through it and Premium.
    assert ann["audiences"] == [DEFAULT_AUDIENCE_ID, world["hand"]]
    assert ann["lists"] == [world["vip"]]
    assert ann["memberships"]["audiences"] == [
        EVERYONE,
        {"id": world["hand"], "name": "Hand-picked", "how": ["manual"]},
        {"id": world["premium"], "name": "Premium", "how": ["rule"]},
    ]
    assert ann["memberships"]["lists"] == [
        {"id": world["campaign"], "name": "Campaign", "how": ["included"], "suppression": False},
        {"id": world["everyone"], "name": "Everyone", "how": ["dynamic"], "suppression": False},
        {"id": world["premium_list"], "name": "Premium list", "how": ["dynamic"], "suppression": False},
        {"id": world["vip"], "name": "VIP", "how": ["manual"], "suppression": False},
    ]  # not Premium plus: VIP is excluded from it
    # Bob: a member by rule, on the suppression list, and left out of Campaign by it although a member of it.
    assert how(bob, "audiences") == {DEFAULT_AUDIENCE_ID: ["default"], world["premium"]: ["rule"]}
    assert how(bob, "lists") == {
        world["dnc"]: ["manual"],
        world["everyone"]: ["dynamic"],
        world["premium_list"]: ["dynamic"],
        world["premium_plus"]: ["dynamic"],
    }
    assert [item["suppression"] for item in bob["memberships"]["lists"] if item["id"] == world["dnc"]] == [True]
    assert bob["lists"] == [world["dnc"], world["campaign"]]  # its own rows, as written
    # Cy: in Premium plus through the audience it includes, not its own.
    assert how(cy, "lists") == {world["everyone"]: ["dynamic"], world["premium_plus"]: ["included"]}
    # Dee: a member of Campaign of its own.
    assert how(dee, "lists") == {world["campaign"]: ["manual"], world["everyone"]: ["dynamic"]}
    assert eve["memberships"] == {"audiences": [EVERYONE], "lists": [
        {"id": world["everyone"], "name": "Everyone", "how": ["dynamic"], "suppression": False}]}  # fmt: skip

    # Both ways at once: Ann added to Premium by hand as well, and Dee matching Premium (so in Campaign both ways).
    assert (
        api.post(f"/api/audiences/{world['premium']}/subscribers", {"subscriber_id": world["ann"]}).status_code == 200
    )
    created_id(api.put(f"/api/subscribers/{world['dee']}", {"additional_fields_data": {"tier": "premium"}}))
    assert how(get(api, world["ann"]), "audiences")[world["premium"]] == ["manual", "rule"]
    assert how(get(api, world["dee"]), "lists")[world["campaign"]] == ["manual", "included"]


def test_memberships_agree_with_every_members_page(api, world):
    subscribers = {world[name] for name in ("ann", "bob", "cy", "dee", "eve")}
    pages = api.post("/api/subscribers/list", {"page": 1, "limit": 100}).json()["results"]
    shown = {row["id"]: row["memberships"] for row in pages}
    assert set(shown) == subscribers

    for list_id in ("vip", "premium_list", "everyone", "dnc", "campaign", "premium_plus"):
        members = list_member_ids(api, world[list_id])
        assert members == {s for s in subscribers if world[list_id] in how({"memberships": shown[s]}, "lists")}, list_id
    for audience_id in ("premium", "hand", DEFAULT_AUDIENCE_ID):
        audience_id = world.get(audience_id, audience_id)
        in_it = {s for s in subscribers if audience_id in how({"memberships": shown[s]}, "audiences")}
        assert member_ids(api, audience_id) == in_it, audience_id
    for subscriber in Subscriber.objects.all():
        assert shown[subscriber.public_id] == memberships_by_hand(subscriber)


def test_memberships_cost_the_same_queries_for_one_subscriber_as_for_twenty(api, world):
    for index in range(15):
        create_subscriber(api, f"more{index}@example.com", audiences=[world["hand"]], lists=[world["vip"]],
                          additional_fields_data={"tier": "premium"})  # fmt: skip

    def queries(**request) -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            response = api.post("/api/subscribers/list", {"page": 1, **request})
            assert response.status_code == 200, response.json()
        return len(captured), len(response.json()["results"])

    queries(limit=1)  # the key's first use is recorded once
    one, twenty = queries(limit=1), queries(limit=100)
    assert (one[1], twenty[1]) == (1, 20)
    assert one[0] == twenty[0]
    with CaptureQueriesContext(connection) as captured:
        get(api, world["ann"])
    assert len(captured) == one[0] - 1  # a single subscriber: no count


# --- memberships is read-only ---------------------------------------------------------------------------------------


def test_memberships_is_read_only_a_body_read_with_get_goes_back_unchanged(api, world):
    body = get(api, world["ann"])
    before = stored()

    created_id(api.put(f"/api/subscribers/{world['ann']}", body))
    assert get(api, world["ann"]) == body and stored() == before

    # Whatever it says, it writes nothing: neither on an update nor on a create.
    tampered = {"audiences": [{**EVERYONE}, {"id": world["premium"], "name": "Premium", "how": ["manual"]}],
                "lists": [{"id": world["dnc"], "name": "x", "how": ["manual"], "suppression": True}]}  # fmt: skip
    created_id(api.put(f"/api/subscribers/{world['ann']}", {"memberships": tampered}))
    assert get(api, world["ann"]) == body and stored() == before
    twin = created_id(api.post("/api/subscribers", {**body, "email": "twin@example.com", "memberships": tampered}))
    twin_body = get(api, twin)
    same = ("audiences", "lists", "memberships")
    assert {name: twin_body[name] for name in same} == {name: body[name] for name in same}
    assert not ListMembership.objects.filter(subscriber__public_id=twin, marketing_list__public_id=world["dnc"])
