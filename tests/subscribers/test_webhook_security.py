"""Provider webhooks fail closed: a route accepts a call only when it holds a secret that authenticates it (the shared
basic auth, or the provider's own signing key), and refuses cleanly (a short JSON answer, never a 500) otherwise."""

import base64
import json

import pytest
from django.core.checks import Warning as CheckWarning
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from preferences.models import MarketingEmail
from subscribers.models import ConsentRecord, Engagement, SubscriptionPreference, SubscriptionType
from subscribers.services import preferences_apply
from tests.factories import SubscriberFactory
from tests.subscribers.test_webhooks import mailgun_payload, postmark_bounce

# Anymail warns on each call without a secret (Roster refuses those calls), and that SendGrid lost official support.
pytestmark = [
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailInsecureWebhookWarning"),
    pytest.mark.filterwarnings("ignore::anymail.exceptions.AnymailNotSupportedWarning"),
]

POSTMARK_URL = "/webhooks/anymail/postmark/tracking/"
MAILGUN_URL = "/webhooks/anymail/mailgun/tracking/"
SECRET = "roster:hook-secret"
NO_SECRET = override_settings(ANYMAIL={})
WITH_SECRET = override_settings(ANYMAIL={"WEBHOOK_SECRET": SECRET})


@pytest.fixture
def world(db):
    newsletter = SubscriptionType.objects.create(name="Newsletter")
    sale = MarketingEmail.objects.create(
        name="Summer sale", subject="Sale", campaign_code="SUMMER-SALE-2024", subscription_type=newsletter
    )
    subscriber = SubscriberFactory(email="john.doe@example.com")
    preferences_apply(
        subscriber=subscriber, updates=[{"subscription_type_id": newsletter.public_id, "subscribe": True}]
    )
    return {"subscriber": subscriber, "sale": sale, "newsletter": newsletter}


def basic_auth(secret: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def postmark_complaint(sale: MarketingEmail) -> dict:
    return postmark_bounce(sale, RecordType="SpamComplaint", Type="SpamComplaint", TypeCode=512)


def postmark_unsubscribe(sale: MarketingEmail) -> dict:
    """Postmark's subscription change webhook: the recipient unsubscribed."""
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ServerID": 23,
        "MessageStream": "outbound",
        "ChangedAt": "2024-06-15T10:00:20Z",
        "Recipient": "john.doe@example.com",
        "Origin": "Recipient",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Tag": "summer-sale",
        "Metadata": {"marketing_email_id": sale.public_id},
    }


FORGERIES = {"bounce": postmark_bounce, "complaint": postmark_complaint, "unsubscribe": postmark_unsubscribe}


def post_postmark(client, payload: dict, **extra):
    return client.post(POSTMARK_URL, json.dumps(payload), content_type="application/json", **extra)


def assert_untouched(world) -> None:
    subscriber = world["subscriber"]
    subscriber.refresh_from_db()
    assert subscriber.active
    assert subscriber.inactive_reason in (None, "")
    assert SubscriptionPreference.objects.get(subscriber=subscriber, subscription_type=world["newsletter"]).subscribed
    assert not Engagement.objects.exists()
    assert ConsentRecord.objects.filter(subscriber=subscriber).count() == 1  # the subscription made above


def assert_clean_refusal(response, status: int) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"message", "code", "issues"}
    assert body["code"] == ("FORBIDDEN" if status == 403 else "UNAUTHORIZED")
    assert len(response.content) < 500


@pytest.mark.parametrize("kind", sorted(FORGERIES))
@pytest.mark.parametrize("auth", [{}, basic_auth(SECRET), basic_auth("anyone:anything")], ids=["none", "some", "other"])
def test_without_a_secret_a_forged_postmark_event_is_refused(client, world, kind, auth):
    with NO_SECRET:
        response = post_postmark(client, FORGERIES[kind](world["sale"]), **auth)

    assert_clean_refusal(response, 403)
    assert_untouched(world)


@pytest.mark.parametrize("kind", sorted(FORGERIES))
def test_with_a_secret_the_providers_call_is_accepted(client, world, kind):
    with WITH_SECRET:
        response = post_postmark(client, FORGERIES[kind](world["sale"]), **basic_auth(SECRET))

    assert response.status_code == 200
    subscriber = world["subscriber"]
    subscriber.refresh_from_db()
    newsletter_subscribed = SubscriptionPreference.objects.get(
        subscriber=subscriber, subscription_type=world["newsletter"]
    ).subscribed
    if kind == "unsubscribe":
        assert not newsletter_subscribed
    else:
        assert not subscriber.active
    assert Engagement.objects.exists()


@pytest.mark.parametrize("kind", sorted(FORGERIES))
@pytest.mark.parametrize("auth", [{}, basic_auth("roster:wrong"), {"HTTP_AUTHORIZATION": "Bearer x"}])
def test_with_a_secret_a_call_with_wrong_auth_is_refused(client, world, kind, auth):
    with WITH_SECRET:
        response = post_postmark(client, FORGERIES[kind](world["sale"]), **auth)

    assert_clean_refusal(response, 401)
    assert response["WWW-Authenticate"].startswith("Basic")
    assert_untouched(world)


def test_every_provider_route_refuses_without_a_secret(client, db):
    """Not only Postmark: any provider route that has nothing to authenticate a call with refuses it."""
    with NO_SECRET:
        for provider in ("amazon_ses", "brevo", "mailjet", "sendgrid", "sparkpost", "resend", "mailtrap", "postal"):
            response = client.post(f"/webhooks/anymail/{provider}/tracking/", "{}", content_type="application/json")
            assert_clean_refusal(response, 403)
        assert_clean_refusal(client.post("/webhooks/anymail/mandrill/", {"mandrill_events": "[]"}), 403)


def test_mailgun_without_its_signing_key_refuses_cleanly(client, world):
    payload = mailgun_payload(world["sale"], {"event": "failed", "severity": "permanent"}, token="m" * 50)

    for settings in ({}, {"WEBHOOK_SECRET": SECRET}):
        with override_settings(ANYMAIL=settings):
            response = client.post(MAILGUN_URL, payload, content_type="application/json", **basic_auth(SECRET))
        assert_clean_refusal(response, 403)
    assert_untouched(world)


def test_mailgun_with_only_its_signing_key_accepts_signed_calls(client, world):
    """The provider's signature is a secret that authenticates the call: no basic auth is needed on top."""
    payload = mailgun_payload(world["sale"], {"event": "failed", "severity": "permanent"}, token="k" * 50)
    with override_settings(ANYMAIL={"MAILGUN_WEBHOOK_SIGNING_KEY": "key-mailgun-signing"}):
        response = client.post(MAILGUN_URL, payload, content_type="application/json")
        assert response.status_code == 200

        payload["signature"]["signature"] = "0" * 64
        assert_clean_refusal(client.post(MAILGUN_URL, payload, content_type="application/json"), 401)


def test_a_refusal_is_no_debug_page(client, world, settings):
    settings.DEBUG = True
    with WITH_SECRET:
        response = post_postmark(client, postmark_bounce(world["sale"]), **basic_auth("roster:wrong"))

    assert_clean_refusal(response, 401)
    assert b"Traceback" not in response.content


def _webhook_warnings(**anymail) -> list[CheckWarning]:
    with override_settings(ANYMAIL=anymail):
        return [m for m in run_checks(include_deployment_checks=True) if m.id == "subscribers.W001"]


def test_the_deploy_check_warns_without_a_webhook_secret():
    (warning,) = _webhook_warnings()
    assert isinstance(warning, CheckWarning)
    assert "ANYMAIL_WEBHOOK_SECRET" in warning.msg

    assert _webhook_warnings(WEBHOOK_SECRET=SECRET) == []


def test_manage_py_check_deploy_warns_without_a_webhook_secret(capsys):
    with override_settings(ANYMAIL={}):
        call_command("check")  # an ordinary check stays quiet in development
        assert "subscribers.W001" not in capsys.readouterr().err
        with pytest.raises(SystemCheckError) as raised:
            call_command("check", "--deploy", "--fail-level", "WARNING")

    assert "subscribers.W001" in str(raised.value)
    assert "ANYMAIL_WEBHOOK_SECRET" in str(raised.value)
