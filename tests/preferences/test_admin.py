"""Admin for marketing emails (saved through the services) and the brand settings singleton."""

import datetime as dt

import pytest
from django.urls import reverse

from preferences.models import BrandSettings, MarketingEmail
from preferences.services import marketing_email_create
from tests.factories import SubscriptionTypeFactory

EMAILS = "admin:preferences_marketingemail_changelist"
EMAIL_ADD = "admin:preferences_marketingemail_add"
BRAND = "admin:preferences_brandsettings_changelist"


def email_change(email: MarketingEmail) -> str:
    return reverse("admin:preferences_marketingemail_change", args=[email.pk])


def brand_change(pk: int = 1) -> str:
    return reverse("admin:preferences_brandsettings_change", args=[pk])


def emails_stored() -> list[dict]:
    return list(MarketingEmail.objects.order_by("pk").values())


def brand_stored() -> list[dict]:
    return list(BrandSettings.objects.order_by("pk").values())


def names(response) -> list[str]:
    assert response.status_code == 200
    return sorted(email.name for email in response.context["cl"].result_list)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # admin_client's superuser is hashed once per test; the production hasher costs a second each time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(db):
    promotional = SubscriptionTypeFactory(name="Promotional Emails")
    newsletter = SubscriptionTypeFactory(name="Monthly Newsletter")
    return {
        "promotional": promotional,
        "newsletter": newsletter,
        "sale": marketing_email_create(
            name="Summer Sale", subject="50% off", campaign_code="SUMMER-SALE-2024", subscription_type=promotional
        ),
        "digest": marketing_email_create(name="June digest", campaign_code="DIGEST-06", subscription_type=newsletter),
        "welcome": marketing_email_create(name="Welcome", subject="Hello there"),
    }


def email_form(**fields) -> dict:
    data = {"name": "Autumn Sale", "subject": "", "campaign_code": "", "subscription_type": "", "html_content": ""}
    return {**data, **fields}


# --- Marketing emails ------------------------------------------------------------------------------------------------


def test_changelist_shows_the_columns(admin_client, world):
    response = admin_client.get(reverse(EMAILS))

    assert names(response) == ["June digest", "Summer Sale", "Welcome"]
    content = response.content.decode()
    for text in ("SUMMER-SALE-2024", "Promotional Emails", world["sale"].public_id, "50% off"):
        assert text in content


@pytest.mark.parametrize(
    ("term", "expected"),
    [("sale", ["Summer Sale"]), ("DIGEST-06", ["June digest"]), ("hello", ["Welcome"]), ("nothing", [])],
)
def test_search(admin_client, world, term, expected):
    assert names(admin_client.get(reverse(EMAILS), {"q": term})) == expected


def test_search_by_public_id(admin_client, world):
    assert names(admin_client.get(reverse(EMAILS), {"q": world["digest"].public_id})) == ["June digest"]


def test_filter_by_subscription_type(admin_client, world):
    response = admin_client.get(reverse(EMAILS), {"subscription_type__id__exact": world["newsletter"].pk})

    assert names(response) == ["June digest"]


def test_changelist_queries_stay_bounded(admin_client, world, django_assert_max_num_queries):
    with django_assert_max_num_queries(12) as captured:
        admin_client.get(reverse(EMAILS))
    for i in range(10):
        marketing_email_create(name=f"Extra {i}", subscription_type=SubscriptionTypeFactory())
    with django_assert_max_num_queries(len(captured)):
        admin_client.get(reverse(EMAILS))


def test_add_a_marketing_email(admin_client, world):
    html = "<p>Hi {{ first_name }}</p>"

    response = admin_client.post(
        reverse(EMAIL_ADD),
        email_form(
            name="  Autumn Sale ",
            campaign_code="AUTUMN",
            subscription_type=world["promotional"].pk,
            html_content=html,
            sent_at_0="2024-09-01",
            sent_at_1="10:00:00",
        ),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    email = MarketingEmail.objects.get(campaign_code="AUTUMN")
    assert email.public_id.startswith("memail_")
    assert (email.name, email.subscription_type, email.html_content, email.version) == (
        "Autumn Sale", world["promotional"], html, 1,
    )  # fmt: skip
    assert email.sent_at == dt.datetime(2024, 9, 1, 10, tzinfo=dt.UTC)


def test_a_blank_name_is_refused_and_stores_nothing(admin_client, world):
    before = emails_stored()

    response = admin_client.post(reverse(EMAIL_ADD), email_form(name="   "))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"]
    assert emails_stored() == before


def test_edit_goes_through_the_service_with_a_version_bump(admin_client, world):
    sale = world["sale"]

    response = admin_client.post(
        email_change(sale),
        email_form(
            name="Summer Sale",
            subject="60% off",
            campaign_code="SUMMER-SALE-2024",
            subscription_type=world["newsletter"].pk,
            expected_version=1,
        ),
    )

    assert response.status_code == 302
    sale.refresh_from_db()
    assert (sale.subject, sale.subscription_type, sale.version) == ("60% off", world["newsletter"], 2)
    assert sale.updated_at is not None


def test_saving_an_unchanged_page_changes_nothing(admin_client, world):
    sale = world["sale"]
    before = emails_stored()

    response = admin_client.post(
        email_change(sale),
        email_form(
            name="Summer Sale",
            subject="50% off",
            campaign_code="SUMMER-SALE-2024",
            subscription_type=world["promotional"].pk,
            expected_version=1,
        ),
    )

    assert response.status_code == 302
    assert emails_stored() == before


def test_a_save_over_someone_elses_change_is_refused(admin_client, world):
    sale = world["sale"]
    admin_client.post(email_change(sale), email_form(name="Summer Sale", subject="Theirs", expected_version=1))
    before = emails_stored()

    response = admin_client.post(email_change(sale), email_form(name="Summer Sale", subject="Mine", expected_version=1))

    assert response.status_code == 200
    assert "reload" in str(response.context["adminform"].form.non_field_errors())
    assert emails_stored() == before


def test_delete_a_marketing_email(admin_client, world):
    sale = world["sale"]

    response = admin_client.post(reverse("admin:preferences_marketingemail_delete", args=[sale.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not MarketingEmail.objects.filter(pk=sale.pk).exists()
    assert MarketingEmail.objects.count() == 2


# --- Brand settings --------------------------------------------------------------------------------------------------


def brand_form(**fields) -> dict:
    data = {
        "name": "Acme Corporation",
        "brand_logo_url": "https://cdn.example.com/logo.png",
        "brand_primary_color": "#ff5733",
        "support_email": "help@acme.example",
    }
    return {**data, **fields}


def test_the_list_opens_the_one_row(admin_client, db):
    response = admin_client.get(reverse(BRAND))

    assert response.status_code == 302
    assert response["Location"] == brand_change()
    assert admin_client.get(response["Location"]).status_code == 200
    assert BrandSettings.objects.count() == 1


def test_edit_the_brand(admin_client, db):
    BrandSettings.current()
    BrandSettings.objects.update(updated_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC))

    response = admin_client.post(brand_change(), brand_form(tenant_id="tenant_hacked"))

    assert response.status_code == 302
    brand = BrandSettings.current()
    assert (brand.name, brand.brand_logo_url, brand.brand_primary_color, brand.support_email) == (
        "Acme Corporation", "https://cdn.example.com/logo.png", "#FF5733", "help@acme.example",
    )  # fmt: skip
    assert brand.tenant_id == "tenant_default"  # read-only
    assert brand.updated_at > dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("fields", "error_on"),
    [
        ({"brand_primary_color": "red"}, "brand_primary_color"),
        ({"brand_primary_color": "#FFF"}, "brand_primary_color"),
        ({"brand_primary_color": "#GGGGGG"}, "brand_primary_color"),
        ({"brand_primary_color": "#FF5733;x"}, "brand_primary_color"),
        ({"brand_primary_color": ""}, "brand_primary_color"),
        ({"brand_logo_url": "javascript:alert(1)"}, "brand_logo_url"),
        ({"brand_logo_url": "ftp://cdn.example.com/logo.png"}, "brand_logo_url"),
        ({"brand_logo_url": "not a url"}, "brand_logo_url"),
    ],
)
def test_a_bad_colour_or_logo_url_is_refused_and_changes_nothing(admin_client, db, fields, error_on):
    BrandSettings.current()
    before = brand_stored()

    response = admin_client.post(brand_change(), brand_form(**fields))

    assert response.status_code == 200
    assert response.context["adminform"].form.errors[error_on]
    assert brand_stored() == before


def test_no_second_row_and_no_delete(admin_client, db):
    BrandSettings.current()
    before = brand_stored()

    add = admin_client.post(reverse("admin:preferences_brandsettings_add"), brand_form())
    delete = admin_client.post(reverse("admin:preferences_brandsettings_delete", args=[1]), {"post": "yes"})

    assert (add.status_code, delete.status_code) == (403, 403)
    assert brand_stored() == before


def test_adding_while_there_is_none_makes_the_row_current_reads(admin_client, db):
    response = admin_client.post(reverse("admin:preferences_brandsettings_add"), brand_form(name="Acme"))

    assert response.status_code == 302
    assert BrandSettings.objects.count() == 1
    assert BrandSettings.current().name == "Acme"
