"""Coverage gaps: places and organisations nobody is looking after, each explained in a sentence.

Every gap kind is one SQL statement returning the same columns:
    object_type, object_id, name, area_code, geometry (GeoJSON text, may be NULL), detail (json)
The geometry is only computed when `%(geometry)s` is true (the GeoJSON for the map; the list, counts
and CSV go without). `area_code` is the code of the deepest current area the object belongs to (grid, else community, else
''), so `within=CODE` (a street, community or grid) is one prefix match and counts per area are a
truncation of the code (street 9, community 12, grid 15 characters). The sentence is built in Python
from `detail` with gettext, so it follows the request's language (Chinese by default).

Kinds that need the people app's residents/committees/center households or the patrols app register
themselves below only when those models exist (see `available_kinds`).
"""

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import orjson
import psycopg2
import psycopg2.extensions
from django.apps import apps as django_apps
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy

from apps.analytics import gaps_patrols, gaps_people, sentences, stations
from apps.analytics.sentences import _
from apps.analytics.stations import DETOUR_FACTOR, tier_radius, within_prefix
from apps.common.errors import DomainError
from apps.common.memory import gc_paused
from apps.common.routers import read_cursor

CODE_LENGTH = {"street": 9, "community": 12, "grid": 15}

# Current areas (valid now) are used throughout: gaps describe today.

BUILDING_NO_GRID_SQL = """
SELECT 'building', b.id, COALESCE(k.name || ' ', '') || b.name, COALESCE(c.code, ''),
       CASE WHEN %(geometry)s THEN ST_AsGeoJSON(b.footprint, 7) END, json_build_object('households', b.households)
  FROM territory_building b
  LEFT JOIN territory_area c ON c.id = b.community_id
  LEFT JOIN territory_area k ON k.id = b.compound_id
 WHERE b.grid_id IS NULL AND COALESCE(c.code, '') LIKE %(prefix)s
 ORDER BY b.id
"""

HOUSEHOLD_NO_NEIGHBOURHOOD_SQL = """
SELECT 'building', b.id, COALESCE(k.name || ' ', '') || b.name, COALESCE(g.code, c.code, ''),
       CASE WHEN %(geometry)s THEN ST_AsGeoJSON(b.footprint, 7) END, json_build_object('households', x.n, 'total', b.households)
  FROM (SELECT building_id, count(*) AS n FROM territory_household
         WHERE neighbourhood_id IS NULL GROUP BY building_id) x
  JOIN territory_building b ON b.id = x.building_id
  LEFT JOIN territory_area c ON c.id = b.community_id
  LEFT JOIN territory_area k ON k.id = b.compound_id
  LEFT JOIN territory_area g ON g.id = b.grid_id
 WHERE COALESCE(g.code, c.code, '') LIKE %(prefix)s
 ORDER BY b.id
"""

GRID_NO_LEADER_SQL = """
SELECT 'grid', a.id, a.name, a.code, CASE WHEN %(geometry)s THEN ST_AsGeoJSON(a.geom, 7) END,
       json_build_object('households', a.households)
  FROM territory_area a
 WHERE a.level = 'grid' AND a.valid_from <= now() AND (a.valid_to IS NULL OR a.valid_to > now()) AND a.code LIKE %(prefix)s
   AND NOT EXISTS (SELECT 1 FROM people_staffassignment s
                    WHERE s.area_id = a.id AND s.role = 'grid_leader' AND s.active)
 ORDER BY a.code
"""

# 无物业: a compound whose management type says none (or was never recorded), or one recorded as
# commercially/proxy managed that no property company actually serves. Self-managed (自管) counts as
# managed. Compounds sit in communities; their area_code is the community's code.
COMPOUND_NO_PROPERTY_SQL = """
SELECT 'compound', a.id, a.name, p.code, CASE WHEN %(geometry)s THEN ST_AsGeoJSON(a.geom, 7) END,
       json_build_object('households', a.households, 'management_type', a.management_type,
                         'reason', CASE WHEN a.management_type IN ('commercial', 'proxy')
                                        THEN 'no_company' ELSE 'none' END)
  FROM territory_area a
  JOIN territory_area p ON p.id = a.parent_id
 WHERE a.level = 'compound' AND a.valid_from <= now() AND (a.valid_to IS NULL OR a.valid_to > now()) AND p.code LIKE %(prefix)s
   AND (a.management_type IS NULL OR a.management_type = 'none'
        OR (a.management_type IN ('commercial', 'proxy')
            AND NOT EXISTS (SELECT 1 FROM people_propertyservice s WHERE s.compound_id = a.id)))
 ORDER BY a.code
"""

# One row per company and community it serves in, so counts per area and `within` work like the other
# kinds; the geometry is the compounds it serves there. Companies serving no compound have no place.
COMPANY_NO_PARTY_ORG_SQL = """
SELECT 'company', co.id, co.name, p.code, CASE WHEN %(geometry)s THEN ST_AsGeoJSON(ST_Collect(a.geom), 7) END,
       json_build_object('compounds', count(*), 'households', sum(a.households),
                         'community', p.name)
  FROM people_propertycompany co
  JOIN people_propertyservice s ON s.company_id = co.id
  JOIN territory_area a ON a.id = s.compound_id AND a.valid_from <= now() AND (a.valid_to IS NULL OR a.valid_to > now())
  JOIN territory_area p ON p.id = a.parent_id
 WHERE NOT co.has_party_org AND p.code LIKE %(prefix)s
 GROUP BY co.id, co.name, p.code, p.name
 ORDER BY co.id, p.code
"""

# Buildings whose walking distance to the nearest station exceeds the tier's radius, or with no station
# at all, measured in a straight line × detour factor where no street network touches the community;
# where one does, station_far_rows measures along the network (apps.analytics.stations): those
# communities' area codes are %(networked)s, LIKE patterns, left out here. A building is beyond when no
# station lies within radius / factor metres (geodesic), which stations.beyond_stations answers for
# the points of BUILDING_POINTS_SQL; STATION_FAR_SQL then gives the rows of those buildings, naming
# the nearest station by the same nearest-station rule as stations.BUILDING_STATION_SQL.
BUILDING_POINTS_SQL = """
SELECT b.id, ST_X(b.p), ST_Y(b.p)
  FROM (SELECT b.id, b.community_id, b.grid_id, ST_PointOnSurface(b.footprint) AS p
          FROM territory_building b WHERE b.households > 0) b
  LEFT JOIN territory_area c ON c.id = b.community_id
  LEFT JOIN territory_area g ON g.id = b.grid_id
 WHERE COALESCE(g.code, c.code, '') LIKE %(prefix)s
   AND NOT COALESCE(g.code, c.code, '') LIKE ANY(%(networked)s::text[])
"""
STATION_POINTS_SQL = "SELECT ST_X(point), ST_Y(point) FROM analytics_servicestation"
STATION_FAR_SQL = """
SELECT 'building', b.id, COALESCE(k.name || ' ', '') || b.name, COALESCE(g.code, c.code, ''),
       CASE WHEN %(geometry)s THEN ST_AsGeoJSON(b.footprint, 7) END,
       json_build_object('households', b.households, 'station', ns.name,
                         'straight_m', round(ns.d::numeric), 'walk_m', round((ns.d * %(factor)s)::numeric),
                         'method', 'straight')
  FROM (SELECT b.*, ST_PointOnSurface(b.footprint) AS p FROM territory_building b
         WHERE b.id = ANY(%(ids)s::bigint[])) b
  LEFT JOIN territory_area c ON c.id = b.community_id
  LEFT JOIN territory_area g ON g.id = b.grid_id
  LEFT JOIN territory_area k ON k.id = b.compound_id
  LEFT JOIN LATERAL (
        SELECT k.name, ST_Distance(k.point::geography, b.p::geography) AS d
          FROM (SELECT s.id, s.name, s.point FROM analytics_servicestation s
                 ORDER BY s.point <-> b.p LIMIT 4) k
         ORDER BY 2, k.id LIMIT 1
  ) ns ON true
 ORDER BY b.id
"""

# Name, footprint and the straight-line distance to a given station, for the buildings the Python path
# found beyond the tier (station_far_rows).
STATION_FAR_ROWS_SQL = """
SELECT u.id, COALESCE(k.name || ' ', '') || b.name, ST_AsGeoJSON(b.footprint, 7),
       ST_Distance(ST_PointOnSurface(b.footprint)::geography, s.point::geography)
  FROM unnest(%(ids)s::bigint[], %(stations)s::bigint[]) AS u(id, station_id)
  JOIN territory_building b ON b.id = u.id
  LEFT JOIN territory_area k ON k.id = b.compound_id
  LEFT JOIN analytics_servicestation s ON s.id = u.station_id
"""


def _metres(value: float | None) -> int | None:
    """Whole metres, halves away from zero (as PostgreSQL's round(numeric) in STATION_FAR_SQL)."""
    return None if value is None else int(math.floor(value + 0.5))


def station_far_rows(params: dict) -> list:
    """The station_far gaps: buildings with households beyond the tier's walking radius of every
    station. Buildings of communities no street network touches: straight line × factor (points from
    BUILDING_POINTS_SQL, stations.beyond_stations, rows from STATION_FAR_SQL); those of the others
    are measured as stations.building_access measures them (along the network)."""
    networked = stations.networked_communities(params["prefix"])
    with read_cursor() as cur:
        cur.execute(BUILDING_POINTS_SQL, {**params, "networked": [f"{c}%" for c in networked]})
        points = np.array(cur.fetchall(), dtype=float).reshape(-1, 3)
        cur.execute(STATION_POINTS_SQL)
        station_points = np.array(cur.fetchall(), dtype=float).reshape(-1, 2)
        beyond = stations.beyond_stations(
            points[:, 1],
            points[:, 2],
            station_points[:, 0],
            station_points[:, 1],
            params["radius"] / params["factor"],
        )
        ids = points[beyond, 0].astype(np.int64).tolist()
        by_line = []
        if ids:
            cur.execute(STATION_FAR_SQL, {**params, "ids": ids})
            by_line = cur.fetchall()
    if not networked:
        return by_line
    radius = params["radius"]
    far = [
        b
        for b in stations.building_access(prefixes=[f"{code}%" for code in networked])
        if b.households > 0 and (b.walk_m is None or b.walk_m > radius)
    ]
    if not far:
        return by_line
    # the station each sentence names: the one walked to, else (unreachable) the straight-line nearest
    named = [b.walk_station[0] if b.walk_station[0] is not None else b.station_id for b in far]
    with read_cursor() as cur:
        cur.execute(STATION_FAR_ROWS_SQL, {"ids": [b.id for b in far], "stations": named})
        extra = {row[0]: row[1:] for row in cur.fetchall()}
    rows = []
    for b in far:
        name, geom, straight = extra[b.id]
        detail = {"households": b.households, "method": b.method, "straight_m": _metres(straight)}
        if b.networked:
            if b.network_m is None:
                detail.update(
                    station=None,
                    nearest=b.station_name,
                    walk_m=None,
                    limit_m=int(stations.NETWORK_LIMIT_M),
                )
            else:
                detail.update(station=b.network_station_name, walk_m=_metres(b.network_m))
            detail["access_m"] = _metres(b.access_m)
        else:
            detail.update(station=b.station_name, walk_m=_metres(b.walk_m))
        rows.append(("building", b.id, name, b.area_code, geom, detail))
    return sorted(by_line + rows, key=lambda row: row[1])


@dataclass(frozen=True)
class GapKind:
    key: str
    label: object  # lazy translation
    sql: str | None
    explain: Callable[[str, dict, dict], str]  # (name, detail, params) -> sentence
    needs: tuple = ()
    fetch: Callable[[dict], list] | None = (
        None  # instead of sql: rows from another app's selector  # "app.Model" labels whose tables the SQL reads
    )


def _mgmt_label(value):
    from apps.territory.models import ManagementType

    return str(dict(ManagementType.choices).get(value, value))


def _explain_compound(name, d, p):
    if d["reason"] == "no_company":
        return _(
            "Compound %(name)s (%(households)s households) is recorded as %(type)s, but no "
            "property company serves it."
        ) % {"name": name, "households": d["households"], "type": _mgmt_label(d["management_type"])}
    return _(
        "Compound %(name)s (%(households)s households) has no property management (无物业)."
    ) % {"name": name, "households": d["households"]}


def _explain_station(name, d, p):
    if d.get("method") == "network" and d.get("walk_m") is None and d.get("nearest"):
        return _(
            "Building %(name)s (%(households)s households) cannot reach any service station within "
            "%(limit)s m along the street network; the nearest, %(station)s, is %(straight)s m away "
            "in a straight line."
        ) % {
            "name": name,
            "households": d["households"],
            "limit": d["limit_m"],
            "station": d["nearest"],
            "straight": d["straight_m"],
        }
    if d.get("station") is None:
        return _(
            "Building %(name)s (%(households)s households): there is no party-mass service "
            "station at all."
        ) % {"name": name, "households": d["households"]}
    if d.get("method") == "network":
        return _(
            "Building %(name)s (%(households)s households) is %(walk)s m along the street network "
            "from the nearest service station, %(station)s (%(straight)s m in a straight line), "
            "beyond the %(minutes)s-minute walk of %(radius)s m."
        ) % {
            "name": name,
            "households": d["households"],
            "walk": int(d["walk_m"]),
            "station": d["station"],
            "straight": int(d["straight_m"]),
            "minutes": p["tier"],
            "radius": int(p["radius"]),
        }
    return _(
        "Building %(name)s (%(households)s households) is about %(walk)s m on foot from the nearest "
        "service station, %(station)s (%(straight)s m in a straight line × %(factor)s), beyond the "
        "%(minutes)s-minute walk of %(radius)s m."
    ) % {
        "name": name,
        "households": d["households"],
        "walk": int(d["walk_m"]),
        "station": d["station"],
        "straight": int(d["straight_m"]),
        "factor": DETOUR_FACTOR,
        "minutes": p["tier"],
        "radius": int(p["radius"]),
    }


KINDS: dict[str, GapKind] = {}


def register(kind: GapKind) -> None:
    KINDS[kind.key] = kind


register(
    GapKind(
        "building_no_grid",
        gettext_lazy("Buildings in no grid"),
        BUILDING_NO_GRID_SQL,
        lambda name, d, p: (
            _(
                "Building %(name)s (%(households)s households) lies in no grid, so no grid leader looks "
                "after it."
            )
            % {"name": name, "households": d["households"]}
        ),
    )
)
register(
    GapKind(
        "household_no_neighbourhood",
        gettext_lazy("Households in no neighbourhood grid"),
        HOUSEHOLD_NO_NEIGHBOURHOOD_SQL,
        lambda name, d, p: (
            _(
                "%(households)s of the %(total)s households of building %(name)s belong to no "
                "neighbourhood grid."
            )
            % {"name": name, "households": d["households"], "total": d["total"]}
        ),
    )
)
register(
    GapKind(
        "grid_no_leader",
        gettext_lazy("Grids with no grid leader"),
        GRID_NO_LEADER_SQL,
        lambda name, d, p: (
            _("Grid %(name)s (%(households)s households) has no active grid leader.")
            % {"name": name, "households": d["households"]}
        ),
        needs=("people.StaffAssignment", "people.PropertyService"),
    )
)
register(
    GapKind(
        "compound_no_property",
        gettext_lazy("Compounds with no property management"),
        COMPOUND_NO_PROPERTY_SQL,
        _explain_compound,
        needs=("people.StaffAssignment", "people.PropertyService"),
    )
)
register(
    GapKind(
        "company_no_party_org",
        gettext_lazy("Property companies with no party organisation"),
        COMPANY_NO_PARTY_ORG_SQL,
        lambda name, d, p: (
            _(
                "%(name)s serves %(compounds)s compounds (%(households)s households) in %(community)s "
                "and has no party organisation."
            )
            % {
                "name": name,
                "compounds": d["compounds"],
                "households": d["households"],
                "community": d["community"],
            }
        ),
        needs=("people.StaffAssignment", "people.PropertyService"),
    )
)
register(
    GapKind(
        "station_far",
        gettext_lazy("Households beyond walking distance of a service station"),
        STATION_FAR_SQL,  # the straight-line statement; station_far_rows adds the street network
        _explain_station,
        fetch=station_far_rows,
    )
)


for _kind in gaps_people.kinds() + gaps_patrols.kinds():
    register(_kind)


def _model_exists(label: str) -> bool:
    try:
        django_apps.get_model(label)
    except (LookupError, ValueError):
        return False
    return True


def available_kinds() -> list[str]:
    """The kinds whose data exists in this installation (people/patrols models may not be there yet)."""
    return [k for k, kind in KINDS.items() if all(_model_exists(m) for m in kind.needs)]


def _params(kinds, within, tier, patrol_days=30, geometry=True):
    available = available_kinds()
    if kinds is None:
        kinds = available
    unknown = [k for k in kinds if k not in available]
    if unknown:
        raise DomainError(
            _("unknown gap kind %(kind)s; use one of %(kinds)s")
            % {"kind": repr(unknown[0]), "kinds": ", ".join(available)},
            field="kind",
        )
    return kinds, {
        "prefix": within_prefix(within),
        "radius": tier_radius(tier),
        "tier": int(tier),
        "factor": DETOUR_FACTOR,
        "patrol_days": patrol_days,
        "patrol_since": timezone.now() - timedelta(days=patrol_days),
        "tz": settings.TIME_ZONE,
        "geometry": bool(geometry),  # the kinds' statements skip ST_AsGeoJSON without it
    }


JSON_AS_TEXT = psycopg2.extensions.new_type((114,), "JSON_AS_TEXT", psycopg2.STRING)  # oid of json


def _rows(key: str, params: dict) -> list:
    """One kind's rows: its SQL, or another app's selector."""
    kind = KINDS[key]
    if kind.fetch is not None:
        return kind.fetch(params)
    with read_cursor() as cur:
        # details come as text, parsed by the caller with orjson: psycopg2's json cast calls back
        # into Python for each of a city's ~180k of them
        psycopg2.extensions.register_type(JSON_AS_TEXT, cur.cursor)
        cur.execute(kind.sql, params)
        return cur.fetchall()


def gap_items(
    *,
    kinds: list[str] | None = None,
    within: str | None = None,
    tier=15,
    patrol_days: int = 30,
    geometry: bool = True,
) -> list[dict]:
    """Every gap of the given kinds (default: all available) in an area, each with its sentence."""
    if not isinstance(patrol_days, int) or not 1 <= patrol_days <= 366:
        raise DomainError(
            _("patrol_days=%(value)s must be from 1 to 366") % {"value": repr(patrol_days)},
            field="patrol_days",
        )
    kinds, params = _params(kinds, within, tier, patrol_days, geometry)
    items = []
    with sentences.memoized(), gc_paused():
        for key in kinds:
            kind = KINDS[key]
            rows = _rows(key, params)
            for obj_type, obj_id, name, area_code, geom, detail in rows:
                detail = detail if isinstance(detail, dict) else orjson.loads(detail)
                item = {
                    "kind": key,
                    "object_type": obj_type,
                    "object_id": obj_id,
                    "name": name,
                    "area_code": area_code,
                    "detail": detail,
                    "explanation": kind.explain(name, detail, params),
                }
                if "method" in detail:  # how a distance was measured: network | straight
                    item["method"] = detail["method"]
                if geometry:
                    item["geometry"] = orjson.loads(geom) if geom else None
                items.append(item)
    return items


def gap_counts(
    *, by: str = "community", within: str | None = None, tier=15, kinds=None, patrol_days: int = 30
) -> dict:
    """Counts of each gap kind per area of a level (street, community or grid), with area names."""
    if by not in CODE_LENGTH:
        raise DomainError(
            _("by=%(value)s: use one of %(levels)s")
            % {"value": repr(by), "levels": ", ".join(CODE_LENGTH)},
            field="by",
        )
    items = gap_items(
        kinds=kinds, within=within, tier=tier, patrol_days=patrol_days, geometry=False
    )
    kinds = kinds or available_kinds()
    n = CODE_LENGTH[by]
    counts: dict[str, dict] = {}
    for it in items:
        code = it["area_code"][:n] if len(it["area_code"]) >= n else ""
        row = counts.setdefault(code, dict.fromkeys(kinds, 0))
        row[it["kind"]] += 1
    names = {}
    with read_cursor() as cur:
        cur.execute(
            "SELECT a.code, a.name FROM territory_area a WHERE a.level = %s AND a.valid_from <= now() AND (a.valid_to IS NULL OR a.valid_to > now()) "
            "AND a.code = ANY(%s)",
            [by, [c for c in counts if c]],
        )
        names = dict(cur.fetchall())
    return {
        "by": by,
        "kinds": {k: str(KINDS[k].label) for k in kinds},
        "areas": [
            {
                "code": code,
                "name": names.get(code, _("Outside any %(level)s") % {"level": by}),
                "counts": c,
            }
            for code, c in sorted(counts.items())
        ],
        "total": {k: sum(c[k] for c in counts.values()) for k in kinds},
    }


def gaps_geojson(*, kinds=None, within=None, tier=15, patrol_days: int = 30) -> dict:
    items = gap_items(kinds=kinds, within=within, tier=tier, patrol_days=patrol_days, geometry=True)
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": it.pop("geometry"),
                "properties": {**it, "label": str(KINDS[it["kind"]].label)},
            }
            for it in items
        ],
    }
