from typing import TYPE_CHECKING, Any

from rest_framework.exceptions import NotAuthenticated
from rest_framework.permissions import BasePermission

from core.models import ApiKey

if TYPE_CHECKING:
    from rest_framework.request import Request


class HasApiKeyScope(BasePermission):
    """The key must carry the scope the view names for this method (`scope_map`, as Sentry's endpoints do), and those
    the view's `body_scopes` names for what this request's body asks."""

    def has_permission(self, request: "Request", view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            raise NotAuthenticated("A valid X-API-Key header is required")
        scope_map: dict[str, str] = getattr(view, "scope_map", {})
        required = scope_map.get(request.method or "")
        if required is None:
            # A method the view does not handle goes on to DRF's 405; one it handles without a scope is refused.
            return request.method == "OPTIONS" or not hasattr(view, (request.method or "").lower())
        if not key.has_scope(required):
            return False
        # What the body asks may need more than the method's scope (a list's `jobs` start imports).
        body_scopes = getattr(view, "body_scopes", None)
        return body_scopes is None or all(key.has_scope(scope) for scope in body_scopes(request))
