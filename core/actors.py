"""Who made a change: an integrator's API key, a staff user in the admin, or the system itself (a management command,
a background job). Services that record who changed something take an `Actor`; views and admins make one from the
request with `actor_of`."""

from dataclasses import dataclass
from typing import Any

from core.models import ApiKey


@dataclass(frozen=True)
class Actor:
    kind: str  # one of API_KEY, STAFF, SYSTEM
    name: str  # the API key's name, the staff user's username, or "system"

    API_KEY = "api_key"
    STAFF = "staff"
    SYSTEM = "system"


SYSTEM = Actor(Actor.SYSTEM, "system")


def actor_of(request: Any) -> Actor:
    """The actor behind a DRF request (its API key) or an admin request (its staff user); SYSTEM for neither."""
    key = getattr(request, "auth", None)
    if isinstance(key, ApiKey):
        return Actor(Actor.API_KEY, key.name)
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return Actor(Actor.STAFF, user.get_username())
    return SYSTEM
