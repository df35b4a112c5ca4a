"""Coercion of filter values, each raising ValueError with a message fit for the client."""

import datetime as dt
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

_RELATIVE = re.compile(r"^\s*(\d{1,5})\s+(minute|hour|day|week|month|year)s?\s+(ago|from now)\s*$", re.IGNORECASE)
_UNIT_DAYS = {"minute": 1 / 1440, "hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}
# Beyond this a number is not a filter value but an attempt to make the server convert or compare something huge;
# it also keeps every accepted number representable as a float (JSON numbers compare as double precision).
MAX_NUMBER = 10**300
_MAX_NUMBER_TEXT = 400
_DATE_ERROR = "expected an ISO 8601 date or a relative date such as '30 days ago'"


def as_string(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("expected a string")
    text = str(value)
    if "\x00" in text:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
        raise ValueError("text cannot contain NUL characters")
    return text


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise ValueError("expected true or false")


def as_number(value: Any) -> float | int:
    """A finite number of magnitude at most MAX_NUMBER: an int when it is integral, else a float."""
    if isinstance(value, bool):
        raise ValueError("expected a number")
    if isinstance(value, int):
        if abs(value) > MAX_NUMBER:
            raise ValueError("number out of range")
        return value
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise ValueError("expected a finite number")
        return value
    if not isinstance(value, str) or len(value) > _MAX_NUMBER_TEXT:
        raise ValueError("expected a number")
    try:
        number = Decimal(value.strip())
    except (InvalidOperation, ValueError):
        raise ValueError("expected a number") from None
    # Check the magnitude before converting (int(Decimal("1e999999999")) would build a billion-digit integer), and
    # without arithmetic, which could signal decimal.Overflow.
    if not number.is_finite() or number.copy_abs() > MAX_NUMBER:
        raise ValueError("expected a finite number")
    return int(number) if number == number.to_integral_value() else float(number)


def as_datetime(value: Any, *, now: dt.datetime | None = None) -> dt.datetime:
    """ISO 8601 (a date alone means its midnight UTC; no offset means UTC), or relative: "now", "today" (midnight UTC),
    "30 days ago", "2 weeks from now" (a month is 30 days, a year 365)."""
    if not isinstance(value, str):
        raise ValueError(_DATE_ERROR)
    now = now or timezone.now()
    text = value.strip()
    if text.lower() == "now":
        return now
    if text.lower() == "today":
        return now.replace(hour=0, minute=0, second=0, microsecond=0)
    relative = _RELATIVE.match(text)
    if relative:
        amount, unit, direction = int(relative[1]), relative[2].lower(), relative[3].lower()
        try:
            delta = dt.timedelta(days=amount * _UNIT_DAYS[unit])
            return now - delta if direction == "ago" else now + delta
        except OverflowError:
            raise ValueError("date out of range") from None
    try:
        parsed = parse_datetime(text)
    except ValueError:
        parsed = None
    if parsed is None:
        try:
            day = parse_date(text)
        except ValueError:
            day = None
        if day is None:
            raise ValueError(_DATE_ERROR)
        parsed = dt.datetime.combine(day, dt.time.min)
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


def as_date_text(value: Any) -> str:
    """A date for comparing with dates stored as ISO text in custom fields (YYYY-MM-DD)."""
    return as_datetime(value).date().isoformat()


def as_list(value: Any, *, max_items: int = 1000) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError("expected an array of values")
    if len(value) > max_items:
        raise ValueError(f"expected at most {max_items} values")
    return value


def as_pair(value: Any) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise ValueError("expected an array of two values [from, to]")
    return value[0], value[1]


_WINDOW = re.compile(r"^\s*(\d{1,5})\s*(minute|hour|day|week|month|year)s?\s*$", re.IGNORECASE)


def as_window_start(window: Any, *, now: dt.datetime | None = None) -> dt.datetime:
    """The start of a window such as "30 days" or "2 weeks" ending now."""
    match = _WINDOW.match(window) if isinstance(window, str) else None
    if not match:
        raise ValueError("expected a window such as '30 days', '2 weeks' or '12 hours'")
    days = int(match[1]) * _UNIT_DAYS[match[2].lower()]
    if days > 36500:
        raise ValueError("windows reach back at most 100 years")
    return (now or timezone.now()) - dt.timedelta(days=days)
