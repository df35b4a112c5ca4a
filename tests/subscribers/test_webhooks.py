"""Email providers' tracking webhooks (django-anymail) feed engagement: real Postmark and Mailgun payloads posted to
anymail's URLs, with the webhook's basic auth (and Mailgun's signature)."""

import base64
import hashlib
import hmac
import json

import pytest
from django.test import override_settings

from preferences.models import MarketingEmail
from subscribers.models import ConsentRecord, Engagement, EngagementEvent, SubscriptionPreference, SubscriptionType
from subscribers.services import preferences_apply
from tests.factories import SubscriberFactory

WEBHOOK_SECRET = "roster:hook-secret"
MAILGUN_SIGNING_KEY = "key-mailgun-signing"
POSTMARK_URL = "/webhooks/anymail/postmark/tracking/"
MAILGUN_URL = "/webhooks/anymail/mailgun/tracking/"
MESSAGE_ID = "883953f4-6105-42a2-a16a-77a8eac79483"


@pytest.fixture(autouse=True)
def anymail_settings():
    with override_settings(
        ANYMAIL={"WEBHOOK_SECRET": WEBHOOK_SECRET, "MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_SIGNING_KEY}
    ):
        yield


@pytest.fixture
def world(db):
    return {
        "subscriber": SubscriberFactory(email="john.doe@example.com"),
        "sale": MarketingEmail.objects.create(name="Summer sale", subject="Sale", campaign_code="SUMMER-SALE-2024"),
    }


def basic_auth(secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(secret.encode()).decode()}


def post_postmark(client, payload: dict, **auth):
    return client.post(POSTMARK_URL, json.dumps(payload), content_type="application/json", **(auth or basic_auth()))


def postmark_bounce(sale: MarketingEmail, **overrides) -> dict:
    """Postmark's bounce webhook, as its documentation shows it."""
    return {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "summer-sale",
        "MessageID": MESSAGE_ID,
        "Metadata": {"marketing_email_id": sale.public_id},
        "ServerID": 23,
        "MessageStream": "outbound",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": "John.Doe@example.com",
        "From": "sender@example.com",
        "BouncedAt": "2024-06-15T10:00:20.9070259Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Summer Sale - Up to 50% Off!",
        **overrides,
    }


def postmark_open(sale: MarketingEmail, received_at: str = "2024-06-15T14:30:00.0000000Z") -> dict:
    return {
        "RecordType": "Open",
        "MessageStream": "outbound",
        "Metadata": {"marketing_email_id": sale.public_id},
        "FirstOpen": True,
        "Recipient": "john.doe@example.com",
        "MessageID": MESSAGE_ID,
        "ReceivedAt": received_at,
        "Platform": "WebMail",
        "ReadSeconds": 5,
        "Tag": "summer-sale",
        "UserAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
        "OS": {"Name": "Windows 10", "Family": "Windows", "Company": "Microsoft Corporation"},
        "Client": {"Name": "Chrome 35.0.1916.153", "Family": "Chrome", "Company": "Google"},
        "Geo": {"CountryISOCode": "RS", "Country": "Serbia", "City": "Novi Sad"},
    }


def postmark_click(sale: MarketingEmail, link: str) -> dict:
    return {
        "RecordType": "Click",
        "MessageStream": "outbound",
        "ClickLocation": "HTML",
        "Client": {"Name": "Chrome 62.0.3202.94", "Family": "Chrome", "Company": "Google"},
        "OS": {"Name": "OS X 10.13 High Sierra", "Family": "OS X", "Company": "Apple Computer, Inc."},
        "Platform": "Desktop",
        "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_1)",
        "OriginalLink": link,
        "Geo": {"CountryISOCode": "US", "Country": "United States"},
        "MessageID": MESSAGE_ID,
        "Metadata": {"marketing_email_id": sale.public_id},
        "ReceivedAt": "2024-06-15T14:31:00.0000000Z",
        "Tag": "summer-sale",
        "Recipient": "john.doe@example.com",
    }


def test_a_postmark_hard_bounce_deactivates_the_subscriber(client, world):
    subscriber, sale = world["subscriber"], world["sale"]

    response = post_postmark(client, postmark_bounce(sale))

    assert response.status_code == 200
    subscriber.refresh_from_db()
    assert (subscriber.active, subscriber.inactive_reason) == (False, "Hard bounce - Invalid email")
    consent = ConsentRecord.objects.get(subscriber=subscriber)
    assert (consent.action, consent.source, consent.marketing_email) == ("deactivated", "bounce", sale)
    engagement = Engagement.objects.get(subscriber=subscriber)
    assert (engagement.marketing_email, engagement.campaign_code) == (sale, "SUMMER-SALE-2024")
    assert engagement.delivery_status == "BOUNCED"
    assert EngagementEvent.objects.get().event_id == "postmark:4323372036854775807"


def test_a_postmark_soft_bounce_does_not(client, world):
    subscriber = world["subscriber"]

    post_postmark(client, postmark_bounce(world["sale"], Type="SoftBounce", TypeCode=4096, ID=99))

    subscriber.refresh_from_db()
    assert subscriber.active
    assert not ConsentRecord.objects.exists()


def test_a_postmark_spam_complaint_deactivates_the_subscriber(client, world):
    subscriber = world["subscriber"]
    complaint = postmark_bounce(world["sale"], RecordType="SpamComplaint", Type="SpamComplaint", TypeCode=512, ID=42)

    post_postmark(client, complaint)

    subscriber.refresh_from_db()
    assert (subscriber.active, subscriber.inactive_reason) == (False, "Spam complaint")
    assert ConsentRecord.objects.get(subscriber=subscriber).source == "complaint"
    assert Engagement.objects.get().engagement_score == 0


def test_postmark_opens_and_clicks_update_the_engagement_and_a_retry_counts_once(client, world):
    sale = world["sale"]
    payloads = [
        postmark_open(sale),
        postmark_open(sale, "2024-06-16T09:15:00.0000000Z"),
        postmark_click(sale, "https://shop.example.com/summer-sale"),
        postmark_click(sale, "https://shop.example.com/products/beach-towel"),
    ]

    for payload in [*payloads, payloads[0], payloads[2]]:  # Postmark retries what it thinks failed
        assert post_postmark(client, payload).status_code == 200

    engagement = Engagement.objects.get()
    assert (engagement.open_count, engagement.click_count, engagement.unique_click_count) == (2, 2, 2)
    assert [link["count"] for link in engagement.clicked_links] == [1, 1]
    assert engagement.engagement_score == 0.5 * 2 + 2
    assert world["subscriber"].engagements.count() == 1


def test_an_event_for_an_unknown_recipient_is_acknowledged_and_ignored(client, world):
    response = post_postmark(client, postmark_bounce(world["sale"], Email="stranger@example.com"))

    assert response.status_code == 200
    assert not Engagement.objects.exists()


def test_an_unknown_marketing_email_still_counts_the_bounce(client, world):
    bounce = postmark_bounce(world["sale"], Metadata={"marketing_email_id": "memail_deleted", "campaign_code": "X"})

    post_postmark(client, bounce)

    assert (Engagement.objects.get().marketing_email, Engagement.objects.get().campaign_code) == (None, "X")
    world["subscriber"].refresh_from_db()
    assert not world["subscriber"].active


def test_the_webhook_refuses_a_request_without_its_secret(client, world):
    response = post_postmark(client, postmark_bounce(world["sale"]), **basic_auth("roster:wrong"))

    assert response.status_code == 401
    world["subscriber"].refresh_from_db()
    assert world["subscriber"].active
    assert not Engagement.objects.exists()


def mailgun_payload(sale: MarketingEmail, event_data: dict, token: str) -> dict:
    timestamp = "1718445620"
    signature = hmac.new(MAILGUN_SIGNING_KEY.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"timestamp": timestamp, "token": token, "signature": signature},
        "event-data": {
            "id": "G9Bn5sl1TC6nu79C8C0bwg",
            "timestamp": 1718445620.375624,
            "log-level": "error",
            "recipient": "john.doe@example.com",
            "recipient-domain": "example.com",
            "tags": ["campaign:SUMMER-SALE-2024", sale.public_id],
            "user-variables": {},
            "envelope": {"sender": "bob@mg.example.com", "transport": "smtp", "targets": "john.doe@example.com"},
            "message": {
                "headers": {
                    "to": "john.doe@example.com",
                    "message-id": "20240615100000.1.ABC@mg.example.com",
                    "from": "Shop <bob@mg.example.com>",
                    "subject": "Summer Sale - Up to 50% Off!",
                },
                "size": 111,
            },
            "flags": {"is-routed": False, "is-authenticated": True, "is-system-test": False, "is-test-mode": False},
            **event_data,
        },
    }


def test_mailgun_events_with_their_signature(client, world):
    sale, subscriber = world["sale"], world["subscriber"]
    delivered = mailgun_payload(
        sale, {"event": "delivered", "delivery-status": {"code": 250, "message": "OK"}}, token="a" * 50
    )
    temporary = mailgun_payload(
        sale,
        {"event": "failed", "severity": "temporary", "reason": "generic", "delivery-status": {"code": 452}},
        token="b" * 50,
    )
    permanent = mailgun_payload(
        sale,
        {
            "event": "failed",
            "severity": "permanent",
            "reason": "bounce",
            "delivery-status": {"code": 550, "message": "5.1.1 No such user", "description": "Not delivered"},
        },
        token="c" * 50,
    )

    for payload in (delivered, temporary):
        assert client.post(MAILGUN_URL, payload, content_type="application/json", **basic_auth()).status_code == 200
    subscriber.refresh_from_db()
    assert subscriber.active  # a temporary failure is not a bounce

    assert client.post(MAILGUN_URL, permanent, content_type="application/json", **basic_auth()).status_code == 200

    subscriber.refresh_from_db()
    assert (subscriber.active, subscriber.inactive_reason) == (False, "Hard bounce - Invalid email")
    engagement = Engagement.objects.get()
    assert (engagement.marketing_email, engagement.campaign_code) == (sale, "SUMMER-SALE-2024")
    assert engagement.email_delivered_at is not None
    assert engagement.delivery_status == "BOUNCED"


def test_a_mailgun_unsubscribe_withdraws_consent(client, world):
    sale, subscriber = world["sale"], world["subscriber"]
    newsletter = SubscriptionType.objects.create(name="Newsletter")
    sale.subscription_type = newsletter
    sale.save(update_fields=["subscription_type"])
    preferences_apply(
        subscriber=subscriber, updates=[{"subscription_type_id": newsletter.public_id, "subscribe": True}]
    )

    payload = mailgun_payload(sale, {"event": "unsubscribed"}, token="u" * 50)
    assert client.post(MAILGUN_URL, payload, content_type="application/json", **basic_auth()).status_code == 200

    assert not SubscriptionPreference.objects.get(subscriber=subscriber, subscription_type=newsletter).subscribed
    assert Engagement.objects.get().unsubscribed_at is not None
    assert ConsentRecord.objects.filter(subscriber=subscriber).latest("pk").source == "reported_unsubscribe"


def test_mailgun_refuses_a_bad_signature(client, world):
    payload = mailgun_payload(world["sale"], {"event": "failed", "severity": "permanent"}, token="d" * 50)
    payload["signature"]["signature"] = "0" * 64

    assert client.post(MAILGUN_URL, payload, content_type="application/json", **basic_auth()).status_code == 401
    assert not Engagement.objects.exists()
