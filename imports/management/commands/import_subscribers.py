"""`manage.py import_subscribers FILE --list ID --type create_update [--map "Email=email" ...] [--dry-run]`: run an
import in this process, from a local CSV or XLSX file, with a progress bar on the terminal. The job is recorded like
any other (GET /api/lists/{id}/jobs shows it, with its error report)."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audiences.models import Audience, MarketingList
from core.errors import ApplicationError
from imports.models import ImportJob
from imports.reports import error_report_url
from imports.services import import_job_create

BAR_WIDTH = 30


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        header, sep, target = pair.rpartition("=")
        if not sep or not header.strip() or not target.strip():
            raise CommandError(f'--map takes "Column header=field", got {pair!r}')
        mapping[header.strip()] = target.strip()
    return mapping


class Command(BaseCommand):
    help = "Import subscribers from a local CSV or XLSX file into a list (or an audience's manual members)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="Path of the CSV or XLSX file.")
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--list", dest="list_id", help="The list's id (list_...).")
        target.add_argument("--audience", dest="audience_id", help="The audience's id (aud_...): manual members.")
        parser.add_argument(
            "--type",
            dest="import_type",
            default=ImportJob.ImportType.CREATE_UPDATE,
            choices=ImportJob.ImportType.values,
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="HEADER=FIELD",
            help='Map a column (repeatable): "Email Address=email", "Company=additional_fields_data.company". '
            "Without --map, headers named like fields map themselves.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Check every row and count, change nothing.")

    def handle(self, *args: Any, file: str, list_id: str | None, audience_id: str | None, **options: Any) -> None:
        path = Path(file).expanduser().resolve()
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        owner: dict[str, Any] = {}
        if list_id:
            owner["marketing_list"] = MarketingList.objects.filter(public_id=list_id).first()
            if owner["marketing_list"] is None:
                raise CommandError(f"List {list_id} not found")
        else:
            owner["audience"] = Audience.objects.filter(public_id=audience_id).first()
            if owner["audience"] is None:
                raise CommandError(f"Audience {audience_id} not found")
        try:
            job = import_job_create(
                file_url=str(path),
                local_path=str(path),
                import_type=options["import_type"],
                columns_mapping=parse_mapping(options["map"]),
                dry_run=options["dry_run"],
                run_inline=True,
                progress=self.show_progress,
                **owner,
            )
        except ApplicationError as error:
            details = "; ".join(f"{issue.field}: {issue.message}" for issue in error.issues)
            raise CommandError(f"{error.message}{f' ({details})' if details else ''}") from None
        self.stdout.write("")
        self.report(job)
        if job.status == ImportJob.Status.FAILED:
            raise CommandError(f"Import failed: {job.failure_reason}")

    def show_progress(self, job: ImportJob) -> None:
        total = max(job.total_rows, 1)
        done = min(job.processed_rows, total)
        filled = BAR_WIDTH * done // total
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stdout.write(
            f"\r[{bar}] {100 * done // total:3d}% {job.processed_rows}/{job.total_rows} rows "
            f"(created {job.created_contacts}, updated {job.updated_contacts}, invalid {job.invalid_contacts})",
            ending="",
        )
        self.stdout.flush()

    def report(self, job: ImportJob) -> None:
        verb = "Would have" if job.dry_run else "Done:"
        self.stdout.write(
            f"{job.public_id} {job.status}. {verb} created {job.created_contacts}, updated {job.updated_contacts}, "
            f"removed {job.removed_contacts}, skipped {job.skipped_contacts}, invalid {job.invalid_contacts} "
            f"of {job.total_rows} rows."
        )
        if job.error_report:
            self.stdout.write(f"Error report: {error_report_url(job)}")
