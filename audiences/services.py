from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q

from audiences.capacity import check_list_capacity, lists_lock_for_adding
from audiences.errors import InvalidAudience
from audiences.list_changes import list_switch_mode, list_switch_record, lists_release_audience
from audiences.membership import membership_refresh_subscribers
from audiences.models import (
    DEFAULT_AUDIENCE_ID,
    Audience,
    AudienceMembership,
    ListMembership,
    MarketingList,
)
from audiences.rules import audiences_with_list_conditions, refuse_if_named_by_rules, validate_rules
from audiences.selectors import audiences_by_public_ids, lists_by_public_ids
from audiences.tasks import materialize_audience
from core.actors import SYSTEM, Actor
from core.errors import ApplicationError, Conflict, Issue, ValidationFailed
from core.jobs import enqueue_on_commit
from core.versioning import lock_for_change, mark_changed, touch
from subscribers.models import Subscriber

MANUAL = AudienceMembership.MANUAL
RULE = AudienceMembership.RULE


class InvalidList(ValidationFailed):
    code = "VALIDATION_ERROR"
    default_message = "Invalid list data"


def _check_audience_name(name: str, *, exclude_pk: int | None = None) -> str:
    name = name.strip()
    if not name:
        raise InvalidAudience.on("name", "Audience name is required")
    clash = Audience.objects.filter(name__iexact=name)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise InvalidAudience.on("name", "Audience name already exists")
    return name


_UNSET: Any = object()


@transaction.atomic
def audience_create(*, name: str, rules: Any = None) -> Audience:
    name = _check_audience_name(name)
    group, time_relative = validate_rules(rules) if rules is not None else (None, False)
    try:
        with transaction.atomic():
            audience = Audience.objects.create(
                name=name,
                rules=group.model_dump(exclude_defaults=False) if group else None,
                rules_are_time_relative=time_relative,
                status=Audience.Status.PENDING if group else Audience.Status.READY,
                rules_generation=1 if group else 0,
            )
    except IntegrityError:
        raise InvalidAudience.on("name", "Audience name already exists") from None
    if group:
        enqueue_on_commit("segments", materialize_audience, audience.pk, audience.rules_generation)
    return audience


@transaction.atomic
def audience_update(
    *,
    audience: Audience,
    name: str | None = None,
    rules: Any = _UNSET,
    expected_version: int | None = None,
    by_group: bool = False,
) -> Audience:
    """Rename and/or replace the rules (`rules=None` removes them). A rules change recomputes membership in the
    background: the audience is `pending` until a worker has run it. The rules of a group's tier are the group's to
    set (`by_group`), so that each subscriber stays in exactly one tier."""
    audience = lock_for_change(audience, expected_version=expected_version)
    if rules is not _UNSET and audience.group_id and not by_group:
        _refuse_for_tier(audience, "rules")
    changed = []
    if name is not None:
        if audience.is_default and name.strip() != audience.name:
            raise InvalidAudience.on("name", "The default audience cannot be renamed")
        name = _check_audience_name(name, exclude_pk=audience.pk)
        if name != audience.name:
            audience.name = name
            changed.append("name")
    if rules is not _UNSET:
        group, time_relative = validate_rules(rules, audience=audience) if rules is not None else (None, False)
        stored = group.model_dump(exclude_defaults=False) if group else None
        # Saving the rules of a `failed` audience again, even unchanged, is how it gets another chance.
        if stored != audience.rules or audience.status == Audience.Status.FAILED:
            audience.rules = stored
            audience.rules_are_time_relative = time_relative
            audience.rules_generation += 1
            audience.status = Audience.Status.PENDING
            audience.failure_reason = ""
            changed += ["rules", "rules_are_time_relative", "rules_generation", "status", "failure_reason"]
            enqueue_on_commit("segments", materialize_audience, audience.pk, audience.rules_generation)
    if changed:
        mark_changed(audience, changed)
    return audience


def _refuse_for_tier(audience: Audience, field: str) -> None:
    group_id = audience.group.public_id
    raise InvalidAudience.on(
        field,
        f"This audience is a tier of group {group_id}; change it with PUT /api/audiences/loyalty-tiers/{group_id}",
    )


@transaction.atomic
def audience_delete(*, audience: Audience, actor: Actor = SYSTEM) -> None:
    """Delete an audience and its memberships. The lists on it keep their members: static ones move to All
    Subscribers, dynamic ones become static lists holding the members they have now; each list's history records
    it. Refused (409) while other audiences' rules name it or lists include or exclude it: deleting it would silently
    change who those hold."""
    if audience.is_default:
        raise InvalidAudience.on("id", "The default audience cannot be deleted")
    if audience.group_id:
        _refuse_for_tier(audience, "id")
    # Lock it first: a list created on it meanwhile is then either seen below or refused by the database.
    audience = Audience.objects.select_for_update().get(pk=audience.pk)
    refuse_if_named_by_rules(audience.public_id)
    composing = MarketingList.objects.filter(Q(include_audiences=audience) | Q(exclude_audiences=audience)).distinct()
    composing = list(composing.order_by("pk").values_list("public_id", "name")[:20])
    if composing:
        names = ", ".join(f"{public_id} ({name})" for public_id, name in composing)
        raise Conflict(
            "Lists include or exclude this audience",
            code="INVALID_AUDIENCE",
            issues=[Issue("id", f"Change the composition of these lists first: {names}")],
        )
    lists_release_audience(audience=audience, default=default_audience(), actor=actor)
    audience.delete()


def resolve_audiences(public_ids: Iterable[str], *, field: str = "audiences") -> list[Audience]:
    found, missing = audiences_by_public_ids(public_ids)
    if missing:
        raise ValidationFailed(issues=[Issue(field, f"Unknown audience: {public_id}") for public_id in missing])
    return list(found.values())


def resolve_lists(public_ids: Iterable[str], *, field: str = "lists") -> list[MarketingList]:
    found, missing = lists_by_public_ids(public_ids)
    if missing:
        raise ValidationFailed(issues=[Issue(field, f"Unknown list: {public_id}") for public_id in missing])
    return list(found.values())


@transaction.atomic
def audience_add_subscriber(*, audience: Audience, subscriber: Subscriber) -> None:
    """Add by hand (the MANUAL bit): the subscriber stays a member whatever the rules say."""
    if audience.is_default:
        return  # everyone is already in "All Subscribers"
    if audience.group_id:
        _refuse_for_tier(audience, "audience_id")
    membership, created = AudienceMembership.objects.get_or_create(
        audience=audience, subscriber=subscriber, defaults={"source": MANUAL}
    )
    if not created and not membership.is_manual:
        AudienceMembership.objects.filter(pk=membership.pk).update(source=F("source").bitor(MANUAL))
    if created or not membership.is_manual:
        touch(Subscriber, subscriber.pk)
        membership_refresh_subscribers([subscriber.pk])


@transaction.atomic
def audience_remove_subscriber(*, audience: Audience, subscriber: Subscriber) -> None:
    """Remove a manual addition. A subscriber who matches the audience's rules stays a member by them."""
    if audience.is_default:
        raise InvalidAudience.on("audience_id", "Every subscriber is in the default audience; it cannot be removed")
    membership = AudienceMembership.objects.filter(audience=audience, subscriber=subscriber).first()
    if membership is None or not membership.is_manual:
        return
    if membership.is_rule_match:
        AudienceMembership.objects.filter(pk=membership.pk).update(source=RULE)
    else:
        membership.delete()
    touch(Subscriber, subscriber.pk)
    membership_refresh_subscribers([subscriber.pk])


def _static_only(marketing_list: MarketingList) -> None:
    if marketing_list.is_dynamic:
        raise InvalidList.on(
            "list_id",
            "This list is dynamic: its members are its audience's members. Add or remove them on the audience.",
            summary="Cannot change the members of a dynamic list",
        )


def ensure_list_accepts_changes(marketing_list: MarketingList) -> None:
    """Refuse additions and imports into an archived list (400 VALIDATION_ERROR on `list_id`). Archived lists keep
    their members, and removals stay possible so that erasure and unsubscribes can always be honoured."""
    if marketing_list.archived:
        raise InvalidList.on(
            "list_id",
            "This list is archived: it takes no additions or imports. Unarchive it first (POST .../archive).",
            summary="The list is archived",
        )


@transaction.atomic
def list_set_archived(*, marketing_list: MarketingList, archived: bool) -> MarketingList:
    """Archive or unarchive a list. Its members stay as they are either way."""
    marketing_list = lock_for_change(marketing_list, expected_version=None)
    if marketing_list.archived != archived:
        marketing_list.archived = archived
        mark_changed(marketing_list, ["archived"])
    return marketing_list


@transaction.atomic
def list_add_subscriber(*, marketing_list: MarketingList, subscriber: Subscriber, field: str = "list_id") -> None:
    """Add one subscriber to a static, unarchived list within its size limits (a refusal's issue names `field`)."""
    _static_only(marketing_list)
    ensure_list_accepts_changes(marketing_list)
    if ListMembership.objects.filter(marketing_list=marketing_list, subscriber=subscriber).exists():
        return
    [marketing_list] = lists_lock_for_adding([marketing_list])
    check_list_capacity(marketing_list, 1, field=field)
    _, created = ListMembership.objects.get_or_create(marketing_list=marketing_list, subscriber=subscriber)
    if created:
        touch(Subscriber, subscriber.pk)
        membership_refresh_subscribers([subscriber.pk])


@transaction.atomic
def list_remove_subscriber(*, marketing_list: MarketingList, subscriber: Subscriber) -> None:
    _static_only(marketing_list)
    deleted, _ = ListMembership.objects.filter(marketing_list=marketing_list, subscriber=subscriber).delete()
    if deleted:
        touch(Subscriber, subscriber.pk)
        membership_refresh_subscribers([subscriber.pk])


def _check_list_fields(*, name: str, mode: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidList.on("name", "List name is required")
    if mode not in MarketingList.Mode.values:
        raise InvalidList.on("mode", "Mode must be static or dynamic")
    return name


@transaction.atomic
def list_create(*, name: str, mode: str, audience: Audience, actor: Actor = SYSTEM) -> MarketingList:
    name = _check_list_fields(name=name, mode=mode)
    return MarketingList.objects.create(name=name, mode=mode, audience=audience, created_by=actor.name)


@transaction.atomic
def list_update(
    *,
    marketing_list: MarketingList,
    name: str | None = None,
    mode: str | None = None,
    audience: Audience | None = None,
    expected_version: int | None = None,
    actor: Actor = SYSTEM,
) -> MarketingList:
    """Rename a list, or change its mode or audience. Static to dynamic replaces its membership rows by the audience's
    members; dynamic to static keeps the members it has, as rows. A mode switch is recorded in the list's history."""
    marketing_list = lock_for_change(marketing_list, expected_version=expected_version)
    new_name = name if name is not None else marketing_list.name
    new_mode = mode or marketing_list.mode
    new_audience = audience or marketing_list.audience
    new_name = _check_list_fields(name=new_name, mode=new_mode)
    changed = []
    switch: dict[str, Any] | None = None
    if new_name != marketing_list.name:
        marketing_list.name = new_name
        changed.append("name")
    if new_mode != marketing_list.mode:
        switch = list_switch_mode(marketing_list, new_mode)
        changed.append("mode")
    if new_audience.pk != marketing_list.audience_id:
        marketing_list.audience = new_audience
        changed.append("audience")
    if changed:
        mark_changed(marketing_list, changed)
    if switch is not None:
        list_switch_record(marketing_list=marketing_list, details=switch, actor=actor)
    if "mode" in changed or "audience" in changed:
        _rematerialize_audiences_using_lists()
    return marketing_list


@transaction.atomic
def list_delete(*, marketing_list: MarketingList) -> None:
    refuse_if_named_by_rules(marketing_list.public_id)
    marketing_list.delete()


def default_audience() -> Audience:
    audience, _ = Audience.objects.get_or_create(public_id=DEFAULT_AUDIENCE_ID, defaults={"name": "All Subscribers"})
    return audience


@transaction.atomic
def subscriber_set_memberships(
    *, subscriber: Subscriber, audiences: list[Audience] | None, lists: list[MarketingList] | None
) -> bool:
    """Make the subscriber's manual audiences and static lists exactly these (None leaves one side as it is).
    Answers whether anything changed."""
    changed = False
    if audiences is not None:
        # `audiences` names the manual additions wanted. A rule match is not turned into a manual one (so that sending
        # back the audiences a GET showed changes nothing), and rules keep their members whatever is sent.
        wanted = {a.pk for a in audiences if not a.is_default}
        current = {
            m.audience_id: m
            for m in AudienceMembership.objects.filter(subscriber=subscriber).only("audience_id", "source")
        }
        for audience_pk, membership in current.items():
            if membership.is_manual and audience_pk not in wanted:
                if membership.is_rule_match:
                    AudienceMembership.objects.filter(pk=membership.pk).update(source=RULE)
                else:
                    membership.delete()
                changed = True
        AudienceMembership.objects.bulk_create(
            [AudienceMembership(subscriber=subscriber, audience_id=pk, source=MANUAL) for pk in wanted - set(current)],
            ignore_conflicts=True,
        )
        changed |= bool(wanted - set(current))
    if lists is not None:
        wanted = {lst.pk for lst in lists}
        current = set(ListMembership.objects.filter(subscriber=subscriber).values_list("marketing_list_id", flat=True))
        # A list already holding the subscriber stays as it is (a GET body sent back changes nothing); a new one must
        # take additions.
        problems = [
            Issue("lists", f"{lst.public_id} is a dynamic list; join its audience instead")
            for lst in lists
            if lst.is_dynamic
        ] + [
            Issue("lists", f"{lst.public_id} is archived: it takes no additions (unarchive it first)")
            for lst in lists
            if lst.archived and lst.pk not in current
        ]
        if problems:
            raise ApplicationError("Invalid subscriber data", code="INVALID_SUBSCRIBER", issues=problems)
        if current - wanted:
            ListMembership.objects.filter(subscriber=subscriber, marketing_list_id__in=current - wanted).delete()
        for marketing_list in lists_lock_for_adding(lst for lst in lists if lst.pk not in current):
            check_list_capacity(marketing_list, 1, field="lists")
        ListMembership.objects.bulk_create(
            [ListMembership(subscriber=subscriber, marketing_list_id=pk) for pk in wanted - current],
            ignore_conflicts=True,
        )
        changed |= current != wanted
    return changed


def _lists_reachable_from(marketing_list: MarketingList) -> set[int]:
    """Every list this one includes or excludes, directly or through others."""
    seen: set[int] = set()
    pending = [marketing_list]
    while pending:
        current = pending.pop()
        for other in [*current.include_lists.all(), *current.exclude_lists.all()]:
            if other.pk not in seen:
                seen.add(other.pk)
                pending.append(other)
    return seen


def audiences_rematerialize(audiences: Iterable[Audience]) -> None:
    """Recompute these rule audiences in the background (they are `pending` until then), after something their rules
    read changed wholesale. Audiences marked `failed` are left alone: only a change to their rules retries them."""
    for audience in audiences:
        pending = Audience.objects.filter(pk=audience.pk).exclude(status=Audience.Status.FAILED)
        if pending.update(status=Audience.Status.PENDING):
            enqueue_on_commit("segments", materialize_audience, audience.pk, audience.rules_generation)


def _rematerialize_audiences_using_lists() -> None:
    """A list's members changed wholesale (composition, mode, audience): recompute every audience whose rules name
    lists, since a list can reach another through inclusions."""
    audiences_rematerialize(audiences_with_list_conditions())


@transaction.atomic
def list_set_composition(
    *,
    marketing_list: MarketingList,
    is_suppression: bool | None = None,
    archived: bool | None = None,
    include_lists: list[MarketingList] | None = None,
    include_audiences: list[Audience] | None = None,
    exclude_lists: list[MarketingList] | None = None,
    exclude_audiences: list[Audience] | None = None,
    expected_version: int | None = None,
) -> MarketingList:
    """Flag a suppression list (or an archived one, as `list_set_archived` does), and make a list the union of other
    lists and audiences minus excluded ones (None leaves a part as it is). A list may not include or exclude itself,
    directly or through others."""
    marketing_list = lock_for_change(marketing_list, expected_version=expected_version)
    parts = {
        "include_lists": include_lists,
        "include_audiences": include_audiences,
        "exclude_lists": exclude_lists,
        "exclude_audiences": exclude_audiences,
    }
    changed = []
    for name, wanted in parts.items():
        if wanted is None:
            continue
        if name.endswith("lists") and any(other.pk == marketing_list.pk for other in wanted):
            raise InvalidList.on(name, "A list cannot include or exclude itself")
        if {o.pk for o in getattr(marketing_list, name).all()} != {o.pk for o in wanted}:
            getattr(marketing_list, name).set(wanted)
            changed.append(name)
    if marketing_list.pk in _lists_reachable_from(marketing_list):
        raise InvalidList.on("include_lists", "These lists would include or exclude this list through each other")
    fields = []
    if is_suppression is not None and is_suppression != marketing_list.is_suppression:
        marketing_list.is_suppression = is_suppression
        fields.append("is_suppression")
    if archived is not None and archived != marketing_list.archived:
        marketing_list.archived = archived
        fields.append("archived")
    composed = any(getattr(marketing_list, name).exists() for name in parts)
    if composed != marketing_list.composed:
        marketing_list.composed = composed
        fields.append("composed")
    if fields or changed:
        mark_changed(marketing_list, fields)
    if changed:
        _rematerialize_audiences_using_lists()
    return marketing_list
