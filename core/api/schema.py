"""OpenAPI pieces: the X-API-Key scheme, the small response bodies most writes answer with, the paged envelopes, the
error envelope on every operation, and descriptions that come from each operation's own docstring."""

import functools
import inspect
import re

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import is_serializer
from rest_framework import serializers


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "core.api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201 - drf-spectacular's signature
        return {"type": "apiKey", "in": "header", "name": "X-API-Key"}


class IdResponseSerializer(serializers.Serializer):
    id = serializers.CharField()


class ErrorIssueSerializer(serializers.Serializer):
    field = serializers.CharField()
    message = serializers.CharField()


class ErrorResponseSerializer(serializers.Serializer):
    message = serializers.CharField()
    code = serializers.CharField()
    issues = ErrorIssueSerializer(many=True)


class ListMembershipResponseSerializer(serializers.Serializer):
    list_id = serializers.CharField()
    subscriber_id = serializers.CharField()


class AudienceMembershipResponseSerializer(serializers.Serializer):
    audience_id = serializers.CharField()
    subscriber_id = serializers.CharField()


class PageInfoSerializer(serializers.Serializer):
    hasNextPage = serializers.BooleanField()  # noqa: N815 - the seed's name
    endCursor = serializers.CharField(  # noqa: N815
        allow_null=True, help_text="Pass as `after` for the next page; null on an empty page."
    )


def _component_name(item: type[serializers.Serializer]) -> str:
    return item.__name__.removesuffix("Serializer").removesuffix("Output")


@functools.cache
def page_of(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The body of a paged list (`POST /api/<things>/list`, `core.api.pagination.page_envelope`) of `item`s:
    {results, total, totalPages}. One class per item serializer, so that the schema has one component for it."""
    name = _component_name(item)
    return type(
        f"{name}PageSerializer",
        (serializers.Serializer,),
        {
            "__module__": __name__,
            "__doc__": f"A page of {name} records.",
            "results": item(many=True),
            "total": serializers.IntegerField(help_text="Records matching the search and filters, on every page."),
            "totalPages": serializers.IntegerField(help_text="Pages of `limit` records; 0 when nothing matches."),
        },
    )


@functools.cache
def cursor_page_of(item: type[serializers.Serializer]) -> type[serializers.Serializer]:
    """The body of a cursor page (`first`, `after`; `core.api.pagination.cursor_page_envelope`) of `item`s:
    {results, total, pageInfo}."""
    name = _component_name(item)
    return type(
        f"{name}CursorPageSerializer",
        (serializers.Serializer,),
        {
            "__module__": __name__,
            "__doc__": f"A cursor page of {name} records.",
            "results": item(many=True),
            "total": serializers.IntegerField(help_text="Records on all pages."),
            "pageInfo": PageInfoSerializer(),
        },
    )


ERROR_STATUSES = {
    "400": "Invalid input: the envelope's code says which (INVALID_SUBSCRIBER, INVALID_FILTER, ...)",
    "401": "UNAUTHORIZED: missing or invalid X-API-Key",
    "403": "FORBIDDEN: the key lacks the scope",
    "404": "Not found",
    "409": "Conflict: DUPLICATE_EMAIL, VERSION_CONFLICT, or a list size limit (LIST_SIZE_LIMIT_EXCEEDED, "
    "TOTAL_SIZE_LIMIT_EXCEEDED)",
}
BODY_ERROR_STATUSES = {
    "413": "PAYLOAD_TOO_LARGE: the body is larger than the operation accepts",
    "415": "UNSUPPORTED_MEDIA_TYPE: the body is not in a media type the operation reads",
}


class RosterAutoSchema(AutoSchema):
    """Every operation documents the error envelope next to its success response, and its own description.

    An operation's description is its `extend_schema(description=...)`, else the docstring of its view method, else
    the docstring of its view class; never a docstring inherited from a base class (those describe the base). Its
    summary is the start of the description's first sentence (up to a parenthesis, colon or semicolon)."""

    def _get_response_bodies(self, direction: str = "response") -> dict:
        declared = self.get_response_serializers()
        if self.method == "DELETE" and is_serializer(declared):
            # Roster's deletes answer 200 with a body (`{"id": ...}`, as the seeds show), not drf-spectacular's
            # default of 204 without one.
            responses = {"200": self._get_response_for_code(declared, "200", direction=direction)}
        else:
            responses = super()._get_response_bodies(direction)
        statuses = dict(ERROR_STATUSES)
        if self.method in ("POST", "PUT", "PATCH") and self._get_request_body() is not None:
            statuses.update(BODY_ERROR_STATUSES)
        for status, description in statuses.items():
            if status not in responses:
                response = self._get_response_for_code(ErrorResponseSerializer, status, direction=direction)
                response["description"] = description
                responses[status] = response
        return responses

    def get_description(self) -> str:
        method = getattr(type(self.view), self.method.lower(), None)
        own_doc = getattr(method, "__doc__", None) or type(self.view).__dict__.get("__doc__")
        return inspect.cleandoc(own_doc) if own_doc else ""

    def get_summary(self) -> str | None:
        first_paragraph = " ".join(self.get_description().split("\n\n", 1)[0].split())
        sentence = first_paragraph.split(". ", 1)[0].rstrip(".")
        return re.split(r" \(|: |; ", sentence, maxsplit=1)[0].replace("`", "") or None
