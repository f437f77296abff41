"""Import hotline records (CSV/XLSX) through a column mapping: see apps/issues/importer.py."""

from django.core.management.base import BaseCommand, CommandError, no_translations

from apps.common.errors import DomainError
from apps.issues.importer import hotline_import, mapping_load


class Command(BaseCommand):
    help = "Import hotline records (12345 / 311) from a CSV or XLSX file through a column mapping."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--mapping", required=True, help="JSON column/value mapping")
        parser.add_argument("--dry-run", action="store_true", help="check and route, write nothing")
        parser.add_argument(
            "--skip-bad-rows", action="store_true", help="import the good rows, report the bad ones"
        )

    @no_translations  # the command line speaks English, errors included
    def handle(self, *args, file, mapping, dry_run, skip_bad_rows, **opts):
        try:
            result = hotline_import(
                path=file,
                mapping=mapping_load(mapping),
                dry_run=dry_run,
                skip_bad_rows=skip_bad_rows,
                progress=opts.get("verbosity", 1) > 0,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        for error in result.errors:
            self.stderr.write(f"skipped {error}")
        verb = "would import" if dry_run else "imported"
        self.stdout.write(
            f"{result.rows} rows: {verb} {result.imported}, skipped {result.skipped}, "
            f"outside the territory {result.outside}; by status {result.by_status}"
        )
