"""Batch contact creation (up to 100 a request): each contact is valid or invalid on its own, with its reason."""

from typing import Any

from django.db import transaction

from audiences.models import MarketingList
from audiences.services import list_add_subscriber, resolve_lists
from core.errors import ApplicationError, DuplicateEmail, Issue, IssueCollector, ValidationFailed, unknown_field_issues
from subscribers.models import Subscriber, Tag
from subscribers.services.subscribers import normalize_email, resolve_tags, subscriber_create, subscriber_update

MAX_BATCH = 100
CONTACT_FIELDS = ("email", "first_name", "last_name", "custom_fields")


def _contact_field(field: str) -> str:
    """The subscriber services speak of `additional_fields_data`; a batch contact sends them as `custom_fields`."""
    prefix = "additional_fields_data"
    return "custom_fields" + field.removeprefix(prefix) if field.split(".")[0] == prefix else field


def _reason(error: ApplicationError) -> str:
    if error.issues:
        return "; ".join(f"{_contact_field(issue.field)}: {issue.message}" for issue in error.issues)
    return error.message


def _contact_email(contact: dict[str, Any]) -> str:
    if not isinstance(contact.get("email"), str) or not contact["email"].strip():
        raise ValidationFailed.on("email", "is required")
    return normalize_email(contact["email"])


def _contact_fields(contact: dict[str, Any]) -> dict[str, Any]:
    issues = [
        Issue(name, "must be a string")
        for name in ("first_name", "last_name")
        if contact.get(name) is not None and not isinstance(contact[name], str)
    ]
    custom_fields = contact.get("custom_fields") or {}
    if not isinstance(custom_fields, dict):
        issues.append(Issue("custom_fields", "must be an object"))
    if issues:
        raise ValidationFailed(issues=issues)
    return {"first_name": contact.get("first_name") or "", "last_name": contact.get("last_name") or "",
            "custom_fields": custom_fields}  # fmt: skip


def _apply_contact(
    contact: Any, *, update_subscribers: bool, marketing_list: MarketingList | None, tags: list[Tag]
) -> Subscriber:
    if not isinstance(contact, dict):
        raise ValidationFailed.on("contact", "must be an object")
    checks = IssueCollector()
    checks.issues += unknown_field_issues(contact, CONTACT_FIELDS)
    email = checks.check(_contact_email, contact)
    fields = checks.check(_contact_fields, contact)
    checks.raise_any(ValidationFailed)
    existing = Subscriber.objects.filter(email__iexact=email).first()
    tag_ids = [t.public_id for t in tags]
    if existing is not None:
        if not update_subscribers:
            raise DuplicateEmail("Contact already exists")
        merged_fields = {**existing.additional_fields_data, **fields["custom_fields"]}
        current_tags = list(existing.tags.values_list("public_id", flat=True))
        subscriber = subscriber_update(
            subscriber=existing,
            first_name=fields["first_name"] or existing.first_name,
            last_name=fields["last_name"] or existing.last_name,
            additional_fields_data=merged_fields,
            tags=list(dict.fromkeys(current_tags + tag_ids)) if tag_ids else None,
        )
    else:
        subscriber = subscriber_create(
            email=email,
            first_name=fields["first_name"],
            last_name=fields["last_name"],
            additional_fields_data=fields["custom_fields"],
            tags=tag_ids or None,
        )
    if marketing_list is not None:
        list_add_subscriber(marketing_list=marketing_list, subscriber=subscriber)
    return subscriber


def subscribers_batch_create(
    *, contacts: list[Any], update_subscribers: bool = False, list_id: str | None = None, tags: list[str] | None = None
) -> dict[str, Any]:
    if len(contacts) > MAX_BATCH:
        raise ValidationFailed.on("data", f"At most {MAX_BATCH} contacts per request")
    marketing_list = resolve_lists([list_id], field="list_id")[0] if list_id else None
    if marketing_list is not None and marketing_list.is_dynamic:
        raise ValidationFailed.on("list_id", "Contacts cannot be added to a dynamic list; its audience decides")
    tag_objs = resolve_tags(tags or [])
    valid: list[dict[str, Any]] = []
    invalid: list[dict[str, Any]] = []
    seen: set[str] = set()
    for contact in contacts:
        key = (
            contact.get("email", "").strip().lower()
            if isinstance(contact, dict) and isinstance(contact.get("email"), str)
            else None
        )
        if key and key in seen:
            invalid.append(_echo(contact, "Contact already exists in request, not unique"))
            continue
        if key:
            seen.add(key)
        try:
            with transaction.atomic():
                subscriber = _apply_contact(
                    contact, update_subscribers=update_subscribers, marketing_list=marketing_list, tags=tag_objs
                )
        except ApplicationError as error:
            invalid.append(_echo(contact, _reason(error)))
            continue
        valid.append({**_echo(contact), "id": subscriber.public_id})
    return {
        "valid_contacts": valid,
        "invalid_contacts": invalid,
        "total_valid": len(valid),
        "total_invalid": len(invalid),
    }


def _echo(contact: Any, reason: str | None = None) -> dict[str, Any]:
    echoed = dict(contact) if isinstance(contact, dict) else {"contact": contact}
    if reason is not None:
        echoed["reason"] = reason
    return echoed
