"""Paths two of the seeds' routes share: `/api/subscribers/preferences/{token}` (the token preference API) and
`/api/subscribers/{id}/engagements`. A request answers what one of the two documents, never an undocumented 405."""

import pytest

from tests.api_assertions import assert_error

pytestmark = pytest.mark.django_db

PATH = "/api/subscribers/preferences/engagements"


def test_post_is_the_engagements_of_an_unknown_subscriber(api, anonymous, make_client):
    assert_error(api.post(PATH, {}), 404, "SUBSCRIBER_NOT_FOUND")
    assert_error(anonymous.post(PATH, {}), 401, "UNAUTHORIZED")
    assert_error(make_client("lists:read").post(PATH, {}), 403, "FORBIDDEN")


def test_get_and_put_are_the_preference_api_with_a_bad_token(anonymous):
    for response in (anonymous.get(PATH), anonymous.put(PATH, {"subscriber": {"subscriptions": []}})):
        assert response.status_code in (400, 404), response.content
        assert response.json()["code"] == "INVALID_TOKEN"


def test_other_methods_the_token_route_lacks_are_still_405(anonymous):
    response = anonymous.delete("/api/subscribers/preferences/sometoken")
    assert response.status_code == 405 and response.json()["code"] == "METHOD_NOT_ALLOWED"
