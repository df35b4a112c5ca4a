"""Merge tags in stored email HTML, filled from a plain dictionary.

Only `{{ name }}` placeholders are replaced, each with an HTML-escaped string from the dictionary: email HTML is not a
Django template, so it can reach no template tag, filter, attribute or object beyond the values given here.
"""

import re
from collections.abc import Mapping
from typing import Any

from django.utils.html import escape

from subscribers.models import Subscriber

MERGE_TAG = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\s*\}\}")


def merge_values(subscriber: Subscriber, links: Mapping[str, Any]) -> dict[str, str]:
    values = {
        "first_name": subscriber.first_name,
        "last_name": subscriber.last_name,
        "full_name": f"{subscriber.first_name} {subscriber.last_name}".strip(),
        "email": subscriber.email,
        **{name: value for name, value in links.items() if isinstance(value, str)},
    }
    for key, value in (subscriber.additional_fields_data or {}).items():
        if isinstance(value, str | int | float | bool):
            values[f"additional_fields_data.{key}"] = str(value)
    return values


def render_merge_tags(html: str, values: Mapping[str, str]) -> str:
    """Replace known tags with their escaped value and unknown ones with nothing."""
    return MERGE_TAG.sub(lambda match: escape(values.get(match[1], "")), html)
