import pytest
from rest_framework.test import APIClient

from core.models import ALL_SCOPES
from core.services import api_key_create

pytest_plugins = ["tests.browser.chromium"]


class RosterClient(APIClient):
    """An API client that sends JSON and carries an X-API-Key."""

    def __init__(self, raw_key: str | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        if raw_key:
            self.credentials(HTTP_X_API_KEY=raw_key)

    def post(self, path, data=None, format="json", **kwargs):  # noqa: A002 - DRF's name
        return super().post(path, data, format=format, **kwargs)

    def put(self, path, data=None, format="json", **kwargs):  # noqa: A002
        return super().put(path, data, format=format, **kwargs)


@pytest.fixture(autouse=True)
def plain_static_files(settings):
    # Tests run with DEBUG off, whose manifest storage needs collectstatic; pages only need static URLs.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def make_client(db):
    def make(*scopes: str) -> RosterClient:
        _, raw = api_key_create(name="test", scopes=list(scopes) if scopes else list(ALL_SCOPES))
        return RosterClient(raw)

    return make


@pytest.fixture
def api(make_client) -> RosterClient:
    """A client whose key has every scope."""
    return make_client()


@pytest.fixture
def anonymous(db) -> RosterClient:
    return RosterClient()
