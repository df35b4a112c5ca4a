import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audiences.models import DEFAULT_AUDIENCE_ID, Audience, AudienceMembership, ListMembership
from audiences.services import audience_create, list_create
from subscribers.models import CustomField, Subscriber, SubscriptionPreference, SubscriptionType, Tag
from subscribers.services import (
    custom_field_create,
    preferences_apply,
    subscriber_create,
    subscription_type_create,
    tag_create,
)

CHANGELIST = "admin:subscribers_subscriber_changelist"


@pytest.fixture
def world(db):
    default = Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID)
    vip = audience_create(name="VIP")
    return {
        "default": default,
        "vip": vip,
        "newsletter": list_create(name="Newsletter", mode="static", audience=default),
        "vip_list": list_create(name="VIP list", mode="dynamic", audience=vip),
        "weekly": subscription_type_create(name="Weekly digest"),
        "gold": tag_create(name="gold"),
    }


def make_subscribers(world, count: int, *, start: int = 0) -> list[Subscriber]:
    made = []
    for i in range(start, start + count):
        subscriber = subscriber_create(
            email=f"person{i}@example.com",
            first_name=f"First{i}",
            last_name=f"Last{i}",
            tags=[world["gold"].public_id],
            lists=[world["newsletter"].public_id],
            audiences=[world["vip"].public_id],
            subscription_updates=[{"subscription_type_id": world["weekly"].public_id, "subscribe": True}],
        )
        made.append(subscriber)
    return made


def emails(response) -> set[str]:
    return {subscriber.email for subscriber in response.context["cl"].result_list}


def form_data(response) -> dict[str, object]:
    """What the browser would post back for the change page as it was rendered (main form and inline formsets)."""
    data: dict[str, object] = {}

    def add(form) -> None:
        for bound_field in form:
            value = bound_field.value()
            if value is None or value is False:
                continue
            if value is True:
                data[bound_field.html_name] = "on"
            elif isinstance(value, list | tuple):
                data[bound_field.html_name] = [str(item) for item in value]
            else:
                data[bound_field.html_name] = str(value)

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def add_inline_row(data: dict[str, object], prefix: str, **fields: object) -> None:
    index = int(data[f"{prefix}-TOTAL_FORMS"])
    data[f"{prefix}-TOTAL_FORMS"] = str(index + 1)
    for name, value in fields.items():
        data[f"{prefix}-{index}-{name}"] = str(value)


# Changelist


def test_changelist_shows_subscribers(admin_client, world):
    make_subscribers(world, 3)

    response = admin_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    assert emails(response) == {"person0@example.com", "person1@example.com", "person2@example.com"}
    assert "gold" in response.content.decode()


def test_changelist_queries_stay_bounded(admin_client, world, django_assert_max_num_queries):
    make_subscribers(world, 3)
    with CaptureQueriesContext(connection) as few:
        admin_client.get(reverse(CHANGELIST))
    make_subscribers(world, 27, start=3)

    with django_assert_max_num_queries(12):
        response = admin_client.get(reverse(CHANGELIST))
    with CaptureQueriesContext(connection) as many:
        admin_client.get(reverse(CHANGELIST))

    assert len(emails(response)) == 30
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("PERSON1@example.com", {"person1@example.com"}),  # a whole address: exact, any case
        ("person1", {"person1@example.com"}),
        ("first2", {"person2@example.com"}),
        ("last0", {"person0@example.com"}),
        ("nobody@example.com", set()),
    ],
)
def test_search(admin_client, world, term, expected):
    make_subscribers(world, 3)

    response = admin_client.get(reverse(CHANGELIST), {"q": term})

    assert response.status_code == 200
    assert emails(response) == expected


def test_search_by_public_id(admin_client, world):
    subscribers = make_subscribers(world, 3)

    response = admin_client.get(reverse(CHANGELIST), {"q": subscribers[1].public_id})

    assert emails(response) == {"person1@example.com"}


def test_filters(admin_client, world):
    member, _, inactive = make_subscribers(world, 3)
    loner = subscriber_create(email="loner@example.com")
    subscriber_create(email="paused@example.com", active=False, inactive_reason="bounced")
    url = reverse(CHANGELIST)

    assert "paused@example.com" in emails(admin_client.get(url, {"active__exact": "0"}))
    assert emails(admin_client.get(url, {"tags__id__exact": world["gold"].pk})) == {
        f"person{i}@example.com" for i in range(3)
    }
    assert loner.email not in emails(admin_client.get(url, {"list": world["newsletter"].public_id}))
    assert len(emails(admin_client.get(url, {"list": world["vip_list"].public_id}))) == 3  # dynamic: VIP's members
    assert len(emails(admin_client.get(url, {"audience": world["vip"].public_id}))) == 3
    assert emails(admin_client.get(url, {"list": "list_unknown"})) == set()
    assert admin_client.get(url, {"created_at__gte": "2000-01-01 00:00:00+00:00"}).status_code == 200


# Change page


def test_change_page_shows_record_memberships_and_consent(admin_client, world):
    subscriber = make_subscribers(world, 1)[0]

    response = admin_client.get(reverse("admin:subscribers_subscriber_change", args=[subscriber.pk]))

    assert response.status_code == 200
    body = response.content.decode()
    for shown in (subscriber.public_id, "Newsletter", "VIP", "Weekly digest", "Subscribed date"):
        assert shown in body
    inlines = {inline.formset.model: inline.formset for inline in response.context["inline_admin_formsets"]}
    assert len(inlines[ListMembership].forms) == 1
    assert len(inlines[AudienceMembership].forms) == 1
    assert len(inlines[SubscriptionPreference].forms) == 1


def test_add_page_loads(admin_client, world):
    assert admin_client.get(reverse("admin:subscribers_subscriber_add")).status_code == 200


def test_edit_goes_through_the_service_with_one_version_bump(admin_client, world):
    subscriber = make_subscribers(world, 1)[0]
    other_list = list_create(name="Promotions", mode="static", audience=world["default"])
    monthly = subscription_type_create(name="Monthly")
    url = reverse("admin:subscribers_subscriber_change", args=[subscriber.pk])
    data = form_data(admin_client.get(url))
    data["first_name"] = "  Ada "
    data["list_memberships-0-DELETE"] = "on"
    add_inline_row(data, "list_memberships", marketing_list=other_list.pk, subscriber=subscriber.pk)
    data.pop("preferences-0-subscribed")  # withdraw consent to the weekly digest
    add_inline_row(data, "preferences", subscription_type=monthly.pk, subscribed="on", subscriber=subscriber.pk)

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    subscriber.refresh_from_db()
    assert subscriber.first_name == "Ada"
    assert subscriber.version == 2
    assert list(subscriber.list_memberships.values_list("marketing_list__name", flat=True)) == ["Promotions"]
    consent = {p.subscription_type.name: p for p in subscriber.preferences.select_related("subscription_type")}
    assert not consent["Weekly digest"].subscribed
    assert consent["Weekly digest"].unsubscribed_date is not None
    assert consent["Monthly"].subscribed
    assert consent["Monthly"].subscribed_date is not None


def test_saving_unchanged_page_changes_nothing(admin_client, world):
    subscriber = make_subscribers(world, 1)[0]
    url = reverse("admin:subscribers_subscriber_change", args=[subscriber.pk])

    response = admin_client.post(url, form_data(admin_client.get(url)))

    assert response.status_code == 302
    subscriber.refresh_from_db()
    assert subscriber.version == 1
    assert subscriber.list_memberships.count() == 1
    assert subscriber.audience_memberships.count() == 1


def test_dynamic_list_membership_is_refused_with_the_service_message(admin_client, world):
    subscriber = make_subscribers(world, 1)[0]
    url = reverse("admin:subscribers_subscriber_change", args=[subscriber.pk])
    data = form_data(admin_client.get(url))
    data["first_name"] = "Changed"
    add_inline_row(data, "list_memberships", marketing_list=world["vip_list"].pk, subscriber=subscriber.pk)

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "dynamic list" in str(response.context["adminform"].form.non_field_errors())
    subscriber.refresh_from_db()
    assert (subscriber.first_name, subscriber.version) == ("First0", 1)  # nothing of the save was kept
    assert subscriber.list_memberships.count() == 1


def test_add_subscriber_with_memberships_and_consent(admin_client, world):
    url = reverse("admin:subscribers_subscriber_add")
    data = form_data(admin_client.get(url))
    data.update({"email": "New.Person@EXAMPLE.com", "first_name": "New", "active": "on"})
    data["tags"] = [str(world["gold"].pk)]
    add_inline_row(data, "list_memberships", marketing_list=world["newsletter"].pk)
    add_inline_row(data, "audience_memberships", audience=world["vip"].pk)
    add_inline_row(data, "preferences", subscription_type=world["weekly"].pk, subscribed="on")

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    subscriber = Subscriber.objects.get()
    assert subscriber.email == "New.Person@example.com"  # normalized by the service
    assert subscriber.public_id.startswith("sub_")
    assert subscriber.version == 1
    assert list(subscriber.tags.all()) == [world["gold"]]
    assert subscriber.list_memberships.get().marketing_list == world["newsletter"]
    assert subscriber.audience_memberships.get().audience == world["vip"]
    assert subscriber.preferences.get().subscribed


def test_duplicate_email_is_a_field_error(admin_client, world):
    make_subscribers(world, 1)
    url = reverse("admin:subscribers_subscriber_add")
    data = form_data(admin_client.get(url))
    data.update({"email": "PERSON0@example.com", "active": "on"})

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"] == ["Subscriber with this email already exists."]
    assert Subscriber.objects.count() == 1


def test_invalid_email_shows_the_service_message(admin_client, world):
    url = reverse("admin:subscribers_subscriber_add")
    data = form_data(admin_client.get(url))
    data.update({"email": "not-an-email", "active": "on"})

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "Invalid email format" in response.context["adminform"].form.errors["email"][0]
    assert not Subscriber.objects.exists()


def test_delete_subscriber(admin_client, world):
    subscriber = make_subscribers(world, 1)[0]

    response = admin_client.post(reverse("admin:subscribers_subscriber_delete", args=[subscriber.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Subscriber.objects.exists()


def test_list_autocomplete_for_memberships_offers_static_lists_only(admin_client, world):
    params = {"app_label": "audiences", "model_name": "listmembership", "field_name": "marketing_list", "term": ""}

    response = admin_client.get(reverse("admin:autocomplete"), params)

    assert [item["text"] for item in response.json()["results"]] == ["Newsletter"]


# Vocabulary: subscription types, custom fields, tags


@pytest.mark.parametrize(("model", "query"), [("subscriptiontype", "weekly"), ("customfield", "plan"), ("tag", "gold")])
def test_vocabulary_pages_load_and_search(admin_client, world, model, query):
    custom_field_create(name="plan", field_type="dropdown", values=["free", "pro"], default="free")
    instance = {"subscriptiontype": world["weekly"], "customfield": CustomField.objects.get(), "tag": world["gold"]}[
        model
    ]

    changelist = admin_client.get(reverse(f"admin:subscribers_{model}_changelist"), {"q": query})
    change = admin_client.get(reverse(f"admin:subscribers_{model}_change", args=[instance.pk]))

    assert changelist.status_code == 200
    assert [str(obj) for obj in changelist.context["cl"].result_list] == [str(instance)]
    assert change.status_code == 200
    assert instance.public_id in change.content.decode()


def test_custom_field_rules_come_from_the_service(admin_client, db):
    url = reverse("admin:subscribers_customfield_add")

    no_values = admin_client.post(url, {"name": "plan", "field_type": "dropdown", "values": "[]", "default": "null"})
    bad_default = admin_client.post(
        url, {"name": "plan", "field_type": "dropdown", "values": '["free", "pro"]', "default": '"gold"'}
    )
    created = admin_client.post(
        url, {"name": "plan", "field_type": "dropdown", "values": '["free", "pro"]', "default": '"pro"'}
    )

    assert "at least one allowed value" in no_values.context["adminform"].form.errors["values"][0]
    assert "must be one of" in bad_default.context["adminform"].form.errors["default"][0]
    assert created.status_code == 302
    field = CustomField.objects.get()
    assert (field.values, field.default, field.version) == (["free", "pro"], "pro", 1)


def test_custom_field_name_and_type_are_fixed(admin_client, db):
    field = custom_field_create(name="score", field_type="number")
    url = reverse("admin:subscribers_customfield_change", args=[field.pk])

    response = admin_client.post(
        url, {"name": "renamed", "field_type": "string", "values": "[]", "default": "10", "expected_version": 1}
    )

    assert response.status_code == 302
    field.refresh_from_db()
    assert (field.name, field.field_type, field.default, field.version) == ("score", "number", 10, 2)


def test_tag_and_subscription_type_edits_bump_version(admin_client, world):
    admin_client.post(
        reverse("admin:subscribers_tag_change", args=[world["gold"].pk]),
        {"name": "gold", "status": Tag.Status.INACTIVE, "expected_version": 1},
    )
    admin_client.post(
        reverse("admin:subscribers_subscriptiontype_change", args=[world["weekly"].pk]),
        {"name": "Weekly digest", "description": "Every Monday", "expected_version": 1},
    )

    tag = Tag.objects.get()
    subscription_type = SubscriptionType.objects.get()
    assert (tag.status, tag.version) == (Tag.Status.INACTIVE, 2)
    assert (subscription_type.description, subscription_type.version) == ("Every Monday", 2)


def test_tag_name_clash_is_a_form_error(admin_client, world):
    response = admin_client.post(reverse("admin:subscribers_tag_add"), {"name": "GOLD", "status": 1})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"] == ["Tag with this name already exists."]
    assert Tag.objects.count() == 1


def test_preferences_apply_is_what_the_consent_inline_shows(admin_client, world):
    subscriber = subscriber_create(email="solo@example.com")
    preferences_apply(
        subscriber=subscriber, updates=[{"subscription_type_id": world["weekly"].public_id, "subscribe": False}]
    )

    response = admin_client.get(reverse("admin:subscribers_subscriber_change", args=[subscriber.pk]))

    (form,) = next(
        inline.formset.forms
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.model is SubscriptionPreference
    )
    assert form.instance.subscribed is False
    assert form.fields["subscription_type"].disabled
