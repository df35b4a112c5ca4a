"""Validation of `additional_fields_data` against the custom-field definitions."""

import datetime as dt
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.utils.dateparse import parse_date, parse_datetime

from core.conditions.values import as_number
from core.errors import Issue
from subscribers.models import CustomField

# How filters read a date (core.conditions.expressions.JsonDate): text starting YYYY-MM-DD.
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

MAX_KEYS = 200
MAX_VALUE_LENGTH = 10_000

FieldType = CustomField.FieldType


def _fits_a_double(value: Any) -> bool:
    """JSON cannot hold inf or NaN, and numbers are compared as double precision in SQL: anything else is refused
    before it is stored (nested values included), so it can neither fail the write nor every later filter."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int | float | Decimal):
        try:
            return math.isfinite(float(value))
        except OverflowError:
            return False
    if isinstance(value, dict):
        return all(_fits_a_double(item) for item in value.values())
    if isinstance(value, list):
        return all(_fits_a_double(item) for item in value)
    return True


def coerce_value(field_type: str, value: Any, allowed: list[Any]) -> Any:
    """The value stored for a field of this type; ValueError with a message for the client."""
    if value is None:
        return None
    if field_type == FieldType.NUMBER:
        try:
            return as_number(value.strip() if isinstance(value, str) else value)
        except ValueError:
            raise ValueError("must be a number") from None
    if field_type == FieldType.BOOLEAN:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        raise ValueError("must be true or false")
    if field_type == FieldType.DATE:
        if isinstance(value, str):
            text = value.strip()
            try:
                if parse_date(text):
                    return text
                parsed = parse_datetime(text)
            except ValueError:
                parsed = None
            if parsed:
                return parsed.astimezone(dt.UTC).isoformat().replace("+00:00", "Z") if parsed.tzinfo else text
        raise ValueError("must be an ISO 8601 date (YYYY-MM-DD)")
    if isinstance(value, dict | list):
        raise ValueError("must be a text value")
    text = value if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    if field_type == FieldType.DROPDOWN and text not in [str(option) for option in allowed]:
        raise ValueError(f"must be one of: {', '.join(str(option) for option in allowed)}")
    return text


def infer_field_type(value: Any) -> str | None:
    """The type a discovered key takes from a JSON value: true/false boolean, a number number, text that reads as an
    ISO 8601 date (or date-time) date, any other text string. Null says nothing (None); an object or a list is kept
    as string (filters then compare its JSON text)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return FieldType.BOOLEAN
    if isinstance(value, int | float | Decimal):
        return FieldType.NUMBER
    if isinstance(value, str) and _ISO_DAY.match(value):
        try:
            if parse_date(value) or parse_datetime(value):
                return FieldType.DATE
        except ValueError:
            pass  # shaped like a date, but not one (2024-02-30)
    return FieldType.STRING


def validate_additional_fields(
    data: Mapping[str, Any],
    *,
    definitions: list[CustomField] | None = None,
    apply_defaults: bool,
    field_prefix: str = "additional_fields_data",
) -> tuple[dict[str, Any], list[Issue]]:
    """Check values against their staff-made definitions (keys without one, or with a discovered one, are kept as
    given). With `apply_defaults`, missing fields take their default and a missing required field without a default
    is an issue."""
    if definitions is None:
        definitions = list(CustomField.objects.filter(discovered=False))
    definitions = [definition for definition in definitions if not definition.discovered]
    issues: list[Issue] = []
    if len(data) > MAX_KEYS:
        return dict(data), [Issue(field_prefix, f"at most {MAX_KEYS} custom fields")]
    cleaned = dict(data)
    by_name = {definition.name: definition for definition in definitions}
    for key, value in data.items():
        definition = by_name.get(key)
        if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
            issues.append(Issue(f"{field_prefix}.{key}", f"must be at most {MAX_VALUE_LENGTH} characters"))
            continue
        if not _fits_a_double(value):
            issues.append(Issue(f"{field_prefix}.{key}", "numbers must be finite and within double precision range"))
            continue
        if definition is None:
            continue
        if value is None and definition.required:
            issues.append(Issue(f"{field_prefix}.{key}", "is required"))
            continue
        try:
            cleaned[key] = coerce_value(definition.field_type, value, definition.values)
        except ValueError as error:
            issues.append(Issue(f"{field_prefix}.{key}", f"{error} ({definition.field_type} field)"))
    if apply_defaults:
        for definition in definitions:
            if definition.name in cleaned:
                continue
            if definition.default is not None:
                cleaned[definition.name] = definition.default
            elif definition.required:
                issues.append(Issue(f"{field_prefix}.{definition.name}", "is required"))
    return cleaned, issues
