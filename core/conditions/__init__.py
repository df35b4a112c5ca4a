"""The condition language: one schema and one compiler for list filters and audience rules.

Invariant: no user text reaches SQL except as a parameter; fields and operations come from allowlists.
"""

from core.conditions.compiler import compile_filters, compile_group, filters_name, parse_group
from core.conditions.fields import FieldRegistry
from core.conditions.schema import Condition, Group, Operation

__all__ = [
    "Condition",
    "FieldRegistry",
    "Group",
    "Operation",
    "compile_filters",
    "compile_group",
    "filters_name",
    "parse_group",
]
