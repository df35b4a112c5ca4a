from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from core.models import ApiKey
from core.services import api_key_authenticate

API_KEY_HEADER = "X-API-Key"


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[None, ApiKey] | None:
        raw_key = request.headers.get(API_KEY_HEADER)
        if not raw_key:
            return None
        key = api_key_authenticate(raw_key.strip())
        if key is None:
            raise AuthenticationFailed("Invalid API key")
        return (None, key)

    def authenticate_header(self, request: Request) -> str:
        return API_KEY_HEADER
