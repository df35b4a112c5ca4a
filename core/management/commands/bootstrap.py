"""`manage.py bootstrap`: what `make run` needs on a fresh machine: an admin user, a demo API key and demo data.

Re-runnable: the generated admin password and the demo key's raw value are kept under the data directory (var/,
readable by the owner only) so a second run prints the same credentials instead of making new ones."""

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test.utils import override_settings

from core.services import api_key_authenticate, api_key_create
from preferences.links import subscriber_links
from preferences.models import MarketingEmail
from subscribers.models import Subscriber

ADMIN_USERNAME = "admin"
ADMIN_PASSWORD_ENV = "ROSTER_ADMIN_PASSWORD"  # noqa: S105 - the variable's name, not a password
ADMIN_PASSWORD_FILE = "admin_password.txt"  # noqa: S105 - a file name
DEMO_KEY_NAME = "demo"
DEMO_KEY_FILE = "demo_api_key.txt"


def shown(path: Path) -> str:
    """A path as a person at the repository root would type it."""
    return str(path.relative_to(settings.BASE_DIR)) if path.is_relative_to(settings.BASE_DIR) else str(path)


def read_secret(path: Path) -> str:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return ""


def write_secret(path: Path, value: str) -> None:
    """Write a file only its owner can read (created 0600, and narrowed if it already existed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    path.chmod(0o600)


class Command(BaseCommand):
    help = "Create the admin user and a demo API key (once), load the demo data and print how to log in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="Where the server will listen.")
        parser.add_argument("--skip-demo", action="store_true", help="Do not load the demo data.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Run even with DEBUG off (it creates a full-access key and demo subscribers: not for production).",
        )

    def handle(self, *args: Any, url: str, skip_demo: bool, force: bool, **options: Any) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "bootstrap creates a full-access demo API key and demo subscribers, for local runs with DEBUG=true. "
                "Pass --force to run it anyway."
            )
        data_dir = Path(settings.DATA_DIR)
        password, password_note = self._admin(data_dir / ADMIN_PASSWORD_FILE)
        raw_key, key_note = self._demo_key(data_dir / DEMO_KEY_FILE)
        if not skip_demo:
            call_command("load_demo", stdout=self.stdout, verbosity=options["verbosity"])

        base = url.rstrip("/")
        lines = [
            "",
            self.style.SUCCESS("Roster is ready."),
            f"  Admin:     {base}/admin/",
            f"  Username:  {ADMIN_USERNAME}",
            f"  Password:  {password}{password_note}",
            f"  API key:   {raw_key}{key_note}",
            f"  API docs:  {base}/api/docs/",
            "",
            "Try the API:",
            f"  curl -s -X POST {base}/api/subscribers/list -H 'X-API-Key: {raw_key}' "
            "-H 'Content-Type: application/json' -d '{\"page\": 1, \"limit\": 5}'",
            "",
        ]
        lines += self._public_pages(base)
        self.stdout.write("\n".join(lines))

    def _public_pages(self, base: str) -> list[str]:
        """Links a demo subscriber would find in an email, so the public pages can be tried in a browser."""
        subscriber = Subscriber.objects.filter(active=True).order_by("created_at", "pk").first()
        if subscriber is None:
            return []
        marketing_email = MarketingEmail.objects.order_by("created_at", "pk").first()
        # Links are absolute on PUBLIC_BASE_URL; unless one is configured, point them at this local server.
        public_base = base if "PUBLIC_BASE_URL" not in os.environ else settings.PUBLIC_BASE_URL
        with override_settings(PUBLIC_BASE_URL=public_base):
            links = subscriber_links(subscriber, marketing_email=marketing_email)
        lines = [
            f"Open the public pages as the demo subscriber {subscriber.email}:",
            f"  Preference center:  {links['preference_center_url']}",
        ]
        if links["view_in_browser_url"]:
            lines.append(f"  View in browser:    {links['view_in_browser_url']}")
        lines += [f"  Unsubscribe:        {links['unsubscribe_url']}", ""]
        return lines

    def _admin(self, password_file: Path) -> tuple[str, str]:
        """Answer the admin's password and where it comes from, creating the user if needed."""
        user_model = get_user_model()
        from_env = os.environ.get(ADMIN_PASSWORD_ENV, "")
        stored = read_secret(password_file)
        user = user_model.objects.filter(username=ADMIN_USERNAME).first()

        if from_env:
            password, note = from_env, f"  (from {ADMIN_PASSWORD_ENV})"
        elif stored:
            password, note = stored, f"  (stored in {shown(password_file)})"
        elif user is None:
            password, note = secrets.token_urlsafe(12), f"  (generated, stored in {shown(password_file)})"
            write_secret(password_file, password)
        else:
            return "(unknown: set one with `manage.py changepassword admin`)", ""

        if user is None:
            user_model.objects.create_superuser(username=ADMIN_USERNAME, email="admin@example.com", password=password)
        elif from_env and not user.check_password(password):
            user.set_password(password)
            user.save(update_fields=["password"])
        elif not from_env and not user.check_password(password):
            # Someone changed it in the admin since it was generated: theirs wins.
            return "(changed since it was generated; use your own)", ""
        return password, note

    def _demo_key(self, key_file: Path) -> tuple[str, str]:
        """Answer the demo key's raw value, creating it once (the raw value is only known at creation)."""
        stored = read_secret(key_file)
        if stored and api_key_authenticate(stored) is not None:
            return stored, f"  (stored in {shown(key_file)}; all scopes)"
        _, raw_key = api_key_create(name=DEMO_KEY_NAME)
        write_secret(key_file, raw_key)
        return raw_key, f"  (new, stored in {shown(key_file)}; all scopes)"
