"""Reads of the territory that views, APIs and commands share."""

import json
import math
from datetime import datetime

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.common.errors import DomainError, NotFound
from apps.common.labels import choice_label
from apps.common.prepared import Prepared
from apps.territory.models import LEVEL_RANK, Area, Level

CHAIN_LEVELS = ["street", "community", "grid", "neighbourhood", "compound", "building"]

# Hand-written because the ORM cannot say "one area per level, by DISTINCT ON" plus the building in a
# single round trip. Candidates come from the GiST index on the subdivided parts (small boxes of at most
# 64 vertices), so the exact point-in-polygon test touches few vertices whatever the size of the area.
# A point on a shared edge or vertex intersects several areas of a level; DISTINCT ON keeps the one with
# the lowest code. Codes extend their parent's code, so the chosen areas always form one chain.
LOCATE_SQL = """
WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g)
SELECT level, id, code, name, parent_id FROM (
    SELECT DISTINCT p.level, a.id, a.code, a.name, a.parent_id
      FROM pt, territory_areapart p
      JOIN territory_area a ON a.id = p.area_id
     WHERE ST_DWithin(p.geom, pt.g, %(eps)s)
       AND p.valid_from <= %(at)s AND (p.valid_to IS NULL OR p.valid_to > %(at)s)
) areas
UNION ALL
(SELECT 'building', b.id, '', b.name, b.compound_id
   FROM pt, territory_building b
  WHERE ST_Intersects(b.footprint, pt.g)
  ORDER BY b.id
  LIMIT 1)
"""
# Prepared once per database connection (apps/common/prepared.py): planning this statement costs about
# twice its execution. The generic plan PostgreSQL settles on after five calls has the same shape as the
# custom plans (GiST scans on the parts and the footprints), checked with EXPLAIN EXECUTE.
LOCATE = Prepared(
    "linli_locate",
    LOCATE_SQL,
    {"lon": "float8", "lat": "float8", "at": "timestamptz", "eps": "float8"},
)


TILING_LEVELS = ("street", "community", "grid", "neighbourhood")
# Areas within this many degrees (~0.1 mm) of a point count as covering it: a point computed on a shared
# edge is exactly on one polygon's edge and a rounding error off its neighbour's, and the neighbour may be
# the one whose children reach the point (see consistent_chain).
EDGE_EPS = 1e-9


def consistent_chain(candidates: list[tuple[str, int, str]]) -> dict[str, tuple[int, str]]:
    """Choose one area per level from the (level, id, code) rows covering a point, as one chain.

    A point on a shared edge or vertex is covered by several areas of a level. Choosing the lowest code
    per level independently can pair a grid with a neighbourhood grid of the grid next door (their
    polygons meet the edge at slightly different places). Instead the levels are chosen top down: the
    first chain, in code order, in which every level's code extends its parent's and that reaches the
    deepest level; levels with no candidate at all are skipped. A compound is chosen among those of the
    chosen community. Buildings are looked up separately (they are not part of the code chain)."""
    by_level: dict[str, list[tuple[str, int]]] = {}
    for level, id_, code in candidates:
        by_level.setdefault(level, []).append((code, id_))
    for options in by_level.values():
        options.sort()
    levels = [lvl for lvl in TILING_LEVELS if lvl in by_level]
    best: list[tuple[str, str, int]] = []

    def walk(i: int, parent_code: str, path: list[tuple[str, str, int]]) -> bool:
        nonlocal best
        if len(path) > len(best):
            best = path
        if i == len(levels):
            return True
        return any(
            walk(i + 1, code, [*path, (levels[i], code, id_)])
            for code, id_ in by_level[levels[i]]
            if code.startswith(parent_code)
        )

    walk(0, "", [])
    chosen = {level: (id_, code) for level, code, id_ in best}
    community = chosen.get("community", (None, ""))[1]
    compounds = [(c, i) for c, i in by_level.get("compound", []) if c.startswith(community)]
    if compounds:
        chosen["compound"] = (compounds[0][1], compounds[0][0])
    return chosen


def parse_lonlat(lon_raw, lat_raw) -> tuple[float, float]:
    """Strictly parse WGS84 coordinates from request parameters; DomainError names the bad one."""
    values = []
    for name, raw, limit in (("lon", lon_raw, 180), ("lat", lat_raw, 90)):
        if raw is None or str(raw).strip() == "":
            raise DomainError(_("%(name)s is required") % {"name": name}, field=name)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise DomainError(
                _("%(name)s=%(value)s is not a number") % {"name": name, "value": repr(raw)},
                field=name,
            ) from None
        if not math.isfinite(value) or not -limit <= value <= limit:
            raise DomainError(
                _("%(name)s=%(value)s is out of range [-%(limit)s, %(limit)s]")
                % {"name": name, "value": raw, "limit": limit},
                field=name,
            )
        values.append(value)
    return values[0], values[1]


def locate(*, lon: float, lat: float, at: datetime | None = None) -> dict:
    """The areas and building that cover a WGS84 point, as valid at `at` (default: now).

    Returns {"street": {...} | None, ..., "building": {...} | None, "chain": [non-empty entries, top down]}.
    """
    at = at or timezone.now()
    rows = LOCATE.fetchall({"lon": lon, "lat": lat, "at": at, "eps": EDGE_EPS})
    chosen = consistent_chain(
        [(lvl, id_, code) for lvl, id_, code, _n, _p in rows if lvl != "building"]
    )
    chosen.update({lvl: (id_, code) for lvl, id_, code, _n, _p in rows if lvl == "building"})
    names = {(level, id_): name for level, id_, _c, name, _p in rows}
    found = {
        level: {"level": level, "id": id_, "code": code, "name": names[(level, id_)]}
        for level, (id_, code) in chosen.items()
    }
    result = {level: found.get(level) for level in CHAIN_LEVELS}
    result["chain"] = [found[level] for level in CHAIN_LEVELS if level in found]
    return result


def area_get(*, area_id: int) -> Area:
    try:
        return Area.objects.select_related("parent").get(pk=area_id)
    except Area.DoesNotExist:
        raise NotFound(_("no area with id %(id)s") % {"id": area_id}) from None


def area_current(*, level: str, code: str, at: datetime | None = None) -> Area:
    """The version of an area valid at `at` (default now)."""
    at = at or timezone.now()
    area = (
        Area.objects.filter(level=level, code=code, valid_from__lte=at)
        .exclude(valid_to__lte=at)
        .first()
    )
    if area is None:
        raise NotFound(
            _("no current %(level)s with code %(code)s")
            % {"level": choice_label(Level, level), "code": repr(code)},
            field="code",
        )
    return area


def area_chain(area: Area) -> list[dict]:
    """The area and its ancestors, top down, following the parent links of the versions."""
    chain = []
    node = area
    while node is not None:
        chain.append({"level": node.level, "id": node.id, "code": node.code, "name": node.name})
        node = node.parent
    chain.sort(key=lambda a: LEVEL_RANK[a["level"]])
    return chain


def _unknown_level(level) -> DomainError:
    return DomainError(
        _("unknown level %(level)s; use one of %(levels)s")
        % {"level": repr(level), "levels": ", ".join(Level.values)},
        field="level",
    )


def current_areas(
    *, level: str | None = None, within: str | None = None, at: datetime | None = None
):
    at = at or timezone.now()
    qs = Area.objects.filter(valid_from__lte=at).exclude(valid_to__lte=at)
    if level:
        if level not in Level.values:
            raise _unknown_level(level)
        qs = qs.filter(level=level)
    if within:
        qs = qs.filter(code__startswith=within)
    return qs


# GeoJSON is built by PostGIS (ST_AsGeoJSON, json_agg): 10-50x faster than serialising in Python.
# Every feature carries the codes of its ancestors (street, community, grid) for GIS tools; they come from
# the parent links (at most three joins: the hierarchy is four levels deep). Pages are keyset-paged on the
# code (unique among the current versions of one level), so page N costs the same as page 1.
AREAS_GEOJSON_SQL = """
SELECT count(*), max(code), json_build_object(
    'type', 'FeatureCollection',
    'features', COALESCE(json_agg(f ORDER BY code), '[]'::json)
)::text
FROM (
    SELECT a.code, json_build_object(
        'type', 'Feature',
        'id', a.id,
        'geometry', ST_AsGeoJSON(a.geom, 7)::json,
        'properties', json_build_object(
            'id', a.id, 'level', a.level, 'code', a.code, 'name', a.name, 'version', a.version,
            'parent_id', a.parent_id, 'parent_code', p1.code, 'ext_code', a.ext_code,
            'street', COALESCE(CASE WHEN a.level = 'street' THEN a.code END,
                               CASE WHEN p1.level = 'street' THEN p1.code END,
                               CASE WHEN p2.level = 'street' THEN p2.code END,
                               CASE WHEN p3.level = 'street' THEN p3.code END),
            'community', COALESCE(CASE WHEN p1.level = 'community' THEN p1.code END,
                                  CASE WHEN p2.level = 'community' THEN p2.code END),
            'grid', CASE WHEN p1.level = 'grid' THEN p1.code END,
            'households', a.households, 'buildings', a.buildings,
            'management_type', a.management_type,
            'valid_from', a.valid_from, 'valid_to', a.valid_to
        )
    ) AS f
    FROM territory_area a
    LEFT JOIN territory_area p1 ON p1.id = a.parent_id
    LEFT JOIN territory_area p2 ON p2.id = p1.parent_id
    LEFT JOIN territory_area p3 ON p3.id = p2.parent_id
    WHERE a.level = %(level)s
      AND a.code LIKE %(prefix)s
      AND a.code > %(after)s
      AND a.valid_from <= %(at)s AND (a.valid_to IS NULL OR a.valid_to > %(at)s)
    ORDER BY a.code
    LIMIT %(limit)s
) page
"""

# Buildings with the codes of the areas they are attached to (the street through the community's
# parent), keyset-paged on id.
BUILDINGS_GEOJSON_SQL = """
SELECT count(*), max(id), json_build_object(
    'type', 'FeatureCollection',
    'features', COALESCE(json_agg(f ORDER BY id), '[]'::json)
)::text
FROM (
    SELECT b.id, json_build_object(
        'type', 'Feature',
        'id', b.id,
        'geometry', ST_AsGeoJSON(b.footprint, 7)::json,
        'properties', json_build_object(
            'id', b.id, 'name', b.name, 'address', b.address, 'floors', b.floors,
            'units', b.units_count, 'households', b.households, 'households_source', b.households_source,
            'ext_ref', b.ext_ref,
            'grid_id', b.grid_id, 'compound_id', b.compound_id, 'community_id', b.community_id,
            'street', s.code, 'community', c.code, 'grid', g.code, 'compound', k.code
        )
    ) AS f
    FROM territory_building b
    LEFT JOIN territory_area c ON c.id = b.community_id
    LEFT JOIN territory_area s ON s.id = c.parent_id
    LEFT JOIN territory_area g ON g.id = b.grid_id
    LEFT JOIN territory_area k ON k.id = b.compound_id
    WHERE (%(prefix)s = '%%' OR c.code LIKE %(prefix)s)
      AND b.id > %(after)s
    ORDER BY b.id
    LIMIT %(limit)s
) page
"""

MAX_PAGE = 10_000


def _limit(limit: int | None) -> int | None:
    if limit is None:
        return None
    if not 1 <= limit <= MAX_PAGE:
        raise DomainError(
            _("limit=%(limit)s is out of range [1, %(max)s]") % {"limit": limit, "max": MAX_PAGE},
            field="limit",
        )
    return limit


def areas_geojson_page(
    *,
    level: str,
    within: str | None = None,
    at: datetime | None = None,
    after: str | None = None,
    limit: int | None = None,
) -> tuple[str, str | None]:
    """(FeatureCollection text, the code to pass as `after` for the next page or None when done).
    Without `limit`, every area in one collection."""
    if level not in Level.values:
        raise _unknown_level(level)
    limit = _limit(limit)
    with connection.cursor() as cur:
        cur.execute(
            AREAS_GEOJSON_SQL,
            {
                "level": level,
                "prefix": _prefix(within),
                "at": at or timezone.now(),
                "after": after or "",
                "limit": limit,
            },
        )
        count, last, body = cur.fetchone()
    return body, (last if limit is not None and count == limit else None)


def areas_geojson(*, level: str, within: str | None = None, at: datetime | None = None) -> str:
    return areas_geojson_page(level=level, within=within, at=at)[0]


def buildings_geojson_page(
    *, within: str | None = None, after: int | None = None, limit: int | None = None
) -> tuple[str, int | None]:
    limit = _limit(limit)
    with connection.cursor() as cur:
        cur.execute(
            BUILDINGS_GEOJSON_SQL,
            {"prefix": _prefix(within), "after": after or 0, "limit": limit},
        )
        count, last, body = cur.fetchone()
    return body, (last if limit is not None and count == limit else None)


def buildings_geojson(*, within: str | None = None) -> str:
    return buildings_geojson_page(within=within)[0]


def _prefix(within: str | None) -> str:
    if not within:
        return "%"
    if not within.replace("C", "").isdigit():
        raise DomainError(
            _("within=%(value)s is not an area code") % {"value": repr(within)}, field="within"
        )
    return within + "%"


def area_summary(area: Area) -> dict:
    """What the map's side panel shows for an area."""
    return {
        "id": area.id,
        "level": area.level,
        "code": area.code,
        "name": area.name,
        "version": area.version,
        "valid_from": area.valid_from.isoformat(),
        "valid_to": area.valid_to.isoformat() if area.valid_to else None,
        "households": area.households,
        "buildings": area.buildings,
        "management_type": area.management_type,
        "chain": area_chain(area),
        "bbox": json.loads(area.geom.envelope.geojson)["coordinates"][0] if area.geom else None,
    }


# Hand-written: one statement over current areas (code prefix or name substring) and buildings
# (address or name substring), each with its bounding box, ranked exact-code first. The ORM would need
# a UNION of two querysets with annotated extents; this is clearer and one round trip.
SEARCH_SQL = """
SELECT * FROM (
    (SELECT 'area' AS kind, a.id, a.level, a.code, a.name, '' AS address,
            ST_XMin(a.geom), ST_YMin(a.geom), ST_XMax(a.geom), ST_YMax(a.geom),
            CASE WHEN a.code = %(q)s THEN 0 WHEN a.code LIKE %(prefix)s THEN 1 ELSE 2 END AS rank
       FROM territory_area a
      WHERE a.valid_from <= %(at)s AND (a.valid_to IS NULL OR a.valid_to > %(at)s)
        AND (a.code LIKE %(prefix)s OR a.name ILIKE %(pattern)s)
      ORDER BY rank, length(a.code), a.code
      LIMIT %(limit)s)
    UNION ALL
    (SELECT 'building', b.id, 'building', '', b.name, b.address,
            ST_XMin(b.footprint), ST_YMin(b.footprint), ST_XMax(b.footprint), ST_YMax(b.footprint),
            3
       FROM territory_building b
      WHERE b.address ILIKE %(pattern)s OR b.name ILIKE %(pattern)s
      ORDER BY b.address, b.id
      LIMIT %(limit)s)
) found
ORDER BY rank
LIMIT %(limit)s
"""


def search(*, q: str, limit: int = 20) -> list[dict]:
    """Current areas whose code starts with `q` or whose name contains it, and buildings whose address
    or name contains it; at most `limit`, exact codes first."""
    q = (q or "").strip()
    if len(q) < 1:
        raise DomainError(_("give a code, a name or an address to search for"), field="q")
    if len(q) > 100:
        raise DomainError(_("the search text is longer than 100 characters"), field="q")
    like = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    params = {
        "q": q,
        "prefix": like + "%",
        "pattern": "%" + like + "%",
        "limit": limit,
        "at": timezone.now(),
    }
    with connection.cursor() as cur:
        cur.execute(SEARCH_SQL, params)
        rows = cur.fetchall()
    return [
        {
            "kind": kind,
            "id": id_,
            "level": level,
            "code": code,
            "name": name,
            "address": address,
            "bbox": [x0, y0, x1, y1] if x0 is not None else None,
        }
        for kind, id_, level, code, name, address, x0, y0, x1, y1, _rank in rows
    ]
