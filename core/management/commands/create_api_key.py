"""`manage.py create_api_key NAME [--scope subscribers:read ...]`: the raw key is the last line printed."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ApplicationError
from core.models import ALL_SCOPES
from core.services import api_key_create


class Command(BaseCommand):
    help = (
        "Create an API key for an integrator and print it once (only its digest is stored). "
        f"Scopes: {', '.join(ALL_SCOPES)}; without --scope the key gets all of them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Who or what the key is for, e.g. 'crm-sync'.")
        parser.add_argument(
            "--scope",
            action="append",
            dest="scopes",
            metavar="SCOPE",
            help="Grant one scope (repeatable). A write scope implies read on the same resource.",
        )

    def handle(self, *args: Any, name: str, scopes: list[str] | None, **options: Any) -> None:
        name = name.strip()
        if not name:
            raise CommandError("The key needs a name")
        try:
            key, raw_key = api_key_create(name=name, scopes=scopes)
        except ApplicationError as error:
            details = "; ".join(issue.message for issue in error.issues) or error.message
            raise CommandError(details) from None
        self.stdout.write(f"Created API key {key.name!r} (prefix {key.prefix}) with scopes: {', '.join(key.scopes)}")
        self.stdout.write("Store it now: it cannot be shown again. Send it in the X-API-Key header.")
        self.stdout.write(raw_key)
