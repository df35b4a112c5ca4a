import datetime as dt

from rest_framework import serializers


def format_timestamp(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds: 2024-03-15T10:30:00.123Z."""
    if value is None:
        return None
    v = value.astimezone(dt.UTC)  # by hand: strftime costs more, several times per subscriber on every page
    date = f"{v.year:04d}-{v.month:02d}-{v.day:02d}"
    return f"{date}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond // 1000:03d}Z"


class TimestampField(serializers.DateTimeField):
    def to_representation(self, value: dt.datetime | None) -> str | None:
        return format_timestamp(value)


class PublicIdField(serializers.CharField):
    """Reads the public id of the instance (or of a related instance with `source=`)."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("read_only", True)
        super().__init__(**kwargs)
