"""Arguments and error handling shared by the import commands."""

from datetime import datetime

from django.core.management.base import CommandError
from django.utils import timezone

from apps.dataio.services import ReadOptions


def add_read_arguments(parser) -> None:
    parser.add_argument(
        "file", help="GeoJSON, Shapefile (.shp or .zip), GeoPackage, OSM PBF or CSV"
    )
    parser.add_argument("--layer", help="layer to read (GeoPackage, OSM: default multipolygons)")
    parser.add_argument("--where", help='OGR SQL filter on attributes, e.g. "building IS NOT NULL"')
    parser.add_argument("--srid", type=int, help="EPSG code, only for files without a CRS")
    parser.add_argument(
        "--datum",
        choices=["wgs84", "gcj02", "bd09"],
        default="wgs84",
        help="datum of the longitudes/latitudes: gcj02 (AMap, Tencent), bd09 (Baidu) are converted",
    )
    parser.add_argument("--wkt-field", help="CSV: the column holding WKT geometries")
    parser.add_argument("--lon-field", help="CSV: the longitude column")
    parser.add_argument("--lat-field", help="CSV: the latitude column")
    parser.add_argument("--name-field", help="field holding the name (default: name if present)")
    parser.add_argument(
        "--strict", action="store_true", help="reject invalid geometries instead of repairing"
    )
    parser.add_argument(
        "--skip-bad",
        action="store_true",
        help="with --commit, write the good rows and skip rejected ones",
    )
    parser.add_argument(
        "--commit", action="store_true", help="write to the database (default: dry run)"
    )


def read_options(options) -> ReadOptions:
    return ReadOptions(
        layer=options["layer"],
        srid=options["srid"],
        datum=options["datum"],
        where=options["where"],
        wkt_field=options["wkt_field"],
        lon_field=options["lon_field"],
        lat_field=options["lat_field"],
    )


def parse_date(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise CommandError(f"--valid-from {raw!r} is not a date (YYYY-MM-DD)") from None
    return timezone.make_aware(value) if timezone.is_naive(value) else value
