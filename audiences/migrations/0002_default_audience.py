from django.db import migrations
from django.utils import timezone


def create_default_audience(apps, schema_editor):
    Audience = apps.get_model("audiences", "Audience")
    Audience.objects.get_or_create(
        public_id="aud_default", defaults={"name": "All Subscribers", "created_at": timezone.now()}
    )


class Migration(migrations.Migration):
    dependencies = [("audiences", "0001_initial")]

    operations = [migrations.RunPython(create_default_audience, migrations.RunPython.noop)]
