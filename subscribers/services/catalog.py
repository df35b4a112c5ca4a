"""Subscription types, custom-field definitions and tags: the vocabulary subscribers are described with."""

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from audiences.rules import refuse_if_named_by_rules
from core.conditions.fields import KEY_PATTERN
from core.errors import Conflict, Issue, ValidationFailed
from core.ids import new_public_id
from core.jobs import enqueue_on_commit
from core.versioning import lock_for_change, mark_changed
from subscribers.custom_fields import coerce_value, infer_field_type
from subscribers.models import CustomField, SubscriptionType, Tag
from subscribers.tasks import sync_custom_field_index

logger = logging.getLogger(__name__)


def _unique_name(model: type, name: str, *, field: str = "name", exclude_pk: int | None = None) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed.on(field, "Name is required")
    clash = model.objects.filter(name__iexact=name)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ValidationFailed.on(field, "Name already exists")
    return name


def _save_changes(instance: Any, changes: dict[str, Any]) -> Any:
    changed = [name for name, value in changes.items() if getattr(instance, name) != value]
    for name in changed:
        setattr(instance, name, changes[name])
    if changed:
        try:
            with transaction.atomic():
                mark_changed(instance, changed)
        except IntegrityError:
            raise ValidationFailed.on("name", "Name already exists") from None
    return instance


def _create(model: type, **fields: Any) -> Any:
    try:
        with transaction.atomic():
            return model.objects.create(**fields)
    except IntegrityError:
        raise ValidationFailed.on("name", "Name already exists") from None


@transaction.atomic
def subscription_type_create(*, name: str, description: str = "") -> SubscriptionType:
    return _create(SubscriptionType, name=_unique_name(SubscriptionType, name), description=description or "")


@transaction.atomic
def subscription_type_update(
    *, subscription_type: SubscriptionType, expected_version: int | None = None, **changes: Any
) -> SubscriptionType:
    subscription_type = lock_for_change(subscription_type, expected_version=expected_version)
    if "name" in changes:
        changes["name"] = _unique_name(SubscriptionType, changes["name"], exclude_pk=subscription_type.pk)
    if "description" in changes:
        changes["description"] = changes["description"] or ""
    return _save_changes(subscription_type, changes)


@transaction.atomic
def subscription_type_delete(*, subscription_type: SubscriptionType) -> None:
    refuse_if_named_by_rules(subscription_type.public_id)
    subscription_type.delete()


def _check_custom_field(field_type: str, values: list[Any], default: Any) -> tuple[list[Any], Any]:
    if field_type not in CustomField.FieldType.values:
        raise ValidationFailed.on("type", f"Type must be one of {', '.join(CustomField.FieldType.values)}")
    values = list(values or [])
    if field_type == CustomField.FieldType.DROPDOWN:
        if not values:
            raise ValidationFailed.on("values", "A dropdown needs at least one allowed value")
        if any(not isinstance(value, str | int | float) or isinstance(value, bool) for value in values):
            raise ValidationFailed.on("values", "Allowed values are strings or numbers")
        values = list(dict.fromkeys(str(value) for value in values))
    elif values:
        raise ValidationFailed.on("values", "Allowed values apply only to dropdown fields")
    if default is not None:
        try:
            default = coerce_value(field_type, default, values)
        except ValueError as error:
            raise ValidationFailed.on("default", f"Default {error}") from None
    return values, default


@transaction.atomic
def custom_field_create(
    *,
    name: str,
    field_type: str,
    values: list[Any] | None = None,
    required: bool = False,
    default: Any = None,
    description: str = "",
) -> CustomField:
    """Define a field. Defining a key that was only discovered turns that field into a defined one (same id)."""
    name = (name or "").strip()
    if not KEY_PATTERN.match(name):
        raise ValidationFailed.on("name", "Letters, digits and underscores, starting with a letter or _ (at most 64)")
    existing = CustomField.objects.filter(name=name).first()
    if existing is not None and not existing.discovered:
        raise ValidationFailed.on("name", "Name already exists")
    values, default = _check_custom_field(field_type, values or [], default)
    if existing is not None:
        return _define_discovered(
            existing, field_type=field_type, values=values, required=required, default=default, description=description
        )
    custom_field = _create(
        CustomField,
        name=name,
        field_type=field_type,
        values=values,
        required=required,
        default=default,
        description=description or "",
    )
    if field_type == CustomField.FieldType.NUMBER:
        enqueue_on_commit("default", sync_custom_field_index, name)
    return custom_field


def _define_discovered(custom_field: CustomField, **fields: Any) -> CustomField:
    """A discovered field becomes a defined one, with the definition given."""
    custom_field = lock_for_change(custom_field, expected_version=None)
    _save_changes(custom_field, {**fields, "discovered": False})
    if custom_field.field_type == CustomField.FieldType.NUMBER:  # a discovered field had no index (subscribers.indexes)
        enqueue_on_commit("default", sync_custom_field_index, custom_field.name)
    return custom_field


@transaction.atomic
def custom_field_update(
    *, custom_field: CustomField, expected_version: int | None = None, **changes: Any
) -> CustomField:
    """The name is fixed once created, and so is the type of a defined field (stored data and rules depend on them);
    the rest may change. A discovered field's type was a guess: it may change, which defines the field, as
    `discovered=False` does. A defined field cannot become discovered again."""
    custom_field = lock_for_change(custom_field, expected_version=expected_version)
    if changes.pop("name", custom_field.name) != custom_field.name:
        raise Conflict(
            "A custom field's name and type cannot change",
            code="VALIDATION_ERROR",
            issues=[Issue("name", "Create a new field and move the data instead")],
        )
    discovered = changes.pop("discovered", custom_field.discovered)
    if discovered and not custom_field.discovered:
        raise ValidationFailed.on("discovered", "A defined field cannot become discovered; delete it instead")
    if custom_field.discovered and (
        not discovered or changes.get("field_type", custom_field.field_type) != custom_field.field_type
    ):
        values, default = _check_custom_field(
            changes.get("field_type", custom_field.field_type),
            changes.get("values", custom_field.values),
            changes.get("default", custom_field.default),
        )
        fields = {"field_type": custom_field.field_type, **changes, "values": values, "default": default}
        return _define_discovered(custom_field, **fields)
    if changes.pop("field_type", custom_field.field_type) != custom_field.field_type:
        raise Conflict(
            "A custom field's name and type cannot change",
            code="VALIDATION_ERROR",
            issues=[Issue("type", "Create a new field and move the data instead")],
        )
    values, default = _check_custom_field(
        custom_field.field_type,
        changes.get("values", custom_field.values),
        changes.get("default", custom_field.default),
    )
    if "values" in changes:
        changes["values"] = values
    if "default" in changes:
        changes["default"] = default
    return _save_changes(custom_field, changes)


@transaction.atomic
def custom_field_delete(*, custom_field: CustomField) -> None:
    """Deletes the definition; values already stored under the key stay (untyped) on subscribers."""
    custom_field.delete()
    if custom_field.field_type == CustomField.FieldType.NUMBER:
        enqueue_on_commit("default", sync_custom_field_index, custom_field.name)


def custom_fields_discover(*, values: Iterable[Mapping[str, Any]]) -> list[str]:
    """Register every key of these `additional_fields_data` values that no custom field names as a discovered field,
    typed by its first non-null value (`infer_field_type`). Every write of `additional_fields_data` calls it once (an
    import once per batch). Safe under concurrency: the insert does nothing for a name that another writer registered
    meanwhile. Keys the condition language cannot name (see KEY_PATTERN) stay undiscovered, and so do keys past
    settings.CUSTOM_FIELDS_MAX_DISCOVERED discovered fields (logged): a client making up keys must not grow the
    catalogue that every rule compilation and the segment builder read without bound. Answers the names registered.
    A discovered field gets no expression index until staff define it (subscribers.indexes)."""
    inferred: dict[str, str] = {}
    for data in values:
        for key, value in data.items():
            if key not in inferred and (field_type := infer_field_type(value)) and KEY_PATTERN.match(key):
                inferred[key] = field_type
    if not inferred:
        return []
    known = set(CustomField.objects.filter(name__in=list(inferred)).values_list("name", flat=True))
    new = {key: field_type for key, field_type in inferred.items() if key not in known}
    if not new:
        return []
    room = max(settings.CUSTOM_FIELDS_MAX_DISCOVERED - CustomField.objects.filter(discovered=True).count(), 0)
    if len(new) > room:
        left_out = list(new)[room:]
        logger.warning(
            "%d key(s) not discovered: %d discovered fields is the limit (CUSTOM_FIELDS_MAX_DISCOVERED): %s",
            len(left_out), settings.CUSTOM_FIELDS_MAX_DISCOVERED, ", ".join(left_out[:20]),
        )  # fmt: skip
        new = dict(list(new.items())[:room])
        if not new:
            return []
    CustomField.objects.bulk_create(
        [
            CustomField(
                public_id=new_public_id(CustomField.PUBLIC_ID_PREFIX), name=key, field_type=field_type, discovered=True
            )
            for key, field_type in new.items()
        ],
        ignore_conflicts=True,
    )
    return list(new)


@transaction.atomic
def tag_create(*, name: str, status: int = Tag.Status.ACTIVE) -> Tag:
    if status not in Tag.Status.values:
        raise ValidationFailed.on("status", "Status is 1 (active) or 2 (inactive)")
    return _create(Tag, name=_unique_name(Tag, name), status=status)


@transaction.atomic
def tag_update(*, tag: Tag, expected_version: int | None = None, **changes: Any) -> Tag:
    tag = lock_for_change(tag, expected_version=expected_version)
    if "name" in changes:
        changes["name"] = _unique_name(Tag, changes["name"], exclude_pk=tag.pk)
    if "status" in changes and changes["status"] not in Tag.Status.values:
        raise ValidationFailed.on("status", "Status is 1 (active) or 2 (inactive)")
    return _save_changes(tag, changes)


@transaction.atomic
def tag_delete(*, tag: Tag) -> None:
    refuse_if_named_by_rules(tag.public_id)
    refuse_if_named_by_rules(tag.name)  # rules may name tags by name too
    tag.delete()
