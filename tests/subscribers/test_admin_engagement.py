"""The admin's engagement pages and the subscriber page's consent history and engagement inlines."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from preferences.models import MarketingEmail
from subscribers.models import ConsentRecord, Engagement, Subscriber
from subscribers.services import ConsentSource, EngagementEventInput, engagement_events_record, subscriber_set_active
from tests.factories import SubscriberFactory, SubscriptionTypeFactory
from tests.subscribers.test_admin import form_data

ENGAGEMENTS = "admin:subscribers_engagement_changelist"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # admin_client logs a user in; the production hasher is slow on purpose.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def change_url(subscriber: Subscriber) -> str:
    return reverse("admin:subscribers_subscriber_change", args=[subscriber.pk])


@pytest.fixture
def world(db):
    return {
        "subscriber": SubscriberFactory(email="john.doe@example.com"),
        "other": SubscriberFactory(email="jane@example.com"),
        "sale": MarketingEmail.objects.create(
            name="Summer sale", campaign_code="SUMMER-SALE-2024", html_content="<p>" + "x" * 1000 + "</p>"
        ),
        "weekly": SubscriptionTypeFactory(name="Weekly"),
    }


def add_history(subscriber: Subscriber, sale: MarketingEmail, count: int, *, start: int = 0) -> None:
    """`count` consent changes from a page, and engagement with `count` campaigns."""
    for i in range(start, start + count):
        ConsentRecord.objects.create(
            subscriber=subscriber,
            action=ConsentRecord.Action.UNSUBSCRIBED,
            source=ConsentRecord.Source.PREFERENCE_CENTER,
            ip_address="203.0.113.7",
            user_agent=f"Browser/{i}",
            marketing_email=sale,
        )
    engagement_events_record(
        events=[
            EngagementEventInput(
                event_id=f"{subscriber.pk}-{i}",
                event_type="opened",
                subscriber_id=subscriber.public_id,
                campaign_code=None if i == 0 else f"C{i}",
                marketing_email_id=sale.public_id if i == 0 else None,
            )
            for i in range(start, start + count)
        ]
    )


def test_subscriber_page_shows_consent_history_and_engagement(admin_client, world):
    subscriber, sale = world["subscriber"], world["sale"]
    add_history(subscriber, sale, 2)
    subscriber_set_active(
        subscriber=subscriber,
        active=False,
        reason="Hard bounce - Invalid email",
        source=ConsentSource(source="bounce", marketing_email_id=sale.pk),
    )

    response = admin_client.get(change_url(subscriber))

    assert response.status_code == 200
    page = response.content.decode()
    assert "consent history" in page.lower()
    assert "203.0.113.7" in page and "Browser/1" in page
    assert "Hard bounce - Invalid email" in page
    inlines = {inline.formset.model: inline for inline in response.context["inline_admin_formsets"]}
    consent_rows = [form.instance for form in inlines[ConsentRecord].formset.forms]
    assert [row.action for row in consent_rows] == ["deactivated", "unsubscribed", "unsubscribed"]  # latest first
    engagement_rows = [form.instance for form in inlines[Engagement].formset.forms]
    assert {row.campaign_code for row in engagement_rows} == {"SUMMER-SALE-2024", "C1"}
    # Read-only: no row can be added, changed or deleted from here.
    for model in (ConsentRecord, Engagement):
        assert not inlines[model].has_add_permission
        assert not inlines[model].has_change_permission
        assert not inlines[model].has_delete_permission


def test_subscriber_page_cost_does_not_grow_with_history(admin_client, world, django_assert_max_num_queries):
    subscriber, sale = world["subscriber"], world["sale"]
    add_history(subscriber, sale, 2)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(change_url(subscriber))
    few_queries = len(few)  # read now: the next request resets the connection's query log
    add_history(subscriber, sale, 80, start=2)

    with django_assert_max_num_queries(few_queries):
        response = admin_client.get(change_url(subscriber))

    inlines = {inline.formset.model: inline for inline in response.context["inline_admin_formsets"]}
    assert len(inlines[ConsentRecord].formset.forms) == 50
    assert len(inlines[Engagement].formset.forms) == 20


def test_subscriber_page_still_saves_with_the_history_inlines(admin_client, world):
    subscriber, sale = world["subscriber"], world["sale"]
    add_history(subscriber, sale, 3)
    data = form_data(admin_client.get(change_url(subscriber)))
    data["first_name"] = "Johnny"

    response = admin_client.post(change_url(subscriber), data)

    assert response.status_code == 302, response.context["errors"] if response.context else response
    subscriber.refresh_from_db()
    assert subscriber.first_name == "Johnny"
    assert ConsentRecord.objects.filter(subscriber=subscriber).count() == 3
    assert Engagement.objects.filter(subscriber=subscriber).count() == 3


def results(response) -> list[Engagement]:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("JOHN.DOE@example.com", {("john.doe@example.com", "SUMMER-SALE-2024"), ("john.doe@example.com", "C1")}),
        ("jane", {("jane@example.com", "SUMMER-SALE-2024"), ("jane@example.com", "C1")}),
        ("C1", {("john.doe@example.com", "C1"), ("jane@example.com", "C1")}),
        ("nobody@example.com", set()),
    ],
)
def test_engagement_changelist_search(admin_client, world, term, expected):
    add_history(world["subscriber"], world["sale"], 2)
    add_history(world["other"], world["sale"], 2)

    response = admin_client.get(reverse(ENGAGEMENTS), {"q": term})

    assert {(e.subscriber.email, e.campaign_code) for e in results(response)} == expected


def test_engagement_changelist_by_subscriber_id(admin_client, world):
    add_history(world["subscriber"], world["sale"], 2)
    add_history(world["other"], world["sale"], 1)

    response = admin_client.get(reverse(ENGAGEMENTS), {"q": world["other"].public_id})

    assert [e.subscriber for e in results(response)] == [world["other"]]


def test_engagement_changelist_queries_stay_bounded(admin_client, world, django_assert_max_num_queries):
    add_history(world["subscriber"], world["sale"], 2)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(reverse(ENGAGEMENTS))
    few_queries = len(few)
    add_history(world["other"], world["sale"], 30)

    with django_assert_max_num_queries(few_queries):
        response = admin_client.get(reverse(ENGAGEMENTS))

    assert len(results(response)) == 32


def test_engagement_is_read_only_in_the_admin(admin_client, world):
    add_history(world["subscriber"], world["sale"], 1)
    engagement = Engagement.objects.get()
    url = reverse("admin:subscribers_engagement_change", args=[engagement.pk])

    page = admin_client.get(url)
    post = admin_client.post(url, {"campaign_code": "HACKED"})

    assert page.status_code == 200
    assert "SUMMER-SALE-2024" in page.content.decode()
    assert post.status_code == 403
    assert admin_client.get(reverse("admin:subscribers_engagement_add")).status_code == 403
    assert admin_client.post(reverse("admin:subscribers_engagement_delete", args=[engagement.pk])).status_code == 403
    engagement.refresh_from_db()
    assert engagement.campaign_code == "SUMMER-SALE-2024"
