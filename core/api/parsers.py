import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

from core.errors import PayloadTooLarge

# No field of the API nests deeper than a rule tree; anything deeper is refused before it can exhaust the stack of
# the validators, the compiler or the JSON encoder.
MAX_JSON_DEPTH = 32


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _check_structure(data: Any) -> None:
    """Walk the parsed body without recursion: refuse nesting past MAX_JSON_DEPTH and strings holding NUL (which
    PostgreSQL cannot store), naming the path of the first offender."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if "\x00" in value:
                raise ValidationError({path or "body": ["must not contain the NUL character (\\u0000)"]})
            continue
        if not isinstance(value, dict | list):
            continue
        if depth >= MAX_JSON_DEPTH:
            raise ParseError(f"JSON nests deeper than {MAX_JSON_DEPTH} levels")
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str) and "\x00" in key:
                raise ValidationError({path or "body": ["keys must not contain the NUL character (\\u0000)"]})
            stack.append((item, f"{path}.{key}" if path else str(key), depth + 1))


class BoundedJSONParser(JSONParser):
    """JSON bodies with guarantees DRF's parser lacks:

    - at most `max_body_bytes` of the view (else settings.DATA_UPLOAD_MAX_MEMORY_SIZE) are read, whatever the
      Content-Length says, because DRF streams the body past Django's own size check;
    - NaN and Infinity are refused, nesting is bounded, and no string holds a NUL character.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        view = (parser_context or {}).get("view")
        limit = getattr(view, "max_body_bytes", None) or settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge(f"Request body is larger than {limit} bytes")
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            data = json.loads(raw.decode(encoding), parse_constant=_reject_constant) if raw else None
        except RecursionError:
            raise ParseError(f"JSON nests deeper than {MAX_JSON_DEPTH} levels") from None
        except (ValueError, UnicodeDecodeError) as error:
            raise ParseError(f"JSON parse error - {error}") from None
        _check_structure(data)
        return data
