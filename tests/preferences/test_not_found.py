"""No visitor sees Django's technical pages, even with DEBUG=true (as `make run` runs): `/` goes to the admin, an
unknown path answers the branded 404 page, an unknown /api/ path the JSON envelope."""

import pytest

from tests.api_assertions import assert_error

pytestmark = pytest.mark.django_db

TECHNICAL = ("URLconf", "Using the URLconf", "Django tried these URL patterns", "DEBUG = True", "Traceback")


@pytest.fixture(autouse=True)
def debug(settings):
    settings.DEBUG = True


def assert_branded_not_found(response) -> None:
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    for text in TECHNICAL:
        assert text not in page
    assert "Page not found" in page
    assert 'class="brand-bar"' in page  # the public pages' look
    assert "no-store" in response["Cache-Control"]


def test_the_root_redirects_to_the_admin(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/admin/"


@pytest.mark.parametrize(
    "path", ["/nonexistent", "/nonexistent/", "/preferences/", "/unsubscribe", "/webhooks/", "/static/nothing.css"]
)
def test_an_unknown_path_answers_the_branded_404(client, path):
    assert_branded_not_found(client.get(path))


def test_a_post_to_an_unknown_path_answers_the_branded_404(client):
    assert_branded_not_found(client.post("/nonexistent", {"a": "b"}))


def test_a_path_missing_its_slash_still_redirects(client):
    response = client.get("/admin")

    assert response.status_code == 301
    assert response["Location"] == "/admin/"


def test_an_unknown_api_path_still_answers_the_envelope(client):
    assert_error(client.get("/api/unknown"), 404, "NOT_FOUND")


def test_an_http404_raised_by_a_view_answers_the_branded_404(admin_client):
    """The admin's "view on site" shortcut raises Http404 for an unknown content type."""
    assert_branded_not_found(admin_client.get("/admin/r/999999/1/"))
