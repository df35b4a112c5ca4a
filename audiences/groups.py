"""Audience groups and loyalty tiers (seed 002, "Audience Groups" and "Loyalty Tiers").

A loyalty-tier group splits subscribers by one number field (`value_field`, in the condition language) into tier
audiences whose rules this module generates. The rule for overlaps and defaults:

- a tier covers `min <= value < max`; `max` left out means "up to the next higher `min` among the tiers", and the tier
  with the highest `min` is open-ended;
- where tiers overlap, the one with the higher `priority` takes the overlap; `priority` left out is the tier's position
  in the request (1, 2, ...), so a later tier wins. Priorities are distinct within a group;
- each tier's rules are the ranges it owns once overlaps are settled, so the tiers are disjoint by construction and a
  subscriber with a value inside the covered ranges is in exactly one tier (one without a value, a value below the
  lowest `min`, or in a gap left by an explicit `max`, is in none). A tier left with no range of its own is refused.

Tier audiences are ordinary audiences (`group`, `priority`, `tier_min`, `tier_max` set), materialized in the
background like any other after their rules change.
"""

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Prefetch, ProtectedError, Q, QuerySet

from audiences import selectors
from audiences.models import Audience, AudienceGroup
from audiences.rules import referenced_audience_ids
from audiences.services import InvalidAudience, audience_create, audience_update
from core.conditions import Condition, Group, Operation
from core.conditions.compiler import compile_condition
from core.conditions.fields import AggregateKind, JsonKeyKind, NumberKind
from core.errors import Conflict, InvalidFilter, Issue, NotFound
from core.ids import is_storable_public_id
from core.versioning import lock_for_change, mark_changed
from subscribers.filters import subscriber_registry
from subscribers.models import Subscriber

MAX_TIERS = 20


class AudienceGroupNotFound(NotFound):
    default_message = "Audience group not found"


@dataclass(frozen=True)
class TierSpec:
    """One tier as asked for. `max=None`: up to the next higher min (open-ended for the top tier);
    `priority=None`: the tier's position; `audience_id`: on update, the tier audience this one is."""

    name: str
    min: float
    max: float | None = None
    priority: int | None = None
    audience_id: str | None = None


@dataclass
class Tier:
    """A tier as it will be stored: bounds and priority settled, the ranges it owns, its audience when it exists."""

    index: int
    name: str
    min: float
    max: float | None
    priority: int
    audience: Audience | None = None
    ranges: list[tuple[float, float | None]] = field(default_factory=list)

    @property
    def path(self) -> str:
        return f"tiers.{self.index}"

    def rules(self, value_field: str) -> dict[str, Any]:
        groups = [_range_group(value_field, low, high) for low, high in self.ranges]
        return groups[0] if len(groups) == 1 else {"match": "any", "negate": False, "conditions": groups}


def plain_number(value: float | None) -> float | int | None:
    """1000.0 as 1000, so stored rules and answers read as they were written."""
    if value is not None and float(value).is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _range_group(value_field: str, low: float, high: float | None) -> dict[str, Any]:
    conditions = [{"field": value_field, "operation": "gte", "value": plain_number(low)}]
    if high is not None:
        conditions.append({"field": value_field, "operation": "lt", "value": plain_number(high)})
    return {"match": "all", "negate": False, "conditions": conditions}


# --- validation -------------------------------------------------------------------------------------------------


_NUMBER_FIELDS_HINT = (
    "use a number: a custom field of type number (additional_fields_data.<key>), or an engagement count or amount "
    "(engagement.opens, engagement.clicks, engagement.purchases, engagement.purchase_amount, ...)"
)


def check_value_field(value_field: str) -> str:
    """The value field, if it compiles in the condition language as a number; else INVALID_AUDIENCE on value_field."""
    value_field = value_field.strip()
    registry = subscriber_registry()
    try:
        kind = registry.resolve(value_field)
    except ValueError as error:
        raise InvalidAudience.on("value_field", f"{value_field}: {error}") from None
    is_number = isinstance(kind, NumberKind | AggregateKind) or (
        isinstance(kind, JsonKeyKind) and kind.declared_type == "number"
    )
    if not is_number:
        if isinstance(kind, JsonKeyKind) and kind.declared_type is None:
            message = f"{value_field}: no custom field named {kind.key!r} is defined; define it with type number"
        else:
            message = f"{value_field} is not a number field; {_NUMBER_FIELDS_HINT}"
        raise InvalidAudience.on("value_field", message)
    try:
        # A dated aggregate (engagement.last_open_at) is an AggregateKind too: it fails here, comparing with a number.
        compile_condition(Condition(field=value_field, operation=Operation.GTE, value=0), registry, path="value_field")
    except InvalidFilter:
        raise InvalidAudience.on("value_field", f"{value_field} is not a number field; {_NUMBER_FIELDS_HINT}") from None
    return value_field


def _settle_bounds(specs: Sequence[TierSpec]) -> list[Tier]:
    issues: list[Issue] = []
    if not specs:
        issues.append(Issue("tiers", "At least one tier is required"))
    if len(specs) > MAX_TIERS:
        issues.append(Issue("tiers", f"At most {MAX_TIERS} tiers"))
    if issues:
        raise InvalidAudience(issues=issues)
    mins = sorted({spec.min for spec in specs})
    tiers = []
    for index, spec in enumerate(specs):
        name = spec.name.strip()
        if not name:
            issues.append(Issue(f"tiers.{index}.name", "Tier name is required"))
        if spec.max is not None and not spec.max > spec.min:
            issues.append(Issue(f"tiers.{index}.max", "max must be greater than min"))
        upper = spec.max if spec.max is not None else next((m for m in mins if m > spec.min), None)
        priority = spec.priority if spec.priority is not None else index + 1
        tiers.append(Tier(index=index, name=name, min=spec.min, max=upper, priority=priority))
    seen_names: dict[str, Tier] = {}
    seen_priorities: dict[int, Tier] = {}
    for tier in tiers:
        other = seen_names.setdefault(tier.name.lower(), tier)
        if tier.name and other is not tier:
            issues.append(Issue(f"{tier.path}.name", f"{other.path} is also named {other.name!r}; names are unique"))
        other = seen_priorities.setdefault(tier.priority, tier)
        if other is not tier:
            defaulted = [t.path for t in (other, tier) if specs[t.index].priority is None]
            note = (
                f" ({' and '.join(defaulted)} left it out: a tier's priority is then its position)" if defaulted else ""
            )
            message = f"{other.path} also has priority {tier.priority}; priorities are unique{note}"
            issues.append(Issue(f"{tier.path}.priority", message))
    if issues:
        raise InvalidAudience(issues=issues)
    return tiers


def _assign_ranges(tiers: list[Tier]) -> None:
    """Give each part of the number line to the highest-priority tier covering it, and refuse a tier left with none."""
    bounds = sorted({tier.min for tier in tiers} | {tier.max for tier in tiers if tier.max is not None})
    for low, high in zip(bounds, [*bounds[1:], None], strict=True):
        # The bounds include every tier's ends, so a tier covers all of [low, high) or none of it.
        covering = [tier for tier in tiers if tier.min <= low and (tier.max is None or low < tier.max)]
        if not covering:
            continue
        owner = max(covering, key=lambda tier: tier.priority)
        if owner.ranges and owner.ranges[-1][1] == low:
            owner.ranges[-1] = (owner.ranges[-1][0], high)
        else:
            owner.ranges.append((low, high))
    issues = []
    for tier in tiers:
        if not tier.ranges:
            winners = sorted(
                {
                    other.name
                    for other in tiers
                    if other.priority > tier.priority
                    and other.min < (tier.max if tier.max is not None else math.inf)
                    and tier.min < (other.max if other.max is not None else math.inf)
                }
            )
            issues.append(
                Issue(
                    tier.path,
                    f"{tier.name!r} lies entirely within higher-priority tiers ({', '.join(winners)}) "
                    "and would never have members; change its range or priority",
                )
            )
    if issues:
        raise InvalidAudience(issues=issues)


def _match_existing(tiers: list[Tier], specs: Sequence[TierSpec], existing: Iterable[Audience]) -> None:
    """Pair tiers with the group's audiences: by audience id when given, else by name (case-insensitive)."""
    existing = list(existing)
    by_id = {audience.public_id: audience for audience in existing}
    claimed: dict[int, Tier] = {}
    issues = []
    for tier, spec in zip(tiers, specs, strict=True):
        if spec.audience_id is None:
            continue
        audience = by_id.get(spec.audience_id)
        if audience is None:
            issues.append(Issue(f"{tier.path}.id", f"{spec.audience_id} is not a tier of this group"))
        elif audience.pk in claimed:
            issues.append(Issue(f"{tier.path}.id", f"{claimed[audience.pk].path} is also {spec.audience_id}"))
        else:
            claimed[audience.pk] = tier
            tier.audience = audience
    if issues:
        raise InvalidAudience(issues=issues)
    unclaimed = {audience.name.lower(): audience for audience in existing if audience.pk not in claimed}
    for tier, spec in zip(tiers, specs, strict=True):
        if spec.audience_id is None and tier.name.lower() in unclaimed:
            tier.audience = unclaimed.pop(tier.name.lower())


def _check_names_free(tiers: list[Tier], *, group: AudienceGroup | None) -> None:
    """Tier names must not be taken by audiences outside the group (the group's own are renamed or removed)."""
    outside = Audience.objects.all() if group is None else Audience.objects.exclude(group=group)
    same_name = reduce(or_, (Q(name__iexact=tier.name) for tier in tiers))
    taken = {name.lower() for name in outside.filter(same_name).values_list("name", flat=True)}
    issues = [
        Issue(f"{tier.path}.name", "Audience name already exists") for tier in tiers if tier.name.lower() in taken
    ]
    if issues:
        raise InvalidAudience(issues=issues)


def plan_tiers(
    specs: Sequence[TierSpec], *, group: AudienceGroup | None = None, existing: Iterable[Audience] = ()
) -> list[Tier]:
    """Validate tiers and settle their bounds, priorities, owned ranges and audiences, writing nothing."""
    tiers = _settle_bounds(specs)
    _assign_ranges(tiers)
    _match_existing(tiers, specs, existing)
    _check_names_free(tiers, group=group)
    return tiers


# --- writes -----------------------------------------------------------------------------------------------------


def _uses_of(audiences: Sequence[Audience]) -> list[Issue]:
    """Why these audiences cannot go: lists built on, including or excluding them, and audiences whose rules name
    them. Deleting would otherwise fail (a list's audience is protected) or silently change other segments."""
    if not audiences:
        return []
    pks = [audience.pk for audience in audiences]
    names = {audience.pk: f"{audience.public_id} ({audience.name})" for audience in audiences}
    issues = []
    for relation, verb in (
        ("audience", "is built on"),
        ("include_audiences", "includes"),
        ("exclude_audiences", "excludes"),
    ):
        rows = (
            selectors.marketing_list_list()
            .filter(**{f"{relation}__in": pks})
            .values_list("public_id", "name", f"{relation}__pk")
            .distinct()
            .order_by("public_id")[:20]
        )
        for list_id, list_name, audience_pk in rows:
            issues.append(Issue("id", f"List {list_id} ({list_name}) {verb} audience {names[audience_pk]}"))
    public_ids = {audience.public_id: audience for audience in audiences}
    for other in Audience.objects.exclude(pk__in=pks).exclude(rules=None).only("public_id", "name", "rules"):
        if not other.has_rules:
            continue
        for public_id in sorted(referenced_audience_ids(Group.model_validate(other.rules)) & set(public_ids)):
            issues.append(
                Issue("id", f"Audience {other.public_id} ({other.name}) refers to {names[public_ids[public_id].pk]}")
            )
    return issues


def _refuse_if_used(audiences: Sequence[Audience], message: str) -> None:
    issues = _uses_of(audiences)
    if issues:
        raise Conflict(message, code="INVALID_AUDIENCE", issues=issues)


def _save_tier_fields(audience: Audience, tier: Tier, *, group: AudienceGroup, bump_version: bool) -> Audience:
    values = {"group_id": group.pk, "priority": tier.priority, "tier_min": tier.min, "tier_max": tier.max}
    changed = [name for name, value in values.items() if getattr(audience, name) != value]
    for name in changed:
        setattr(audience, name, values[name])
    if changed and bump_version:
        mark_changed(audience, [name.removesuffix("_id") for name in changed])
    elif changed:
        audience.save(update_fields=[name.removesuffix("_id") for name in changed])
    return audience


def _as_integrity_error() -> InvalidAudience:
    # Only a name taken by another request between our check and our write reaches here.
    return InvalidAudience.on("tiers", "An audience name was taken meanwhile; try again")


def loyalty_tiers_create(*, name: str, value_field: str, tiers: Sequence[TierSpec]) -> tuple[AudienceGroup, list[Tier]]:
    """A loyalty-tier group and one audience per tier, in the order given; each tier audience materializes in the
    background. Nothing is stored when anything is refused."""
    name = _check_group_name(name)
    value_field = check_value_field(value_field)
    planned = plan_tiers(tiers)
    try:
        with transaction.atomic():
            group = AudienceGroup.objects.create(
                name=name, kind=AudienceGroup.Kind.LOYALTY_TIERS, value_field=value_field
            )
            for tier in planned:
                audience = audience_create(name=tier.name, rules=tier.rules(value_field))
                tier.audience = _save_tier_fields(audience, tier, group=group, bump_version=False)
    except IntegrityError:
        raise _as_integrity_error() from None
    return group, planned


def loyalty_tiers_update(
    *,
    group: AudienceGroup,
    tiers: Sequence[TierSpec],
    name: str | None = None,
    value_field: str | None = None,
    expected_version: int | None = None,
) -> tuple[AudienceGroup, list[Tier]]:
    """Make the group's tiers exactly these: tiers matching an audience of the group (by id, else by name) update it,
    others are created, and the group's audiences left over are deleted (refused while a list uses one). Changed rules
    rematerialize in the background."""
    if group.kind != AudienceGroup.Kind.LOYALTY_TIERS:
        raise InvalidAudience.on("id", "This group is not a loyalty-tier group")
    try:
        with transaction.atomic():
            return _loyalty_tiers_update(
                group=group, tiers=tiers, name=name, value_field=value_field, expected_version=expected_version
            )
    except IntegrityError:
        raise _as_integrity_error() from None


def _loyalty_tiers_update(
    *,
    group: AudienceGroup,
    tiers: Sequence[TierSpec],
    name: str | None,
    value_field: str | None,
    expected_version: int | None,
) -> tuple[AudienceGroup, list[Tier]]:
    group = lock_for_change(group, expected_version=expected_version)
    changed = []
    name = _check_group_name(name) if name is not None else group.name
    value_field = check_value_field(value_field) if value_field is not None else group.value_field
    for column, value in (("name", name), ("value_field", value_field)):
        if getattr(group, column) != value:
            setattr(group, column, value)
            changed.append(column)
    existing = list(group.audiences.select_for_update().order_by("pk"))
    planned = plan_tiers(tiers, group=group, existing=existing)
    kept = {tier.audience.pk for tier in planned if tier.audience is not None}
    removed = [audience for audience in existing if audience.pk not in kept]
    _refuse_if_used(removed, "A tier to remove is in use")
    for audience in removed:
        audience.delete()
    # Two tiers may swap names: move renamed ones out of the way first, so that no name is ever held twice.
    renamed = [tier for tier in planned if tier.audience is not None and tier.audience.name != tier.name]
    for tier in renamed:
        Audience.objects.filter(pk=tier.audience.pk).update(name=f"{tier.audience.public_id} (renaming)")
    tiers_changed = bool(removed)
    for tier in planned:
        if tier.audience is None:
            audience = audience_create(name=tier.name, rules=tier.rules(group.value_field))
            tier.audience = _save_tier_fields(audience, tier, group=group, bump_version=False)
            tiers_changed = True
            continue
        before = tier.audience.version
        audience = audience_update(
            audience=tier.audience, name=tier.name, rules=tier.rules(group.value_field), by_group=True
        )
        bumped = audience.version != before
        tier.audience = _save_tier_fields(audience, tier, group=group, bump_version=not bumped)
        tiers_changed |= tier.audience.version != before
    if changed or tiers_changed:
        mark_changed(group, changed)
    return group, planned


def _check_group_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidAudience.on("name", "Group name is required")
    return name


@transaction.atomic
def audience_group_delete(*, group: AudienceGroup) -> None:
    """Delete the group and its audiences (with their memberships); refused while a list or another audience's rules
    use one of them."""
    audiences = list(group.audiences.select_for_update().order_by("pk"))
    _refuse_if_used(audiences, "An audience of this group is in use")
    try:
        group.delete()  # its audiences go with it (and their memberships)
    except ProtectedError:
        # A list took one of the audiences after the check above.
        raise Conflict("An audience of this group is in use", code="INVALID_AUDIENCE") from None


# --- reads ------------------------------------------------------------------------------------------------------


def audience_group_get(public_id: str, *, with_audiences: bool = False) -> AudienceGroup:
    """The group; `with_audiences` adds `counted_audiences`, its audiences with their member counts (`member_count`),
    lowest tier first, in one more query."""
    groups = AudienceGroup.objects.all()
    if with_audiences:
        counted = selectors.audiences_with_member_counts().order_by("tier_min", "priority", "pk")
        groups = groups.prefetch_related(Prefetch("audiences", queryset=counted, to_attr="counted_audiences"))
    group = groups.filter(public_id=public_id).first() if is_storable_public_id(public_id) else None
    if group is None:
        raise AudienceGroupNotFound()
    return group


def audience_group_members(group: AudienceGroup, *, audience_id: str | None = None) -> QuerySet[Subscriber]:
    """Subscribers in any audience of the group (each once), or in the one named by `audience_id`, which must be
    one of the group's."""
    audiences = list(group.audiences.all())
    if audience_id is not None:
        audiences = [audience for audience in audiences if audience.public_id == audience_id]
        if not audiences:
            raise InvalidAudience.on("audienceId", f"{audience_id} is not an audience of this group")
    return Subscriber.objects.filter(selectors.in_audiences_q(audiences))
