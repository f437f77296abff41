"""manage.py export_buildings [--within CODE] --format geojson|gpkg|shp|csv [--output PATH]."""

from django.core.management.base import BaseCommand, CommandError, no_translations

from apps.common.errors import DomainError
from apps.dataio.exports import FORMATS, buildings_frame, write_frame


class Command(BaseCommand):
    help = (
        "Export buildings with the codes of their street, community, grid and compound (EPSG:4326)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--within", help="code of a street or community (prefix)")
        parser.add_argument("--format", choices=list(FORMATS), default="gpkg")
        parser.add_argument("--output", help="file to write (default: buildings.<ext>)")

    @no_translations  # the command line speaks English, errors included
    def handle(self, *args, **options):
        fmt = options["format"]
        try:
            frame = buildings_frame(within=options["within"])
            path = write_frame(
                frame, options["output"] or f"buildings{FORMATS[fmt][1]}", fmt, layer="buildings"
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"{len(frame)} buildings written to {path}")
