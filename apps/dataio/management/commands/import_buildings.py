"""manage.py import_buildings FILE [...]: buildings with household estimates, COPYed in one transaction."""

from django.core.management.base import BaseCommand, CommandError, no_translations

from apps.common.errors import DomainError
from apps.dataio.management.commands._common import add_read_arguments, read_options
from apps.dataio.services import (
    DEFAULT_DWELLING_AREA,
    DEFAULT_STOREY_HEIGHT,
    ImportRejected,
    buildings_import,
)


class Command(BaseCommand):
    help = "Import building footprints from a GIS file and estimate households (dry run unless --commit)."

    def add_arguments(self, parser):
        add_read_arguments(parser)
        parser.add_argument("--address-field")
        parser.add_argument("--id-field", help="the file's id of a building (kept as ext_ref)")
        parser.add_argument("--households-field", help="households / dwellings per building")
        parser.add_argument("--floors-field", help="floors (OSM default: building:levels)")
        parser.add_argument(
            "--height-field", help="height in metres (floors = height ÷ storey height)"
        )
        parser.add_argument("--units-field", help="dwellings per floor")
        parser.add_argument(
            "--units-per-floor", type=float, help="dwellings per floor for every building"
        )
        parser.add_argument(
            "--dwelling-area", type=float, default=DEFAULT_DWELLING_AREA, help="m² per dwelling"
        )
        parser.add_argument(
            "--storey-height", type=float, default=DEFAULT_STOREY_HEIGHT, help="m per storey"
        )
        parser.add_argument("--default-floors", type=int, help="floors where the file gives none")

    @no_translations  # the command line speaks English, errors included
    def handle(self, *args, **options):
        try:
            report = buildings_import(
                path=options["file"],
                read=read_options(options),
                name_field=options["name_field"],
                address_field=options["address_field"],
                id_field=options["id_field"],
                households_field=options["households_field"],
                floors_field=options["floors_field"],
                height_field=options["height_field"],
                units_field=options["units_field"],
                units_per_floor=options["units_per_floor"],
                dwelling_area=options["dwelling_area"],
                storey_height=options["storey_height"],
                default_floors=options["default_floors"],
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
