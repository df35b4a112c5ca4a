"""The input schema of the condition language: conditions `{field, operation, value}` nested in groups
`{match, negate, conditions}`. Field names and values are checked later, by the field registry and the kinds."""

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag


class Operation(StrEnum):
    EQ = "eq"
    NE = "ne"
    LIKE = "like"
    NLIKE = "nlike"
    GT = "gt"
    LT = "lt"
    GTE = "gte"
    LTE = "lte"
    IN = "in"
    NIN = "nin"
    BETWEEN = "between"
    EMPTY = "empty"
    NEMPTY = "nempty"


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str = Field(min_length=1, max_length=200)
    operation: Operation
    value: Any = None
    # For aggregate fields (engagement): only what happened within this long before now, e.g. "30 days".
    window: str | None = Field(default=None, max_length=50)


def _child_kind(data: Any) -> str:
    """A child with `conditions` (or `match`) is a group, anything else a condition: errors then speak of one shape
    instead of listing why the input fits neither."""
    if isinstance(data, dict):
        return "group" if "conditions" in data or "match" in data else "condition"
    return "group" if isinstance(data, Group) else "condition"


# Discriminator tags, which pydantic puts in error locations; the compiler leaves them out of the paths it reports.
CHILD_TAGS = ("condition", "group")

Child = Annotated[
    Annotated[Condition, Tag("condition")] | Annotated["Group", Tag("group")],
    Discriminator(_child_kind),
]


class Group(BaseModel):
    """`{"match": "all"|"any", "negate": false, "conditions": [...]}`; conditions nest further groups."""

    model_config = ConfigDict(extra="forbid")

    match: Literal["all", "any"] = "all"
    negate: bool = False
    conditions: list[Child] = Field(default_factory=list, max_length=200)
