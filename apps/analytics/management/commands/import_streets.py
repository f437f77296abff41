"""manage.py import_streets PATH [--layer L] [--replace]: load the pedestrian street network that walking
distances to the service stations are measured on (apps.analytics.stations, docs/ANALYTICS.md)."""

from django.core.management.base import BaseCommand, CommandError, no_translations

from apps.analytics.stations import StreetsRejected, streets_import
from apps.audit.context import audit_actor
from apps.common.errors import DomainError


class Command(BaseCommand):
    help = (
        "Import pedestrian streets (lines) from a GIS file: GeoJSON, GeoPackage, Shapefile or anything "
        "GDAL reads. All or nothing: a row that is not a usable line stops the import."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="GeoJSON, GeoPackage, Shapefile (.shp or .zip), ...")
        parser.add_argument("--layer", help="layer to read (required when the file has several)")
        parser.add_argument(
            "--replace",
            action="store_true",
            help="delete every loaded street segment first (the file becomes the whole network)",
        )
        parser.add_argument(
            "--where",
            help='OGR SQL filter on attributes, e.g. "highway IS NOT NULL" (OSM layer lines)',
        )
        parser.add_argument("--name-field", help="field holding the street name (default: name)")
        parser.add_argument("--id-field", help="field holding the feature's id (default: id)")
        parser.add_argument("--srid", type=int, help="EPSG code, only for files without a CRS")
        parser.add_argument(
            "--datum",
            choices=["wgs84", "gcj02", "bd09"],
            default="wgs84",
            help="datum of the longitudes/latitudes: gcj02 (AMap, Tencent), bd09 (Baidu) are converted",
        )
        parser.add_argument(
            "--skip-bad", action="store_true", help="write the good rows, skip rejected ones"
        )
        parser.add_argument("--dry-run", action="store_true", help="check the file, write nothing")

    @no_translations  # the command line speaks English, errors included
    def handle(self, *args, **options):
        try:
            with audit_actor("cmd:import_streets"):
                result = streets_import(
                    path=options["path"],
                    layer=options["layer"],
                    where=options["where"],
                    srid=options["srid"],
                    datum=options["datum"],
                    name_field=options["name_field"],
                    id_field=options["id_field"],
                    replace=options["replace"],
                    skip_bad=options["skip_bad"],
                    dry_run=options["dry_run"],
                )
        except StreetsRejected as exc:
            for row, reason in exc.rejected[:200]:
                self.stderr.write(f"  row {row}: {reason}")
            raise CommandError(exc.message) from None
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(result.as_text())
