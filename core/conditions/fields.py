"""Field kinds: each maps the operations it supports to one small function `(value) -> Q` over its column.

A kind never builds a lookup name from user text: columns come from the registry, JSON keys must match KEY_PATTERN
and reach SQL only as parameters, values go to the ORM as parameters.

Every Q a kind answers is two-valued (true or false for each row, never SQL NULL), so that `ne`, `nlike`, `nin` and
a negated group always select exactly the rows the positive form leaves out.
"""

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import reduce
from operator import or_
from typing import Any

from django.db.models import F, Q, TextField, Value
from django.db.models.functions import Lower
from django.db.models.lookups import IsNull

from core.conditions import values as v
from core.conditions.expressions import JsonBoolean, JsonDate, JsonNumber, JsonText, JsonType
from core.conditions.schema import Operation

# \Z, not $: `$` also matches before a trailing newline.
KEY_PATTERN = re.compile(r"\A[A-Za-z_][A-Za-z0-9_]{0,63}\Z")

Op = Operation


def match_all() -> Q:
    """Every row. Unlike `Q()`, it keeps its meaning under `~` and inside `|`."""
    return ~Q(pk__in=[])


def match_none() -> Q:
    return Q(pk__in=[])


def any_of(qs: Iterable[Q]) -> Q:
    qs = list(qs)
    return reduce(or_, qs) if qs else match_none()


class FieldKind:
    """Base kind: `build` dispatches to `op_<operation>`; an operation without a method is not supported."""

    label = "field"

    def supports(self, operation: Operation) -> bool:
        return callable(getattr(self, f"op_{operation.value}", None))

    def supported(self) -> list[str]:
        return [op.value for op in Operation if self.supports(op)]

    def build(self, operation: Operation, value: Any) -> Q:
        return getattr(self, f"op_{operation.value}")(value)


@dataclass
class ScalarKind(FieldKind):
    """A plain column compared with a coerced value. Subclasses pick the coercion and which operations apply."""

    column: str
    nullable: bool = False
    coerce: Callable[[Any], Any] = staticmethod(v.as_string)

    def _q(self, lookup: str, value: Any) -> Q:
        return Q(**{f"{self.column}__{lookup}": value})

    def op_eq(self, value: Any) -> Q:
        return self._q("exact", self.coerce(value))

    def op_ne(self, value: Any) -> Q:
        return ~self.op_eq(value)

    def op_in(self, value: Any) -> Q:
        return self._q("in", [self.coerce(item) for item in v.as_list(value)])

    def op_nin(self, value: Any) -> Q:
        return ~self.op_in(value)

    def op_empty(self, value: Any) -> Q:
        return self._q("isnull", True) if self.nullable else match_none()

    def op_nempty(self, value: Any) -> Q:
        return ~self.op_empty(value)


@dataclass
class OrderedKind(ScalarKind):
    def op_gt(self, value: Any) -> Q:
        return self._q("gt", self.coerce(value))

    def op_lt(self, value: Any) -> Q:
        return self._q("lt", self.coerce(value))

    def op_gte(self, value: Any) -> Q:
        return self._q("gte", self.coerce(value))

    def op_lte(self, value: Any) -> Q:
        return self._q("lte", self.coerce(value))

    def op_between(self, value: Any) -> Q:
        low, high = v.as_pair(value)
        return self._q("gte", self.coerce(low)) & self._q("lte", self.coerce(high))


@dataclass
class StringKind(OrderedKind):
    """Text. With `case_insensitive`, eq/ne/in/nin compare `lower(column)` with `lower(value)`, both lowered by
    the database, so an index on `Lower(column)` (such as the email uniqueness constraint) serves them."""

    label = "string"
    case_insensitive: bool = False

    def _lower(self, expression: Any) -> Lower:
        return Lower(expression, output_field=TextField())

    def _lowered(self, lookup: str, value: Any) -> Q:
        q = _expr_q(self._lower(F(self.column)), lookup, value)
        return q & self._q("isnull", False) if self.nullable else q

    def op_eq(self, value: Any) -> Q:
        if not self.case_insensitive:
            return self._q("exact", self.coerce(value))
        return self._lowered("exact", self._lower(Value(self.coerce(value))))

    def op_in(self, value: Any) -> Q:
        items = [self.coerce(item) for item in v.as_list(value)]
        if not self.case_insensitive:
            return self._q("in", items)
        if not items:
            return match_none()
        return self._lowered("in", [self._lower(Value(item)) for item in items])

    def op_like(self, value: Any) -> Q:
        return self._q("icontains", self.coerce(value))

    def op_nlike(self, value: Any) -> Q:
        return ~self.op_like(value)

    def op_empty(self, value: Any) -> Q:
        blank = self._q("exact", "")
        return (blank | self._q("isnull", True)) if self.nullable else blank


@dataclass
class NumberKind(OrderedKind):
    label = "number"
    coerce: Callable[[Any], Any] = staticmethod(v.as_number)

    def op_eq(self, value: Any) -> Q:
        number = self.coerce(value)
        if isinstance(number, float) and not number.is_integer():
            # Django truncates a float compared with an integer column (`version = 1.5` would become `= 1`);
            # `>= 1.5 AND <= 1.5` is exact on float columns and empty on integer ones, as it should be.
            return self._q("gte", number) & self._q("lte", number)
        return self._q("exact", number)

    def op_in(self, value: Any) -> Q:
        return any_of(self.op_eq(item) for item in v.as_list(value))


@dataclass
class DateTimeKind(OrderedKind):
    label = "date"
    coerce: Callable[[Any], Any] = staticmethod(v.as_datetime)


@dataclass
class BooleanKind(ScalarKind):
    label = "boolean"
    coerce: Callable[[Any], Any] = staticmethod(v.as_bool)


@dataclass
class PublicIdKind(StringKind):
    """A resource's own public id: exact matches, lists and substring search."""

    label = "id"


MembershipResolver = Callable[[list[str]], Q]


@dataclass
class MembershipKind(FieldKind):
    """Membership in other resources named by public id (lists, audiences, tags).

    `member_of(ids)` answers a Q for rows that belong to any of `ids` and raises ValueError naming unknown ones;
    `member_of_any()` answers a Q for rows that belong to at least one. eq/ne take one id (or a list), in/nin a list.
    """

    member_of: MembershipResolver
    member_of_any: Callable[[], Q]
    label = "membership"

    def _member_of(self, items: list[Any]) -> Q:
        ids = [v.as_string(item) for item in items]
        # A resolver may answer `Q()` for "everyone" (the default audience); spell it so that `~` and `|` keep it.
        return self.member_of(ids) or match_all()

    def op_eq(self, value: Any) -> Q:
        return self._member_of(v.as_list(value) if isinstance(value, list) else [value])

    def op_ne(self, value: Any) -> Q:
        return ~self.op_eq(value)

    def op_in(self, value: Any) -> Q:
        return self._member_of(v.as_list(value))

    def op_nin(self, value: Any) -> Q:
        return ~self.op_in(value)

    def op_empty(self, value: Any) -> Q:
        return ~self.op_nempty(value)

    def op_nempty(self, value: Any) -> Q:
        return self.member_of_any() or match_all()


JSON_TYPES = ("string", "number", "boolean", "date", "dropdown")
_TEXT_ONLY = frozenset({Op.LIKE, Op.NLIKE})
_ORDERED = frozenset({Op.GT, Op.LT, Op.GTE, Op.LTE, Op.BETWEEN})


@dataclass
class JsonKeyKind(FieldKind):
    """One key of a JSON column (`additional_fields_data.<key>`), typed by its custom-field definition.

    Numbers compare as numbers and only match JSON numbers; booleans only match JSON true/false; dates compare by
    their ISO day (YYYY-MM-DD) and only match strings that start with one; strings and dropdowns compare as text.
    A key without a definition takes its type from the value in the condition. A row without the key, or with
    a value of another type, is simply not matched (and so is matched by ne, nin and nlike).
    """

    column: str
    key: str
    declared_type: str | None = None
    label = "custom field"

    def __post_init__(self) -> None:
        if not KEY_PATTERN.match(self.key):
            raise ValueError("a custom field key is letters, digits and underscores, starting with a letter or _")

    def supports(self, operation: Operation) -> bool:
        if self.declared_type == "boolean" and operation in _ORDERED | _TEXT_ONLY:
            return False
        if self.declared_type in ("number", "date") and operation in _TEXT_ONLY:
            return False
        return super().supports(operation)

    def _type_for(self, value: Any) -> str:
        if self.declared_type:
            return "string" if self.declared_type == "dropdown" else self.declared_type
        if isinstance(value, bool):
            return "boolean"
        if isinstance(value, int | float):
            return "number"
        return "string"

    def _text(self) -> JsonText:
        # Built from the key itself, not a `column__key` lookup path: a key such as `a__b` or `contains` stays a key.
        return JsonText(self.column, self.key)

    def _present(self) -> Q:
        return Q(**{f"{self.column}__has_key": self.key})

    def _compare(self, lookup: str, value: Any) -> Q:
        kind = self._type_for(value)
        if kind == "number":
            return _known(JsonNumber(self.column, self.key), lookup, v.as_number(value))
        if kind == "boolean":
            if lookup != "exact":
                raise ValueError("booleans support eq, ne, in, nin, empty and nempty")
            return _known(JsonBoolean(self.column, self.key), lookup, v.as_bool(value))
        if kind == "date":
            return _known(JsonDate(self.column, self.key), lookup, v.as_date_text(value))
        return _known(self._text(), lookup, v.as_string(value))

    def op_eq(self, value: Any) -> Q:
        return self._compare("exact", value)

    def op_ne(self, value: Any) -> Q:
        return ~self.op_eq(value)

    def op_gt(self, value: Any) -> Q:
        return self._ordered("gt", value)

    def op_lt(self, value: Any) -> Q:
        return self._ordered("lt", value)

    def op_gte(self, value: Any) -> Q:
        return self._ordered("gte", value)

    def op_lte(self, value: Any) -> Q:
        return self._ordered("lte", value)

    def _ordered(self, lookup: str, value: Any) -> Q:
        if self._type_for(value) == "boolean":
            raise ValueError("booleans cannot be compared with gt, lt, gte or lte")
        return self._compare(lookup, value)

    def op_between(self, value: Any) -> Q:
        low, high = v.as_pair(value)
        return self._ordered("gte", low) & self._ordered("lte", high)

    def op_like(self, value: Any) -> Q:
        return _known(self._text(), "icontains", v.as_string(value))

    def op_nlike(self, value: Any) -> Q:
        return ~self.op_like(value)

    def op_in(self, value: Any) -> Q:
        return any_of(self.op_eq(item) for item in v.as_list(value))

    def op_nin(self, value: Any) -> Q:
        return ~self.op_in(value)

    def op_empty(self, value: Any) -> Q:
        explicit_null = _known(JsonType(self.column, self.key), "exact", "null")
        return ~self._present() | explicit_null | _known(self._text(), "exact", "")

    def op_nempty(self, value: Any) -> Q:
        return ~self.op_empty(value)


def _expr_q(expression: Any, lookup: str, value: Any) -> Q:
    """A Q over an expression: Django resolves `lookup` against the expression's output field."""
    lookup_class = expression.output_field.get_lookup(lookup)
    return Q(lookup_class(expression, value))


def _known(expression: Any, lookup: str, value: Any) -> Q:
    """`expression <lookup> value`, false rather than NULL where the expression is NULL, so that negating it selects
    exactly the other rows (SQL's NOT NULL is NULL, which would drop them from both sides)."""
    return Q(IsNull(expression, False)) & _expr_q(expression, lookup, value)


@dataclass
class AggregateKind(FieldKind):
    """A value computed per row from related rows (an engagement count, a last activity time), optionally within a
    time window (`since`, set from the condition's `window`). `make_expression(since)` builds it; counts coalesce to
    0, a "last" time is NULL for never, which `empty` matches and every comparison treats as false.

    `nullable=False` states that the expression is never NULL (a count, a coalesced sum): its comparisons are
    two-valued already and skip the `IS NOT NULL` guard, which would run the correlated subquery a second time."""

    make_expression: Callable[[Any], Any]
    coerce: Callable[[Any], Any] = staticmethod(v.as_number)
    since: Any = None
    nullable: bool = True
    label = "aggregate"

    def with_window(self, since: Any) -> "AggregateKind":
        return replace(self, since=since)

    def _compare(self, lookup: str, value: Any) -> Q:
        expression = self.make_expression(self.since)
        if not self.nullable:
            return _expr_q(expression, lookup, self.coerce(value))
        return _known(expression, lookup, self.coerce(value))

    def op_eq(self, value: Any) -> Q:
        return self._compare("exact", value)

    def op_ne(self, value: Any) -> Q:
        return ~self.op_eq(value)

    def op_gt(self, value: Any) -> Q:
        return self._compare("gt", value)

    def op_lt(self, value: Any) -> Q:
        return self._compare("lt", value)

    def op_gte(self, value: Any) -> Q:
        return self._compare("gte", value)

    def op_lte(self, value: Any) -> Q:
        return self._compare("lte", value)

    def op_between(self, value: Any) -> Q:
        low, high = v.as_pair(value)
        return self._compare("gte", low) & self._compare("lte", high)

    def op_in(self, value: Any) -> Q:
        return any_of(self.op_eq(item) for item in v.as_list(value))

    def op_nin(self, value: Any) -> Q:
        return ~self.op_in(value)

    def op_empty(self, value: Any) -> Q:
        if not self.nullable:
            return match_none()
        return Q(IsNull(self.make_expression(self.since), True))

    def op_nempty(self, value: Any) -> Q:
        return ~self.op_empty(value)


@dataclass
class FieldRegistry:
    """The fields a resource can be filtered on. `json_column` enables `<json_column>.<key>` fields, typed by
    `json_types()` (custom-field definitions: key -> type), read once per registry use."""

    fields: Mapping[str, FieldKind]
    json_column: str | None = None
    json_types: Callable[[], Mapping[str, str]] | None = None
    _json_type_cache: Mapping[str, str] | None = field(default=None, init=False, repr=False)

    def names(self) -> Iterable[str]:
        names = list(self.fields)
        if self.json_column:
            names.append(f"{self.json_column}.<key>")
        return names

    def resolve(self, name: str) -> FieldKind:
        """The kind for a field name; ValueError when the name is not allowed."""
        kind = self.fields.get(name)
        if kind is not None:
            return kind
        if self.json_column and name.startswith(f"{self.json_column}."):
            key = name[len(self.json_column) + 1 :]
            if not KEY_PATTERN.match(key):
                raise ValueError("custom field keys are letters, digits and underscores (at most 64)")
            if self._json_type_cache is None:
                self._json_type_cache = dict(self.json_types()) if self.json_types else {}
            return JsonKeyKind(self.json_column, key, self._json_type_cache.get(key))
        raise ValueError(f"unknown field; expected one of: {', '.join(self.names())}")
