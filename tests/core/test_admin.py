import re

from django.urls import reverse

from core.models import ALL_SCOPES, ApiKey
from core.services import api_key_authenticate, api_key_create, api_key_digest

RAW_KEY = re.compile(r"roster_[0-9a-f]+\.[\w-]+")


def test_changelist_lists_keys_without_secrets(admin_client):
    key, raw_key = api_key_create(name="Campaign tool", scopes=["lists:read", "subscribers:write"])

    response = admin_client.get(reverse("admin:core_apikey_changelist"))

    assert response.status_code == 200
    body = response.content.decode()
    assert "Campaign tool" in body
    assert key.prefix in body
    assert "lists:read, subscribers:write" in body
    assert raw_key not in body
    assert key.key_hash not in body


def test_search_by_name(admin_client):
    api_key_create(name="Campaign tool", scopes=["lists:read"])
    api_key_create(name="Webhook relay", scopes=["lists:read"])

    response = admin_client.get(reverse("admin:core_apikey_changelist"), {"q": "webhook"})

    assert response.status_code == 200
    assert "Webhook relay" in response.content.decode()
    assert "Campaign tool" not in response.content.decode()


def test_add_page_offers_every_scope_as_a_checkbox(admin_client):
    response = admin_client.get(reverse("admin:core_apikey_add"))

    assert response.status_code == 200
    body = response.content.decode()
    for scope in ALL_SCOPES:
        assert f'type="checkbox" name="scopes" value="{scope}"' in body
    assert 'name="revoked"' not in body


def test_creating_a_key_shows_it_once_and_it_authenticates(admin_client):
    response = admin_client.post(
        reverse("admin:core_apikey_add"), {"name": "Campaign tool", "scopes": ["lists:read", "subscribers:write"]}
    )

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw_keys = set(RAW_KEY.findall(response.content.decode()))
    assert len(raw_keys) == 1
    raw_key = raw_keys.pop()
    key = ApiKey.objects.get()
    assert key.name == "Campaign tool"
    assert key.scopes == ["lists:read", "subscribers:write"]
    assert key.key_hash == api_key_digest(raw_key)
    assert raw_key not in (key.name, key.prefix, key.key_hash)
    assert api_key_authenticate(raw_key) == key

    for url in (reverse("admin:core_apikey_change", args=[key.pk]), reverse("admin:core_apikey_changelist")):
        page = admin_client.get(url)
        assert page.status_code == 200
        assert raw_key not in page.content.decode()


def test_a_key_with_links_read_is_created_and_edited_in_the_admin(admin_client):
    response = admin_client.post(reverse("admin:core_apikey_add"), {"name": "Mailer", "scopes": ["links:read"]})
    assert response.status_code == 200
    key = ApiKey.objects.get()
    assert key.scopes == ["links:read"]
    assert 'value="links:read"' in admin_client.get(reverse("admin:core_apikey_add")).content.decode()

    url = reverse("admin:core_apikey_change", args=[key.pk])
    response = admin_client.post(url, {"name": "Mailer", "scopes": ["links:read", "subscribers:read"]})
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.scopes == ["links:read", "subscribers:read"]


def test_creating_a_key_needs_a_scope(admin_client):
    response = admin_client.post(reverse("admin:core_apikey_add"), {"name": "No scopes"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["scopes"]
    assert not ApiKey.objects.exists()


def test_change_page_edits_name_scopes_and_revoked_only(admin_client):
    key, raw_key = api_key_create(name="Old", scopes=["lists:read"])
    url = reverse("admin:core_apikey_change", args=[key.pk])

    page = admin_client.get(url)
    assert page.status_code == 200
    assert set(page.context["adminform"].form.fields) == {"name", "scopes", "revoked"}

    response = admin_client.post(url, {"name": "New", "scopes": ["audiences:write"], "prefix": "hijack"})

    assert response.status_code == 302
    key.refresh_from_db()
    assert (key.name, key.scopes, key.revoked) == ("New", ["audiences:write"], False)
    assert key.prefix != "hijack"
    assert api_key_authenticate(raw_key) == key


def test_revoking_on_the_change_page_is_final(admin_client):
    key, raw_key = api_key_create(name="Leaked", scopes=["lists:read"])
    url = reverse("admin:core_apikey_change", args=[key.pk])

    response = admin_client.post(url, {"name": "Leaked", "scopes": ["lists:read"], "revoked": "on"})

    assert response.status_code == 302
    assert api_key_authenticate(raw_key) is None
    assert "revoked" not in admin_client.get(url).context["adminform"].form.fields
    admin_client.post(url, {"name": "Leaked", "scopes": ["lists:read"]})
    key.refresh_from_db()
    assert key.revoked


def test_revoke_action(admin_client):
    first, first_raw = api_key_create(name="First", scopes=["lists:read"])
    second, second_raw = api_key_create(name="Second", scopes=["lists:read"])
    kept, kept_raw = api_key_create(name="Kept", scopes=["lists:read"])

    response = admin_client.post(
        reverse("admin:core_apikey_changelist"),
        {"action": "revoke_keys", "_selected_action": [first.pk, second.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "Revoked 2 API key(s)." in response.content.decode()
    assert api_key_authenticate(first_raw) is None
    assert api_key_authenticate(second_raw) is None
    assert api_key_authenticate(kept_raw) == kept
