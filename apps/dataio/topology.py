"""Topology checks of the current territory, each finding with a geometry so the map can show it.

    gap        part of a parent not covered by its children          (m², per piece)
    overlap    area shared by two areas of one level                 (m², per pair)
    crossing   part of a child outside its parent                    (m², per child)
    building_no_grid   a building whose point-on-surface is in no grid
    building_two_grids a footprint lying in two or more grids        (m² of the footprint)
    empty      an area with no buildings (a neighbourhood grid: no household records)

Areas are in m² on the spheroid (geography). Slivers below `min_area` (default 1 m²) are floating-point
noise of shared edges and are not reported. Children are found by code (codes nest: a child's code
starts with its parent's), so a parent that was redrawn into a new version still finds its children.
Gaps are not checked for compounds (they need not tile a community), nor inside parents that have no
children of the level at all (the level is not drawn there yet: that is not a gap).
"""

import json
from datetime import datetime

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.common.errors import DomainError
from apps.territory.models import PARENT_LEVEL, Level

CHILD_LEVELS = [Level.COMMUNITY, Level.GRID, Level.NEIGHBOURHOOD, Level.COMPOUND]

# All statements are raw SQL: they are set operations (ST_Union, ST_Difference, ST_Intersection) over
# whole levels, which the ORM cannot express. `cur` is the set of current versions.


GAPS_SQL = """WITH cur AS (
    SELECT id, level, code, name, geom FROM territory_area
     WHERE valid_from <= %(at)s AND (valid_to IS NULL OR valid_to > %(at)s)
)
, par AS (
    -- parents where this level is drawn at all (a parent without children is not a gap but undrawn)
    SELECT * FROM cur p WHERE p.level = %(parent_level)s AND p.code LIKE %(prefix)s
       AND EXISTS (SELECT 1 FROM cur c WHERE c.level = %(level)s AND left(c.code, length(p.code)) = p.code)
),
holes AS (
    SELECT p.code, p.name, (ST_Dump(ST_CollectionExtract(ST_Difference(
               p.geom,
               COALESCE((SELECT ST_Union(c.geom) FROM cur c
                          WHERE c.level = %(level)s AND left(c.code, length(p.code)) = p.code),
                        ST_GeomFromText('GEOMETRYCOLLECTION EMPTY', 4326))), 3))).geom AS g
      FROM par p
)
SELECT code, name, ST_Area(g::geography), ST_AsGeoJSON(g, 7) FROM holes
 WHERE ST_Area(g::geography) >= %(min_area)s
 ORDER BY code, ST_Area(g::geography) DESC
"""

OVERLAPS_SQL = """WITH cur AS (
    SELECT id, level, code, name, geom FROM territory_area
     WHERE valid_from <= %(at)s AND (valid_to IS NULL OR valid_to > %(at)s)
)
, pairs AS (
    SELECT a.code AS a_code, a.name AS a_name, b.code AS b_code, b.name AS b_name,
           ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 3) AS g
      FROM cur a JOIN cur b ON a.level = b.level AND a.code < b.code AND ST_Intersects(a.geom, b.geom)
     WHERE a.level = %(level)s AND (a.code LIKE %(prefix)s OR b.code LIKE %(prefix)s)
       AND NOT ST_Touches(a.geom, b.geom)
)
SELECT a_code, a_name, b_code, b_name, ST_Area(g::geography), ST_AsGeoJSON(g, 7) FROM pairs
 WHERE NOT ST_IsEmpty(g) AND ST_Area(g::geography) >= %(min_area)s
 ORDER BY a_code, b_code
"""

CROSSING_SQL = """WITH cur AS (
    SELECT id, level, code, name, geom FROM territory_area
     WHERE valid_from <= %(at)s AND (valid_to IS NULL OR valid_to > %(at)s)
)
, outside AS (
    SELECT c.code, c.name, p.code AS parent_code,
           ST_CollectionExtract(ST_Difference(c.geom, p.geom), 3) AS g
      FROM cur c JOIN cur p ON p.level = %(parent_level)s
       AND p.code = CASE WHEN c.level = 'compound' THEN left(c.code, 12)
                         ELSE left(c.code, length(c.code) - 3) END
     WHERE c.level = %(level)s AND c.code LIKE %(prefix)s AND NOT ST_CoveredBy(c.geom, p.geom)
)
SELECT code, name, parent_code, ST_Area(g::geography), ST_AsGeoJSON(g, 7) FROM outside
 WHERE NOT ST_IsEmpty(g) AND ST_Area(g::geography) >= %(min_area)s
 ORDER BY code
"""

# Buildings in scope: all, or those whose point-on-surface lies in the `within` area.
BUILDINGS_SQL = """WITH cur AS (
    SELECT id, level, code, name, geom FROM territory_area
     WHERE valid_from <= %(at)s AND (valid_to IS NULL OR valid_to > %(at)s)
)
, b AS (
    SELECT bl.id, bl.name, bl.footprint, ST_PointOnSurface(bl.footprint) AS p
      FROM territory_building bl
     WHERE %(prefix)s = '%%' OR EXISTS (
           SELECT 1 FROM cur w WHERE w.code = %(within)s AND ST_Intersects(w.geom, ST_PointOnSurface(bl.footprint)))
),
grids AS (
    SELECT b.id, array_agg(g.code ORDER BY g.code) AS codes
      FROM b JOIN cur g ON g.level = 'grid' AND ST_Intersects(g.geom, b.footprint)
       AND ST_Area(ST_Intersection(g.geom, b.footprint)::geography) >= %(min_area)s
     GROUP BY b.id
)
SELECT b.id, b.name,
       CASE WHEN NOT EXISTS (SELECT 1 FROM cur g WHERE g.level = 'grid' AND ST_Intersects(g.geom, b.p))
            THEN 'building_no_grid' ELSE 'building_two_grids' END AS kind,
       COALESCE(grids.codes, '{}'), ST_Area(b.footprint::geography), ST_AsGeoJSON(b.footprint, 7)
  FROM b LEFT JOIN grids ON grids.id = b.id
 WHERE NOT EXISTS (SELECT 1 FROM cur g WHERE g.level = 'grid' AND ST_Intersects(g.geom, b.p))
    OR cardinality(grids.codes) >= 2
 ORDER BY b.id
"""

EMPTY_SQL = """WITH cur AS (
    SELECT id, level, code, name, geom FROM territory_area
     WHERE valid_from <= %(at)s AND (valid_to IS NULL OR valid_to > %(at)s)
)
SELECT a.code, a.name, ST_Area(a.geom::geography), ST_AsGeoJSON(a.geom, 7)
  FROM cur a
 WHERE a.level = %(level)s AND a.code LIKE %(prefix)s
   AND CASE WHEN a.level = 'neighbourhood'
            THEN NOT EXISTS (SELECT 1 FROM territory_household h WHERE h.neighbourhood_id = a.id)
            ELSE NOT EXISTS (SELECT 1 FROM territory_building bl
                              WHERE ST_Intersects(a.geom, bl.footprint)
                                AND ST_Intersects(a.geom, ST_PointOnSurface(bl.footprint)))
       END
 ORDER BY a.code
"""


def _rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def topology_check(
    *,
    level: str | None = None,
    within: str | None = None,
    min_area: float = 1.0,
    at: datetime | None = None,
) -> list[dict]:
    """Findings as dicts: kind, level, code, name, area_m2, message, geometry (GeoJSON dict)."""
    if level is not None and level not in Level.values:
        raise DomainError(
            _("unknown level %(level)s; use one of %(levels)s")
            % {"level": repr(level), "levels": ", ".join(Level.values)},
            field="level",
        )
    if within and not within.replace("C", "").isdigit():
        raise DomainError(
            _("within=%(value)s is not an area code") % {"value": repr(within)}, field="within"
        )
    if min_area < 0:
        raise DomainError(_("min_area must not be negative"), field="min_area")
    base = {"at": at or timezone.now(), "prefix": (within or "") + "%", "min_area": min_area}
    levels = [level] if level else list(Level.values)
    out: list[dict] = []

    def add(kind, lvl, code, name, area, geojson, message, **extra):
        out.append(
            {
                "kind": kind,
                "level": lvl,
                "code": code,
                "name": name,
                "area_m2": round(float(area), 2),
                "message": message,
                "geometry": json.loads(geojson),
                **extra,
            }
        )

    for lvl in levels:
        params = {**base, "level": lvl, "parent_level": PARENT_LEVEL[lvl]}
        if lvl in (Level.COMMUNITY, Level.GRID, Level.NEIGHBOURHOOD):
            for code, name, area, gj in _rows(GAPS_SQL, params):
                add(
                    "gap",
                    lvl,
                    code,
                    name,
                    area,
                    gj,
                    f"{area:,.0f} m² of {name} ({code}) is in no {lvl}",
                )
        for a_code, a_name, b_code, b_name, area, gj in _rows(OVERLAPS_SQL, params):
            add(
                "overlap",
                lvl,
                a_code,
                a_name,
                area,
                gj,
                f"{a_name} ({a_code}) and {b_name} ({b_code}) overlap by {area:,.0f} m²",
                other_code=b_code,
            )
        if lvl in CHILD_LEVELS:
            for code, name, parent_code, area, gj in _rows(CROSSING_SQL, params):
                add(
                    "crossing",
                    lvl,
                    code,
                    name,
                    area,
                    gj,
                    f"{area:,.0f} m² of {name} ({code}) lies outside its parent {parent_code}",
                    parent_code=parent_code,
                )
        if lvl != Level.STREET:
            for code, name, area, gj in _rows(EMPTY_SQL, params):
                add(
                    "empty",
                    lvl,
                    code,
                    name,
                    area,
                    gj,
                    f"{name} ({code}) has no buildings"
                    if lvl != Level.NEIGHBOURHOOD
                    else f"{name} ({code}) has no households",
                )
    if level in (None, Level.GRID):
        for bid, name, kind, codes, area, gj in _rows(
            BUILDINGS_SQL, {**base, "within": within or ""}
        ):
            msg = (
                f"building {name} (id {bid}) is in no grid"
                if kind == "building_no_grid"
                else f"building {name} (id {bid}) lies in {len(codes)} grids: {', '.join(codes)}"
            )
            add(kind, "building", str(bid), name, area, gj, msg, grids=list(codes))
    return out


def findings_geojson(findings: list[dict]) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": f["geometry"],
                "properties": {k: v for k, v in f.items() if k != "geometry"},
            }
            for f in findings
        ],
    }
