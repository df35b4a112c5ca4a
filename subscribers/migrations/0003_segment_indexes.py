"""Expression indexes for rules over number custom fields (see `subscribers.indexes`): one per number field that
exists when this runs; fields created later get theirs from a background job. PostgreSQL only, built concurrently
so that a large table keeps taking writes meanwhile."""

from django.db import migrations

from subscribers.indexes import number_field_index_create, number_field_index_drop


def _number_keys(apps) -> list[str]:
    CustomField = apps.get_model("subscribers", "CustomField")
    return list(CustomField.objects.filter(field_type="number").values_list("name", flat=True))


def create_indexes(apps, schema_editor):
    for key in _number_keys(apps):
        number_field_index_create(key)


def drop_indexes(apps, schema_editor):
    for key in _number_keys(apps):
        number_field_index_drop(key)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("subscribers", "0002_consent_records_and_engagement")]

    operations = [migrations.RunPython(create_indexes, drop_indexes, elidable=False)]
