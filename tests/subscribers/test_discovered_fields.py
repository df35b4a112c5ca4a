"""Custom fields nobody defined are visible (issue 8, point 8): a key of `additional_fields_data` that no custom field
names is stored as given and registered as a discovered custom field, typed by its value, wherever it is written (the
API's create, update and batch, imports, the admin), so that /api/custom-fields, the admin and the segment builder
show it and filters read it by its type. A discovered type is a hint: values of another type are still accepted;
only a staff-defined field's type is enforced."""

import threading

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audiences.builder import field_catalogue
from core.jobs import get_queue
from subscribers.models import CustomField, Subscriber
from tests.api_assertions import assert_error, created_id
from tests.subscribers.test_admin import form_data

# The create example of seed 001 ("Create Subscriber"), its audiences and lists left out.
SEED_CREATE = {
    "first_name": "John",
    "last_name": "Doe",
    "email": "john.doe@example.com",
    "active": True,
    "additional_fields_data": {
        "customer_type": "premium",
        "preferred_language": "en",
        "date_of_birth": "1985-03-15",
        "phone_number": "+1-555-0123",
        "company": "Acme Corp",
        "job_title": "Marketing Director",
    },
}


def custom_fields(api, **filters) -> dict[str, dict]:
    body = {"limit": 100, "filters": {name: {"operation": "eq", "value": value} for name, value in filters.items()}}
    response = api.post("/api/custom-fields/list", body)
    assert response.status_code == 200, response.json()
    return {row["name"]: row for row in response.json()["results"]}


def types(fields: dict[str, dict]) -> dict[str, str]:
    return {name: row["type"] for name, row in fields.items()}


@pytest.fixture
def defined(api) -> None:
    """The two keys of the seed's example a marketing team would define; the other four nobody defined."""
    created_id(api.post("/api/custom-fields", {"name": "customer_type", "type": "dropdown",
                                               "values": ["premium", "basic"]}))  # fmt: skip
    created_id(api.post("/api/custom-fields", {"name": "preferred_language", "type": "string"}))


def test_the_seed_create_example_makes_its_undefined_keys_visible_with_inferred_types(api, defined):
    subscriber = created_id(api.post("/api/subscribers", SEED_CREATE))

    assert types(custom_fields(api, discovered=True)) == {
        "company": "string",
        "date_of_birth": "date",
        "job_title": "string",
        "phone_number": "string",
    }
    assert types(custom_fields(api, discovered=False)) == {"customer_type": "dropdown", "preferred_language": "string"}
    stored = api.get(f"/api/subscribers/{subscriber}").json()["additional_fields_data"]
    assert stored == SEED_CREATE["additional_fields_data"]  # stored as given
    field = custom_fields(api)["date_of_birth"]
    assert api.get(f"/api/custom-fields/{field['id']}").json()["discovered"] is True


def test_a_segment_on_discovered_fields_works_through_filters(api, defined):
    created_id(api.post("/api/subscribers", SEED_CREATE))
    created_id(api.post("/api/subscribers", {"first_name": "Young", "email": "young@example.com",
                                             "additional_fields_data": {"date_of_birth": "2001-07-01",
                                                                        "seats": 3}}))  # fmt: skip
    created_id(api.post("/api/subscribers", {"first_name": "Big", "email": "big@example.com",
                                             "additional_fields_data": {"seats": 40}}))  # fmt: skip

    def emails(filters: dict) -> set[str]:
        response = api.post("/api/subscribers/list", {"limit": 100, "filters": filters})
        assert response.status_code == 200, response.json()
        return {row["email"] for row in response.json()["results"]}

    assert emails({"additional_fields_data.date_of_birth": {"operation": "lt", "value": "1990-01-01"}}) == {
        "john.doe@example.com"
    }
    assert emails({"additional_fields_data.seats": {"operation": "gt", "value": 10}}) == {"big@example.com"}
    assert emails({"additional_fields_data.company": {"operation": "like", "value": "acme"}}) == {
        "john.doe@example.com"
    }
    assert types(custom_fields(api, discovered=True))["seats"] == "number"
    condition = {"field": "additional_fields_data.date_of_birth", "operation": "lt", "value": "1990-01-01"}
    rules = {"match": "all", "conditions": [condition]}
    assert api.post("/api/audiences", {"name": "Born before 1990", "rules": rules}).status_code == 200


def test_the_segment_builder_offers_discovered_fields_with_their_type(api, defined):
    created_id(api.post("/api/subscribers", SEED_CREATE))

    entries = {entry["name"]: entry for entry in field_catalogue()["fields"]}

    assert entries["additional_fields_data.date_of_birth"]["input"] == "date"
    assert entries["additional_fields_data.company"]["input"] == "text"
    assert "inferred" in entries["additional_fields_data.company"]["description"]
    assert entries["additional_fields_data.customer_type"]["options"]  # defined: as before


def test_a_value_contradicting_a_defined_type_stays_a_400(api):
    created_id(api.post("/api/custom-fields", {"name": "seats", "type": "number"}))

    answer = assert_error(
        api.post(
            "/api/subscribers",
            {
                "first_name": "A",
                "email": "a@example.com",
                "additional_fields_data": {"seats": "many", "company": "Acme"},
            },
        ),  # fmt: skip
        400,
        "INVALID_SUBSCRIBER",
        "additional_fields_data.seats",
    )

    assert len(answer["issues"]) == 1
    assert not Subscriber.objects.exists()
    assert not CustomField.objects.filter(name="company").exists()  # nothing written, nothing discovered


def test_a_discovered_type_is_a_hint_values_of_another_type_are_still_accepted(api):
    first = created_id(api.post("/api/subscribers", {"first_name": "A", "email": "a@example.com",
                                                     "additional_fields_data": {"seats": 3}}))  # fmt: skip

    second = created_id(api.post("/api/subscribers", {"first_name": "B", "email": "b@example.com",
                                                      "additional_fields_data": {"seats": "a few"}}))  # fmt: skip
    assert created_id(api.put(f"/api/subscribers/{first}", {"additional_fields_data": {"seats": True}})) == first

    assert types(custom_fields(api)) == {"seats": "number"}
    assert Subscriber.objects.get(public_id=second).additional_fields_data == {"seats": "a few"}
    filters = {"additional_fields_data.seats": {"operation": "gt", "value": 0}}
    # The values of other types are not numbers to compare.
    assert api.post("/api/subscribers/list", {"filters": filters}).json()["total"] == 0


def test_update_and_batch_discover_keys_too(api):
    subscriber = created_id(api.post("/api/subscribers", {"first_name": "A", "email": "a@example.com"}))
    assert not CustomField.objects.exists()

    created_id(api.put(f"/api/subscribers/{subscriber}", {"additional_fields_data": {"vip": True}}))
    answer = api.post(
        "/api/subscribers/batch",
        {"data": [{"email": "b@example.com", "custom_fields": {"renewal": "2025-01-31", "vip": False}},
                  {"email": "c@example.com", "custom_fields": {"score": 7.5}}]},
    ).json()  # fmt: skip

    assert answer["total_valid"] == 2
    assert types(custom_fields(api, discovered=True)) == {"vip": "boolean", "renewal": "date", "score": "number"}


def test_keys_the_condition_language_cannot_name_and_null_values_are_stored_but_not_discovered(api):
    data = {"first name": "x", "nothing_yet": None, "ok": "yes"}

    subscriber = created_id(api.post("/api/subscribers", {"first_name": "A", "email": "a@example.com",
                                                          "additional_fields_data": data}))  # fmt: skip

    assert Subscriber.objects.get(public_id=subscriber).additional_fields_data == data
    assert set(custom_fields(api)) == {"ok"}


def test_a_discovered_number_field_gets_its_index_once_staff_define_it(api, django_capture_on_commit_callbacks):
    """Anyone who may write subscribers can make keys up, and every index costs every subscriber write: discovering a
    number key builds nothing; defining it queues the worker that builds its index."""
    queue = get_queue("default")
    queue.empty()

    with django_capture_on_commit_callbacks(execute=True):
        created_id(api.post("/api/subscribers", {"first_name": "A", "email": "a@example.com",
                                                 "additional_fields_data": {"lifetime_value": 120.5,
                                                                            "plan": "gold"}}))  # fmt: skip
    assert queue.get_jobs() == []

    with django_capture_on_commit_callbacks(execute=True):
        created_id(api.post("/api/custom-fields", {"name": "lifetime_value", "type": "number"}))
    jobs = [(job.func_name, job.args) for job in queue.get_jobs()]
    queue.empty()
    assert jobs == [("subscribers.tasks.sync_custom_field_index", ("lifetime_value",))]


def test_discovery_stops_at_its_limit_and_keeps_every_value(api, settings):
    settings.CUSTOM_FIELDS_MAX_DISCOVERED = 2
    data = {"first": "a", "second": 2, "third": True}
    subscriber_id = created_id(
        api.post("/api/subscribers", {"first_name": "A", "email": "a@example.com", "additional_fields_data": data})
    )

    assert set(custom_fields(api, discovered=True)) == {"first", "second"}
    assert api.get(f"/api/subscribers/{subscriber_id}").json()["additional_fields_data"] == data
    # A defined field does not count against the limit, and defining one makes room.
    created_id(api.post("/api/custom-fields", {"name": "first", "type": "string"}))
    created_id(api.post("/api/subscribers", {"first_name": "B", "email": "b@example.com",
                                             "additional_fields_data": {"fourth": "x"}}))  # fmt: skip
    assert set(custom_fields(api, discovered=True)) == {"second", "fourth"}


def test_defining_a_discovered_field_makes_its_type_enforced(api):
    created_id(api.post("/api/subscribers", {"first_name": "A", "email": "a@example.com",
                                             "additional_fields_data": {"seats": 3, "plan": "gold"}}))  # fmt: skip
    seats, plan = (custom_fields(api)[name]["id"] for name in ("seats", "plan"))

    # By name, as one defines any field: the discovered one becomes it (same id).
    assert created_id(api.post("/api/custom-fields", {"name": "seats", "type": "number", "required": False})) == seats
    # Or by saying so; a discovered type may change, as it was only a guess.
    assert created_id(api.put(f"/api/custom-fields/{plan}", {"type": "dropdown", "values": ["gold", "free"]})) == plan

    assert types(custom_fields(api, discovered=False)) == {"seats": "number", "plan": "dropdown"}
    assert_error(
        api.post(
            "/api/subscribers",
            {
                "first_name": "B",
                "email": "b@example.com",
                "additional_fields_data": {"seats": "many", "plan": "silver"},
            },
        ),  # fmt: skip
        400,
        "INVALID_SUBSCRIBER",
        "additional_fields_data.seats",
        "additional_fields_data.plan",
    )
    assert_error(api.put(f"/api/custom-fields/{plan}", {"discovered": True}), 400, "VALIDATION_ERROR", "discovered")
    assert_error(api.put(f"/api/custom-fields/{plan}", {"type": "string"}), 409, "VALIDATION_ERROR", "type")


def test_put_discovered_false_defines_the_field(api):
    created_id(api.post("/api/subscribers", {"first_name": "A", "email": "a@example.com",
                                             "additional_fields_data": {"seats": 3}}))  # fmt: skip
    field = custom_fields(api)["seats"]

    assert created_id(api.put(f"/api/custom-fields/{field['id']}", {**field, "discovered": False})) == field["id"]

    read = api.get(f"/api/custom-fields/{field['id']}").json()
    assert (read["discovered"], read["type"], read["version"]) == (False, "number", 2)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_requests_discovering_one_key_at_once_both_succeed(make_client, monkeypatch):
    """Both look the key up before either registers it: the unique name decides, and the second insert does
    nothing instead of failing."""
    clients = [make_client(), make_client()]
    both_looked = threading.Barrier(2, timeout=10)
    original = CustomField.objects.bulk_create

    def look_then_wait(*args, **kwargs):
        both_looked.wait()
        return original(*args, **kwargs)

    monkeypatch.setattr(CustomField.objects, "bulk_create", look_then_wait)
    responses = [None, None]

    def create(index: int) -> None:
        try:
            responses[index] = clients[index].post(
                "/api/subscribers",
                {"first_name": "R", "email": f"race{index}@example.com", "additional_fields_data": {"team": "red"}},
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert [response.status_code for response in responses] == [200, 200]
    assert list(CustomField.objects.values_list("name", "discovered")) == [("team", True)]


def test_an_import_discovers_the_keys_of_its_file_once(api, tmp_path, settings):
    settings.IMPORT_BATCH_SIZE = 2
    list_id = created_id(api.post("/api/lists", {"name": "Leads", "mode": "static", "audience_id": "aud_default"}))
    path = tmp_path / "people.csv"
    rows = ["Email,Company,Joined", *(f"p{i}@example.com,Firm {i},2024-0{i}-01" for i in range(1, 6))]
    path.write_text("\n".join(rows) + "\n")

    with CaptureQueriesContext(connection) as queries:
        call_command(
            "import_subscribers", str(path), "--list", list_id, "--type", "create_update",
            "--map", "Email=email", "--map", "Company=additional_fields_data.company",
            "--map", "Joined=additional_fields_data.joined",
        )  # fmt: skip

    table = CustomField._meta.db_table
    registering = [q["sql"] for q in queries.captured_queries if q["sql"].startswith(f'INSERT INTO "{table}"')]
    assert len(registering) == 1  # three batches, one registration
    assert Subscriber.objects.count() == 5
    assert types(custom_fields(api, discovered=True)) == {"company": "string", "joined": "date"}


def test_an_import_takes_other_types_for_discovered_fields(api, tmp_path):
    created_id(api.post("/api/subscribers", {"first_name": "A", "email": "a@example.com",
                                             "additional_fields_data": {"seats": 3}}))  # fmt: skip
    list_id = created_id(api.post("/api/lists", {"name": "Leads", "mode": "static", "audience_id": "aud_default"}))
    path = tmp_path / "people.csv"
    path.write_text("email,additional_fields_data.seats\nb@example.com,a few\n")

    call_command("import_subscribers", str(path), "--list", list_id, "--type", "create_update")

    assert Subscriber.objects.get(email="b@example.com").additional_fields_data == {"seats": "a few"}


def test_admin_edits_discover_keys_and_the_changelist_shows_and_filters_them(admin_client, api):
    created_id(api.post("/api/custom-fields", {"name": "plan", "type": "string"}))
    url = reverse("admin:subscribers_subscriber_add")
    data = form_data(admin_client.get(url))
    data.update({"email": "staff@example.com", "first_name": "Staff", "active": "on",
                 "additional_fields_data": '{"plan": "gold", "region": "EMEA"}'})  # fmt: skip

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    changelist = reverse("admin:subscribers_customfield_changelist")
    everything = admin_client.get(changelist)
    assert {field.name for field in everything.context["cl"].result_list} == {"plan", "region"}
    assert "discovered" in everything.context["cl"].list_display
    discovered = admin_client.get(changelist, {"discovered__exact": "1"})
    assert [field.name for field in discovered.context["cl"].result_list] == ["region"]
    defined = admin_client.get(changelist, {"discovered__exact": "0"})
    assert [field.name for field in defined.context["cl"].result_list] == ["plan"]


def test_staff_define_a_discovered_field_in_the_admin(admin_client, api):
    created_id(api.post("/api/subscribers", {"first_name": "A", "email": "a@example.com",
                                             "additional_fields_data": {"seats": "3"}}))  # fmt: skip
    field = CustomField.objects.get(name="seats")
    url = reverse("admin:subscribers_customfield_change", args=[field.pk])
    data = form_data(admin_client.get(url))
    assert data["discovered"] == "on" and data["field_type"] == "string"  # both editable while discovered

    data.update({"field_type": "number"})
    data.pop("discovered")
    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    field.refresh_from_db()
    assert (field.field_type, field.discovered, field.version) == ("number", False, 2)
    page = admin_client.get(url)
    assert "field_type" not in page.context["adminform"].form.fields  # defined: the type is fixed now


def test_a_discovered_field_keeps_its_name(api):
    created_id(api.post("/api/subscribers", {"first_name": "A", "email": "a@example.com",
                                             "additional_fields_data": {"seats": 3}}))  # fmt: skip
    field = custom_fields(api)["seats"]

    assert_error(api.put(f"/api/custom-fields/{field['id']}", {"name": "chairs"}), 409, "VALIDATION_ERROR", "name")
    assert created_id(api.put(f"/api/custom-fields/{field['id']}", {"description": "Licensed seats"})) == field["id"]

    read = api.get(f"/api/custom-fields/{field['id']}").json()
    assert (read["name"], read["discovered"], read["description"]) == ("seats", True, "Licensed seats")
