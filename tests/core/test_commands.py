import stat
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from audiences.models import Audience, AudienceMembership, ListMembership, MarketingList
from core.models import ALL_SCOPES, ApiKey
from core.services import api_key_authenticate
from subscribers.models import CustomField, Subscriber, SubscriptionPreference, SubscriptionType, Tag
from subscribers.services import tag_create


def run(*args, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def last_line(output: str) -> str:
    return output.strip().splitlines()[-1]


# create_api_key


@pytest.mark.django_db
def test_create_api_key_prints_a_working_key_last_with_all_scopes_by_default():
    raw = last_line(run("create_api_key", "crm-sync"))

    key = api_key_authenticate(raw)
    assert key is not None
    assert key.name == "crm-sync"
    assert key.scopes == list(ALL_SCOPES)


@pytest.mark.django_db
def test_create_api_key_stores_the_scopes_asked_for():
    raw = last_line(run("create_api_key", "reporting", "--scope", "subscribers:read", "--scope", "lists:write"))

    key = api_key_authenticate(raw)
    assert key.scopes == ["subscribers:read", "lists:write"]
    assert key.has_scope("lists:read")
    assert not key.has_scope("subscribers:write")


@pytest.mark.django_db
def test_create_api_key_grants_links_read_alone_and_by_default():
    raw = last_line(run("create_api_key", "mailer", "--scope", "links:read"))
    key = api_key_authenticate(raw)
    assert key.scopes == ["links:read"]
    assert key.has_scope("links:read") and not key.has_scope("subscribers:read")

    everything = api_key_authenticate(last_line(run("create_api_key", "crm-sync")))
    assert everything.has_scope("links:read")
    with pytest.raises(CommandError, match="Unknown scope 'links:write'"):
        run("create_api_key", "bad", "--scope", "links:write")


@pytest.mark.django_db
def test_create_api_key_rejects_an_unknown_scope_and_creates_nothing():
    with pytest.raises(CommandError, match="Unknown scope 'subscribers:admin'; expected one of audiences:read"):
        run("create_api_key", "bad", "--scope", "subscribers:read", "--scope", "subscribers:admin")

    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_create_api_key_needs_a_name():
    with pytest.raises(CommandError, match="name"):
        run("create_api_key", "  ")


# load_demo


def demo_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            Subscriber,
            SubscriptionType,
            SubscriptionPreference,
            CustomField,
            Tag,
            Audience,
            MarketingList,
            ListMembership,
            AudienceMembership,
        )
    }


@pytest.mark.django_db
def test_load_demo_creates_a_full_data_set_and_a_second_run_adds_nothing():
    run("load_demo")
    first = demo_counts()

    assert first["Subscriber"] == 300
    assert set(SubscriptionType.objects.values_list("name", flat=True)) >= {
        "Promotional Emails",
        "Monthly Newsletter",
        "Product Updates",
    }
    assert all(SubscriptionType.objects.values_list("description", flat=True))
    fields = dict(CustomField.objects.values_list("name", "field_type"))
    assert fields == {
        "customer_type": "dropdown",
        "lifetime_value": "number",
        "date_of_birth": "date",
        "preferred_language": "string",
        "vip": "boolean",
    }
    assert {"High-Value Customers", "Newsletter Readers"} <= set(Audience.objects.values_list("name", flat=True))
    assert MarketingList.objects.filter(mode=MarketingList.Mode.DYNAMIC).exists()
    assert MarketingList.objects.filter(mode=MarketingList.Mode.STATIC, memberships__isnull=False).exists()
    assert first["Tag"] >= 3
    assert first["SubscriptionPreference"] > 0
    assert first["AudienceMembership"] > 0
    assert SubscriptionPreference.objects.filter(subscribed=True).exists()
    assert SubscriptionPreference.objects.filter(subscribed=False).exists()
    assert Subscriber.objects.filter(active=False).exclude(inactive_reason="").exists()
    assert not Subscriber.objects.exclude(email__endswith="@example.com").exclude(email__endswith="@example.org")
    high_value = Subscriber.objects.filter(audience_memberships__audience__name="High-Value Customers")
    assert all(s.additional_fields_data["lifetime_value"] >= 2500 for s in high_value)

    run("load_demo")

    assert demo_counts() == first


@pytest.mark.django_db
def test_load_demo_is_deterministic_and_completes_a_partial_run():
    run("load_demo", "--subscribers", "10")
    first_ten = set(Subscriber.objects.values_list("email", flat=True))

    run("load_demo", "--subscribers", "25")

    assert Subscriber.objects.count() == 25
    assert first_ten <= set(Subscriber.objects.values_list("email", flat=True))


@pytest.mark.django_db
def test_load_demo_reuses_things_that_already_exist_under_another_case():
    vip = tag_create(name="vip")

    run("load_demo", "--subscribers", "0")

    assert list(Tag.objects.filter(name__iexact="vip")) == [vip]


# bootstrap


@pytest.fixture
def local_run(settings, tmp_path, monkeypatch):
    settings.DEBUG = True
    settings.DATA_DIR = tmp_path
    monkeypatch.delenv("ROSTER_ADMIN_PASSWORD", raising=False)
    return tmp_path


@pytest.mark.django_db
def test_bootstrap_creates_admin_and_demo_key_once_and_reuses_them(local_run):
    first = run("bootstrap", "--skip-demo")
    second = run("bootstrap", "--skip-demo")

    raw = (local_run / "demo_api_key.txt").read_text().strip()
    password = (local_run / "admin_password.txt").read_text().strip()
    assert api_key_authenticate(raw).name == "demo"
    assert ApiKey.objects.filter(name="demo").count() == 1
    assert get_user_model().objects.get(username="admin").check_password(password)
    for output in (first, second):
        assert raw in output
        assert password in output
        assert "/admin/" in output
    for secret_file in ("demo_api_key.txt", "admin_password.txt"):
        assert stat.S_IMODE((local_run / secret_file).stat().st_mode) == 0o600


@pytest.mark.django_db
def test_bootstrap_takes_the_admin_password_from_the_environment(local_run, monkeypatch):
    monkeypatch.setenv("ROSTER_ADMIN_PASSWORD", "correct-horse-battery")

    run("bootstrap", "--skip-demo")

    assert get_user_model().objects.get(username="admin").check_password("correct-horse-battery")
    assert not (local_run / "admin_password.txt").exists()


@pytest.mark.django_db
def test_bootstrap_replaces_a_stored_key_that_no_longer_works(local_run):
    (local_run / "demo_api_key.txt").write_text("roster_dead.beef\n")

    output = run("bootstrap", "--skip-demo")

    raw = (local_run / "demo_api_key.txt").read_text().strip()
    assert raw != "roster_dead.beef"
    assert api_key_authenticate(raw) is not None
    assert raw in output


@pytest.mark.django_db
def test_bootstrap_refuses_to_run_with_debug_off(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="DEBUG"):
        run("bootstrap", "--skip-demo")

    assert not ApiKey.objects.exists()


def test_the_suite_runs_with_debug_off_whatever_a_local_env_file_says():
    # `make run` writes DEBUG=true into .env; pytest-env's DEBUG=false must win over it.
    from django.conf import settings

    assert settings.DEBUG is False
