"""POST /api/subscribers/search: reachable-subscriber counts per list and per audience (seed 001)."""

import pytest

from audiences.models import AudienceMembership, ListMembership
from subscribers.models import Subscriber, SubscriptionPreference
from tests.api_assertions import assert_error, created_id


def stored() -> dict:
    return {
        "subscribers": list(Subscriber.objects.order_by("pk").values()),
        "audiences": list(AudienceMembership.objects.order_by("pk").values()),
        "lists": list(ListMembership.objects.order_by("pk").values()),
        "preferences": list(SubscriptionPreference.objects.order_by("pk").values()),
    }


def search(client, query_name: str, **variables):
    return client.post("/api/subscribers/search", {"payload": {"queryName": query_name, "vars": variables}})


@pytest.fixture
def world(api) -> dict[str, str]:
    """Two audiences, a static list and a dynamic one, two consent types, and subscribers in every state:

    | subscriber | active | audiences | static list | promo       | news |
    | reachable  | yes    | retail    | yes         | subscribed  | -    |
    | withdrawn  | yes    | retail    | yes         | withdrawn   | yes  |
    | inactive   | no     | retail    | yes         | subscribed  | yes  |
    | silent     | yes    | -         | yes         | -           | -    |
    | outsider   | yes    | news      | -           | subscribed  | yes  |
    """
    ids = {
        "retail": created_id(api.post("/api/audiences", {"name": "Retail"})),
        "newsletter": created_id(api.post("/api/audiences", {"name": "Newsletter"})),
        "promo": created_id(api.post("/api/subscription-types", {"name": "Promotional"})),
        "news": created_id(api.post("/api/subscription-types", {"name": "News"})),
    }
    ids["vip"] = created_id(api.post("/api/lists", {"name": "VIP", "mode": "static", "audience_id": ids["retail"]}))
    ids["retail_list"] = created_id(
        api.post("/api/lists", {"name": "Retail (dynamic)", "mode": "dynamic", "audience_id": ids["retail"]})
    )
    ids["everyone_list"] = created_id(
        api.post("/api/lists", {"name": "Everyone", "mode": "dynamic", "audience_id": "aud_default"})
    )
    ids["empty"] = created_id(api.post("/api/lists", {"name": "Empty", "mode": "static", "audience_id": ids["retail"]}))

    def consent(**choices: bool) -> list[dict]:
        return [{"subscription_type_id": ids[name], "subscribe": value} for name, value in choices.items()]

    people = [
        ("reachable", True, [ids["retail"]], [ids["vip"]], consent(promo=True)),
        ("withdrawn", True, [ids["retail"]], [ids["vip"]], consent(promo=False, news=True)),
        ("inactive", False, [ids["retail"]], [ids["vip"]], consent(promo=True, news=True)),
        ("silent", True, [], [ids["vip"]], []),
        ("outsider", True, [ids["newsletter"]], [], consent(promo=True, news=True)),
    ]
    for name, active, audiences, lists, updates in people:
        payload = {
            "first_name": name,
            "email": f"{name}@example.com",
            "active": active,
            "audiences": audiences,
            "lists": lists,
            "subscription_updates": updates,
        }
        if not active:
            payload["inactive_reason"] = "Bounced"
        ids[name] = created_id(api.post("/api/subscribers", payload))
    return ids


def test_count_by_list_ids_counts_active_members_only(api, world):
    response = search(
        api,
        "getSubscribersCountByListIds",
        listIds=[world["vip"], world["retail_list"], world["everyone_list"], world["empty"]],
    )

    assert response.status_code == 200
    assert response.json() == {
        "subscribersCountByListId": {
            world["vip"]: 3,
            world["retail_list"]: 2,
            world["everyone_list"]: 4,
            world["empty"]: 0,
        }
    }


def test_count_by_list_ids_with_a_subscription_type_counts_only_those_subscribed_to_it(api, world):
    response = search(
        api,
        "getSubscribersCountByListIds",
        listIds=[world["vip"], world["retail_list"], world["everyone_list"]],
        activeSubscriptionTypeId=world["promo"],
    )

    assert response.status_code == 200
    assert response.json() == {
        "subscribersCountByListId": {world["vip"]: 1, world["retail_list"]: 1, world["everyone_list"]: 2}
    }
    news = search(api, "getSubscribersCountByListIds", listIds=[world["vip"]], activeSubscriptionTypeId=world["news"])
    assert news.json() == {"subscribersCountByListId": {world["vip"]: 1}}


def test_count_by_audience_ids(api, world):
    response = search(
        api, "getSubscribersCountByAudienceIds", audienceIds=[world["retail"], world["newsletter"], "aud_default"]
    )

    assert response.status_code == 200
    assert response.json() == {
        "subscribersCountByAudienceId": {world["retail"]: 2, world["newsletter"]: 1, "aud_default": 4}
    }


def test_count_by_audience_ids_with_a_subscription_type(api, world):
    response = search(
        api,
        "getSubscribersCountByAudienceIds",
        audienceIds=[world["retail"], world["newsletter"], "aud_default"],
        activeSubscriptionTypeId=world["news"],
    )

    assert response.json() == {
        "subscribersCountByAudienceId": {world["retail"]: 1, world["newsletter"]: 1, "aud_default": 2}
    }


def test_counts_follow_changes_to_consent_and_status(api, world):
    api.put(
        f"/api/subscribers/{world['withdrawn']}",
        {"subscription_updates": [{"subscription_type_id": world["promo"], "subscribe": True}]},
    )
    api.put(f"/api/subscribers/{world['reachable']}", {"active": False, "inactive_reason": "Asked"})

    response = search(
        api, "getSubscribersCountByListIds", listIds=[world["vip"]], activeSubscriptionTypeId=world["promo"]
    )

    assert response.json() == {"subscribersCountByListId": {world["vip"]: 1}}


def test_repeated_ids_are_counted_once_and_a_null_type_means_any(api, world):
    response = search(
        api, "getSubscribersCountByListIds", listIds=[world["vip"], world["vip"]], activeSubscriptionTypeId=None
    )

    assert response.json() == {"subscribersCountByListId": {world["vip"]: 3}}


def test_a_read_only_key_may_search(make_client, world):
    response = search(make_client("subscribers:read"), "getSubscribersCountByListIds", listIds=[world["vip"]])

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"payload": {"queryName": "getEverything", "vars": {}}}, "VALIDATION_ERROR", "payload.queryName"),
        ({"payload": {"vars": {"listIds": ["<vip>"]}}}, "VALIDATION_ERROR", "payload.queryName"),
        ({"queryName": "getSubscribersCountByListIds"}, "VALIDATION_ERROR", "payload"),
        ({"payload": "getSubscribersCountByListIds"}, "VALIDATION_ERROR", "payload"),
        ({"payload": {"queryName": "getSubscribersCountByListIds", "vars": {}}}, "VALIDATION_ERROR",
         "payload.vars.listIds"),
        ({"payload": {"queryName": "getSubscribersCountByListIds", "vars": {"listIds": []}}}, "VALIDATION_ERROR",
         "payload.vars.listIds"),
        ({"payload": {"queryName": "getSubscribersCountByListIds", "vars": {"listIds": "<vip>"}}},
         "VALIDATION_ERROR", "payload.vars.listIds"),
        ({"payload": {"queryName": "getSubscribersCountByListIds", "vars": {"listIds": ["<vip>", "list_nope"]}}},
         "VALIDATION_ERROR", "payload.vars.listIds"),
        ({"payload": {"queryName": "getSubscribersCountByAudienceIds", "vars": {"audienceIds": ["aud_nope"]}}},
         "VALIDATION_ERROR", "payload.vars.audienceIds"),
        ({"payload": {"queryName": "getSubscribersCountByAudienceIds",
                      "vars": {"audienceIds": ["<retail>"], "activeSubscriptionTypeId": "stype_nope"}}},
         "INVALID_PREFERENCE", "payload.vars.activeSubscriptionTypeId"),
        ({"payload": {"queryName": "getSubscribersCountByListIds",
                      "vars": {"listIds": ["<vip>"] * 101}}}, "VALIDATION_ERROR", "payload.vars.listIds"),
    ],
)  # fmt: skip
def test_a_bad_search_is_400_with_its_code_and_changes_nothing(api, world, body, code, field):
    def resolve(value):
        if isinstance(value, dict):
            return {key: resolve(item) for key, item in value.items()}
        if isinstance(value, list):
            return [resolve(item) for item in value]
        if isinstance(value, str) and value.startswith("<"):
            return world[value.strip("<>")]
        return value

    before = stored()

    response = api.post("/api/subscribers/search", resolve(body))

    body = assert_error(response, 400, code, field)
    if "nope" in str(body):
        assert any("nope" in issue["message"] for issue in body["issues"])
    assert stored() == before
