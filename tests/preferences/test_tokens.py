"""Link tokens through the public pages: every token that should not open a page answers the same plain 404, which
names no subscriber, whatever made it unusable."""

import re
import string
import time

import pytest
from django.core import signing
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from preferences.models import MarketingEmail
from preferences.tokens import Purpose, make_token, read_token
from subscribers.models import Subscriber
from tests.factories import SubscriberFactory, SubscriptionTypeFactory

PAGES = {
    "preferences:center": Purpose.PREFERENCES,
    "preferences:unsubscribe": Purpose.UNSUBSCRIBE,
    "preferences:email-view": Purpose.EMAIL_VIEW,
    "preferences:email-view-content": Purpose.EMAIL_VIEW,
}


@pytest.fixture
def subscriber(db) -> Subscriber:
    return SubscriberFactory(email="secret.person@example.com", first_name="Secretia")


@pytest.fixture
def marketing_email(db) -> MarketingEmail:
    return MarketingEmail.objects.create(
        name="Launch", subject="Launch day", subscription_type=SubscriptionTypeFactory(), html_content="<p>Hi</p>"
    )


def token_for(page: str, subscriber: Subscriber, marketing_email: MarketingEmail) -> str:
    return make_token(PAGES[page], subscriber, marketing_email=marketing_email)


def assert_plain_not_found(response, subscriber: Subscriber) -> None:
    assert response.status_code == 404
    body = response.content.decode()
    assert subscriber.email not in body
    assert subscriber.first_name not in body
    assert subscriber.public_id not in body
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("page", PAGES)
def test_a_valid_token_opens_each_page(client, subscriber, marketing_email, page):
    response = client.get(reverse(page, args=[token_for(page, subscriber, marketing_email)]))

    assert response.status_code == 200


@pytest.mark.parametrize("page", PAGES)
def test_a_forged_token_answers_404(client, subscriber, marketing_email, page):
    payload, _, signature = token_for(page, subscriber, marketing_email).rpartition(":")
    other = SubscriberFactory()
    forged_payload = make_token(PAGES[page], other, marketing_email=marketing_email).rpartition(":")[0]

    for token in (
        f"{payload}:{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",  # signature altered
        f"{forged_payload}:{signature}",  # another subscriber's payload under this signature
        signing.dumps({"s": subscriber.public_id, "v": 1}, salt="roster.links.preferences", key="not-the-secret"),
    ):
        assert_plain_not_found(client.get(reverse(page, args=[token])), subscriber)


@pytest.mark.parametrize("page", PAGES)
def test_a_truncated_token_answers_404(client, subscriber, marketing_email, page):
    token = token_for(page, subscriber, marketing_email)

    for cut in (1, 10, len(token) // 2, len(token) - 1):
        assert_plain_not_found(client.get(reverse(page, args=[token[:cut]])), subscriber)


@pytest.mark.parametrize("page", PAGES)
def test_a_revoked_token_answers_404(client, subscriber, marketing_email, page):
    token = token_for(page, subscriber, marketing_email)
    Subscriber.objects.filter(pk=subscriber.pk).update(token_version=subscriber.token_version + 1)

    assert_plain_not_found(client.get(reverse(page, args=[token])), subscriber)


@pytest.mark.parametrize("page", PAGES)
def test_a_token_dies_when_the_email_changes(client, subscriber, marketing_email, page):
    token = token_for(page, subscriber, marketing_email)
    Subscriber.objects.filter(pk=subscriber.pk).update(email="new.address@example.com")

    assert_plain_not_found(client.get(reverse(page, args=[token])), subscriber)


@pytest.mark.parametrize("page", PAGES)
def test_a_token_for_another_purpose_answers_404(client, subscriber, marketing_email, page):
    for purpose in set(Purpose) - {PAGES[page]}:
        token = make_token(purpose, subscriber, marketing_email=marketing_email)

        assert_plain_not_found(client.get(reverse(page, args=[token])), subscriber)


def without_nonce(response) -> str:
    return re.sub(r'nonce="[^"]*"', "", response.content.decode())


def test_a_deleted_subscriber_and_a_stranger_get_the_same_answer(client, subscriber):
    token = make_token(Purpose.PREFERENCES, subscriber)
    subscriber.delete()

    deleted = client.get(reverse("preferences:center", args=[token]))
    garbage = client.get(reverse("preferences:center", args=["not-a-token"]))

    assert deleted.status_code == garbage.status_code == 404
    assert without_nonce(deleted) == without_nonce(garbage)


def test_posting_with_a_bad_token_changes_nothing_and_answers_404(client, subscriber):
    token = make_token(Purpose.UNSUBSCRIBE, subscriber)[:-3]

    response = client.post(reverse("preferences:unsubscribe", args=[token]), {"List-Unsubscribe": "One-Click"})

    assert_plain_not_found(response, subscriber)
    subscriber.refresh_from_db()
    assert subscriber.active


TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_:.="


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_token_with_any_character_changed_or_dropped_answers_404(client, subscriber, data):
    token = make_token(Purpose.PREFERENCES, subscriber)
    index = data.draw(st.integers(min_value=0, max_value=len(token) - 1))
    replacement = data.draw(st.sampled_from(TOKEN_ALPHABET).filter(lambda char: char != token[index]) | st.just(""))
    mangled = token[:index] + replacement + token[index + 1 :]

    response = client.get(reverse("preferences:center", args=[mangled]))

    assert response.status_code == 404
    assert subscriber.email.encode() not in response.content


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=TOKEN_ALPHABET, min_size=1, max_size=700))
def test_any_text_in_place_of_a_token_answers_404(client, subscriber, text):
    response = client.get(reverse("preferences:center", args=[text]))

    assert response.status_code == 404
    assert subscriber.email.encode() not in response.content


@pytest.mark.django_db
def test_the_admin_revoke_links_action_kills_every_link_sent_before(admin_client):
    subscriber = SubscriberFactory()
    old = make_token(Purpose.PREFERENCES, subscriber)
    assert read_token(Purpose.PREFERENCES, old) is not None

    response = admin_client.post(
        reverse("admin:subscribers_subscriber_changelist"),
        {"action": "revoke_links", "_selected_action": [subscriber.pk]},
    )

    assert response.status_code == 302
    assert read_token(Purpose.PREFERENCES, old) is None
    subscriber.refresh_from_db()
    assert read_token(Purpose.PREFERENCES, make_token(Purpose.PREFERENCES, subscriber)) is not None


# --- Expiry by default ---------------------------------------------------------------------------------------------

DAY = 24 * 3600


def signed_days_ago(days: float, page: str, subscriber: Subscriber, marketing_email: MarketingEmail, monkeypatch):
    """A token made `days` ago: Django's TimestampSigner stamps it with that time (the clock itself is untouched)."""
    stamp = signing.b62_encode(int(time.time() - days * DAY))
    with monkeypatch.context() as patched:
        patched.setattr(signing.TimestampSigner, "timestamp", lambda self: stamp)
        return token_for(page, subscriber, marketing_email)


@pytest.mark.parametrize("page", PAGES)
def test_a_link_older_than_the_default_max_age_answers_404(client, subscriber, marketing_email, page, monkeypatch):
    """With LINK_TOKEN_MAX_AGE unset, links live about 13 months (400 days)."""
    too_old = signed_days_ago(401, page, subscriber, marketing_email, monkeypatch)

    assert_plain_not_found(client.get(reverse(page, args=[too_old])), subscriber)


@pytest.mark.parametrize("page", PAGES)
def test_a_link_younger_than_the_default_max_age_still_works(client, subscriber, marketing_email, page, monkeypatch):
    for days in (0, 399):
        token = signed_days_ago(days, page, subscriber, marketing_email, monkeypatch)
        assert client.get(reverse(page, args=[token])).status_code == 200
