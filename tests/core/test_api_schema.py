"""The OpenAPI schema at /api/schema/ describes what each operation does and answers: its own summary and description
(never a base class's docstring), the paged envelopes, nullable timestamps, and the seed's example for the search body.
tests/core/test_openapi_contract.py checks the answers themselves against it."""

import inspect
import json

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def schema() -> dict:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


def operations(schema: dict) -> list[tuple[str, str, dict]]:
    return [(method.upper(), path, op) for path, item in schema["paths"].items() for method, op in item.items()
            if method in METHODS]  # fmt: skip


def api_view_classes(patterns: list | None = None) -> set[type]:
    found: set[type] = set()
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            found |= api_view_classes(pattern.url_patterns)
        elif isinstance(pattern, URLPattern) and hasattr(pattern.callback, "cls"):
            found.add(pattern.callback.cls)
    return found


def base_class_docstrings() -> set[str]:
    """The docstrings of every class an API view inherits from (ApiView, PagedListView, ...): they describe the base,
    not an operation."""
    return {
        inspect.cleandoc(base.__doc__)
        for view in api_view_classes()
        for base in view.__mro__[1:]
        if base.__doc__ and base is not object
    }


def test_every_operation_says_what_it_does(schema):
    base_docs = base_class_docstrings()
    assert any(doc.startswith("Base of every API endpoint") for doc in base_docs)  # the check sees ApiView

    for method, path, op in operations(schema):
        assert op.get("description"), f"{method} {path} has no description"
        assert op["description"] not in base_docs, f"{method} {path} describes itself with a base class's docstring"
        assert op.get("summary"), f"{method} {path} has no summary"


def test_the_operations_of_one_path_are_told_apart(schema):
    for path, item in schema["paths"].items():
        descriptions = [op["description"] for method, op in item.items() if method in METHODS]
        assert len(set(descriptions)) == len(descriptions), f"{path}: two methods share a description"


def component(schema: dict, reference: dict) -> dict:
    return schema["components"]["schemas"][reference["$ref"].rsplit("/", 1)[1]]


def success_schema(schema: dict, method: str, path: str) -> dict:
    body = schema["paths"][path][method.lower()]["responses"]["200"]["content"]["application/json"]["schema"]
    assert "$ref" in body, f"{method} {path} answers an object, documented as {body}"
    return component(schema, body)


def test_paged_lists_document_their_envelope(schema):
    paged = [path for path in schema["paths"] if path.endswith("/list")]
    assert len(paged) >= 7

    for path in paged:
        envelope = success_schema(schema, "POST", path)
        assert set(envelope["properties"]) == {"results", "total", "totalPages"}, path
        assert envelope["properties"]["results"]["type"] == "array", path


@pytest.mark.parametrize(
    "path",
    [
        "/api/audiences/{audience_id}/members",
        "/api/lists/{list_id}/members",
        "/api/audiences/groups/{group_id}/members",
    ],
)
def test_member_pages_document_their_cursor_envelope(schema, path):
    envelope = success_schema(schema, "GET", path)

    assert set(envelope["properties"]) == {"results", "total", "pageInfo"}
    page_info = component(schema, envelope["properties"]["pageInfo"])
    assert set(page_info["properties"]) == {"hasNextPage", "endCursor"}
    assert page_info["properties"]["endCursor"]["nullable"] is True


def test_timestamps_that_can_be_null_are_documented_nullable(schema):
    nullable_names = {"updated_at", "sent_at", "materialized_at"}
    seen = 0
    for name, body in schema["components"]["schemas"].items():
        for field, definition in body.get("properties", {}).items():
            if field in nullable_names:
                seen += 1
                assert definition.get("nullable") is True, f"{name}.{field} can be null but is documented as never"
            if field == "created_at":
                assert not definition.get("nullable"), f"{name}.created_at is never null"
    assert seen >= 10


def test_deletes_document_the_body_they_answer(schema):
    for method, path, op in operations(schema):
        if method == "DELETE":
            assert "204" not in op["responses"], path
            assert "application/json" in op["responses"]["200"]["content"], path


def test_search_documents_its_body_with_the_seed_examples(schema):
    request_body = schema["paths"]["/api/subscribers/search"]["post"]["requestBody"]["content"]["application/json"]

    queries = {example["value"]["payload"]["queryName"] for example in request_body["examples"].values()}
    assert queries == {"getSubscribersCountByListIds", "getSubscribersCountByAudienceIds"}
    answer = success_schema(schema, "POST", "/api/subscribers/search")
    assert set(answer["properties"]) == {"subscribersCountByListId", "subscribersCountByAudienceId"}
