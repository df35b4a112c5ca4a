"""core/0002: keys that had every scope before `links:read` existed get it; keys with chosen scopes do not."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from core.models import ALL_SCOPES, ApiKey
from core.services import api_key_authenticate, api_key_create
from tests.conftest import RosterClient
from tests.factories import SubscriberFactory

BEFORE = ("core", "0001_initial")
AFTER = ("core", "0002_links_read_scope")
PREVIOUS_ALL_SCOPES = [scope for scope in ALL_SCOPES if scope != "links:read"]


def migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_keys_with_every_previous_scope_get_links_read_and_restricted_ones_do_not():
    migrate(BEFORE)
    full, full_raw = api_key_create(name="created without --scope", scopes=PREVIOUS_ALL_SCOPES)
    # Every old scope in another order: still "every scope".
    shuffled, _ = api_key_create(name="shuffled", scopes=list(reversed(PREVIOUS_ALL_SCOPES)))
    restricted, restricted_raw = api_key_create(name="reporting", scopes=["subscribers:read", "lists:write"])
    writes, _ = api_key_create(name="every write", scopes=[s for s in PREVIOUS_ALL_SCOPES if s.endswith(":write")])

    migrate(AFTER)

    scopes = dict(ApiKey.objects.values_list("name", "scopes"))
    assert scopes["created without --scope"] == [*PREVIOUS_ALL_SCOPES, "links:read"]
    assert scopes["shuffled"] == [*reversed(PREVIOUS_ALL_SCOPES), "links:read"]
    assert scopes["reporting"] == ["subscribers:read", "lists:write"]
    # Every write implies every read, but links:read is not one of them: this key was restricted.
    assert "links:read" not in scopes["every write"]

    path = f"/api/subscribers/{SubscriberFactory().public_id}/links"
    assert RosterClient(full_raw).get(path).status_code == 200
    assert RosterClient(restricted_raw).get(path).status_code == 403
    assert api_key_authenticate(full_raw).has_scope("links:read")

    migrate(BEFORE)  # and back: the scope is gone again
    assert "links:read" not in ApiKey.objects.get(pk=full.pk).scopes
    migrate(AFTER)
    assert ApiKey.objects.get(pk=shuffled.pk).scopes[-1] == "links:read"
    assert ApiKey.objects.get(pk=writes.pk).scopes == [s for s in PREVIOUS_ALL_SCOPES if s.endswith(":write")]
