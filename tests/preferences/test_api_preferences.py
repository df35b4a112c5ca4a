"""The token-authorized API of seed 001: "Subscription Preferences" (GET and PUT /api/subscribers/preferences/{token})
and "Get Marketing Email Preview" (GET /api/subscribers/email/{token}/preview), including every curl example of those
sections with only host, key and token changed."""

import json
import time

import pytest
from django.core import signing
from django.db import connection
from django.db.models import F
from django.test.utils import CaptureQueriesContext, override_settings

from preferences.models import BrandSettings, MarketingEmail
from preferences.tokens import Purpose, make_token
from subscribers.models import ConsentRecord, Subscriber, SubscriptionPreference
from subscribers.services import ConsentSource, preferences_apply, subscriber_set_active
from tests.api_assertions import assert_error
from tests.factories import SubscriberFactory, SubscriptionTypeFactory

SEED_HTML = "<!DOCTYPE html><html><head><title>Summer Sale</title></head><body>...</body></html>"
ORIGIN = "https://preferences.acme.example"


def preferences_path(token: str) -> str:
    return f"/api/subscribers/preferences/{token}"


def preview_path(token: str) -> str:
    return f"/api/subscribers/email/{token}/preview"


def subscribe(subscriber, **choices: bool) -> None:
    preferences_apply(
        subscriber=subscriber,
        updates=[{"subscription_type_id": public_id, "subscribe": value} for public_id, value in choices.items()],
    )


def choices(subscriber) -> dict[str, bool]:
    return dict(
        SubscriptionPreference.objects.filter(subscriber=subscriber).values_list(
            "subscription_type__public_id", "subscribed"
        )
    )


def everything_stored() -> dict:
    """What a refused request must leave as it was."""
    return {
        "subscribers": list(Subscriber.objects.order_by("pk").values()),
        "preferences": list(SubscriptionPreference.objects.order_by("pk").values()),
        "consent": list(ConsentRecord.objects.order_by("pk").values()),
    }


def put_json(client, path: str, raw_body: str, **extra):
    """A PUT with the body exactly as the seed's curl sends it."""
    return client.put(path, raw_body, format=None, content_type="application/json", **extra)


@pytest.fixture
def seed(db):
    """The tenant, subscription types, subscriber and email of seed 001's examples, with the seed's ids."""
    BrandSettings.objects.update_or_create(
        pk=1,
        defaults={
            "tenant_id": "tenant_abc123",
            "name": "Acme Corporation",
            "brand_logo_url": "https://cdn.example.com/logo.png",
            "brand_primary_color": "#FF5733",
        },
    )
    promotional = SubscriptionTypeFactory(
        public_id="stype_promotional",
        name="Promotional Emails",
        description="Special offers, sales, and exclusive deals",
    )
    newsletter = SubscriptionTypeFactory(
        public_id="stype_newsletter", name="Monthly Newsletter", description="Company news, tips, and industry insights"
    )
    product_updates = SubscriptionTypeFactory(
        public_id="stype_product_updates", name="Product Updates", description="New features and product announcements"
    )
    subscriber = SubscriberFactory(email="john.doe@example.com", first_name="John", last_name="Doe")
    subscribe(subscriber, stype_promotional=True, stype_newsletter=True)
    email = MarketingEmail.objects.create(
        public_id="memail_abc789", name="Summer Sale", subscription_type=promotional, html_content=SEED_HTML
    )
    return {
        "subscriber": subscriber,
        "email": email,
        "promotional": promotional,
        "newsletter": newsletter,
        "product_updates": product_updates,
        "token": make_token(Purpose.PREFERENCES, subscriber, marketing_email=email),
    }


def in_id_order(body: dict) -> dict:
    """The seed lists types in its own order; Roster lists them by name."""
    body = json.loads(json.dumps(body))
    body["subscriber"]["subscriptions"].sort(key=lambda row: row["subscription_type_id"])
    body["available_subscription_types"].sort(key=lambda row: row["id"])
    return body


# --- The seed's curl examples ------------------------------------------------------------------------------------


def test_seed_get_subscriber_preferences(api, seed):
    response = api.get(preferences_path(seed["token"]))

    assert response.status_code == 200
    assert in_id_order(response.json()) == in_id_order(
        {
            "tenant": {
                "id": "tenant_abc123",
                "name": "Acme Corporation",
                "brand_logo_url": "https://cdn.example.com/logo.png",
                "brand_primary_color": "#FF5733",
            },
            "subscriber": {
                "email": "john.doe@example.com",
                "subscriptions": [
                    {"subscription_type_id": "stype_promotional", "subscribed": True},
                    {"subscription_type_id": "stype_newsletter", "subscribed": True},
                    {"subscription_type_id": "stype_product_updates", "subscribed": False},
                ],
            },
            "available_subscription_types": [
                {
                    "id": "stype_promotional",
                    "name": "Promotional Emails",
                    "description": "Special offers, sales, and exclusive deals",
                },
                {
                    "id": "stype_newsletter",
                    "name": "Monthly Newsletter",
                    "description": "Company news, tips, and industry insights",
                },
                {
                    "id": "stype_product_updates",
                    "name": "Product Updates",
                    "description": "New features and product announcements",
                },
            ],
            "referrer": {"marketingEmailId": "memail_abc789", "subscriptionTypeId": "stype_promotional"},
        }
    )


def test_seed_update_subscriber_preferences(api, seed):
    response = put_json(
        api,
        preferences_path(seed["token"]),
        """{
"subscription_updates": [
{
"subscription_type_id": "stype_promotional",
"subscribe": false
},
{
"subscription_type_id": "stype_newsletter",
"subscribe": true
}
],
"replace_all": false,
"subscriber_updates": {
"mark_inactive": false
}
}""",
    )

    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert choices(seed["subscriber"]) == {"stype_promotional": False, "stype_newsletter": True}
    seed["subscriber"].refresh_from_db()
    assert seed["subscriber"].active is True


def test_seed_global_unsubscribe(api, seed):
    response = put_json(
        api,
        preferences_path(seed["token"]),
        """{
"subscription_updates": [],
"replace_all": true,
"subscriber_updates": {
"mark_inactive": true,
"inactive_reason": "User requested global unsubscribe"
}
}""",
    )

    assert response.status_code == 200
    assert response.json() == {"success": True}
    subscriber = Subscriber.objects.get(pk=seed["subscriber"].pk)
    assert (subscriber.active, subscriber.inactive_reason) == (False, "User requested global unsubscribe")
    assert choices(subscriber) == {"stype_promotional": False, "stype_newsletter": False}


def test_seed_get_marketing_email_preview(api, seed):
    token = make_token(Purpose.EMAIL_VIEW, seed["subscriber"], marketing_email=seed["email"])

    response = api.get(preview_path(token))

    assert response.status_code == 200
    assert response.json() == {"html_content": SEED_HTML}


# --- Reading preferences -----------------------------------------------------------------------------------------


def test_every_type_is_listed_false_when_there_is_no_preference_and_the_referrer_is_null_without_an_email(
    anonymous, db
):
    first, second = SubscriptionTypeFactory(name="A"), SubscriptionTypeFactory(name="B")
    subscriber = SubscriberFactory()

    response = anonymous.get(preferences_path(make_token(Purpose.PREFERENCES, subscriber)))

    assert response.status_code == 200
    body = response.json()
    assert body["subscriber"] == {
        "email": subscriber.email,
        "subscriptions": [
            {"subscription_type_id": first.public_id, "subscribed": False},
            {"subscription_type_id": second.public_id, "subscribed": False},
        ],
    }
    assert body["referrer"] == {"marketingEmailId": None, "subscriptionTypeId": None}
    # Brand settings never saved: the defaults, and no logo.
    assert body["tenant"] == {
        "id": "tenant_default",
        "name": "Roster",
        "brand_logo_url": None,
        "brand_primary_color": "#1F6FEB",
    }
    assert response["Cache-Control"] == "private, no-store"


def test_the_referrer_names_the_type_a_link_was_made_for(anonymous, seed):
    token = make_token(Purpose.PREFERENCES, seed["subscriber"], subscription_type=seed["newsletter"])

    body = anonymous.get(preferences_path(token)).json()

    assert body["referrer"] == {"marketingEmailId": None, "subscriptionTypeId": "stype_newsletter"}


def test_reading_preferences_takes_the_same_queries_however_many_types(anonymous, seed):
    def count_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert anonymous.get(preferences_path(seed["token"])).status_code == 200
        return len(captured)

    few = count_queries()
    for _ in range(5):
        subscribe(seed["subscriber"], **{SubscriptionTypeFactory().public_id: True})

    assert count_queries() == few


@pytest.mark.parametrize("headers", [{}, {"HTTP_X_API_KEY": "your-api-key-here"}, {"HTTP_X_API_KEY": ""}])
def test_the_token_alone_authorizes_and_an_api_key_is_ignored(anonymous, seed, headers):
    read = anonymous.get(preferences_path(seed["token"]), **headers)
    written = anonymous.put(
        preferences_path(seed["token"]),
        {"subscription_updates": [{"subscription_type_id": "stype_product_updates", "subscribe": True}],
         "replace_all": False},
        **headers,
    )  # fmt: skip

    assert read.status_code == 200
    assert written.json() == {"success": True}
    assert choices(seed["subscriber"])["stype_product_updates"] is True


# --- Updating preferences ----------------------------------------------------------------------------------------


def test_every_change_is_recorded_with_the_source_ip_and_user_agent(anonymous, seed):
    user_agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)"

    response = anonymous.put(
        preferences_path(seed["token"]),
        {
            "subscription_updates": [
                {"subscription_type_id": "stype_promotional", "subscribe": False},
                {"subscription_type_id": "stype_newsletter", "subscribe": True},
                {"subscription_type_id": "stype_product_updates", "subscribe": True},
            ],
            "replace_all": False,
        },
        REMOTE_ADDR="203.0.113.9",
        HTTP_USER_AGENT=user_agent,
    )

    assert response.json() == {"success": True}
    records = ConsentRecord.objects.filter(source=ConsentRecord.Source.PREFERENCE_API).order_by("pk")
    assert [(r.subscription_type.public_id, r.action) for r in records] == [
        ("stype_promotional", "unsubscribed"),
        ("stype_product_updates", "subscribed"),
    ]
    for record in records:
        assert (record.subscriber, record.ip_address, record.user_agent) == (
            seed["subscriber"],
            "203.0.113.9",
            user_agent,
        )
        assert record.marketing_email == seed["email"]


def test_global_unsubscribe_is_recorded_with_its_reason(anonymous, seed):
    anonymous.put(
        preferences_path(seed["token"]),
        {"subscription_updates": [], "replace_all": False, "subscriber_updates": {"mark_inactive": True}},
        REMOTE_ADDR="2001:db8::1",
        HTTP_USER_AGENT="curl/8.5",
    )

    subscriber = Subscriber.objects.get(pk=seed["subscriber"].pk)
    assert (subscriber.active, subscriber.inactive_reason) == (False, "User unsubscribed")
    record = ConsentRecord.objects.get(action=ConsentRecord.Action.DEACTIVATED)
    assert (record.source, record.reason, record.ip_address, record.user_agent) == (
        "preference_api", "User unsubscribed", "2001:db8::1", "curl/8.5",
    )  # fmt: skip
    # A global unsubscribe withdraws every type, so that coming back later restores only what is then chosen.
    assert choices(subscriber) == {"stype_promotional": False, "stype_newsletter": False}


def test_merge_changes_only_the_types_named(anonymous, seed):
    response = anonymous.put(
        preferences_path(seed["token"]),
        {"subscription_updates": [{"subscription_type_id": "stype_product_updates", "subscribe": True}],
         "replace_all": False},
    )  # fmt: skip

    assert response.status_code == 200
    assert choices(seed["subscriber"]) == {
        "stype_promotional": True, "stype_newsletter": True, "stype_product_updates": True,
    }  # fmt: skip


def test_replace_all_withdraws_every_type_not_named(anonymous, seed):
    response = anonymous.put(
        preferences_path(seed["token"]),
        {"subscription_updates": [{"subscription_type_id": "stype_product_updates", "subscribe": True}],
         "replace_all": True},
    )  # fmt: skip

    assert response.status_code == 200
    assert choices(seed["subscriber"]) == {
        "stype_promotional": False, "stype_newsletter": False, "stype_product_updates": True,
    }  # fmt: skip
    assert Subscriber.objects.get(pk=seed["subscriber"].pk).active is True


def test_choosing_a_type_again_reactivates_a_subscriber_who_unsubscribed_themselves(anonymous, seed):
    path = preferences_path(seed["token"])
    anonymous.put(
        path, {"subscription_updates": [], "replace_all": True, "subscriber_updates": {"mark_inactive": True}}
    )

    response = anonymous.put(
        path, {"subscription_updates": [{"subscription_type_id": "stype_newsletter", "subscribe": True}],
               "replace_all": False},
    )  # fmt: skip

    assert response.json() == {"success": True}
    subscriber = Subscriber.objects.get(pk=seed["subscriber"].pk)
    assert (subscriber.active, subscriber.inactive_reason) == (True, "")
    assert choices(subscriber) == {"stype_promotional": False, "stype_newsletter": True}
    body = anonymous.get(path).json()
    assert {row["subscription_type_id"]: row["subscribed"] for row in body["subscriber"]["subscriptions"]} == {
        "stype_promotional": False, "stype_newsletter": True, "stype_product_updates": False,
    }  # fmt: skip


def test_a_subscriber_made_inactive_by_a_bounce_stays_inactive(anonymous, seed):
    subscriber_set_active(
        subscriber=seed["subscriber"],
        active=False,
        reason="Hard bounce - Invalid email",
        source=ConsentSource(source=ConsentRecord.Source.BOUNCE),
    )

    anonymous.put(
        preferences_path(seed["token"]),
        {"subscription_updates": [{"subscription_type_id": "stype_product_updates", "subscribe": True}],
         "replace_all": False},
    )  # fmt: skip

    subscriber = Subscriber.objects.get(pk=seed["subscriber"].pk)
    assert (subscriber.active, subscriber.inactive_reason) == (False, "Hard bounce - Invalid email")


def test_an_unknown_subscription_type_is_invalid_preference_and_changes_nothing(anonymous, seed):
    before = everything_stored()

    response = anonymous.put(
        preferences_path(seed["token"]),
        {
            "subscription_updates": [
                {"subscription_type_id": "stype_newsletter", "subscribe": False},
                {"subscription_type_id": "stype_unknown", "subscribe": True},
            ],
            "replace_all": True,
            "subscriber_updates": {"mark_inactive": True, "inactive_reason": "Bye"},
        },
    )

    body = assert_error(response, 400, "INVALID_PREFERENCE", "subscription_updates")
    assert "stype_unknown" in body["issues"][0]["message"]
    assert everything_stored() == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"replace_all": False}, "subscription_updates"),
        ({"subscription_updates": []}, "replace_all"),
        ({"subscription_updates": None, "replace_all": False}, "subscription_updates"),
        ({"subscription_updates": "stype_newsletter", "replace_all": False}, "subscription_updates"),
        ({"subscription_updates": [], "replace_all": "sometimes"}, "replace_all"),
        (
            {"subscription_updates": [{"subscribe": True}], "replace_all": False},
            "subscription_updates.0.subscription_type_id",
        ),
        (
            {"subscription_updates": [{"subscription_type_id": "stype_newsletter", "subscribe": "maybe"}],
             "replace_all": False},
            "subscription_updates.0.subscribe",
        ),
        (
            {
                "subscription_updates": [
                    {"subscription_type_id": "stype_newsletter", "subscribe": True},
                    {"subscription_type_id": "stype_newsletter", "subscribe": False},
                ],
                "replace_all": False,
            },
            "subscription_updates.1.subscription_type_id",
        ),
        ({"subscription_updates": [], "replace_all": True, "subscriber_updates": "inactive"}, "subscriber_updates"),
        (
            {"subscription_updates": [], "replace_all": True, "subscriber_updates": {"mark_inactive": "yes please"}},
            "subscriber_updates.mark_inactive",
        ),
        (
            {"subscription_updates": [], "replace_all": True,
             "subscriber_updates": {"mark_inactive": True, "inactive_reason": "x" * 501}},
            "subscriber_updates.inactive_reason",
        ),
    ],
)  # fmt: skip
def test_a_malformed_update_is_a_validation_error_and_changes_nothing(anonymous, seed, payload, field):
    before = everything_stored()

    response = anonymous.put(preferences_path(seed["token"]), payload)

    assert_error(response, 400, "VALIDATION_ERROR", field)
    assert everything_stored() == before


def test_a_body_that_is_not_json_is_a_validation_error(anonymous, seed):
    before = everything_stored()

    response = anonymous.put(preferences_path(seed["token"]), "{not json", format=None, content_type="application/json")

    assert_error(response, 400, "VALIDATION_ERROR")
    assert everything_stored() == before


# --- Bad tokens ----------------------------------------------------------------------------------------------------


def forged(subscriber) -> str:
    """A well-formed token for a real subscriber, signed with the wrong key."""
    payload = {"s": subscriber.public_id, "v": subscriber.token_version}
    return signing.dumps(payload, key="not-the-secret-key", salt="roster.links.preferences", compress=True)


def spliced(subscriber, other) -> str:
    """Another subscriber's payload under this subscriber's signature."""
    mine = make_token(Purpose.PREFERENCES, subscriber).split(":")
    theirs = make_token(Purpose.PREFERENCES, other).split(":")
    return ":".join([theirs[0], *mine[1:]])


def expired(subscriber, monkeypatch, settings) -> str:
    settings.LINK_TOKEN_MAX_AGE = 3600
    with monkeypatch.context() as patched:
        patched.setattr(time, "time", lambda: 1_000_000_000.0)
        return make_token(Purpose.PREFERENCES, subscriber)


def revoked_by_email_change(subscriber, api) -> str:
    token = make_token(Purpose.PREFERENCES, subscriber)
    response = api.put(f"/api/subscribers/{subscriber.public_id}", {"email": "john.new@example.com"})
    assert response.status_code == 200, response.json()
    return token


def revoked_by_token_version(subscriber) -> str:
    token = make_token(Purpose.PREFERENCES, subscriber)
    Subscriber.objects.filter(pk=subscriber.pk).update(token_version=F("token_version") + 1)
    return token


def of_a_deleted_subscriber(db) -> str:
    gone = SubscriberFactory()
    token = make_token(Purpose.PREFERENCES, gone)
    gone.delete()
    return token


BAD_TOKENS = {
    "seed placeholder": lambda ctx: "eyJ0eXAiOiJKV1QiLCJhbGci...",
    "garbage": lambda ctx: "not-a-token",
    "too long": lambda ctx: "a" * 5000,
    "truncated": lambda ctx: ctx["token"][:-6],
    "signature cut off": lambda ctx: ctx["token"].rsplit(":", 1)[0],
    "forged": lambda ctx: forged(ctx["subscriber"]),
    "spliced": lambda ctx: spliced(ctx["subscriber"], ctx["other"]),
    "unsubscribe purpose": lambda ctx: make_token(Purpose.UNSUBSCRIBE, ctx["subscriber"]),
    "email view purpose": lambda ctx: make_token(Purpose.EMAIL_VIEW, ctx["subscriber"], marketing_email=ctx["email"]),
    "email changed": lambda ctx: revoked_by_email_change(ctx["subscriber"], ctx["api"]),
    "token version bumped": lambda ctx: revoked_by_token_version(ctx["subscriber"]),
    "expired": lambda ctx: expired(ctx["subscriber"], ctx["monkeypatch"], ctx["settings"]),
    "deleted subscriber": lambda ctx: of_a_deleted_subscriber(ctx["db"]),
}


@pytest.fixture
def bad_token_context(api, seed, monkeypatch, settings, db) -> dict:
    other = SubscriberFactory(email="jane@example.com")
    return {**seed, "api": api, "other": other, "monkeypatch": monkeypatch, "settings": settings, "db": db}


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_a_bad_token_is_404_invalid_token_with_one_body_for_all(anonymous, bad_token_context, kind):
    token = BAD_TOKENS[kind](bad_token_context)
    before = everything_stored()

    read = anonymous.get(preferences_path(token))
    written = anonymous.put(
        preferences_path(token),
        {"subscription_updates": [], "replace_all": True, "subscriber_updates": {"mark_inactive": True}},
    )

    expected = {"message": "This link is invalid or has expired", "code": "INVALID_TOKEN", "issues": []}
    assert (read.status_code, read.json()) == (404, expected)
    assert (written.status_code, written.json()) == (404, expected)
    assert everything_stored() == before


def test_a_bad_token_wins_over_a_bad_body(anonymous, seed):
    response = anonymous.put(preferences_path("not-a-token"), {"replace_all": "?"})

    assert_error(response, 404, "INVALID_TOKEN")


# --- Preview ---------------------------------------------------------------------------------------------------------


def test_the_preview_fills_merge_tags_escaped(anonymous, seed, settings):
    settings.PUBLIC_BASE_URL = "https://mail.example.com"
    Subscriber.objects.filter(pk=seed["subscriber"].pk).update(first_name="<b>John</b>")
    seed["email"].html_content = "<p>Hi {{ first_name }}</p><a href='{{ unsubscribe_url }}'>Stop</a>{{ unknown }}"
    seed["email"].save()
    token = make_token(Purpose.EMAIL_VIEW, seed["subscriber"], marketing_email=seed["email"])

    response = anonymous.get(preview_path(token))

    html = response.json()["html_content"]
    assert html.startswith("<p>Hi &lt;b&gt;John&lt;/b&gt;</p><a href='https://mail.example.com/unsubscribe/")
    assert html.endswith("'>Stop</a>")
    assert response["Cache-Control"] == "private, no-store"


def test_the_preview_answers_stored_html_as_it_is(anonymous, seed):
    seed["email"].html_content = "<p>Sale</p><script>alert(document.cookie)</script>"
    seed["email"].save()
    token = make_token(Purpose.EMAIL_VIEW, seed["subscriber"], marketing_email=seed["email"])

    response = anonymous.get(preview_path(token), HTTP_X_API_KEY="your-api-key-here")

    assert response.json() == {"html_content": "<p>Sale</p><script>alert(document.cookie)</script>"}
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda seed: make_token(Purpose.EMAIL_VIEW, seed["subscriber"]), id="no email in the token"),
        pytest.param(lambda seed: seed["token"], id="preference token"),
        pytest.param(
            lambda seed: make_token(Purpose.UNSUBSCRIBE, seed["subscriber"], marketing_email=seed["email"]),
            id="unsubscribe token",
        ),
        pytest.param(lambda seed: "eyJ0eXAiOiJKV1QiLCJhbGci...", id="seed placeholder"),
    ],
)
def test_a_preview_token_that_names_no_email_is_404_invalid_token(anonymous, seed, make):
    response = anonymous.get(preview_path(make(seed)))

    assert response.json() == {"message": "This link is invalid or has expired", "code": "INVALID_TOKEN", "issues": []}
    assert response.status_code == 404


def test_a_preview_of_a_deleted_email_is_404_invalid_token(api, anonymous, seed):
    token = make_token(Purpose.EMAIL_VIEW, seed["subscriber"], marketing_email=seed["email"])
    assert api.delete(f"/api/marketing-emails/{seed['email'].public_id}").status_code == 200

    assert_error(anonymous.get(preview_path(token)), 404, "INVALID_TOKEN")


# --- CORS ------------------------------------------------------------------------------------------------------------


@override_settings(CORS_ALLOWED_ORIGINS=[ORIGIN])
def test_an_allowed_origin_may_call_the_token_api_from_a_browser(anonymous, seed):
    view_token = make_token(Purpose.EMAIL_VIEW, seed["subscriber"], marketing_email=seed["email"])

    read = anonymous.get(preferences_path(seed["token"]), HTTP_ORIGIN=ORIGIN)
    preflight = anonymous.options(
        preferences_path(seed["token"]),
        HTTP_ORIGIN=ORIGIN,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="PUT",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type",
    )
    written = anonymous.put(
        preferences_path(seed["token"]), {"subscription_updates": [], "replace_all": False}, HTTP_ORIGIN=ORIGIN
    )
    preview = anonymous.get(preview_path(view_token), HTTP_ORIGIN=ORIGIN)

    for response in (read, preflight, written, preview):
        assert response.status_code == 200
        assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "PUT" in preflight["Access-Control-Allow-Methods"]
    assert "content-type" in preflight["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in read


@override_settings(CORS_ALLOWED_ORIGINS=[ORIGIN])
def test_another_origin_gets_no_cors_headers(anonymous, seed):
    response = anonymous.get(preferences_path(seed["token"]), HTTP_ORIGIN="https://evil.example")

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response


@override_settings(CORS_ALLOWED_ORIGINS=[ORIGIN])
def test_the_rest_of_the_api_never_answers_cors(api, seed):
    subscriber_id = seed["subscriber"].public_id

    responses = [
        api.get(f"/api/subscribers/{subscriber_id}", HTTP_ORIGIN=ORIGIN),
        api.get(f"/api/subscribers/{subscriber_id}/links", HTTP_ORIGIN=ORIGIN),
        api.post("/api/marketing-emails/list", {}, HTTP_ORIGIN=ORIGIN),
        api.options("/api/marketing-emails/list", HTTP_ORIGIN=ORIGIN, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST"),
    ]

    for response in responses:
        assert "Access-Control-Allow-Origin" not in response, response.request["PATH_INFO"]
