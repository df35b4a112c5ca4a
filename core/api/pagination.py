"""The seeds' paged lists: `POST /api/<things>/list` with {page, limit, search, filters, sort}, answering
{results, total, totalPages}."""

import base64
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from rest_framework import serializers

from core.api.serializers import InputSerializer
from core.errors import ApplicationError, Issue

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20


class PageRequestSerializer(InputSerializer):
    page = serializers.IntegerField(min_value=1, default=1)
    limit = serializers.IntegerField(min_value=1, default=DEFAULT_PAGE_SIZE)
    search = serializers.CharField(
        required=False, allow_blank=True, allow_null=True, max_length=200, trim_whitespace=True
    )
    filters = serializers.JSONField(required=False, allow_null=True)
    sort = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=100)

    def validate_limit(self, value: int) -> int:
        return min(value, MAX_PAGE_SIZE)


@dataclass(frozen=True)
class PageRequest:
    page: int = 1
    limit: int = DEFAULT_PAGE_SIZE
    search: str | None = None
    filters: Any = None
    sort: str | None = None


def parse_page_request(data: Any) -> PageRequest:
    serializer = PageRequestSerializer(data=data if isinstance(data, dict) else {})
    if not isinstance(data, dict):
        raise ApplicationError(issues=[Issue("body", "expected a JSON object")])
    serializer.is_valid(raise_exception=True)
    return PageRequest(**serializer.validated_data)


def order_by_sort(queryset: QuerySet, sort: str | None, allowed: Sequence[str], default: str) -> QuerySet:
    """`sort` is a field name, `-` in front for descending; only names in `allowed` pass."""
    if not sort:
        return queryset.order_by(default, "-pk" if default.startswith("-") else "pk")
    name = sort.removeprefix("-")
    if name not in allowed:
        raise ApplicationError(issues=[Issue("sort", f"cannot sort by {name!r}; use one of {', '.join(allowed)}")])
    column = "public_id" if name == "id" else name
    descending = sort.startswith("-")
    return queryset.order_by(f"-{column}" if descending else column, "-pk" if descending else "pk")


def page_envelope(
    queryset: QuerySet, request: PageRequest, represent: Callable[[list[Any]], list[dict[str, Any]]]
) -> dict[str, Any]:
    total = queryset.count()
    offset = (request.page - 1) * request.limit
    rows = list(queryset[offset : offset + request.limit]) if offset < total else []
    return {"results": represent(rows), "total": total, "totalPages": math.ceil(total / request.limit)}


def words_search_q(text: str, fields: Sequence[str]) -> Q:
    """Every word must appear in one of the fields: "john doe" finds John Doe."""
    q = Q()
    for word in text.split()[:10]:
        word_q = Q()
        for name in fields:
            word_q |= Q(**{f"{name}__icontains": word})
        q &= word_q
    return q


@dataclass(frozen=True)
class CursorPage:
    first: int
    after: int | None
    search: str | None


class CursorPageSerializer(serializers.Serializer):
    first = serializers.IntegerField(min_value=1, default=DEFAULT_PAGE_SIZE)
    after = serializers.CharField(required=False, allow_blank=True, max_length=100)
    search = serializers.CharField(required=False, allow_blank=True, max_length=200)

    def validate_first(self, value: int) -> int:
        return min(value, MAX_PAGE_SIZE)

    def validate_after(self, value: str) -> int | None:
        if not value:
            return None
        position = decode_cursor(value)
        if position is None:
            raise serializers.ValidationError("Not a cursor this API gave out")
        return position


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"pk:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    prefix, _, number = text.partition(":")
    return int(number) if prefix == "pk" and number.isdigit() and len(number) < 20 else None


def cursor_page_envelope(
    queryset: QuerySet, page: CursorPage, represent: Callable[[list[Any]], list[dict[str, Any]]]
) -> dict[str, Any]:
    """Keyset pages over the primary key (seed 002: `first`, `after`): stable while rows come and go, and as fast on
    the last page of a million as on the first."""
    total = queryset.count()
    if page.after is not None:
        queryset = queryset.filter(pk__gt=page.after)
    rows = list(queryset.order_by("pk")[: page.first + 1])
    has_next = len(rows) > page.first
    rows = rows[: page.first]
    return {
        "results": represent(rows),
        "total": total,
        "pageInfo": {"hasNextPage": has_next, "endCursor": encode_cursor(rows[-1].pk) if rows else None},
    }


def parse_cursor_page(query_params: Any) -> CursorPage:
    serializer = CursorPageSerializer(
        data={k: query_params.get(k) for k in ("first", "after", "search") if k in query_params}
    )
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return CursorPage(first=data["first"], after=data.get("after"), search=data.get("search") or None)
