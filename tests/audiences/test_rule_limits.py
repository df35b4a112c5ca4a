"""The size limit of a rule tree (issue 8, point 3a): at most settings.AUDIENCE_MAX_RULE_CONDITIONS conditions (500 by
default), counted over every group and nesting level, on every way rules come in: POST /api/audiences, PUT
/api/audiences/{id}, POST /api/audiences/{id}/rules, the admin's form and the segment builder's preview. Over the limit
is a 400 INVALID_AUDIENCE naming it, and nothing is stored; exactly at the limit is accepted."""

import json

from django.urls import reverse

from audiences.models import Audience
from tests.api_assertions import assert_error, created_id
from tests.audiences.conftest import create_audience, create_subscriber, group


def conditions(count: int, start: int = 0) -> list[dict]:
    return [
        {"field": "email", "operation": "eq", "value": f"person{i}@example.com"} for i in range(start, start + count)
    ]


def wide_tree(groups: int, per_group: int) -> dict:
    """`groups` groups of `per_group` conditions each, side by side (the issue's 6 x 200 = 1,200 conditions)."""
    return group(*(group(*conditions(per_group, g * per_group)) for g in range(groups)), match="any")


def deep_tree(sizes: list[int]) -> dict:
    """Groups nested one in the other, holding `sizes[0]`, `sizes[1]`, ... conditions from the outermost in."""
    tree = group(*conditions(sizes[-1]))
    for depth, size in enumerate(reversed(sizes[:-1])):
        tree = group(*conditions(size, 1000 * (depth + 1)), tree, match="any" if depth % 2 else "all")
    return tree


AT_LIMIT = group(
    group(*conditions(200), match="any"),
    group(*conditions(200, 200), match="any"),
    group(*conditions(100, 400), match="any"),
    match="any",
)


def assert_over_limit(response, total: int, limit: int = 500) -> None:
    body = assert_error(response, 400, "INVALID_AUDIENCE", "rules")
    message = next(issue["message"] for issue in body["issues"] if issue["field"] == "rules")
    assert f"at most {limit} conditions" in message, message
    assert str(total) in message, message


def test_the_issue_tree_of_6_groups_of_200_conditions_is_refused_everywhere_in_the_api(api):
    tree = wide_tree(6, 200)
    assert len(json.dumps(tree)) > 70_000
    existing = create_audience(api, "Existing")
    before = list(Audience.objects.order_by("pk").values_list("public_id", "name", "rules", "version"))

    assert_over_limit(api.post("/api/audiences", {"name": "Huge", "rules": tree}), 1200)
    assert_over_limit(api.put(f"/api/audiences/{existing}", {"name": "Existing", "rules": tree}), 1200)
    assert_over_limit(api.post(f"/api/audiences/{existing}/rules", {"rules": tree}), 1200)
    assert_over_limit(api.post(f"/api/audiences/{existing}/rules", tree), 1200)  # the group itself, unwrapped

    assert list(Audience.objects.order_by("pk").values_list("public_id", "name", "rules", "version")) == before


def test_a_tree_of_exactly_the_limit_is_accepted_and_subscribers_can_still_be_written(api):
    audience_id = create_audience(api, "At the limit", AT_LIMIT)
    assert Audience.objects.get(public_id=audience_id).status == Audience.Status.PENDING

    one_more = group(*AT_LIMIT["conditions"], group(*conditions(1, 900)), match="any")
    assert_over_limit(api.post(f"/api/audiences/{audience_id}/rules", {"rules": one_more}), 501)

    subscriber_id = create_subscriber(api, "person450@example.com")
    response = api.put(f"/api/subscribers/{subscriber_id}", {"first_name": "Changed"})
    assert response.status_code == 200, response.json()
    audience = Audience.objects.get(public_id=audience_id)
    assert audience.memberships.filter(subscriber__public_id=subscriber_id).exists()  # matched live
    assert audience.status != Audience.Status.FAILED


def test_conditions_are_counted_over_every_nesting_level_against_the_setting(api, settings):
    settings.AUDIENCE_MAX_RULE_CONDITIONS = 10

    assert_over_limit(api.post("/api/audiences", {"name": "Deep", "rules": deep_tree([4, 4, 3])}), 11, limit=10)
    assert not Audience.objects.filter(name="Deep").exists()

    created_id(api.post("/api/audiences", {"name": "Deep", "rules": deep_tree([4, 3, 3])}))


def test_the_admin_form_and_the_segment_builder_preview_refuse_a_tree_over_the_limit(admin_client, db):
    tree = wide_tree(6, 200)

    response = admin_client.post(reverse("admin:audiences_audience_add"), {"name": "Huge", "rules": json.dumps(tree)})

    assert response.status_code == 200  # the form again, with the reason
    assert any("at most 500 conditions" in error for error in response.context["adminform"].form.errors["rules"])
    assert not Audience.objects.filter(name="Huge").exists()

    preview = admin_client.post(
        reverse("admin:audiences_audience_preview"), json.dumps({"rules": tree}), content_type="application/json"
    )
    assert_over_limit(preview, 1200)
    at_limit = admin_client.post(
        reverse("admin:audiences_audience_preview"), json.dumps({"rules": AT_LIMIT}), content_type="application/json"
    )
    assert at_limit.status_code == 200, at_limit.content
