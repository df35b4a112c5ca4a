"""`manage.py import_subscribers FILE --list ID --type create_update [--map "Email=email" ...] [--dry-run]`: run an
import in this process, from a local CSV or XLSX file, with a progress bar on the terminal. The job is recorded like
any other (GET /api/lists/{id}/jobs shows it, with its error report).

Columns map as the admin's import wizard maps them (imports.mapping: field names in any case or spacing, synonyms,
existing custom fields); `--map` changes single columns on top of that. The columns left out are named before the
import starts, and a job that fails says so, with its reason, and exits non-zero."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audiences.models import Audience, MarketingList
from core.errors import ApplicationError
from imports.mapping import SKIP, ColumnMapping, mapping_with_overrides
from imports.models import ImportJob
from imports.readers import open_rows
from imports.reports import error_report_url
from imports.services import import_job_create
from subscribers.models import CustomField

BAR_WIDTH = 30


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    """`--map` values, header -> target; an empty target (`"Notes="`) leaves the column out."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        header, sep, target = pair.rpartition("=")
        if not sep or not header.strip():
            raise CommandError(f'--map takes "Column header=field" (or "Column header=" to skip it), got {pair!r}')
        mapping[header.strip()] = target.strip() or SKIP
    return mapping


def describe_error(error: ApplicationError) -> str:
    details = "; ".join(f"{issue.field}: {issue.message}" for issue in error.issues)
    return f"{error.message}{f' ({details})' if details else ''}"


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
            help='Map one column (repeatable): "E-post=email", "Company=additional_fields_data.company", or '
            '"Notes=" to leave it out. The other columns map as in the admin\'s import wizard (field names in any '
            "case or spacing, synonyms such as 'Email Address' or 'Surname', existing custom fields).",
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
        mapping = self.column_mapping(path, parse_mapping(options["map"]))
        self.show_mapping(mapping)
        try:
            job = import_job_create(
                file_url=str(path),
                local_path=str(path),
                import_type=options["import_type"],
                columns_mapping=mapping.columns,
                dry_run=options["dry_run"],
                run_inline=True,
                progress=self.show_progress,
                **owner,
            )
        except ApplicationError as error:
            raise CommandError(describe_error(error)) from None
        self.stdout.write("")
        self.report(job)
        if job.status != ImportJob.Status.COMPLETED:
            raise CommandError(f"Import {job.status}: {job.failure_reason}")

    def column_mapping(self, path: Path, overrides: dict[str, str]) -> ColumnMapping:
        try:
            with open_rows(path) as reader:
                headers = list(reader.headers)
        except ApplicationError as error:
            raise CommandError(describe_error(error)) from None
        names = list(CustomField.objects.order_by("name").values_list("name", flat=True))
        try:
            mapping = mapping_with_overrides(headers, names, overrides)
        except ValueError as error:
            raise CommandError(f"--map: {error}") from None
        if "email" not in mapping.columns.values():
            raise CommandError(
                f'No column maps to email: name it with --map "Header=email" (the columns are: {", ".join(headers)})'
            )
        return mapping

    def show_mapping(self, mapping: ColumnMapping) -> None:
        columns = ", ".join(f"{header} -> {target}" for header, target in mapping.columns.items())
        self.stdout.write(f"Columns: {columns}")
        if mapping.skipped:
            self.stderr.write(
                self.style.WARNING(
                    f"Warning: {len(mapping.skipped)} column(s) will not be imported, as no field matches them: "
                    f'{", ".join(mapping.skipped)}. Map one with --map "Header=field" '
                    '(e.g. "Header=additional_fields_data.key" for a custom field).'
                )
            )

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
        counts = (
            f"created {job.created_contacts}, updated {job.updated_contacts}, removed {job.removed_contacts}, "
            f"skipped {job.skipped_contacts}, invalid {job.invalid_contacts} of {job.total_rows} rows"
        )
        if job.status == ImportJob.Status.COMPLETED:
            verb = "Would have" if job.dry_run else "Done:"
            self.stdout.write(f"{job.public_id} completed. {verb} {counts}.")
        else:
            # Failed or cancelled: what was applied before it stopped stays (batches commit one by one).
            self.stdout.write(f"{job.public_id} {job.status}: {job.failure_reason}")
            self.stdout.write(f"Before it stopped, after {job.processed_rows} rows: {counts}.")
        if job.error_report:
            self.stdout.write(f"Error report: {error_report_url(job)}")
