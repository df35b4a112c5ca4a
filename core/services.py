import hashlib
import hmac
import secrets
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from core.errors import ApplicationError, Issue
from core.models import ALL_SCOPES, ApiKey

RAW_KEY_PREFIX = "roster_"
_LAST_USED_RESOLUTION_SECONDS = 60


def api_key_digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def _split_raw_key(raw_key: str) -> tuple[str, str] | None:
    if not raw_key.startswith(RAW_KEY_PREFIX):
        return None
    prefix, dot, secret = raw_key[len(RAW_KEY_PREFIX) :].partition(".")
    if not dot or not prefix or not secret or len(prefix) > 16:
        return None
    return prefix, secret


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    scopes = list(dict.fromkeys(scopes))
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown:
        raise ApplicationError(
            "Unknown scope",
            issues=[Issue("scopes", f"Unknown scope {s!r}; expected one of {', '.join(ALL_SCOPES)}") for s in unknown],
        )
    return scopes


@transaction.atomic
def api_key_create(*, name: str, scopes: Iterable[str] | None = None) -> tuple[ApiKey, str]:
    """Create a key and return it with the raw key, which is never stored and cannot be shown again."""
    scopes = validate_scopes(ALL_SCOPES if scopes is None else scopes)
    prefix = secrets.token_hex(4)
    raw_key = f"{RAW_KEY_PREFIX}{prefix}.{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(name=name, prefix=prefix, key_hash=api_key_digest(raw_key), scopes=scopes)
    return key, raw_key


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    parts = _split_raw_key(raw_key)
    if parts is None:
        return None
    key = ApiKey.objects.filter(prefix=parts[0], revoked=False).first()
    if key is None or not hmac.compare_digest(key.key_hash, api_key_digest(raw_key)):
        return None
    now = timezone.now()
    # Touch last use at most once a minute so that every request is not a write.
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > _LAST_USED_RESOLUTION_SECONDS:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def api_key_revoke(*, key: ApiKey) -> None:
    key.revoked = True
    key.save(update_fields=["revoked"])
