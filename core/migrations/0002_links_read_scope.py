"""`links:read` is a new scope that no other implies. Keys made with every scope there was before it (what
`create_api_key` without `--scope` and the demo key got) keep having every scope: they get it too. A key whose scopes
were chosen keeps exactly those."""

from django.db import migrations

LINKS_READ = "links:read"
# ALL_SCOPES before this migration, frozen: later scopes must not change which keys count as "every scope".
PREVIOUS_ALL_SCOPES = frozenset(
    f"{resource}:{action}"
    for resource in ("audiences", "lists", "subscribers", "imports", "settings")
    for action in ("read", "write")
)


def grant_links_read_to_full_keys(apps, schema_editor) -> None:
    ApiKey = apps.get_model("core", "ApiKey")
    for key in ApiKey.objects.only("pk", "scopes"):
        scopes = key.scopes if isinstance(key.scopes, list) else []
        if PREVIOUS_ALL_SCOPES <= set(scopes) and LINKS_READ not in scopes:
            ApiKey.objects.filter(pk=key.pk).update(scopes=[*scopes, LINKS_READ])


def revoke_links_read(apps, schema_editor) -> None:
    ApiKey = apps.get_model("core", "ApiKey")
    for key in ApiKey.objects.only("pk", "scopes"):
        scopes = key.scopes if isinstance(key.scopes, list) else []
        if LINKS_READ in scopes:
            ApiKey.objects.filter(pk=key.pk).update(scopes=[s for s in scopes if s != LINKS_READ])


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [migrations.RunPython(grant_links_read_to_full_keys, revoke_links_read)]
