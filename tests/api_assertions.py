"""Assertions shared by the API tests: the seeds' write answer and error envelope."""

import re

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def created_id(response) -> str:
    """The id from a write's answer, which is exactly {"id": ...}."""
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"id"}, response.json()
    return response.json()["id"]


def assert_error(response, status: int, code: str, *fields: str | None) -> dict:
    """The seeds' error envelope with this status and code, and an issue on each field named."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"message", "code", "issues"}
    assert body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["issues"], list)
    issue_fields = [issue["field"] for issue in body["issues"]]
    for field in fields:
        if field is not None:
            assert field in issue_fields, body
    return body
