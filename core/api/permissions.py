from typing import TYPE_CHECKING, Any

from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission

from core.models import ApiKey

if TYPE_CHECKING:
    from rest_framework.request import Request


class HasApiKeyScope(BasePermission):
    """The key must carry the scope the view names for this method (`scope_map`, as Sentry's endpoints do)."""

    def has_permission(self, request: "Request", view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            raise NotAuthenticated("A valid X-API-Key header is required")
        scope_map: dict[str, str] = getattr(view, "scope_map", {})
        required = scope_map.get(request.method or "")
        if required is None:
            # A method the view does not handle goes on to DRF's 405; one it handles without a scope is refused.
            return request.method == "OPTIONS" or not hasattr(view, (request.method or "").lower())
        return key.has_scope(required)
