"""Headless Chromium for the browser tests: Debian's `chromium`, driven by Playwright (never `playwright install`).
Registered as a plugin in tests/conftest.py, so that any test can take the `browser` fixture."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from playwright.sync_api import sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"


@pytest.fixture
def browser(monkeypatch) -> Iterator[object]:
    """Chromium for one test. Started after the test database is set up and stopped before it is flushed: while
    Playwright's sync API runs its event loop in this thread, Django hands this thread other connections (its
    thread-critical locals follow the event loop's context), which the flush must not see."""
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is missing at {CHROMIUM}: run scripts/ensure_services.sh (make test does)")
    # The ORM refuses to run in a thread with a running event loop unless told it is safe: the loop is Playwright's.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
            connections.close_all()  # the connections opened while the loop ran
