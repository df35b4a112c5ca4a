"""Request bodies are strict and round-trip.

Every serializer that reads a JSON body under /api/ (nested ones included: items of a batch, tiers, job entries)
derives from `InputSerializer`, which sorts the keys of a body three ways:

- a declared field is read as usual (a read-only declared field is accepted and ignored, as DRF does);
- a key of `echo_fields` is one the resource's GET answers but no client writes (`id`, `created_at`, `updated_at`,
  computed values such as counts and statuses): accepted and ignored, so that a body read with GET can be sent back
  unchanged;
- a key of `aliases` is GET's name for one of the serializer's fields (a group's `audiences` are its `tiers`):
  read as that field (giving both is an error);
- any other key is an error, "Unknown field", reported together with every other error of the body.

A serializer whose GET shape differs more (a nested echo to lift, as an import job's `import_file`) rewrites it in
`from_echo` before the fields are read.

Error code (core.api.errors): a body whose only problems are unknown keys answers `VALIDATION_ERROR`; otherwise the
resource's usual code (`INVALID_SUBSCRIBER`, `INVALID_AUDIENCE`, ...) with every issue listed, unknown keys included.
"""

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.fields import empty

from core.errors import UNKNOWN_FIELD

UNKNOWN_FIELD_CODE = "unknown_field"

# What every resource's GET answers and no write sets. A serializer that declares `version` reads it as the conflict
# check of an update (core.api.views.expected_version); one that does not (a create) ignores it.
RECORD_ECHO_FIELDS = frozenset({"id", "created_at", "updated_at", "version"})


class InputSerializer(serializers.Serializer):
    """Base of every request-body serializer: unknown keys are errors, the resource's read-only keys are ignored."""

    echo_fields: ClassVar[frozenset[str]] = frozenset()
    aliases: ClassVar[Mapping[str, str]] = {}

    def unknown_keys(self, data: Any) -> list[str]:
        if not isinstance(data, Mapping):
            return []
        known = self.fields.keys() | self.echo_fields | self.aliases.keys()
        return [str(key) for key in data if key not in known]

    def from_echo(self, data: dict[str, Any]) -> dict[str, Any]:
        """The body with GET's names and shapes rewritten into this serializer's; by default, `aliases`."""
        for alias, target in self.aliases.items():
            if alias in data:
                if target in data:
                    raise serializers.ValidationError({alias: [f"Give {target} or {alias}, not both"]})
                data[target] = data.pop(alias)
        return data

    def run_validation(self, data: Any = empty) -> Any:
        unknown = {key: [ErrorDetail(UNKNOWN_FIELD, code=UNKNOWN_FIELD_CODE)] for key in self.unknown_keys(data)}
        try:
            if isinstance(data, Mapping):
                data = self.from_echo(dict(data))
            value = super().run_validation(data)
        except serializers.ValidationError as error:
            if unknown and isinstance(error.detail, dict):
                raise serializers.ValidationError({**error.detail, **unknown}) from None
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class RecordInputSerializer(InputSerializer):
    """The body of a resource with an id and timestamps (its GET answers them; nobody writes them)."""

    echo_fields = RECORD_ECHO_FIELDS


def error_codes(detail: Any) -> Iterator[str]:
    """Every leaf code of a DRF error detail."""
    if isinstance(detail, dict):
        for value in detail.values():
            yield from error_codes(value)
    elif isinstance(detail, list):
        for item in detail:
            yield from error_codes(item)
    else:
        yield getattr(detail, "code", None) or "invalid"


def only_unknown_fields(detail: Any) -> bool:
    codes = list(error_codes(detail))
    return bool(codes) and all(code == UNKNOWN_FIELD_CODE for code in codes)
