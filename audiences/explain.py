"""Why a subscriber is or is not in an audience: each rule condition and group evaluated for that subscriber, in one
query, next to the stored membership. Rules the database cannot evaluate (see audiences.failures) answer a 409
INVALID_AUDIENCE with the reason, not a server error."""

from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db.models import BooleanField, ExpressionWrapper, Q

from audiences.failures import explain_failure
from audiences.models import Audience, AudienceMembership
from core.conditions import Condition, Group, compile_group
from core.conditions.compiler import compile_condition
from core.db import savepoint_with_statement_timeout
from core.errors import Conflict, Issue
from subscribers.filters import subscriber_registry
from subscribers.models import Subscriber


def _collect(node: Condition | Group, path: str, registry, out: dict[str, Q]) -> dict[str, Any]:
    if isinstance(node, Group):
        out[path] = compile_group(node, registry, path=path)
        children = [
            _collect(child, f"{path}.conditions.{index}", registry, out) for index, child in enumerate(node.conditions)
        ]
        return {"path": path, "match": node.match, "negate": node.negate, "conditions": children}
    out[path] = compile_condition(node, registry, path=path)
    described = {"path": path, "field": node.field, "operation": node.operation.value, "value": node.value}
    if node.window is not None:
        described["window"] = node.window
    return described


def _fill(node: dict[str, Any], met: dict[str, bool]) -> dict[str, Any]:
    node["met"] = met[node["path"]]
    for child in node.get("conditions", []):
        _fill(child, met)
    return node


def explain_membership(audience: Audience, subscriber: Subscriber) -> dict[str, Any]:
    membership = AudienceMembership.objects.filter(audience=audience, subscriber=subscriber).first()
    manual = bool(membership and membership.is_manual)
    # `stored_member` is what counts and member pages show now; it catches up with `member` once a pending
    # materialization has run.
    answer: dict[str, Any] = {
        "audience_id": audience.public_id,
        "subscriber_id": subscriber.public_id,
        "stored_member": audience.is_default or membership is not None,
    }
    if audience.is_default:
        return {**answer, "member": True, "manual": False, "matches_rules": None, "rules": None,
                "reason": "Every subscriber is in All Subscribers"}  # fmt: skip
    if not audience.has_rules:
        reason = "Added by hand" if manual else "Not added by hand, and the audience has no rules"
        return {**answer, "member": manual, "manual": manual, "matches_rules": None, "rules": None, "reason": reason}
    queries: dict[str, Q] = {}
    tree = _collect(Group.model_validate(audience.rules), "rules", subscriber_registry(), queries)
    names = {path: f"c{index}" for index, path in enumerate(queries)}
    evaluated = (
        Subscriber.objects.filter(pk=subscriber.pk)
        .annotate(**{names[p]: ExpressionWrapper(q, output_field=BooleanField()) for p, q in queries.items()})
        .values(*names.values())
    )
    try:
        # Bounded as a live refresh is: the same rules, for one subscriber, within a request.
        with savepoint_with_statement_timeout(settings.AUDIENCE_LIVE_REFRESH_STATEMENT_TIMEOUT_MS):
            row = evaluated.get()
    except DatabaseError as error:
        raise Conflict(
            "The audience's rules could not be evaluated",
            code="INVALID_AUDIENCE",
            issues=[Issue("rules", explain_failure(error))],
        ) from None
    met = {path: bool(row[name]) for path, name in names.items()}
    matches = met["rules"]
    if manual and matches:
        reason = "Added by hand, and matches the rules"
    elif manual:
        reason = "Added by hand; does not match the rules"
    elif matches:
        reason = "Matches the rules"
    else:
        unmet = [node["path"] for node in _fill(dict(tree), met)["conditions"] if not node["met"]]
        reason = "Does not match the rules" + (f": {', '.join(unmet)} not met" if unmet else "")
    return {**answer, "member": manual or matches, "manual": manual, "matches_rules": matches,
            "rules": _fill(tree, met), "reason": reason}  # fmt: skip
