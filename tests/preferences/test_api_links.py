"""GET /api/subscribers/{id}/links: every link an integrator puts in one email for one subscriber."""

import pytest

from preferences.models import MarketingEmail
from preferences.tokens import Purpose, read_token
from tests.api_assertions import assert_error
from tests.factories import SubscriberFactory, SubscriptionTypeFactory

BASE = "https://mail.example.com"
LINK_KEYS = {
    "preference_center_url", "preference_token", "view_in_browser_url", "unsubscribe_url", "list_unsubscribe",
    "list_unsubscribe_post",
}  # fmt: skip


@pytest.fixture(autouse=True)
def public_base_url(settings):
    settings.PUBLIC_BASE_URL = BASE + "/"


@pytest.fixture
def world(db):
    promotional = SubscriptionTypeFactory(name="Promotional Emails")
    return {
        "subscriber": SubscriberFactory(email="john.doe@example.com", first_name="John"),
        "promotional": promotional,
        "newsletter": SubscriptionTypeFactory(name="Monthly Newsletter"),
        "email": MarketingEmail.objects.create(
            name="Summer Sale", subscription_type=promotional, html_content="<p>Hi {{ first_name }}</p>"
        ),
    }


def token_in(url: str, prefix: str, suffix: str = "") -> str:
    assert url.startswith(BASE + prefix), url
    token = url.removeprefix(BASE + prefix)
    return token.removesuffix(suffix) if suffix else token


def links_for(client, subscriber, **params) -> dict:
    response = client.get(f"/api/subscribers/{subscriber.public_id}/links", params)
    assert response.status_code == 200, response.json()
    assert set(response.json()) == LINK_KEYS
    return response.json()


def test_links_for_a_subscriber_and_an_email(api, world):
    subscriber, email = world["subscriber"], world["email"]

    links = links_for(api, subscriber, marketing_email_id=email.public_id)

    preference_token = token_in(links["preference_center_url"], "/preferences/")
    assert links["preference_token"] == preference_token
    claims = read_token(Purpose.PREFERENCES, preference_token)
    assert (claims.subscriber, claims.marketing_email, claims.subscription_type) == (
        subscriber, email, world["promotional"],
    )  # fmt: skip
    view_claims = read_token(Purpose.EMAIL_VIEW, token_in(links["view_in_browser_url"], "/email/"))
    assert (view_claims.subscriber, view_claims.marketing_email) == (subscriber, email)
    unsubscribe_claims = read_token(Purpose.UNSUBSCRIBE, token_in(links["unsubscribe_url"], "/unsubscribe/"))
    assert (unsubscribe_claims.subscriber, unsubscribe_claims.subscription_type) == (subscriber, world["promotional"])
    assert links["list_unsubscribe"] == f"<{links['unsubscribe_url']}>"
    assert links["list_unsubscribe_post"] == "List-Unsubscribe=One-Click"


def test_links_without_an_email_have_no_view_in_browser_and_unsubscribe_from_everything(api, world):
    links = links_for(api, world["subscriber"])

    assert links["view_in_browser_url"] is None
    claims = read_token(Purpose.UNSUBSCRIBE, token_in(links["unsubscribe_url"], "/unsubscribe/"))
    assert (claims.marketing_email, claims.subscription_type) == (None, None)
    assert read_token(Purpose.PREFERENCES, links["preference_token"]).subscriber == world["subscriber"]


def test_a_subscription_type_given_overrides_the_emails(api, world):
    links = links_for(
        api,
        world["subscriber"],
        marketing_email_id=world["email"].public_id,
        subscription_type_id=world["newsletter"].public_id,
    )

    claims = read_token(Purpose.UNSUBSCRIBE, token_in(links["unsubscribe_url"], "/unsubscribe/"))
    assert (claims.marketing_email, claims.subscription_type) == (world["email"], world["newsletter"])


def test_blank_parameters_are_the_same_as_none(api, world):
    links = links_for(api, world["subscriber"], marketing_email_id="", subscription_type_id="")

    assert links["view_in_browser_url"] is None


def test_the_links_open_the_preference_and_preview_apis(api, anonymous, world):
    links = links_for(api, world["subscriber"], marketing_email_id=world["email"].public_id)
    view_token = token_in(links["view_in_browser_url"], "/email/")

    preferences = anonymous.get(f"/api/subscribers/preferences/{links['preference_token']}")
    preview = anonymous.get(f"/api/subscribers/email/{view_token}/preview")

    assert preferences.status_code == 200
    assert preferences.json()["subscriber"]["email"] == "john.doe@example.com"
    assert preview.json() == {"html_content": "<p>Hi John</p>"}


def test_an_unknown_subscriber_is_404(api, world):
    response = api.get("/api/subscribers/sub_missing/links", {"marketing_email_id": world["email"].public_id})

    body = assert_error(response, 404, "SUBSCRIBER_NOT_FOUND")
    assert body["message"] == "Subscriber not found"


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"marketing_email_id": "memail_missing"}, "VALIDATION_ERROR", "marketing_email_id"),
        ({"marketing_email_id": "m" * 65}, "VALIDATION_ERROR", "marketing_email_id"),
        ({"subscription_type_id": "stype_missing"}, "INVALID_PREFERENCE", "subscription_type_id"),
    ],
)
def test_an_unknown_email_or_type_is_400_naming_the_parameter(api, world, params, code, field):
    response = api.get(f"/api/subscribers/{world['subscriber'].public_id}/links", params)

    assert_error(response, 400, code, field)


def test_links_need_the_links_read_scope_which_no_subscribers_scope_implies(make_client, anonymous, world):
    # Link tokens change consent without any key: reading subscribers must not hand them out.
    path = f"/api/subscribers/{world['subscriber'].public_id}/links"

    assert make_client("links:read").get(path).status_code == 200
    assert make_client().get(path).status_code == 200  # a key made with every scope
    assert_error(make_client("subscribers:read").get(path), 403, "FORBIDDEN")
    assert_error(make_client("subscribers:write").get(path), 403, "FORBIDDEN")
    assert_error(make_client("settings:write", "lists:write").get(path), 403, "FORBIDDEN")
    assert_error(anonymous.get(path), 401, "UNAUTHORIZED")
