"""manage.py import_areas FILE --level L [...]: dry run by default, --commit writes all or nothing."""

from django.core.management.base import BaseCommand, CommandError, no_translations

from apps.common.errors import DomainError
from apps.dataio.management.commands._common import add_read_arguments, parse_date, read_options
from apps.dataio.services import ImportRejected, areas_import
from apps.territory.models import Level


class Command(BaseCommand):
    help = "Import areas of one level from a GIS file (dry run unless --commit)."

    def add_arguments(self, parser):
        add_read_arguments(parser)
        parser.add_argument("--level", required=True, choices=Level.values)
        parser.add_argument(
            "--code-field", help="field holding the file's own code (kept as ext_code)"
        )
        parser.add_argument(
            "--parent-field",
            help="field holding the parent's code or ext_code (default: parents found spatially)",
        )
        parser.add_argument("--county", help="6-digit county code under which streets are coded")
        parser.add_argument(
            "--keep-codes",
            action="store_true",
            help="the --code-field values are Linli codes already (re-import of an export)",
        )
        parser.add_argument("--valid-from", help="start of the new areas' validity (default now)")

    @no_translations  # the command line speaks English, errors included
    def handle(self, *args, **options):
        try:
            report = areas_import(
                path=options["file"],
                level=options["level"],
                read=read_options(options),
                name_field=options["name_field"],
                code_field=options["code_field"],
                parent_field=options["parent_field"],
                county=options["county"],
                keep_codes=options["keep_codes"],
                valid_from=parse_date(options["valid_from"]),
                strict=options["strict"],
                skip_bad=options["skip_bad"],
                commit=options["commit"],
                progress=True,
            )
        except ImportRejected as exc:
            self.stdout.write(exc.report.as_text())
            raise CommandError(exc.message) from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(report.as_text())
