"""Every API operation keeps the contract its OpenAPI schema documents (schemathesis, in-process through WSGI).

For each operation of `/api/schema/` (one test each, so that pytest-xdist spreads them), schemathesis sends the
requests its phases make from the schema: the documented examples, the coverage phase's boundary and invalid values,
and a bounded, derandomized fuzzing run of valid and invalid requests. No answer may be a server error, and each must
have a documented status and content type, with a body matching the schema documented for them (error envelopes
included). The requests carry a key with every scope, and path ids name real records seeded through the API (half of
the fuzzed cases, and the coverage cases not about the path itself), so success bodies are checked too, not only 404s.

Run alone: `pytest tests/core/test_openapi_contract.py` (`-n 2` spreads the operations over two processes; `-k
"tags and GET"` picks operations).
"""

from typing import Any

import pytest
import schemathesis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import TestPhase
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.specs.openapi.schemas import OpenApiSchema

from config.wsgi import application
from core.models import ALL_SCOPES
from core.services import api_key_create
from tests.conftest import RosterClient

FUZZED_CASES_PER_OPERATION = 12
MAX_LINE_CHARS = 1000
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]

schema: OpenApiSchema = schemathesis.openapi.from_wsgi("/api/schema/", application)
# The key goes in by hand: generated X-API-Key values would only test the 401 path, everywhere.
schema.config.generation.update(
    with_security_parameters=False, max_examples=FUZZED_CASES_PER_OPERATION, deterministic=True
)

# Real ids for path parameters, filled for each test by the `seeded` fixture, read when a case is drawn.
SEEDED: dict[str, str] = {}


def _seeded_value(path: str, name: str, generated: Any) -> Any:
    if name == "token" and "/email/" in path:
        name = "email_token"
    return SEEDED.get(name, generated)


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Half of the fuzzed cases name seeded records instead of generated ids."""
    if not path_parameters:
        return st.just(path_parameters)
    path = context.operation.path

    def real(_: bool) -> dict[str, Any]:
        return {name: _seeded_value(path, name, value) for name, value in path_parameters.items()}

    return st.one_of(st.just(path_parameters), st.booleans().map(real))


def _name_seeded_records(case: Any) -> None:
    """Coverage cases are made when the tests are collected, before any record exists. Unless a case is about a path
    parameter, let it name the seeded records, so that the operation checks its body instead of answering 404."""
    meta = case.meta
    if not case.path_parameters or meta is None or meta.phase.name != TestPhase.COVERAGE:
        return
    if meta.phase.data.parameter_location == ParameterLocation.PATH:
        return
    case.path_parameters = {
        name: _seeded_value(case.operation.path, name, value) for name, value in case.path_parameters.items()
    }


@pytest.fixture
def seeded(db, settings, tmp_path) -> Any:
    """A key with every scope, and one record of each kind, made through the API."""
    settings.MEDIA_ROOT = tmp_path / "media"
    _, raw_key = api_key_create(name="contract", scopes=list(ALL_SCOPES))
    api = RosterClient(raw_key)

    def create(path: str, body: dict, **kwargs: Any) -> dict:
        response = api.post(path, body, **kwargs)
        assert response.status_code == 200, (path, response.content)
        return response.json()

    stype = create("/api/subscription-types", {"name": "Newsletter", "description": "Weekly news"})["id"]
    tag = create("/api/tags", {"name": "vip"})["id"]
    field = create("/api/custom-fields", {"name": "lifetime_value", "type": "number"})["id"]
    audience = create(
        "/api/audiences",
        {"name": "Big spenders", "rules": {"match": "all", "conditions": [
            {"field": "additional_fields_data.lifetime_value", "operation": "gte", "value": 100}]}},
    )["id"]  # fmt: skip
    marketing_list = create("/api/lists", {"name": "Customers", "mode": "static", "audience_id": "aud_default"})["id"]
    subscriber = create(
        "/api/subscribers",
        {
            "email": "ada@example.com",
            "first_name": "Ada",
            "lists": [marketing_list],
            "tags": [tag],
            "additional_fields_data": {"lifetime_value": 250},
            "subscription_updates": [{"subscription_type_id": stype, "subscribe": True}],
        },
    )["id"]
    email = create("/api/marketing-emails", {"name": "Summer sale", "html_content": "<p>Hi {{ first_name }}</p>"})
    group = create(
        "/api/audiences/loyalty-tiers",
        {"name": "Loyalty", "value_field": "additional_fields_data.lifetime_value",
         "tiers": [{"name": "Silver", "min": 0}, {"name": "Gold", "min": 1000}]},
    )["id"]  # fmt: skip
    csv_file = SimpleUploadedFile("people.csv", b"email\nada@example.com\n", content_type="text/csv")
    upload = create("/api/uploads", {"file": csv_file}, format="multipart")
    import_body = {"file_url": upload["file_url"], "import_type": "create_update"}
    job = create(f"/api/lists/{marketing_list}/import", import_body)
    links = api.get(f"/api/subscribers/{subscriber}/links", {"marketing_email_id": email["id"]}).json()
    SEEDED.update(
        subscriber_id=subscriber,
        audience_id=audience,
        list_id=marketing_list,
        owner_id=marketing_list,
        type_id=stype,
        field_id=field,
        tag_id=tag,
        email_id=email["id"],
        group_id=group,
        job_id=job["id"],
        upload_id=upload["id"],
        token=links["preference_token"],
        email_token=links["view_in_browser_url"].rstrip("/").split("/")[-1],
    )
    # Django's WSGI handler closes the database connection around each request, which would end the test's
    # transaction; the test client (used above) keeps it open the same way, reconnecting the handler after each call.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield raw_key
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)
    SEEDED.clear()


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_operation_keeps_its_documented_contract(case, seeded):
    _name_seeded_records(case)
    try:
        case.call_and_validate(headers={"X-API-Key": seeded}, checks=CHECKS)
    except FailureGroup as failures:
        # A generated body can be megabytes long: cut long lines (the curl command that reproduces the case).
        report = "\n".join(
            line if len(line) <= MAX_LINE_CHARS else line[:MAX_LINE_CHARS] + " [...]"
            for line in str(failures).splitlines()
        )
        raise AssertionError(f"{case.operation.label} breaks its documented contract: {report}") from None
