from collections.abc import Iterable, Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from email_validator import EmailNotValidError, validate_email

from audiences.membership import membership_refresh_subscribers
from audiences.services import resolve_audiences, resolve_lists, subscriber_set_memberships
from core.errors import DuplicateEmail, Issue, IssueCollector, ValidationFailed
from core.versioning import lock_for_change, mark_changed
from subscribers.custom_fields import validate_additional_fields
from subscribers.models import Subscriber, Tag
from subscribers.services.catalog import custom_fields_discover
from subscribers.services.preferences import API_SOURCE, ConsentSource, preferences_apply, record_active_change

SUBSCRIBER_FIELDS = ("email", "first_name", "last_name", "active", "inactive_reason", "additional_fields_data")


class InvalidSubscriber(ValidationFailed):
    code = "INVALID_SUBSCRIBER"
    default_message = "Invalid subscriber data"


def normalize_email(email: str, *, field: str = "email") -> str:
    """Syntax check (no DNS lookup) and normalization: the domain is lower-cased, the local part kept."""
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise InvalidSubscriber.on(field, f"Invalid email format: {error}") from None


def email_problem(email: str) -> str | None:
    """Why an email is refused, or None (the check `normalize_email` makes)."""
    try:
        normalize_email(email)
    except InvalidSubscriber as error:
        return error.issues[0].message
    return None


def email_taken(email: str, *, exclude_pk: int | None = None) -> bool:
    existing = Subscriber.objects.filter(email__iexact=email)
    if exclude_pk is not None:
        existing = existing.exclude(pk=exclude_pk)
    return existing.exists()


def resolve_tags(public_ids: Iterable[str], *, field: str = "tags") -> list[Tag]:
    ids = list(dict.fromkeys(public_ids))
    found = {t.public_id: t for t in Tag.objects.filter(public_id__in=ids)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidSubscriber(issues=[Issue(field, f"Unknown tag: {public_id}") for public_id in missing])
    return list(found.values())


def _check_active(active: bool, inactive_reason: str | None) -> str:
    if active:
        return ""
    if not (inactive_reason or "").strip():
        raise InvalidSubscriber.on("inactive_reason", "inactive_reason is required when active is false")
    return inactive_reason.strip()


def _check_custom_fields(data: Mapping[str, Any], *, apply_defaults: bool) -> dict[str, Any]:
    cleaned, issues = validate_additional_fields(data, apply_defaults=apply_defaults)
    if issues:
        raise InvalidSubscriber(issues=issues)
    return cleaned


def _memberships(audience_ids: Iterable[str] | None, list_ids: Iterable[str] | None):
    checks = IssueCollector()
    audiences = checks.check(resolve_audiences, audience_ids) if audience_ids is not None else None
    lists = checks.check(resolve_lists, list_ids) if list_ids is not None else None
    checks.raise_any(InvalidSubscriber)
    return audiences, lists


@transaction.atomic
def subscriber_create(
    *,
    email: str,
    first_name: str = "",
    last_name: str = "",
    active: bool = True,
    inactive_reason: str | None = None,
    audiences: Iterable[str] = (),
    lists: Iterable[str] = (),
    additional_fields_data: Mapping[str, Any] | None = None,
    tags: Iterable[str] | None = None,
    subscription_updates: Iterable[Mapping[str, Any]] | None = None,
    source: ConsentSource = API_SOURCE,
) -> Subscriber:
    checks = IssueCollector()
    email = checks.check(normalize_email, email)
    reason = checks.check(_check_active, active, inactive_reason)
    fields = checks.check(_check_custom_fields, additional_fields_data or {}, apply_defaults=True)
    audience_objs, list_objs = checks.check(_memberships, list(audiences), list(lists)) or (None, None)
    tag_objs = checks.check(resolve_tags, tags) if tags else []
    checks.raise_any(InvalidSubscriber)
    if email_taken(email):
        raise DuplicateEmail()
    try:
        with transaction.atomic():
            subscriber = Subscriber.objects.create(
                email=email,
                first_name=(first_name or "").strip(),
                last_name=(last_name or "").strip(),
                active=active,
                inactive_reason=reason,
                additional_fields_data=fields,
            )
    except IntegrityError:
        raise DuplicateEmail() from None  # a concurrent create won the race
    subscriber_set_memberships(subscriber=subscriber, audiences=audience_objs, lists=list_objs)
    if tag_objs:
        subscriber.tags.set(tag_objs)
    if subscription_updates:
        preferences_apply(subscriber=subscriber, updates=subscription_updates, bump_version=False, source=source)
    custom_fields_discover(values=[fields])
    membership_refresh_subscribers([subscriber.pk])
    return subscriber


@transaction.atomic
def subscriber_update(
    *,
    subscriber: Subscriber,
    expected_version: int | None = None,
    audiences: Iterable[str] | None = None,
    lists: Iterable[str] | None = None,
    tags: Iterable[str] | None = None,
    subscription_updates: Iterable[Mapping[str, Any]] | None = None,
    source: ConsentSource = API_SOURCE,
    **changes: Any,
) -> Subscriber:
    """Apply the given changes; fields not given stay as they are."""
    unknown = set(changes) - set(SUBSCRIBER_FIELDS)
    if unknown:
        raise TypeError(f"unknown subscriber fields: {sorted(unknown)}")
    subscriber = lock_for_change(subscriber, expected_version=expected_version)
    checks = IssueCollector()
    if "email" in changes:
        changes["email"] = checks.check(normalize_email, changes["email"])
    if "active" in changes or "inactive_reason" in changes:
        active = changes.get("active", subscriber.active)
        reason = changes.get("inactive_reason", subscriber.inactive_reason)
        changes["inactive_reason"] = checks.check(_check_active, active, reason)
    if "additional_fields_data" in changes:
        changes["additional_fields_data"] = checks.check(
            _check_custom_fields, changes["additional_fields_data"] or {}, apply_defaults=True
        )
    for name in ("first_name", "last_name"):
        if name in changes:
            changes[name] = (changes[name] or "").strip()
    audience_objs, list_objs = checks.check(
        _memberships, list(audiences) if audiences is not None else None, list(lists) if lists is not None else None
    ) or (None, None)
    tag_objs = checks.check(resolve_tags, tags) if tags is not None else None
    checks.raise_any(InvalidSubscriber)
    if "email" in changes and changes["email"].lower() != subscriber.email.lower():
        if email_taken(changes["email"], exclude_pk=subscriber.pk):
            raise DuplicateEmail()

    changed = [name for name, value in changes.items() if getattr(subscriber, name) != value]
    for name in changed:
        setattr(subscriber, name, changes[name])
    related_changed = subscriber_set_memberships(subscriber=subscriber, audiences=audience_objs, lists=list_objs)
    if tag_objs is not None:
        current = set(subscriber.tags.values_list("pk", flat=True))
        if current != {t.pk for t in tag_objs}:
            subscriber.tags.set(tag_objs)
            related_changed = True
    if subscription_updates:
        related_changed |= preferences_apply(
            subscriber=subscriber, updates=subscription_updates, bump_version=False, source=source
        )
    if "active" in changed:
        record_active_change(subscriber, active=subscriber.active, reason=subscriber.inactive_reason, source=source)
    if "additional_fields_data" in changed:
        custom_fields_discover(values=[subscriber.additional_fields_data])
    if changed or related_changed:
        try:
            with transaction.atomic():
                mark_changed(subscriber, changed)
        except IntegrityError:
            raise DuplicateEmail() from None
        membership_refresh_subscribers([subscriber.pk])
    return subscriber


@transaction.atomic
def subscriber_delete(*, subscriber: Subscriber) -> None:
    subscriber.delete()


@transaction.atomic
def subscriber_revoke_links(*, subscriber: Subscriber) -> None:
    """Kill every link sent to this subscriber so far (preference center, unsubscribe, view in browser)."""
    Subscriber.objects.filter(pk=subscriber.pk).update(token_version=F("token_version") + 1)
    subscriber.refresh_from_db(fields=["token_version"])
