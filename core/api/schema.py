"""OpenAPI pieces: the X-API-Key scheme and the small response bodies most writes answer with."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
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


ERROR_STATUSES = {
    "400": "Invalid input: the envelope's code says which (INVALID_SUBSCRIBER, INVALID_FILTER, ...)",
    "401": "UNAUTHORIZED: missing or invalid X-API-Key",
    "403": "FORBIDDEN: the key lacks the scope",
    "404": "Not found",
    "409": "Conflict: DUPLICATE_EMAIL or VERSION_CONFLICT",
}


class RosterAutoSchema(AutoSchema):
    """Every operation documents the error envelope next to its success response."""

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        for status in ERROR_STATUSES:
            if status not in responses:
                response = self._get_response_for_code(ErrorResponseSerializer, status, direction=direction)
                response["description"] = ERROR_STATUSES[status]
                responses[status] = response
        return responses
