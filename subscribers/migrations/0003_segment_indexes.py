"""An expression index for range rules on the `lifetime_value` custom field (loyalty tiers, "worth more than X").

Chosen from `bench/segments.py` at 1,000,000 subscribers: a fresh count of `lifetime_value > 9000` fell from about
530 ms to 75 ms and `> 5000` from about 510 ms to 160 ms; equality on `customer_type` gained too little to pay
for another index on every write (see bench/README.md).

The expression is exactly what `core.conditions.expressions.JsonNumber` emits on PostgreSQL, so the planner matches
it; change one and the other must follow. PostgreSQL only (embedded SQLite has no use for it), built concurrently so
that a large table keeps taking writes meanwhile.
"""

from django.db import migrations

INDEX = "subscriber_cf_lifetime_value_number"
EXPRESSION = (
    "(CASE WHEN jsonb_typeof(additional_fields_data -> 'lifetime_value') = 'number' "
    "THEN (additional_fields_data ->> 'lifetime_value')::double precision END)"
)


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # An interrupted earlier attempt leaves an invalid index behind under the same name.
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")
    schema_editor.execute(f"CREATE INDEX CONCURRENTLY {INDEX} ON subscribers_subscriber ({EXPRESSION})")


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("subscribers", "0002_consent_records_and_engagement")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
