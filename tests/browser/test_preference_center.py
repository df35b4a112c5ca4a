"""The public pages in headless Chromium (Debian's `chromium`, driven by Playwright), against a live server: a person
changes their choices, unsubscribes from everything and subscribes again, on a phone and a desktop, with and without
JavaScript. Screenshots of each step go to test-artifacts/ at the repository root."""

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from preferences.models import BrandSettings, MarketingEmail
from preferences.tokens import Purpose, make_token
from subscribers.models import Subscriber, SubscriptionPreference
from subscribers.services import preferences_apply
from tests.browser.chromium import ARTIFACTS
from tests.factories import SubscriberFactory, SubscriptionTypeFactory

VIEWPORTS = {"phone": {"width": 390, "height": 844}, "desktop": {"width": 1280, "height": 800}}
LOGO_URL = "https://assets.northwind.example/logo.svg"
LOGO_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="36" height="36" viewBox="0 0 36 36">'
    '<rect width="36" height="36" rx="8" fill="#ffffff"/>'
    '<path d="M9 26V10h3.2l8.6 10.4V10H24v16h-3.2L12.2 15.6V26z" fill="#0b5d57"/></svg>'
)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@pytest.fixture
def open_page(browser):
    """A new page at a viewport, with or without JavaScript, serving the brand logo and collecting console errors."""
    contexts = []

    def open_(viewport: str, *, javascript: bool):
        context = browser.new_context(viewport=VIEWPORTS[viewport], java_script_enabled=javascript)
        contexts.append(context)
        context.route(LOGO_URL, lambda route: route.fulfill(body=LOGO_SVG, content_type="image/svg+xml"))
        context.set_default_timeout(5000)
        page = context.new_page()
        page.console_errors = []
        page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
        return page

    yield open_
    for context in contexts:
        context.close()


@pytest.fixture
def world():
    BrandSettings.objects.update_or_create(
        pk=1,
        defaults={
            "name": "Northwind Outfitters",
            "brand_primary_color": "#0F766E",
            "brand_logo_url": LOGO_URL,
            "support_email": "help@northwind.example",
        },
    )
    newsletter = SubscriptionTypeFactory(
        name="Monthly Newsletter", description="Our best stories, customer tips and company news, once a month."
    )
    updates = SubscriptionTypeFactory(
        name="Product Updates", description="New features, releases and improvements to the products you use."
    )
    promotions = SubscriptionTypeFactory(
        name="Promotional Emails", description="Sales, discount codes and limited-time offers, a few times a month."
    )
    subscriber = SubscriberFactory(email="maya.lopez@example.com", first_name="Maya", last_name="Lopez")
    preferences_apply(
        subscriber=subscriber,
        updates=[
            {"subscription_type_id": newsletter.public_id, "subscribe": True},
            {"subscription_type_id": promotions.public_id, "subscribe": True},
        ],
    )
    return {"subscriber": subscriber, "newsletter": newsletter, "updates": updates, "promotions": promotions}


def stored_state(subscriber: Subscriber) -> tuple[bool, dict[str, bool]]:
    preferences = SubscriptionPreference.objects.filter(subscriber=subscriber).select_related("subscription_type")
    active = Subscriber.objects.values_list("active", flat=True).get(pk=subscriber.pk)
    return active, {p.subscription_type.name: p.subscribed for p in preferences}


def screenshot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.mark.parametrize("javascript", [True, False], ids=["js", "nojs"])
@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_a_subscriber_changes_choices_unsubscribes_from_everything_and_subscribes_again(
    live_server, open_page, world, viewport, javascript
):
    subscriber = world["subscriber"]
    name = f"preference-center-{viewport}-{'js' if javascript else 'nojs'}"
    page = open_page(viewport, javascript=javascript)
    url = live_server.url + reverse("preferences:center", args=[make_token(Purpose.PREFERENCES, subscriber)])

    page.goto(url)
    expect(page.locator("html")).to_have_attribute("lang", re.compile(r"^en"))
    expect(page.get_by_role("heading", name="Email preferences")).to_be_visible()
    expect(page.get_by_text("Northwind Outfitters").first).to_be_visible()
    expect(page.get_by_role("switch", name="Monthly Newsletter")).to_be_checked()
    expect(page.get_by_role("switch", name="Product Updates")).not_to_be_checked()
    expect(page.get_by_role("switch", name="Promotional Emails")).to_be_checked()
    assert page.locator(".brand-bar__logo").evaluate("img => img.naturalWidth") > 0
    if javascript:
        page.evaluate("window.__samePage = true")
    screenshot(page, f"{name}-1-opened")

    # Change choices: one with the keyboard, one by clicking the row's text.
    page.get_by_role("switch", name="Product Updates").focus()
    page.keyboard.press("Space")
    assert page.evaluate("getComputedStyle(document.activeElement).boxShadow") != "none", "focus must be visible"
    page.locator(".topic", has_text="Promotional Emails").click()
    expect(page.get_by_role("switch", name="Promotional Emails")).not_to_be_checked()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("status")).to_contain_text("Your preferences are saved")
    expect(page.get_by_role("status")).to_contain_text("Subscribed to Product Updates.")
    expect(page.get_by_role("status")).to_contain_text("Unsubscribed from Promotional Emails.")
    assert stored_state(subscriber) == (
        True,
        {"Monthly Newsletter": True, "Product Updates": True, "Promotional Emails": False},
    )
    screenshot(page, f"{name}-2-saved")

    page.get_by_role("button", name="Unsubscribe from everything").click()
    expect(page.get_by_role("status")).to_contain_text("You're unsubscribed from all emails")
    expect(page.get_by_role("switch", name="Monthly Newsletter")).not_to_be_checked()
    expect(page.get_by_role("button", name="Unsubscribe from everything")).to_have_count(0)
    assert stored_state(subscriber) == (
        False,
        {"Monthly Newsletter": False, "Product Updates": False, "Promotional Emails": False},
    )
    screenshot(page, f"{name}-3-unsubscribed")

    page.get_by_role("switch", name="Monthly Newsletter").check()
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_role("status")).to_contain_text("Emails to you are switched back on.")
    expect(page.get_by_role("status")).to_contain_text("Subscribed to Monthly Newsletter.")
    assert stored_state(subscriber) == (
        True,
        {"Monthly Newsletter": True, "Product Updates": False, "Promotional Emails": False},
    )
    screenshot(page, f"{name}-4-resubscribed")

    if javascript:
        assert page.evaluate("window.__samePage") is True, "the script should save without reloading the page"
    assert page.console_errors == []


def test_the_email_shown_in_the_browser_cannot_run_its_script(live_server, open_page, world):
    subscriber = world["subscriber"]
    email = MarketingEmail.objects.create(
        name="Spring sale",
        subject="Spring sale: 20% off for you, Maya",
        subscription_type=world["promotions"],
        html_content=(
            "<!DOCTYPE html><html><head><title>Spring</title></head>"
            '<body style="font-family: sans-serif; padding: 24px">'
            "<h1>Hello {{ first_name }}!</h1><p>Everything is 20% off this week.</p>"
            '<p><a href="{{ preference_center_url }}">Manage preferences</a></p>'
            "<script>document.body.dataset.ran = 'yes'; parent.document.title = 'pwned';</script>"
            "</body></html>"
        ),
    )
    page = open_page("desktop", javascript=True)
    url = live_server.url + reverse(
        "preferences:email-view", args=[make_token(Purpose.EMAIL_VIEW, subscriber, marketing_email=email)]
    )

    page.goto(url)
    frame = page.frame_locator("iframe.email-frame")
    expect(frame.get_by_role("heading", name="Hello Maya!")).to_be_visible()
    expect(frame.locator("body")).not_to_have_attribute("data-ran", "yes")
    assert page.title() != "pwned"
    assert page.locator("iframe.email-frame").get_attribute("sandbox") == "allow-popups allow-popups-to-escape-sandbox"
    screenshot(page, "email-view-desktop")


def test_an_unsubscribe_link_asks_first_then_unsubscribes(live_server, open_page, world):
    subscriber = world["subscriber"]
    email = MarketingEmail.objects.create(name="Deals", subject="Deals", subscription_type=world["promotions"])
    page = open_page("phone", javascript=False)
    token = make_token(Purpose.UNSUBSCRIBE, subscriber, marketing_email=email)

    page.goto(live_server.url + reverse("preferences:unsubscribe", args=[token]))
    expect(page.get_by_role("heading", name="Unsubscribe from Promotional Emails?")).to_be_visible()
    assert stored_state(subscriber)[1]["Promotional Emails"] is True
    screenshot(page, "unsubscribe-phone-1-confirm")

    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_role("heading", name="You're unsubscribed")).to_be_visible()
    assert stored_state(subscriber) == (
        True,
        {"Monthly Newsletter": True, "Promotional Emails": False},
    )
    screenshot(page, "unsubscribe-phone-2-done")

    page.get_by_role("link", name="Manage email preferences").click()
    expect(page.get_by_role("switch", name="Promotional Emails")).not_to_be_checked()
    expect(page.get_by_role("switch", name="Monthly Newsletter")).to_be_checked()
    assert page.console_errors == []
