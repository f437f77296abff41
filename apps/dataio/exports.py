"""Export areas and buildings for GIS tools (QGIS, ogr2ogr): GeoJSON, GeoPackage, Shapefile, CSV (WKT).

Every feature carries the codes of its ancestors (`street`, `community`, `grid`) as attributes, in
EPSG:4326. Attribute names are at most 10 characters so a Shapefile keeps them as they are. Files are
written by pyogrio (GDAL), so what GDAL reads back is what we wrote.
"""

from datetime import datetime
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from pyproj import CRS

from apps.common.errors import DomainError
from apps.territory.models import Level

FORMATS = {
    "geojson": ("GeoJSON", ".geojson"),
    "gpkg": ("GPKG", ".gpkg"),
    "shp": ("ESRI Shapefile", ".shp"),
    "csv": ("CSV", ".csv"),
}

# Raw SQL: three self-joins follow the parent links (the hierarchy is four levels deep), so each area
# comes with its ancestors' codes in one statement; ST_AsBinary hands shapely WKB without a detour.
AREAS_SQL = """
SELECT a.code, a.name, a.level, a.version, a.ext_code, p1.code AS parent,
       COALESCE(CASE WHEN a.level = 'street' THEN a.code END,
                CASE WHEN p1.level = 'street' THEN p1.code END,
                CASE WHEN p2.level = 'street' THEN p2.code END,
                CASE WHEN p3.level = 'street' THEN p3.code END) AS street,
       COALESCE(CASE WHEN p1.level = 'community' THEN p1.code END,
                CASE WHEN p2.level = 'community' THEN p2.code END) AS community,
       CASE WHEN p1.level = 'grid' THEN p1.code END AS grid,
       a.households, a.buildings, a.management_type AS mgmt_type,
       to_char(a.valid_from AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS valid_from,
       ST_AsBinary(a.geom) AS wkb
  FROM territory_area a
  LEFT JOIN territory_area p1 ON p1.id = a.parent_id
  LEFT JOIN territory_area p2 ON p2.id = p1.parent_id
  LEFT JOIN territory_area p3 ON p3.id = p2.parent_id
 WHERE a.level = %(level)s AND a.code LIKE %(prefix)s
   AND a.valid_from <= %(at)s AND (a.valid_to IS NULL OR a.valid_to > %(at)s)
 ORDER BY a.code
"""

BUILDINGS_SQL = """
SELECT b.id, b.name, b.address, b.floors, b.units_count AS units, b.households,
       b.households_source AS hh_source, b.ext_ref,
       s.code AS street, c.code AS community, g.code AS grid, k.code AS compound,
       ST_AsBinary(b.footprint) AS wkb
  FROM territory_building b
  LEFT JOIN territory_area c ON c.id = b.community_id
  LEFT JOIN territory_area s ON s.id = c.parent_id
  LEFT JOIN territory_area g ON g.id = b.grid_id
  LEFT JOIN territory_area k ON k.id = b.compound_id
 WHERE (%(prefix)s = '%%' OR c.code LIKE %(prefix)s)
 ORDER BY b.id
"""


def _prefix(within: str | None) -> str:
    if not within:
        return "%"
    if not within.replace("C", "").isdigit():
        raise DomainError(
            _("within=%(value)s is not an area code") % {"value": repr(within)}, field="within"
        )
    return within + "%"


def _frame(sql: str, params: dict) -> gpd.GeoDataFrame:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        cols = [c.name for c in cur.description]
        rows = cur.fetchall()
    df = pd.DataFrame(rows, columns=cols)
    geoms = shapely.from_wkb([bytes(w) for w in df.pop("wkb")]) if len(df) else []
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), crs="EPSG:4326")


def areas_frame(*, level: str, within: str | None = None, at: datetime | None = None):
    if level not in Level.values:
        raise DomainError(
            _("unknown level %(level)s; use one of %(levels)s")
            % {"level": repr(level), "levels": ", ".join(Level.values)},
            field="level",
        )
    return _frame(
        AREAS_SQL, {"level": level, "prefix": _prefix(within), "at": at or timezone.now()}
    )


def buildings_frame(*, within: str | None = None):
    return _frame(BUILDINGS_SQL, {"prefix": _prefix(within)})


def write_frame(frame: gpd.GeoDataFrame, path: str | Path, fmt: str, *, layer: str) -> Path:
    """Write with GDAL; returns the path written (the .shp of a Shapefile)."""
    if fmt not in FORMATS:
        raise DomainError(
            _("unknown format %(format)s; use one of %(formats)s")
            % {"format": repr(fmt), "formats": ", ".join(FORMATS)},
            field="format",
        )
    if len(frame) == 0:
        raise DomainError(_("nothing to export: no features match"), field="within")
    driver, suffix = FORMATS[fmt]
    path = Path(path)
    if path.suffix.lower() != suffix:
        path = path.with_suffix(suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if fmt == "csv":
        kwargs["layer_options"] = {"GEOMETRY": "AS_WKT"}
    elif fmt == "shp":
        kwargs["encoding"] = "UTF-8"
    if path.exists() and fmt != "shp":
        path.unlink()
    pyogrio.write_dataframe(frame, path, layer=layer, driver=driver, **kwargs)
    if (
        fmt == "csv"
    ):  # GDAL's CSV driver keeps no CRS; a sidecar .prj says EPSG:4326 to GDAL and to us
        path.with_suffix(".prj").write_text(CRS.from_epsg(4326).to_wkt("WKT1_GDAL"))
    return path
