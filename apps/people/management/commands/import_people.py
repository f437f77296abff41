from django.core.management.base import BaseCommand, CommandError, no_translations

from apps.common.errors import DomainError
from apps.people.importer import people_import_file


class Command(BaseCommand):
    help = (
        "Import residents or party members from CSV/XLSX. Dry run unless --commit; all rows or none "
        "unless --skip-bad-rows."
    )

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=["residents", "party_members"])
        parser.add_argument("file")
        parser.add_argument("--commit", action="store_true", help="write (default: dry run)")
        parser.add_argument(
            "--skip-bad-rows", action="store_true", help="write the good rows, report the bad"
        )

    @no_translations  # the command line speaks English, errors included
    def handle(self, *args, kind, file, commit, skip_bad_rows, **options):
        try:
            report = people_import_file(
                kind=kind, path=file, dry_run=not commit, skip_bad_rows=skip_bad_rows
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        for e in report.errors:
            self.stderr.write(f"row {e['row']}: {e['field']}: {e['error']}")
        summary = f"{report.rows} rows, {report.valid} valid, {len(report.errors)} with errors, {report.written} written"
        if report.dry_run:
            summary += " (dry run: nothing written; add --commit)"
        if report.errors and not skip_bad_rows:
            raise CommandError(summary + "; nothing written (fix the rows or use --skip-bad-rows)")
        self.stdout.write(self.style.SUCCESS(summary))
