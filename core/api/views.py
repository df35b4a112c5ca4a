from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest, JsonResponse
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import error_response
from core.api.pagination import PageRequest, order_by_sort, page_envelope, parse_page_request, words_search_q
from core.conditions import FieldRegistry, compile_filters
from core.errors import ApplicationError
from core.ids import is_storable_public_id

READ_METHODS = ("GET", "HEAD")
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def scopes_for(
    resource: str, *, read: tuple[str, ...] = READ_METHODS, write: tuple[str, ...] = WRITE_METHODS
) -> dict[str, str]:
    """A view's `scope_map`: which scope each HTTP method needs."""
    scope_map = {method: f"{resource}:write" for method in write}
    scope_map.update({method: f"{resource}:read" for method in read})
    return scope_map


class ApiView(APIView):
    """Base of every API endpoint: X-API-Key authentication and the scope check for the method (`scope_map`),
    the resource's validation error code, and input parsing through serializers."""

    scope_map: dict[str, str] = {}
    validation_error_code = "VALIDATION_ERROR"
    validation_error_message = "Validation failed"
    not_found_code = "NOT_FOUND"
    not_found_message = "Not found"

    max_body_bytes: int | None = None  # read by BoundedJSONParser; None: settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def body_scopes(self, request: Request) -> tuple[str, ...]:
        """Scopes this request needs besides its method's, for what its body asks; checked with the method's scope,
        before the handler runs, so that a refused request changes nothing."""
        return ()

    def parse(self, serializer_class: type[serializers.Serializer], data: Any = None, **kwargs: Any) -> dict[str, Any]:
        if data is None:
            data = self.request.data
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object"]})
        serializer = serializer_class(data=data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def api_route_not_found(request: HttpRequest, unknown: str = "") -> JsonResponse:
    return error_response(404, f"No API endpoint at {request.path}", "NOT_FOUND")


class PagedListView(ApiView):
    """`POST /api/<things>/list`: {page, limit, search, filters, sort} in, {results, total, totalPages} out.

    Subclasses name the queryset, the filter registry, the fields `search` looks in, the sortable fields and the
    output serializer."""

    search_fields: tuple[str, ...] = ("name",)
    sort_fields: tuple[str, ...] = ("id", "name", "created_at", "updated_at")
    default_sort = "-created_at"
    output_serializer: type[serializers.Serializer]

    def get_queryset(self) -> QuerySet:
        raise NotImplementedError

    def get_registry(self) -> FieldRegistry:
        raise NotImplementedError

    def default_filter(self, page: PageRequest) -> Q:
        """What the page shows unless its filters ask otherwise (tags: the active ones); everything by default."""
        return Q()

    def post(self, request: Request) -> Response:
        page = parse_page_request(request.data)
        queryset = self.get_queryset().filter(self.default_filter(page))
        if page.search:
            queryset = queryset.filter(words_search_q(page.search, self.search_fields))
        queryset = queryset.filter(compile_filters(page.filters, self.get_registry()))
        queryset = order_by_sort(queryset, page.sort, self.sort_fields, self.default_sort)
        return Response(page_envelope(queryset, page, lambda rows: self.output_serializer(rows, many=True).data))


def expected_version(request: Request, data: Any = None) -> int | None:
    """The version a writer last saw: `version` in the body, or the If-Match header (`3`, `"3"` or `W/"3"`)."""
    if isinstance(data, dict) and data.get("version") is not None:
        value = data["version"]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise serializers.ValidationError({"version": ["Version must be a positive integer"]})
        return value
    header = request.headers.get("If-Match")
    if not header or header.strip() == "*":
        return None
    text = header.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise serializers.ValidationError({"If-Match": ['If-Match must carry the resource version, e.g. "3"']})
    return int(text)


def with_etag(response: Response, version: int) -> Response:
    response["ETag"] = f'"{version}"'
    return response


def get_by_public_id(queryset: QuerySet, public_id: str, error: ApplicationError) -> Any:
    instance = queryset.filter(public_id=public_id).first() if is_storable_public_id(public_id) else None
    if instance is None:
        raise error
    return instance
