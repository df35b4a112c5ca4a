"""The public pages through the Django test client: the preference center, one-click unsubscribe and view in browser."""

import re
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from preferences.branding import Brand, contrast_ratio, readable_on_white, text_colour_on
from preferences.models import BrandSettings, MarketingEmail
from preferences.tokens import Purpose, make_token
from subscribers.models import ConsentRecord, Subscriber, SubscriptionPreference
from subscribers.services import ConsentSource, preferences_apply, subscriber_set_active
from tests.factories import SubscriberFactory, SubscriptionTypeFactory

UA = "Mozilla/5.0 (Roster test)"


@pytest.fixture
def types(db):
    return {
        "news": SubscriptionTypeFactory(name="Monthly Newsletter", description="Stories, once a month."),
        "promo": SubscriptionTypeFactory(name="Promotions", description="Sales and offers."),
        "updates": SubscriptionTypeFactory(name="Product Updates", description="What is new."),
    }


@pytest.fixture
def subscriber(types) -> Subscriber:
    subscriber = SubscriberFactory(email="ann@example.com", first_name="Ann")
    preferences_apply(
        subscriber=subscriber,
        updates=[
            {"subscription_type_id": types["news"].public_id, "subscribe": True},
            {"subscription_type_id": types["promo"].public_id, "subscribe": True},
        ],
    )
    return subscriber


def state(subscriber: Subscriber) -> tuple[bool, dict[str, bool]]:
    subscriber.refresh_from_db()
    preferences = SubscriptionPreference.objects.filter(subscriber=subscriber).select_related("subscription_type")
    return subscriber.active, {p.subscription_type.name: p.subscribed for p in preferences}


def snapshot(subscriber: Subscriber) -> tuple:
    """Everything a page could change about a subscriber."""
    return (
        state(subscriber),
        subscriber.version,
        subscriber.inactive_reason,
        ConsentRecord.objects.filter(subscriber=subscriber).count(),
    )


def center_url(subscriber: Subscriber, **claims) -> str:
    return reverse("preferences:center", args=[make_token(Purpose.PREFERENCES, subscriber, **claims)])


def save(client: Client, url: str, *, shown, subscribe, action: str = "save", csrf: str | None = None, **extra):
    data = {"shown": [t.public_id for t in shown], "subscribe": [t.public_id for t in subscribe], "action": action}
    if csrf:
        data["csrfmiddlewaretoken"] = csrf
    return client.post(
        url,
        data,
        HTTP_USER_AGENT=UA,
        REMOTE_ADDR="203.0.113.7",
        **extra,
    )


def status_text(response) -> str:
    match = re.search(r'role="status"[^>]*>(.*?)</div>', response.content.decode(), re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match[1])).strip() if match else ""


# Preference center: the page -------------------------------------------------------------------------------------


def test_the_page_shows_each_type_with_its_description_and_state(client, subscriber, types):
    response = client.get(center_url(subscriber))

    assert response.status_code == 200
    body = response.content.decode()
    assert re.search(r'<html lang="en', body)
    assert "<fieldset" in body and "<legend" in body
    for subscription_type in types.values():
        assert (
            f'<label class="topic__name" for="topic-{subscription_type.public_id}">{subscription_type.name}</label>'
            in body
        )
        assert subscription_type.description in body
        assert f'<input type="hidden" name="shown" value="{subscription_type.public_id}">' in body
    checked = set(re.findall(r'name="subscribe" value="([^"]+)" checked', body))
    assert checked == {types["news"].public_id, types["promo"].public_id}
    assert "csrfmiddlewaretoken" in body
    assert "Unsubscribe from everything" in body


def test_the_page_is_private_and_locked_down(client, subscriber):
    response = client.get(center_url(subscriber))

    assert "no-store" in response["Cache-Control"]
    # same-origin, not no-referrer: browsers send `Origin: null` on a POST from a no-referrer page, failing CSRF.
    assert response["Referrer-Policy"] == "same-origin"
    csp = response["Content-Security-Policy"]
    assert "default-src 'none'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp
    nonce = re.search(r"'nonce-([^']+)'", csp)[1]
    assert f'<style nonce="{nonce}">' in response.content.decode()


def test_the_page_carries_the_brand_with_readable_text(client, subscriber):
    BrandSettings.objects.update_or_create(
        pk=1,
        defaults={
            "name": "Sunny Shop",
            "brand_primary_color": "#FFD43B",
            "brand_logo_url": "https://cdn.example/l.png",
        },
    )

    response = client.get(center_url(subscriber))

    body = response.content.decode()
    assert "Sunny Shop" in body
    assert '<img class="brand-bar__logo" src="https://cdn.example/l.png" alt=""' in body
    assert "--brand: #ffd43b;" in body
    on_brand = re.search(r"--on-brand: (#[0-9a-f]{6});", body)[1]
    accent = re.search(r"--accent: (#[0-9a-f]{6});", body)[1]
    yellow = (0xFF, 0xD4, 0x3B)
    assert contrast_ratio(yellow, tuple(int(on_brand[i : i + 2], 16) for i in (1, 3, 5))) >= 4.5
    assert contrast_ratio((255, 255, 255), tuple(int(accent[i : i + 2], 16) for i in (1, 3, 5))) >= 4.5
    assert "img-src 'self' https://cdn.example" in response["Content-Security-Policy"]


@given(st.tuples(*[st.integers(min_value=0, max_value=255)] * 3))
def test_brand_text_colours_meet_aa_contrast_for_any_colour(rgb):
    assert contrast_ratio(rgb, text_colour_on(rgb)) >= 4.5
    assert contrast_ratio(readable_on_white(rgb), (255, 255, 255)) >= 4.5


def test_a_brand_colour_that_is_not_a_colour_falls_back_to_the_default(db):
    BrandSettings.objects.update_or_create(pk=1, defaults={"brand_primary_color": "red;}"})

    assert Brand.current().primary == "#1f6feb"


# Preference center: saving ---------------------------------------------------------------------------------------


def test_a_post_without_a_csrf_token_is_rejected_and_changes_nothing(subscriber, types):
    client = Client(enforce_csrf_checks=True)
    url = center_url(subscriber)
    client.get(url)  # the CSRF cookie is there; the form field is not
    before = snapshot(subscriber)

    response = save(client, url, shown=types.values(), subscribe=[], action="unsubscribe_all")

    assert response.status_code == 403
    assert snapshot(subscriber) == before
    # A branded page that says nothing changed and links back to the same preferences, not Django's CSRF page.
    body = response.content.decode()
    assert "Your choices were not saved" in body and f'href="{url}"' in body
    assert response["Content-Security-Policy"] and "no-store" in response["Cache-Control"]


def test_a_post_with_the_csrf_token_from_the_page_is_accepted(subscriber, types):
    client = Client(enforce_csrf_checks=True)
    url = center_url(subscriber)
    page = client.get(url).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]

    response = save(client, url, shown=types.values(), subscribe=[types["news"]], csrf=csrf)

    assert response.status_code == 303
    assert state(subscriber)[1]["Promotions"] is False


def test_saving_applies_granular_choices_and_confirms_what_changed(client, subscriber, types):
    url = center_url(subscriber)

    response = save(client, url, shown=types.values(), subscribe=[types["news"], types["updates"]])

    assert response.status_code == 303
    assert "no-store" in response["Cache-Control"]
    assert state(subscriber) == (True, {"Monthly Newsletter": True, "Promotions": False, "Product Updates": True})
    page = client.get(response["Location"])
    assert status_text(page) == (
        "Your preferences are saved Subscribed to Product Updates. Unsubscribed from Promotions."
    )
    records = ConsentRecord.objects.filter(subscriber=subscriber, source="preference_center")
    assert {(r.subscription_type.name, r.action) for r in records} == {
        ("Product Updates", "subscribed"),
        ("Promotions", "unsubscribed"),
    }
    assert {(r.ip_address, r.user_agent) for r in records} == {("203.0.113.7", UA)}


def test_saving_without_changes_says_so(client, subscriber, types):
    response = save(client, center_url(subscriber), shown=types.values(), subscribe=[types["news"], types["promo"]])

    assert status_text(client.get(response["Location"])) == (
        "Your preferences are saved Nothing changed: your choices are the same as before."
    )


def test_a_type_added_after_the_page_was_rendered_keeps_its_state(client, subscriber, types):
    url = center_url(subscriber)
    shown = list(types.values())
    added = SubscriptionTypeFactory(name="Events")
    preferences_apply(subscriber=subscriber, updates=[{"subscription_type_id": added.public_id, "subscribe": True}])

    save(client, url, shown=shown, subscribe=[types["news"]])

    assert state(subscriber)[1] == {
        "Monthly Newsletter": True,
        "Promotions": False,
        "Events": True,
    }


def test_a_posted_type_that_was_not_shown_or_no_longer_exists_is_ignored(client, subscriber, types):
    gone = SubscriptionTypeFactory(name="Gone")
    gone_id = gone.public_id
    gone.delete()

    response = client.post(
        center_url(subscriber),
        {
            "shown": [types["news"].public_id, gone_id],
            "subscribe": [types["news"].public_id, types["updates"].public_id, gone_id],
            "action": "save",
        },
    )

    assert response.status_code == 303
    assert state(subscriber)[1] == {"Monthly Newsletter": True, "Promotions": True}


def test_unsubscribing_from_everything_then_subscribing_again(client, subscriber, types):
    url = center_url(subscriber)

    response = save(client, url, shown=[], subscribe=[], action="unsubscribe_all")

    assert state(subscriber) == (False, {"Monthly Newsletter": False, "Promotions": False})
    page = client.get(response["Location"])
    assert status_text(page).startswith("You're unsubscribed from all emails")
    assert "Unsubscribe from everything</button>" not in page.content.decode()
    deactivation = ConsentRecord.objects.get(subscriber=subscriber, action="deactivated")
    assert (deactivation.source, deactivation.ip_address, deactivation.user_agent) == (
        "preference_center",
        "203.0.113.7",
        UA,
    )

    # Coming back later, without the confirmation: the page says emails are off and how to turn them on.
    assert "You unsubscribed from everything" in client.get(url).content.decode()

    response = save(client, url, shown=types.values(), subscribe=[types["updates"]])

    assert state(subscriber) == (True, {"Monthly Newsletter": False, "Promotions": False, "Product Updates": True})
    assert status_text(client.get(response["Location"])) == (
        "Your preferences are saved Emails to you are switched back on. Subscribed to Product Updates."
    )


def test_someone_made_inactive_by_a_bounce_is_told_politely_that_emails_stay_off(client, subscriber, types):
    BrandSettings.objects.update_or_create(pk=1, defaults={"support_email": "help@shop.example"})
    subscriber_set_active(
        subscriber=subscriber, active=False, reason="Hard bounce - Invalid email", source=ConsentSource(source="bounce")
    )
    url = center_url(subscriber)
    assert "please write to" in client.get(url).content.decode()

    response = save(client, url, shown=types.values(), subscribe=[types["news"]])

    assert state(subscriber)[0] is False
    text = status_text(client.get(response["Location"]))
    assert text.startswith("Your choices are saved, but emails are still off")
    assert "help@shop.example" in text
    assert "Hard bounce" not in text


def test_a_tampered_or_foreign_confirmation_shows_nothing(client, subscriber, types):
    response = save(client, center_url(subscriber), shown=types.values(), subscribe=[])
    location = response["Location"]
    other = SubscriberFactory()

    assert status_text(client.get(location[:-3])) == ""
    assert status_text(client.get(center_url(other) + "?" + urlsplit(location).query)) == ""


def test_an_unknown_action_changes_nothing(client, subscriber, types):
    before = snapshot(subscriber)

    response = save(client, center_url(subscriber), shown=types.values(), subscribe=[], action="delete_me")

    assert response.status_code == 400
    assert snapshot(subscriber) == before


# One-click unsubscribe -------------------------------------------------------------------------------------------


@pytest.fixture
def promo_email(types) -> MarketingEmail:
    return MarketingEmail.objects.create(name="Sale", subject="Sale", subscription_type=types["promo"])


def unsubscribe_url(subscriber: Subscriber, **claims) -> str:
    return reverse("preferences:unsubscribe", args=[make_token(Purpose.UNSUBSCRIBE, subscriber, **claims)])


def test_one_click_withdraws_only_the_emails_subscription_type(subscriber, promo_email):
    client = Client(enforce_csrf_checks=True)  # mail clients post without a CSRF token

    response = client.post(
        unsubscribe_url(subscriber, marketing_email=promo_email),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
        HTTP_USER_AGENT="Gmail one-click",
        REMOTE_ADDR="198.51.100.4",
    )

    assert response.status_code == 200
    assert len(response.content) < 100
    assert state(subscriber) == (True, {"Monthly Newsletter": True, "Promotions": False})
    record = ConsentRecord.objects.get(subscriber=subscriber, action="unsubscribed")
    assert (record.source, record.ip_address, record.user_agent) == ("one_click", "198.51.100.4", "Gmail one-click")
    assert record.subscription_type.name == "Promotions"
    assert record.marketing_email == promo_email


def test_one_click_without_a_type_unsubscribes_from_everything(client, subscriber):
    response = client.post(unsubscribe_url(subscriber), {"List-Unsubscribe": "One-Click"}, REMOTE_ADDR="198.51.100.4")

    assert response.status_code == 200
    assert state(subscriber) == (False, {"Monthly Newsletter": False, "Promotions": False})
    deactivation = ConsentRecord.objects.get(subscriber=subscriber, action="deactivated")
    assert (deactivation.source, deactivation.ip_address) == ("one_click", "198.51.100.4")


def test_one_click_also_takes_a_multipart_body(client, subscriber, promo_email):
    response = client.post(unsubscribe_url(subscriber, marketing_email=promo_email), {"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    assert state(subscriber)[1]["Promotions"] is False


@pytest.mark.parametrize("body", [{}, {"List-Unsubscribe": "one-click"}, {"List-Unsubscribe": "Yes"}])
def test_a_post_without_the_one_click_body_is_refused_and_changes_nothing(client, subscriber, promo_email, body):
    before = snapshot(subscriber)

    response = client.post(unsubscribe_url(subscriber, marketing_email=promo_email), body)

    assert response.status_code == 400
    assert snapshot(subscriber) == before


def test_opening_an_unsubscribe_link_changes_nothing_until_confirmed(client, subscriber, promo_email):
    url = unsubscribe_url(subscriber, marketing_email=promo_email)
    before = snapshot(subscriber)

    for _ in range(3):  # a link scanner, a preview, the person
        response = client.get(url)
        assert response.status_code == 200
        client.head(url)

    assert snapshot(subscriber) == before
    body = response.content.decode()
    assert "Unsubscribe from Promotions?" in body
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in body
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"


def test_confirming_on_the_page_unsubscribes_and_links_to_the_preference_center(client, subscriber, promo_email):
    url = unsubscribe_url(subscriber, marketing_email=promo_email)

    response = client.post(url, {"List-Unsubscribe": "One-Click", "confirmed_on": "page"})

    assert response.status_code == 303
    assert state(subscriber)[1]["Promotions"] is False
    page = client.get(response["Location"]).content.decode()
    assert "You're unsubscribed" in page
    assert "is unsubscribed from Promotions at" in page
    preference_center = re.search(r'href="(/preferences/[^"]+)"', page)[1]
    assert client.get(preference_center).status_code == 200


# View in browser -------------------------------------------------------------------------------------------------

HOSTILE_HTML = (
    "<html><head><title>Hi</title></head><body>"
    "<p>Hello {{ first_name }} {{ last_name }}, {{ email }}</p>"
    '<a href="{{ unsubscribe_url }}">Unsubscribe</a>'
    "<script>fetch('/api/subscribers/list', {method: 'POST'})</script>"
    "{{ settings.SECRET_KEY }}{% if 1 %}tag{% endif %}"
    "</body></html>"
)


@pytest.fixture
def hostile_email(types) -> MarketingEmail:
    return MarketingEmail.objects.create(
        name="Hostile", subject="Hello <you>", subscription_type=types["promo"], html_content=HOSTILE_HTML
    )


def email_urls(subscriber: Subscriber, marketing_email: MarketingEmail | None) -> tuple[str, str]:
    token = make_token(Purpose.EMAIL_VIEW, subscriber, marketing_email=marketing_email)
    return reverse("preferences:email-view", args=[token]), reverse("preferences:email-view-content", args=[token])


def test_the_email_page_frames_the_content_in_a_sandbox_without_scripts(client, subscriber, hostile_email):
    page_url, content_url = email_urls(subscriber, hostile_email)

    response = client.get(page_url)

    assert response.status_code == 200
    body = response.content.decode()
    iframes = re.findall(r"<iframe[^>]*>", body)
    assert len(iframes) == 1
    assert f'src="{content_url}"' in iframes[0]
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in iframes[0]
    assert "allow-scripts" not in body and "allow-same-origin" not in body
    assert "Hello &lt;you&gt;" in body
    assert "<script>fetch" not in body
    assert "frame-src 'self'" in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]


def test_the_email_content_is_served_only_with_a_sandbox_csp(client, settings, subscriber, hostile_email):
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:8000"
    _, content_url = email_urls(subscriber, hostile_email)

    response = client.get(content_url)

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert "<script>fetch(" in response.content.decode()  # stored as written, inert under the policy below
    directives = [d.strip() for d in response["Content-Security-Policy"].split(";")]
    assert directives[0].split()[0] == "sandbox"
    assert "allow-scripts" not in directives[0] and "allow-same-origin" not in directives[0]
    assert "default-src 'none'" in directives
    assert not any(d.startswith("script-src") for d in directives)
    assert "frame-ancestors http://127.0.0.1:8000 http://testserver" in directives
    assert response["X-Frame-Options"] == "SAMEORIGIN"
    assert response["Referrer-Policy"] == "no-referrer"
    assert "no-store" in response["Cache-Control"]
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_email_content_sets_and_reads_no_cookie_even_for_a_logged_in_admin(client, subscriber, hostile_email):
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-long-enough-123")
    client.force_login(admin)
    _, content_url = email_urls(subscriber, hostile_email)

    response = client.get(content_url)

    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert not response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_merge_tags_are_filled_and_html_escaped(client, types, hostile_email):
    subscriber = SubscriberFactory(email="x@example.com", first_name="<b>x</b>", last_name='"quoted" & co')
    _, content_url = email_urls(subscriber, hostile_email)

    html = client.get(content_url).content.decode()

    assert "<p>Hello &lt;b&gt;x&lt;/b&gt; &quot;quoted&quot; &amp; co, x@example.com</p>" in html
    assert "<b>x</b>" not in html
    unsubscribe = re.search(r'<a href="([^"]+)">Unsubscribe</a>', html)[1]
    assert urlsplit(unsubscribe).path.startswith("/unsubscribe/")
    assert "SECRET_KEY" not in html and "test-only-secret" not in html
    assert '<head><base target="_blank">' in html


def test_the_content_is_framed_from_its_own_origin_when_one_is_configured(client, settings, subscriber, hostile_email):
    settings.EMAIL_VIEW_BASE_URL = "https://mail-view.example.net"
    settings.PUBLIC_BASE_URL = "https://roster.example.com"
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "mail-view.example.net"]
    page_url, content_url = email_urls(subscriber, hostile_email)

    page = client.get(page_url)
    content = client.get(content_url, HTTP_HOST="mail-view.example.net")

    assert f'src="https://mail-view.example.net{content_url}"' in page.content.decode()
    assert "frame-src https://mail-view.example.net" in page["Content-Security-Policy"]
    assert "frame-ancestors https://roster.example.com" in content["Content-Security-Policy"].split("; ")
    assert "X-Frame-Options" not in content.headers


def test_an_email_view_token_naming_no_email_answers_404(client, subscriber):
    for url in email_urls(subscriber, None):
        response = client.get(url)
        assert response.status_code == 404
        assert subscriber.email not in response.content.decode()


# The demo ---------------------------------------------------------------------------------------------------------


def test_bootstrap_prints_a_preference_center_link_that_opens(client, settings, tmp_path, monkeypatch, subscriber):
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    settings.DEBUG = True
    settings.DATA_DIR = tmp_path
    out = StringIO()

    call_command("bootstrap", "--skip-demo", "--url", "http://127.0.0.1:9000", stdout=out)

    link = re.search(r"Preference center:\s+(\S+)", out.getvalue())[1]
    assert link.startswith("http://127.0.0.1:9000/preferences/")
    response = client.get(urlsplit(link).path)
    assert response.status_code == 200
    assert subscriber.email in response.content.decode()
