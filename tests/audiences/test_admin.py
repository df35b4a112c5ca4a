import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from audiences.models import DEFAULT_AUDIENCE_ID, Audience, ListChange, MarketingList
from audiences.selectors import list_members
from audiences.services import (
    audience_add_subscriber,
    audience_create,
    list_add_subscriber,
    list_create,
    list_set_composition,
)
from subscribers.services import subscriber_create


@pytest.fixture
def default_audience(db) -> Audience:
    return Audience.objects.get(public_id=DEFAULT_AUDIENCE_ID)


@pytest.fixture
def subscribers(db):
    return [subscriber_create(email=f"person{i}@example.com") for i in range(5)]


def result_rows(response) -> dict[str, object]:
    return {str(obj): obj for obj in response.context["cl"].result_list}


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# Audiences


def test_audience_changelist_counts_members(admin_client, subscribers, default_audience):
    vip = audience_create(name="VIP")
    for subscriber in subscribers[:3]:
        audience_add_subscriber(audience=vip, subscriber=subscriber)
    audience_create(name="Empty")

    response = admin_client.get(reverse("admin:audiences_audience_changelist"))

    assert response.status_code == 200
    rows = result_rows(response)
    assert rows["VIP"].member_count == 3
    assert rows["Empty"].member_count == 0
    assert rows["All Subscribers"].member_count == 5  # everyone
    body = response.content.decode()
    assert f'?audience={vip.public_id}">3</a>' in body


def test_audience_changelist_sorts_by_members(admin_client, subscribers, default_audience):
    small = audience_create(name="Small")
    audience_add_subscriber(audience=small, subscriber=subscribers[0])
    audience_create(name="Empty")

    response = admin_client.get(reverse("admin:audiences_audience_changelist"), {"o": "3"})  # member_count column

    assert [str(a) for a in response.context["cl"].result_list] == ["Empty", "Small", "All Subscribers"]


def test_audience_search(admin_client, default_audience):
    vip = audience_create(name="VIP customers")
    audience_create(name="Churned")

    by_name = admin_client.get(reverse("admin:audiences_audience_changelist"), {"q": "vip"})
    by_id = admin_client.get(reverse("admin:audiences_audience_changelist"), {"q": vip.public_id})

    assert set(result_rows(by_name)) == {"VIP customers"}
    assert set(result_rows(by_id)) == {"VIP customers"}


def test_audience_change_page_shows_member_count(admin_client, subscribers):
    vip = audience_create(name="VIP")
    audience_add_subscriber(audience=vip, subscriber=subscribers[0])

    response = admin_client.get(reverse("admin:audiences_audience_change", args=[vip.pk]))

    assert response.status_code == 200
    assert f'?audience={vip.public_id}">1</a>' in response.content.decode()


def test_audience_add_goes_through_the_service(admin_client, db):
    response = admin_client.post(reverse("admin:audiences_audience_add"), {"name": "  Newcomers  "})

    assert response.status_code == 302
    audience = Audience.objects.get(name="Newcomers")
    assert audience.public_id.startswith("aud_")
    assert audience.version == 1


def test_audience_name_clash_is_a_form_error(admin_client, db):
    audience_create(name="VIP")

    response = admin_client.post(reverse("admin:audiences_audience_add"), {"name": "vip"})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"] == ["Audience with this name already exists."]
    assert 'value="vip"' in response.content.decode()  # the input is kept
    assert Audience.objects.filter(name__iexact="vip").count() == 1


def test_audience_rename_bumps_version(admin_client, db):
    audience = audience_create(name="VIP")
    url = reverse("admin:audiences_audience_change", args=[audience.pk])

    response = admin_client.post(url, {"name": "Very important", "expected_version": 1})

    assert response.status_code == 302
    audience.refresh_from_db()
    assert (audience.name, audience.version) == ("Very important", 2)
    assert audience.updated_at is not None


def test_audience_save_over_a_newer_version_is_refused(admin_client, db):
    audience = audience_create(name="VIP")
    url = reverse("admin:audiences_audience_change", args=[audience.pk])
    admin_client.post(url, {"name": "Renamed elsewhere", "expected_version": 1})

    response = admin_client.post(url, {"name": "Stale edit", "expected_version": 1})

    assert response.status_code == 200
    assert "reload" in str(response.context["adminform"].form.non_field_errors())
    audience.refresh_from_db()
    assert (audience.name, audience.version) == ("Renamed elsewhere", 2)


def test_default_audience_cannot_be_renamed(admin_client, default_audience):
    url = reverse("admin:audiences_audience_change", args=[default_audience.pk])

    page = admin_client.get(url)
    assert page.status_code == 200
    assert "name" not in page.context["adminform"].form.fields

    admin_client.post(url, {"name": "Everyone", "expected_version": default_audience.version})
    default_audience.refresh_from_db()
    assert default_audience.name == "All Subscribers"


def test_default_audience_cannot_be_deleted(admin_client, default_audience):
    url = reverse("admin:audiences_audience_delete", args=[default_audience.pk])

    assert admin_client.get(url).status_code == 403
    assert admin_client.post(url, {"post": "yes"}).status_code == 403
    change_page = admin_client.get(reverse("admin:audiences_audience_change", args=[default_audience.pk]))
    assert url not in change_page.content.decode()  # no delete link
    assert Audience.objects.filter(public_id=DEFAULT_AUDIENCE_ID).exists()


def test_delete_action_leaves_the_default_audience_out(admin_client, default_audience):
    doomed = audience_create(name="Doomed")
    changelist = reverse("admin:audiences_audience_changelist")
    selection = {"action": "delete_selected", "_selected_action": [default_audience.pk, doomed.pk]}

    confirmation = admin_client.post(changelist, selection)
    assert confirmation.status_code == 200
    assert "All Subscribers" not in str(confirmation.context["deletable_objects"])

    response = admin_client.post(changelist, {**selection, "post": "yes"}, follow=True)

    assert response.status_code == 200
    assert any("cannot be deleted" in message for message in messages_of(response))
    assert list(Audience.objects.values_list("public_id", flat=True)) == [DEFAULT_AUDIENCE_ID]


def test_delete_action_on_the_default_audience_alone_deletes_nothing(admin_client, default_audience):
    response = admin_client.post(
        reverse("admin:audiences_audience_changelist"),
        {"action": "delete_selected", "_selected_action": [default_audience.pk], "post": "yes"},
        follow=True,
    )

    assert response.status_code == 200
    assert Audience.objects.filter(public_id=DEFAULT_AUDIENCE_ID).exists()


def test_audience_delete_goes_through_the_service(admin_client, db):
    audience = audience_create(name="Old")

    response = admin_client.post(reverse("admin:audiences_audience_delete", args=[audience.pk]), {"post": "yes"})

    assert response.status_code == 302
    assert not Audience.objects.filter(pk=audience.pk).exists()


def test_autocomplete_for_manual_membership_leaves_out_the_default_audience(admin_client, default_audience):
    audience_create(name="VIP")
    params = {"app_label": "audiences", "model_name": "audiencemembership", "field_name": "audience", "term": ""}

    response = admin_client.get(reverse("admin:autocomplete"), params)

    assert response.status_code == 200
    assert [item["text"] for item in response.json()["results"]] == ["VIP"]


# Marketing lists


@pytest.fixture
def lists(subscribers, default_audience):
    vip = audience_create(name="VIP")
    for subscriber in subscribers[:2]:
        audience_add_subscriber(audience=vip, subscriber=subscriber)
    static = list_create(name="Newsletter", mode="static", audience=default_audience)
    for subscriber in subscribers[:4]:
        list_add_subscriber(marketing_list=static, subscriber=subscriber)
    return {
        "static": static,
        "vip": vip,
        "dynamic": list_create(name="VIP list", mode="dynamic", audience=vip),
        "everyone": list_create(name="Everyone list", mode="dynamic", audience=default_audience),
        "empty": list_create(name="Empty static", mode="static", audience=vip),
    }


def test_list_changelist_counts_members(admin_client, lists):
    response = admin_client.get(reverse("admin:audiences_marketinglist_changelist"))

    assert response.status_code == 200
    counts = {name: obj.member_count for name, obj in result_rows(response).items()}
    assert counts == {"Newsletter": 4, "VIP list": 2, "Everyone list": 5, "Empty static": 0}
    assert f'?list={lists["static"].public_id}">4</a>' in response.content.decode()


def test_list_changelist_counts_a_composed_list_as_its_members_page_does(admin_client, lists):
    campaign = list_create(name="Campaign", mode="static", audience=lists["vip"])
    campaign = list_set_composition(
        marketing_list=campaign, include_lists=[lists["static"]], exclude_audiences=[lists["vip"]]
    )

    response = admin_client.get(reverse("admin:audiences_marketinglist_changelist"))

    expected = list_members(campaign).count()
    assert expected == 2  # the newsletter's four, less the two VIPs
    assert f'?list={campaign.public_id}">{expected}</a>' in response.content.decode()


def test_list_changelist_queries_do_not_grow_with_rows(admin_client, lists, django_assert_max_num_queries):
    url = reverse("admin:audiences_marketinglist_changelist")
    with django_assert_max_num_queries(8):
        admin_client.get(url)


def test_list_filters_and_search(admin_client, lists):
    url = reverse("admin:audiences_marketinglist_changelist")

    dynamic = admin_client.get(url, {"mode__exact": "dynamic"})
    of_vip = admin_client.get(url, {"audience__id__exact": lists["vip"].pk})
    searched = admin_client.get(url, {"q": "news"})

    assert set(result_rows(dynamic)) == {"VIP list", "Everyone list"}
    assert set(result_rows(of_vip)) == {"VIP list", "Empty static"}
    assert set(result_rows(searched)) == {"Newsletter"}


@pytest.mark.parametrize(("key", "count"), [("static", 4), ("dynamic", 2), ("everyone", 5)])
def test_list_change_page_counts_members(admin_client, lists, key, count):
    marketing_list = lists[key]

    response = admin_client.get(reverse("admin:audiences_marketinglist_change", args=[marketing_list.pk]))

    assert response.status_code == 200
    assert f'?list={marketing_list.public_id}">{count}</a>' in response.content.decode()


def test_list_add_goes_through_the_service(admin_client, default_audience):
    response = admin_client.post(
        reverse("admin:audiences_marketinglist_add"),
        {"name": " Promotions ", "mode": "static", "audience": default_audience.pk},
    )

    assert response.status_code == 302
    created = MarketingList.objects.get()
    assert (created.name, created.mode, created.version) == ("Promotions", "static", 1)


def test_static_list_with_members_becomes_dynamic_and_its_history_says_so(admin_client, lists):
    # Issue 16 point 4: it was refused ("empty it first").
    static, vip = lists["static"], lists["vip"]
    url = reverse("admin:audiences_marketinglist_change", args=[static.pk])

    response = admin_client.post(
        url, {"name": static.name, "mode": "dynamic", "audience": vip.pk, "expected_version": static.version}
    )

    assert response.status_code == 302
    static.refresh_from_db()
    assert (static.mode, static.audience_id) == ("dynamic", vip.pk)
    assert not static.memberships.exists()
    page = admin_client.get(url).content.decode()
    assert "Switched to dynamic on " + vip.public_id + ": 4 static members removed; 4 members before, 2 after" in page
    assert "admin (Staff user)" in page


def test_list_rename_bumps_version(admin_client, lists):
    static = lists["static"]
    url = reverse("admin:audiences_marketinglist_change", args=[static.pk])

    response = admin_client.post(
        url, {"name": "Weekly", "mode": "static", "audience": static.audience_id, "expected_version": static.version}
    )

    assert response.status_code == 302
    static.refresh_from_db()
    assert (static.name, static.version) == ("Weekly", 2)


def test_audience_used_by_lists_is_deleted_and_its_lists_keep_their_members(admin_client, lists, default_audience):
    # Issue 16 point 3: the admin refused ("protected"); it deletes through the same service as the API.
    vip, dynamic, empty = lists["vip"], lists["dynamic"], lists["empty"]
    url = reverse("admin:audiences_audience_delete", args=[vip.pk])

    confirmation = admin_client.get(url).content.decode()
    response = admin_client.post(url, {"post": "yes"})

    assert "List <a" in confirmation and "stays: it becomes a static list on All Subscribers with its 2" in confirmation
    assert "protected" not in confirmation
    assert response.status_code == 302
    assert not Audience.objects.filter(pk=vip.pk).exists()
    dynamic.refresh_from_db()
    empty.refresh_from_db()
    assert (dynamic.mode, dynamic.audience_id, dynamic.memberships.count()) == ("static", default_audience.pk, 2)
    assert (empty.mode, empty.audience_id) == ("static", default_audience.pk)
    page = admin_client.get(reverse("admin:audiences_marketinglist_change", args=[dynamic.pk])).content.decode()
    assert "Audience VIP (" + vip.public_id + ") was deleted: made a static list on All Subscribers holding" in page


def test_delete_action_deletes_audiences_through_the_service_and_records_each_list(admin_client, lists):
    vip, other = lists["vip"], audience_create(name="Other")
    on_other = list_create(name="On other", mode="static", audience=other)
    changelist = reverse("admin:audiences_audience_changelist")
    selected = {"action": "delete_selected", "_selected_action": [vip.pk, other.pk]}

    confirmation = admin_client.post(changelist, selected).content.decode()
    response = admin_client.post(changelist, {**selected, "post": "yes"})

    assert "Audience: VIP" in confirmation and "Audience: Other" in confirmation
    assert response.status_code == 302
    assert not Audience.objects.filter(pk__in=[vip.pk, other.pk]).exists()
    kinds = dict(ListChange.objects.values_list("marketing_list__name", "kind"))
    assert kinds == {
        "VIP list": "audience_deleted_made_static",
        "Empty static": "audience_deleted_moved_to_default",
        "On other": "audience_deleted_moved_to_default",
    }
    assert set(ListChange.objects.values_list("actor_type", "actor_name")) == {("staff", "admin")}
    on_other.refresh_from_db()
    assert on_other.audience.public_id == DEFAULT_AUDIENCE_ID


def test_a_static_list_page_links_to_the_import_wizard_for_that_list(admin_client, lists):
    static, dynamic = lists["static"], lists["dynamic"]
    page = admin_client.get(reverse("admin:audiences_marketinglist_change", args=[static.pk])).content.decode()
    wizard = reverse("admin:imports_importjob_import") + f"?list={static.public_id}"
    assert f'href="{wizard}"' in page

    step_one = admin_client.get(wizard).content.decode()
    assert f'<option value="{static.pk}" selected>' in step_one

    dynamic_page = admin_client.get(reverse("admin:audiences_marketinglist_change", args=[dynamic.pk])).content.decode()
    assert reverse("admin:imports_importjob_import") not in dynamic_page  # a dynamic list's members are its audience's
    assert f"marketing_list__id__exact={dynamic.pk}" in dynamic_page
