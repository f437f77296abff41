"""manage.py export_areas --level L [--within CODE] --format geojson|gpkg|shp|csv [--output PATH]."""

from django.core.management.base import BaseCommand, CommandError, no_translations

from apps.common.errors import DomainError
from apps.dataio.exports import FORMATS, areas_frame, write_frame
from apps.territory.models import Level


class Command(BaseCommand):
    help = "Export the current areas of one level, with their ancestors' codes, in EPSG:4326."

    def add_arguments(self, parser):
        parser.add_argument("--level", required=True, choices=Level.values)
        parser.add_argument("--within", help="code of an ancestor area (prefix)")
        parser.add_argument("--format", choices=list(FORMATS), default="gpkg")
        parser.add_argument("--output", help="file to write (default: areas_<level>.<ext>)")

    @no_translations  # the command line speaks English, errors included
    def handle(self, *args, **options):
        level, fmt = options["level"], options["format"]
        try:
            frame = areas_frame(level=level, within=options["within"])
            path = write_frame(
                frame, options["output"] or f"areas_{level}{FORMATS[fmt][1]}", fmt, layer=level
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"{len(frame)} {level} areas written to {path}")
