"""The columns of an import file as staff see them in the admin's import wizard: a preview of its first rows, the
fields a column can feed, and a suggested mapping.

A suggestion is only a starting point: staff confirm or change it, and the mapping is checked again by
`imports.services` when the dry run or the import is started. Matching ignores case, spaces, underscores, hyphens and
dots ("E-mail", "Email Address", "first_name", "First Name"), knows common synonyms, and proposes each field for one
column at most (the leftmost wins); a column nothing matches is skipped.
"""

import itertools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from imports.readers import open_rows
from imports.rows import CUSTOM_PREFIX, SUBSCRIBER_COLUMNS

SKIP = ""
PREVIEW_ROWS = 10

FIELD_LABELS = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "created_at": "Created at (new subscribers only)",
}
# Folded header (see `fold`) -> field. Exact field names fold to themselves and need no entry.
SYNONYMS = {
    "email": ("mail", "emailaddress", "mailaddress", "emailid", "courriel", "correo", "correoelectronico"),
    "first_name": ("first", "firstname", "givenname", "forename", "prenom", "vorname", "nombre", "fname"),
    "last_name": ("last", "lastname", "surname", "familyname", "nom", "nachname", "apellido", "lname"),
    "created_at": ("created", "createdat", "createddate", "signupdate", "signedup", "subscribedat", "dateadded"),
}
_IGNORED = re.compile(r"[\s_\-.]+")
_NOT_KEY = re.compile(r"[^a-z0-9]+")


def fold(header: str) -> str:
    """What two spellings of one column name have in common: "E-mail" and "email", "First Name" and "first_name"."""
    return _IGNORED.sub("", header.casefold())


_SYNONYM_FIELD = {word: name for name, words in SYNONYMS.items() for word in (fold(name), *words)}


def custom_key_for(header: str) -> str:
    """The custom field key a column would create: "Loyalty Tier" -> "loyalty_tier"."""
    return _NOT_KEY.sub("_", header.casefold()).strip("_")[:64]


def target_choices(custom_field_names: Iterable[str]) -> list[tuple[str, str]]:
    """Every field any column may feed, as (target, label), "skip" first."""
    choices = [(SKIP, "— skip this column —")]
    choices += [(name, FIELD_LABELS.get(name, name)) for name in SUBSCRIBER_COLUMNS]
    choices += [(f"{CUSTOM_PREFIX}{name}", f"Custom field: {name}") for name in sorted(custom_field_names)]
    return choices


def column_choices(header: str, custom_field_names: Iterable[str]) -> list[tuple[str, str]]:
    """`target_choices` plus, for a column that names no existing custom field, keeping it as a new one."""
    names = set(custom_field_names)
    choices = target_choices(names)
    key = _custom_key_named_by(header) or custom_key_for(header)
    if key and key not in names:
        choices.append((f"{CUSTOM_PREFIX}{key}", f"New custom field: {key}"))
    return choices


def _custom_key_named_by(header: str) -> str | None:
    """The key of a header written in dot notation ("additional_fields_data.plan"), or None."""
    name = header.strip()
    if name.casefold().startswith(CUSTOM_PREFIX):
        return name[len(CUSTOM_PREFIX) :].strip() or None
    return None


def suggest_target(header: str, custom_field_names: Iterable[str]) -> str:
    """The field one column most likely holds, or SKIP."""
    if key := _custom_key_named_by(header):
        return f"{CUSTOM_PREFIX}{key}"
    folded = fold(header)
    if folded in _SYNONYM_FIELD:
        return _SYNONYM_FIELD[folded]
    custom = {fold(name): name for name in custom_field_names}
    if folded in custom:
        return f"{CUSTOM_PREFIX}{custom[folded]}"
    return SKIP


def suggest_mapping(headers: Sequence[str], custom_field_names: Iterable[str]) -> dict[str, str]:
    """A target for every header (SKIP for none), no field proposed twice."""
    names = list(custom_field_names)
    taken: set[str] = set()
    suggestion: dict[str, str] = {}
    for header in headers:
        target = suggest_target(header, names)
        if target in taken:
            target = SKIP
        if target != SKIP:
            taken.add(target)
        suggestion[header] = target
    return suggestion


@dataclass(frozen=True)
class ColumnMapping:
    """Which field each column of a file feeds (`columns`, header -> target, skipped columns left out), and the
    columns that feed nothing (`skipped`, in the file's order)."""

    columns: dict[str, str]
    skipped: list[str]


def mapping_with_overrides(
    headers: Sequence[str], custom_field_names: Iterable[str], overrides: Mapping[str, str]
) -> ColumnMapping:
    """The suggested mapping with `overrides` (header -> target, SKIP to leave a column out) on top, as staff change
    single selects in the wizard. A header in `overrides` matches the file's ignoring case and surrounding spaces; a
    field an override takes is taken from the column it was suggested for. Raises ValueError naming an override
    whose header the file does not have, or two columns meant for one field."""
    by_folded = {header.strip().casefold(): header for header in headers}
    chosen: dict[str, str] = {}
    for source, target in overrides.items():
        header = source if source in headers else by_folded.get(source.strip().casefold())
        if header is None:
            raise ValueError(f"the file has no column {source!r}; its columns are: {', '.join(headers)}")
        chosen[header] = target.strip()
    fed_by: dict[str, str] = {}
    for header, target in chosen.items():
        if target != SKIP and target in fed_by:
            raise ValueError(f"the columns {fed_by[target]!r} and {header!r} both map to {target}")
        fed_by[target] = header
    suggested = suggest_mapping(headers, custom_field_names)
    columns: dict[str, str] = {}
    for header in headers:
        target = chosen[header] if header in chosen else suggested[header]
        if header not in chosen and target in fed_by:
            target = SKIP  # an override took this field
        if target != SKIP:
            columns[header] = target
    return ColumnMapping(columns=columns, skipped=[header for header in headers if header not in columns])


@dataclass(frozen=True)
class FilePreview:
    headers: list[str]
    rows: list[list[str]]  # cells in header order

    @property
    def columns(self) -> list[tuple[str, list[str]]]:
        """Each header with its cells in the rows shown."""
        return [(header, [row[index] for row in self.rows]) for index, header in enumerate(self.headers)]


def preview_file(path: Path, *, limit: int = PREVIEW_ROWS) -> FilePreview:
    """The header row and up to `limit` non-empty rows, read as an import would read them (so the file's problems
    raise InvalidImportFile here too); the rest of the file is not read."""
    with open_rows(path) as reader:
        rows = [[raw.get(header, "") for header in reader.headers] for _, raw in itertools.islice(reader, limit)]
        return FilePreview(headers=list(reader.headers), rows=rows)
