"""The interactive API documentation at /api/docs/ works without internet access: Swagger UI's files come from
Roster itself (drf-spectacular-sidecar, served by whitenoise), never from a CDN."""

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client
from playwright.sync_api import expect

from tests.browser.chromium import ARTIFACTS

SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css")


def docs_page() -> str:
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    return response.content.decode()


def referenced_urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)\s*=\s*"([^"]+)"', html)


def test_docs_page_loads_nothing_from_another_host(db):
    html = docs_page()

    assert not re.search(r"cdn|jsdelivr|unpkg", html, re.IGNORECASE), html
    for url in referenced_urls(html):
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"/api/docs/ loads {url} from another host"


def test_docs_page_assets_are_served_by_roster(db, settings):
    # The suite runs without collectstatic: whitenoise then serves what the static files finders find, as it does
    # from STATIC_ROOT in production (where collectstatic copies the sidecar's files).
    settings.WHITENOISE_USE_FINDERS = True
    urls = referenced_urls(docs_page())

    for name in SWAGGER_UI_FILES:
        [url] = [url for url in urls if url.endswith("/" + name)]
        response = Client().get(url)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 1000, url


@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # as live_server needs; keeps later tests' data
def test_docs_render_the_operations_without_network(live_server, browser):
    """In Chromium with every request to another host refused, the docs page shows Roster's operations."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    outside: list[str] = []

    def only_roster(route) -> None:  # noqa: ANN001 - Playwright's Route
        if route.request.url.startswith(live_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_roster)
    page = context.new_page()
    console_errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and console_errors.append(message.text))

    page.goto(live_server.url + "/api/docs/")
    expect(page.locator(".opblock-summary-path", has_text="/api/subscribers/search").first).to_be_visible()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "api-docs.png"))
    context.close()

    assert outside == []
    assert console_errors == []
