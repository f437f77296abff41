"""Service-station coverage by the walking tiers of the 15-minute living circle, and where new stations
would cover the most uncovered households (maximal covering location problem, spopt MCLP).

Distances. GB 50180-2018 (城市居住区规划设计标准) sizes living circles by walking time: 5 minutes ≈ 300 m,
10 minutes ≈ 500 m, 15 minutes ≈ 800-1,000 m of walking. A building's walking distance to its nearest
station is measured in one of two ways (docs/ANALYTICS.md):

* **along the street network** when the building's community is touched by the loaded pedestrian
  network (`StreetSegment`, `manage.py import_streets`): a graph of the segments around the buildings
  (ends within SNAP_M = 0.5 m are one node, edges weigh their geodesic length), every station and every
  building joined to its nearest point of the network by a straight access leg that counts in the
  distance, then one multi-source Dijkstra from all stations at once (scipy). The geometry (nearest
  segment by KNN, where on it, lengths) is computed in PostGIS; only the graph is built in Python.
  A building that reaches no station within NETWORK_LIMIT_M along the network is beyond every tier.
* otherwise **in a straight line × DETOUR_FACTOR** (1.3, a common urban circuity for pedestrian
  paths): the geodesic distance (PostGIS geography) to the nearest station times 1.3.
"""

import math
from dataclasses import dataclass, field

import h3
import numpy as np
import pulp
import shapely
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from pyproj import Geod, Transformer
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree
from spopt.locate import MCLP

from apps.common.db import copy_rows
from apps.common.errors import DomainError
from apps.common.routers import read_cursor
from apps.dataio.geometry import TYPE_NAMES
from apps.dataio.readers import read_source
from apps.dataio.services import NAME_FIELDS, field_text

DETOUR_FACTOR = 1.3
# (minutes, walking radius in metres). 15 minutes uses the upper bound of 800-1,000 m.
TIERS = {5: 300.0, 10: 500.0, 15: 1000.0}
SUGGEST_RES = 10  # H3 resolution (~66 m edge) for aggregating demand and candidate sites
SOLVER_SECONDS = 30
MAX_MATRIX = 4_000_000  # demand cells × candidate sites the solver is given at most
SNAP_M = 0.5  # segment ends (and, on import, vertices on another segment) this close are one node
# How far along the network a station is looked for: twice the largest tier. The graph holds the
# segments within this distance of the buildings' bounding box, so every path up to it is in the graph
# and distances up to it are exact; a building farther from every station is beyond every tier.
NETWORK_LIMIT_M = 2000.0
METHOD_NETWORK, METHOD_STRAIGHT = "network", "straight"


def tier_radius(tier) -> float:
    try:
        return TIERS[int(tier)]
    except (TypeError, ValueError, KeyError):
        raise DomainError(
            _("tier=%(value)s is not a living-circle tier; use one of 5, 10, 15 (minutes)")
            % {"value": repr(tier)},
            field="tier",
        ) from None


def walking_m(straight_m: float) -> float:
    """The straight-line estimate of a walking distance (used where no street network is loaded)."""
    return straight_m * DETOUR_FACTOR


def within_prefix(within: str | None) -> str:
    """A LIKE pattern for an area-code prefix (street, community, grid...), '%' for everything."""
    if not within:
        return "%"
    if not within.replace("C", "").isdigit():
        raise DomainError(
            _("within=%(value)s is not an area code") % {"value": repr(within)}, field="within"
        )
    return within + "%"


# Nearest station per building in a straight line, and whether the building's community is touched by
# the street network (then its walking distance is measured on the network). Hand-written: a LATERAL
# KNN (`<->` on the GiST index of the station points) takes the 4 planar-nearest candidates, then the
# geodesic distance (geography) picks the nearest of those; degrees are not metres (a degree of
# longitude is ~15 % shorter than one of latitude at 31°N). Buildings are filtered by the code of their
# grid, else community, so `within` can be any level.
BUILDING_STATION_SQL = """
WITH sel AS MATERIALIZED (
     SELECT b.id, b.name, b.households, COALESCE(g.code, c.code, '') AS area_code, b.community_id,
            ST_PointOnSurface(b.footprint) AS p
       FROM territory_building b
       LEFT JOIN territory_area c ON c.id = b.community_id
       LEFT JOIN territory_area g ON g.id = b.grid_id
      WHERE COALESCE(g.code, c.code, '') LIKE ANY(%(prefixes)s::text[])
), net AS MATERIALIZED (
     SELECT c.id FROM territory_area c
      WHERE c.id IN (SELECT community_id FROM sel)
        AND EXISTS (SELECT 1 FROM analytics_streetsegment s
                     WHERE s.geom && c.geom AND ST_Intersects(s.geom, c.geom))
)
SELECT sel.id, sel.name, sel.households, sel.area_code, ST_X(sel.p), ST_Y(sel.p), ns.id, ns.name, ns.d,
       COALESCE(sel.community_id IN (SELECT id FROM net), false)
  FROM sel
  LEFT JOIN LATERAL (
        SELECT k.id, k.name, ST_Distance(k.point::geography, sel.p::geography) AS d
          FROM (SELECT s.id, s.name, s.point FROM analytics_servicestation s
                 ORDER BY s.point <-> sel.p LIMIT 4) k
         ORDER BY 3, 1 LIMIT 1
  ) ns ON true
 ORDER BY sel.id
"""

# The communities of the area's buildings that a street network touches (the same rule as `net`
# above), for callers with a faster straight-line path for the others: apps.analytics.gaps.
NETWORKED_COMMUNITIES_SQL = """
WITH touched AS MATERIALIZED (  -- few: tested first, the area's buildings only for them
    SELECT c.id, c.code FROM territory_area c
     WHERE EXISTS (SELECT 1 FROM analytics_streetsegment) AND c.level = 'community'
       AND c.id IN (SELECT b.community_id FROM territory_building b)
       AND EXISTS (SELECT 1 FROM analytics_streetsegment s
                    WHERE s.geom && c.geom AND ST_Intersects(s.geom, c.geom))
)
SELECT t.code FROM touched t
 WHERE EXISTS (SELECT 1 FROM territory_building b
                 LEFT JOIN territory_area g ON g.id = b.grid_id
                WHERE b.community_id = t.id AND COALESCE(g.code, t.code, '') LIKE %(prefix)s)
 ORDER BY t.code
"""

# The segments of the graph: those whose box meets the search envelope; geodesic length and the two
# ends in the local UTM zone (metres) for snapping ends together.
SEGMENTS_SQL = """
SELECT s.id, ST_Length(s.geom::geography),
       ST_X(a.p), ST_Y(a.p), ST_X(z.p), ST_Y(z.p)
  FROM analytics_streetsegment s
 CROSS JOIN LATERAL (SELECT ST_Transform(ST_StartPoint(s.geom), %(utm)s) AS p) a
 CROSS JOIN LATERAL (SELECT ST_Transform(ST_EndPoint(s.geom), %(utm)s) AS p) z
 WHERE s.geom && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)
 ORDER BY s.id
"""

# Where each station of the envelope and each building joins the network: its nearest segment (KNN on
# the segments' GiST index, 8 planar candidates, the geodesically nearest of them), the fraction along
# it of the nearest point (ST_LineLocatePoint, in metres of the UTM zone) and the access leg (geodesic
# metres). Buildings by their point on surface, as everywhere else. The KNN is not limited to the
# envelope: a nearest segment outside it is more than NETWORK_LIMIT_M from every building, so whatever
# joins it reaches nothing within the limit, and walk_graph drops snaps to segments it was not given.
SNAP_SQL = """
WITH q AS (
     SELECT 's'::text AS kind, s.id, s.point AS p
       FROM analytics_servicestation s
      WHERE s.point && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)
      UNION ALL
     SELECT 'b', b.id, ST_PointOnSurface(b.footprint) FROM territory_building b WHERE b.id = ANY(%(ids)s)
)
SELECT q.kind, q.id, n.id,
       ST_LineLocatePoint(ST_Transform(n.geom, %(utm)s), ST_Transform(q.p, %(utm)s)), n.d
  FROM q
 CROSS JOIN LATERAL (
       SELECT c.id, c.geom, ST_Distance(c.geom::geography, q.p::geography) AS d
         FROM (SELECT s.id, s.geom FROM analytics_streetsegment s ORDER BY s.geom <-> q.p LIMIT 8) c
        ORDER BY 3, 1 LIMIT 1
 ) n
"""


@dataclass
class BuildingAccess:
    id: int
    name: str
    households: int
    area_code: str
    lon: float
    lat: float
    station_id: int | None  # the nearest station in a straight line
    station_name: str | None
    straight_m: float | None  # geodesic metres to it
    networked: bool = False  # the building's community is touched by the street network
    # along the network (networked buildings): the nearest station and the distance, None when no
    # station is within NETWORK_LIMIT_M; the access leg from the building to the network
    network_station_id: int | None = None
    network_station_name: str | None = None
    network_m: float | None = None
    access_m: float | None = None

    @property
    def method(self) -> str:
        return METHOD_NETWORK if self.networked else METHOD_STRAIGHT

    @property
    def walk_m(self) -> float | None:
        """Walking metres to the nearest station: along the network, else straight line × factor."""
        if self.networked:
            return self.network_m
        return None if self.straight_m is None else walking_m(self.straight_m)

    @property
    def walk_station(self) -> tuple[int | None, str | None]:
        """The station the walking distance is to (id, name)."""
        if self.networked:
            return self.network_station_id, self.network_station_name
        return self.station_id, self.station_name

    def tier(self) -> int | None:
        """The smallest living-circle tier (minutes) that reaches this building, None beyond 15."""
        if self.walk_m is None:
            return None
        for minutes, radius in sorted(TIERS.items()):
            if self.walk_m <= radius:
                return minutes
        return None


def building_access(
    *, within: str | None = None, prefix: str | None = None, prefixes: list[str] | None = None
) -> list[BuildingAccess]:
    """Every building of the area (`within`, or an area-code LIKE `prefix`, or any of `prefixes`) with
    its nearest station and walking distance: along the street network where it is loaded, else
    straight line × factor."""
    if prefixes is None:
        prefixes = [prefix or within_prefix(within)]
    with read_cursor() as cur:
        cur.execute(BUILDING_STATION_SQL, {"prefixes": prefixes})
        rows = [BuildingAccess(*row) for row in cur.fetchall()]
    networked = [b for b in rows if b.networked]
    if networked:
        network_walk(networked)
    return rows


WGS84 = Geod(ellps="WGS84")  # GeographicLib geodesics, as PostGIS measures geography
EARTH_RADIUS_M = 6_371_008.8  # mean radius: chords between points on this sphere are in metres
# On the ellipsoid a geodesic is within 0.6 % of the great circle on the mean sphere, and for a few km
# a chord is shorter than its arc by a few parts per billion: chord × (1 + CHORD_SLACK) bounds the
# geodesic from above, chord / (1 + CHORD_SLACK) from below.
CHORD_SLACK = 0.01


def _on_sphere(lon, lat) -> np.ndarray:
    lon, lat = np.radians(np.asarray(lon, float)), np.radians(np.asarray(lat, float))
    c = np.cos(lat)
    return EARTH_RADIUS_M * np.column_stack([c * np.cos(lon), c * np.sin(lon), np.sin(lat)])


def beyond_stations(lon, lat, station_lon, station_lat, radius_m: float) -> np.ndarray:
    """True for each point with no station within `radius_m` metres (geodesic on WGS84, what
    ST_DWithin on geography answers). A k-d tree of the stations on the sphere settles most points by
    their nearest chord (surely within, or no station near); the rest are measured exactly against
    every station whose chord could be within."""
    n = len(lon)
    if not len(station_lon):
        return np.ones(n, bool)
    tree = cKDTree(_on_sphere(station_lon, station_lat))
    points = _on_sphere(lon, lat)
    bound = radius_m * (1 + CHORD_SLACK)
    chord, _ = tree.query(points, k=1, distance_upper_bound=bound)
    within = chord * (1 + CHORD_SLACK) <= radius_m
    open_ = np.nonzero(~within & np.isfinite(chord))[0]  # a station might be within: measure
    if len(open_):
        lon, lat = np.asarray(lon, float), np.asarray(lat, float)
        station_lon, station_lat = np.asarray(station_lon, float), np.asarray(station_lat, float)
        for i, candidates in zip(open_, tree.query_ball_point(points[open_], bound), strict=True):
            _az, _back, d = WGS84.inv(
                np.full(len(candidates), lon[i]),
                np.full(len(candidates), lat[i]),
                station_lon[candidates],
                station_lat[candidates],
            )
            within[i] = bool((d <= radius_m).any())
    return ~within


def networked_communities(prefix: str) -> list[str]:
    """Codes of the communities of the area (an area-code LIKE `prefix`) whose buildings are measured
    along the street network."""
    with read_cursor() as cur:
        cur.execute(NETWORKED_COMMUNITIES_SQL, {"prefix": prefix})
        return [code for (code,) in cur.fetchall()]


def utm_srid(lon: float, lat: float) -> int:
    """The EPSG code of the UTM zone holding a point (WGS84)."""
    zone = min(int((lon + 180) // 6) + 1, 60)
    return (32600 if lat >= 0 else 32700) + zone


def search_envelope(lon, lat, margin_m: float) -> tuple[float, float, float, float]:
    """The bounding box of points grown by at least `margin_m` metres on every side (degrees)."""
    x0, x1, y0, y1 = float(np.min(lon)), float(np.max(lon)), float(np.min(lat)), float(np.max(lat))
    dlat = margin_m / 110_000.0  # a degree of latitude is 110.57-111.69 km
    poleward = min(max(abs(y0), abs(y1)) + dlat, 89.0)
    # a degree of longitude is at most 111.32 km × cos(latitude) at the box's poleward edge
    dlon = margin_m / (111_320.0 * math.cos(math.radians(poleward)))
    return x0 - dlon, max(y0 - dlat, -90.0), x1 + dlon, min(y1 + dlat, 90.0)


def network_walk(buildings: list[BuildingAccess]) -> None:
    """Fill in the walking distance along the street network of each building (in place)."""
    lon = np.array([b.lon for b in buildings])
    lat = np.array([b.lat for b in buildings])
    x0, y0, x1, y1 = search_envelope(lon, lat, NETWORK_LIMIT_M)
    params = {"x0": x0, "y0": y0, "x1": x1, "y1": y1, "utm": utm_srid((x0 + x1) / 2, (y0 + y1) / 2)}
    with read_cursor() as cur:
        cur.execute(SEGMENTS_SQL, params)
        segments = cur.fetchall()
        cur.execute(SNAP_SQL, params | {"ids": [b.id for b in buildings]})
        snaps = cur.fetchall()
        station_ids = sorted({i for kind, i, *_ in snaps if kind == "s"})
        names = {}
        if station_ids:
            cur.execute(
                "SELECT id, name FROM analytics_servicestation WHERE id = ANY(%s)", [station_ids]
            )
            names = dict(cur.fetchall())
    found = walk_graph(segments, snaps)
    for b in buildings:
        hit = found.get(b.id)
        if hit is None:
            continue
        station_id, metres, access = hit
        b.access_m = access
        if station_id is not None:
            b.network_station_id, b.network_m = station_id, metres
            b.network_station_name = names.get(station_id)


def walk_graph(
    segments, snaps, *, limit_m: float = NETWORK_LIMIT_M, snap_m: float = SNAP_M
) -> dict:
    """The graph and the multi-source Dijkstra, on plain rows (no database):

    segments: (id, geodesic length m, x0, y0, x1, y1) with the ends in metres (a local projection);
    snaps: (kind 's' station | 'b' building, id, segment id, fraction along it, access leg m).

    Nodes are the segment ends, those within `snap_m` of each other merged (a KD-tree, then connected
    components of the close pairs); every snap adds a node on its segment (the segment is cut there:
    pieces weigh their share of its length) and a node for the station or building, joined to it by the
    access leg. Parallel edges keep the shortest. Returns {building id: (station id or None, walking
    metres or None, access leg m)} for every snapped building; the station is the nearest over the
    network within `limit_m`."""
    if not segments or not snaps:
        return {int(i): (None, None, float(d)) for kind, i, _s, _f, d in snaps if kind == "b"}
    seg = np.array([row[1:] for row in segments], dtype=float)
    seg_ids = np.array([row[0] for row in segments], dtype=np.int64)
    n = len(seg)
    length = seg[:, 0]
    ends = np.vstack([seg[:, 1:3], seg[:, 3:5]])  # starts, then ends
    pairs = cKDTree(ends).query_pairs(snap_m, output_type="ndarray")
    close = coo_matrix(
        (np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])) if len(pairs) else ([], ([], [])),
        shape=(2 * n, 2 * n),
    )
    n_nodes, label = connected_components(close, directed=False)
    start, end = label[:n], label[n:]

    row_of = {int(s): k for k, s in enumerate(seg_ids)}
    snaps = [s for s in snaps if int(s[2]) in row_of]
    m = len(snaps)
    kind = np.array([s[0] for s in snaps])
    obj = np.array([int(s[1]) for s in snaps], dtype=np.int64)
    srow = np.array([row_of[int(s[2])] for s in snaps], dtype=np.int64)
    frac = np.clip(np.array([float(s[3]) for s in snaps]), 0.0, 1.0)
    access = np.array([float(s[4]) for s in snaps])
    on_seg = n_nodes + np.arange(m)  # the snap's point on its segment
    own = n_nodes + m + np.arange(m)  # the station or building itself

    # Segments with snaps on them are cut at the snaps: chain start → snaps by fraction → end.
    cut = np.zeros(n, dtype=bool)
    cut[srow] = True
    plain = np.flatnonzero(~cut)
    c_rows = np.flatnonzero(cut)
    chain_seg = np.concatenate([c_rows, srow, c_rows])
    chain_frac = np.concatenate([np.zeros(len(c_rows)), frac, np.ones(len(c_rows))])
    chain_order = np.concatenate([np.zeros(len(c_rows)), np.ones(m), np.full(len(c_rows), 2)])
    chain_node = np.concatenate([start[c_rows], on_seg, end[c_rows]])
    order = np.lexsort((chain_order, chain_frac, chain_seg))
    chain_seg, chain_frac, chain_node = chain_seg[order], chain_frac[order], chain_node[order]
    same = chain_seg[1:] == chain_seg[:-1]

    a = np.concatenate([start[plain], chain_node[:-1][same], on_seg])
    b = np.concatenate([end[plain], chain_node[1:][same], own])
    w = np.concatenate(
        [
            length[plain],
            (chain_frac[1:] - chain_frac[:-1])[same] * length[chain_seg[:-1][same]],
            access,
        ]
    )
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keep = lo != hi
    lo, hi, w = lo[keep], hi[keep], w[keep]
    first = np.lexsort((w, hi, lo))  # shortest first within each node pair
    lo, hi, w = lo[first], hi[first], w[first]
    uniq = np.ones(len(lo), dtype=bool)
    uniq[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    size = n_nodes + 2 * m
    # No duplicate pairs remain (COO → CSR would add them up); zero weights stay explicit edges.
    graph = coo_matrix((w[uniq], (lo[uniq], hi[uniq])), shape=(size, size)).tocsr()

    stations = np.flatnonzero(kind == "s")
    result = {}
    if len(stations):
        dist, _pred, source = dijkstra(
            graph,
            directed=False,
            indices=own[stations],
            min_only=True,
            return_predecessors=True,
            limit=limit_m,
        )
        station_of = {int(own[k]): int(obj[k]) for k in stations}
    for k in np.flatnonzero(kind == "b"):
        if len(stations) and np.isfinite(dist[own[k]]):
            result[int(obj[k])] = (
                station_of[int(source[own[k]])],
                float(dist[own[k]]),
                float(access[k]),
            )
        else:
            result[int(obj[k])] = (None, None, float(access[k]))
    return result


def coverage(*, within: str | None = None) -> dict:
    """Households and buildings by the smallest tier that reaches them, overall and per community."""
    rows = building_access(within=within)
    keys = [str(m) for m in sorted(TIERS)] + ["beyond"]

    def empty():
        return {"households": dict.fromkeys(keys, 0), "buildings": dict.fromkeys(keys, 0)}

    total, per_area = empty(), {}
    methods = {METHOD_NETWORK: 0, METHOD_STRAIGHT: 0}
    for b in rows:
        key = str(b.tier()) if b.tier() else "beyond"
        area = per_area.setdefault(b.area_code[:12], empty())
        for bucket in (total, area):
            bucket["households"][key] += b.households
            bucket["buildings"][key] += 1
        methods[b.method] += 1
    hh = sum(total["households"].values())
    # Cumulative shares: a household within 5 minutes is also within 10 and 15.
    cumulative, running = {}, 0
    for k in keys[:-1]:
        running += total["households"][k]
        cumulative[k] = round(running / hh, 4) if hh else None
    if not methods[METHOD_NETWORK]:
        distance = "straight line × detour factor (no street network loaded for the area)"
    elif not methods[METHOD_STRAIGHT]:
        distance = "along the street network"
    else:
        distance = (
            "along the street network where it is loaded, elsewhere straight line × detour factor"
        )
    return {
        "detour_factor": DETOUR_FACTOR,
        "distance": distance,
        "methods": methods,  # buildings measured each way
        "network_limit_m": NETWORK_LIMIT_M,
        "tiers": {str(m): r for m, r in TIERS.items()},
        "households": hh,
        "total": total,
        "share_within": cumulative,
        "by_community": per_area,
    }


# ---- Suggesting new stations ---------------------------------------------------------------------


def haversine_m(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Great-circle distances in metres between every (lon1, lat1) and every (lon2, lat2)."""
    lon1, lat1, lon2, lat2 = (
        np.radians(np.asarray(a, dtype=float)) for a in (lon1, lat1, lon2, lat2)
    )
    dlat = lat2[None, :] - lat1[:, None]
    dlon = lon2[None, :] - lon1[:, None]
    a = (
        np.sin(dlat / 2) ** 2
        + np.cos(lat1)[:, None] * np.cos(lat2)[None, :] * np.sin(dlon / 2) ** 2
    )
    return 2 * 6_371_008.8 * np.arcsin(np.sqrt(np.clip(a, 0, 1)))


def greedy_cover(cost: np.ndarray, weights: np.ndarray, radius: float, p: int) -> list[int]:
    """Greedy maximal covering: repeatedly open the site that covers the most still-uncovered weight."""
    cover = cost <= radius
    uncovered = np.ones(cost.shape[0], dtype=bool)
    chosen: list[int] = []
    for _step in range(min(p, cost.shape[1])):
        gain = (cover & uncovered[:, None]).T.astype(float) @ weights
        if chosen:
            gain[chosen] = -1
        j = int(np.argmax(gain))
        if gain[j] <= 0:
            break
        chosen.append(j)
        uncovered &= ~cover[:, j]
    return chosen


def mclp_sites(
    cost: np.ndarray, weights: np.ndarray, radius: float, p: int, *, seconds: int = SOLVER_SECONDS
) -> dict:
    """Solve the maximal covering location problem (spopt MCLP, CBC through PuLP), warm-started from
    the greedy answer. Returns the chosen site indices, the covered weight, and the greedy's for
    comparison. If the solver stops without a better answer, the greedy one is kept."""
    weights = np.asarray(weights, dtype=float)
    greedy = greedy_cover(cost, weights, radius, p)
    cover = cost <= radius

    def covered(sites):
        return float(weights[cover[:, sites].any(axis=1)].sum()) if sites else 0.0

    model = MCLP.from_cost_matrix(cost, weights, service_radius=radius, p_facilities=p)
    greedy_set = set(greedy)
    for j, var in enumerate(model.fac_vars):
        var.setInitialValue(1 if j in greedy_set else 0)
    covered_by_greedy = cover[:, greedy].any(axis=1) if greedy else np.zeros(len(weights), bool)
    for i, var in enumerate(model.cli_vars):
        var.setInitialValue(1 if covered_by_greedy[i] else 0)
    solver = pulp.PULP_CBC_CMD(msg=False, warmStart=True, timeLimit=seconds)
    status = model.problem.solve(solver)
    sites = [j for j, var in enumerate(model.fac_vars) if (var.value() or 0) > 0.5]
    method = "mclp"
    if pulp.LpStatus[status] != "Optimal" or covered(sites) < covered(greedy):
        sites, method = greedy, "greedy"
    return {
        "sites": sorted(sites),
        "covered": covered(sites),
        "greedy_sites": sorted(greedy),
        "greedy_covered": covered(greedy),
        "method": method,
        "status": pulp.LpStatus[status],
    }


def suggest_stations(*, within: str | None = None, count: int = 3, tier=15) -> dict:
    """Where `count` new stations would cover the most households not reached today within `tier`
    minutes. Demand: uncovered buildings aggregated to H3 cells (households-weighted mean point per
    cell). Candidate sites: the centres of the H3 cells that hold any building of the area."""
    if not isinstance(count, int) or not 1 <= count <= 50:
        raise DomainError(
            _("count=%(value)s must be a whole number from 1 to 50") % {"value": repr(count)},
            field="count",
        )
    radius = tier_radius(tier)
    rows = building_access(within=within)
    if not rows:
        raise DomainError(_("no buildings in that area"), field="within")
    cand_cells = sorted({h3.latlng_to_cell(b.lat, b.lon, SUGGEST_RES) for b in rows})
    demand: dict[str, list] = {}
    for b in rows:
        if b.households <= 0 or (b.walk_m is not None and b.walk_m <= radius):
            continue
        cell = h3.latlng_to_cell(b.lat, b.lon, SUGGEST_RES)
        acc = demand.setdefault(cell, [0.0, 0.0, 0, 0])
        acc[0] += b.lon * b.households
        acc[1] += b.lat * b.households
        acc[2] += b.households
        acc[3] += 1
    uncovered_hh = int(sum(d[2] for d in demand.values()))
    result = {
        "tier": int(tier),
        "radius_m": radius,
        "detour_factor": DETOUR_FACTOR,
        "uncovered_households": uncovered_hh,
        "demand_cells": len(demand),
        "candidate_cells": len(cand_cells),
        "sites": [],
    }
    if not demand:
        return result | {"method": "none", "covered": 0, "greedy_covered": 0}
    if len(demand) * len(cand_cells) > MAX_MATRIX:
        raise DomainError(
            _(
                "%(demand)s demand cells × %(candidates)s candidate sites is too large a problem; "
                "choose a street or community with `within`"
            )
            % {"demand": f"{len(demand):,}", "candidates": f"{len(cand_cells):,}"},
            field="within",
        )
    d_lon = np.array([d[0] / d[2] for d in demand.values()])
    d_lat = np.array([d[1] / d[2] for d in demand.values()])
    weights = np.array([d[2] for d in demand.values()], dtype=float)
    c_latlng = np.array([h3.cell_to_latlng(c) for c in cand_cells])
    cost = haversine_m(d_lon, d_lat, c_latlng[:, 1], c_latlng[:, 0]) * DETOUR_FACTOR
    solved = mclp_sites(cost, weights, radius, count)
    cover = cost <= radius
    for j in solved["sites"]:
        if not cover[:, j].any():
            continue  # MCLP opens exactly `count` sites; one that reaches nobody is not a suggestion
        result["sites"].append(
            {
                "cell": cand_cells[j],
                "lon": round(float(c_latlng[j, 1]), 6),
                "lat": round(float(c_latlng[j, 0]), 6),
                "households_reached": int(weights[cover[:, j]].sum()),
            }
        )
    result.update(
        method=solved["method"],
        covered=int(solved["covered"]),
        greedy_covered=int(solved["greedy_covered"]),
        solver_status=solved["status"],
    )
    return result


def suggestion_geojson(suggestion: dict) -> dict:
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [s["lon"], s["lat"]]},
                "properties": {
                    "rank": i + 1,
                    "households_reached": s["households_reached"],
                    "radius_m": suggestion["radius_m"],
                    "straight_radius_m": math.floor(suggestion["radius_m"] / DETOUR_FACTOR),
                },
            }
            for i, s in enumerate(suggestion["sites"])
        ],
    }


# ---- Loading the street network (manage.py import_streets) -----------------------------------------

STREET_ID_FIELDS = ("id", "osm_id", "osm_way_id", "ID", "OBJECTID", "FID")
LINE_TYPES = (1, 2, 5)  # LineString, LinearRing, MultiLineString


class StreetsRejected(DomainError):
    """The import refused because rows are not usable lines; nothing was written."""

    def __init__(self, rejected: list[tuple[int, str]], read: int):
        row, reason = rejected[0]
        super().__init__(
            _(
                "%(rejected)s of %(read)s features rejected (first: row %(row)s: %(reason)s); "
                "nothing was written. Fix the file, or skip the bad rows (--skip-bad) to import "
                "the rest."
            )
            % {"rejected": len(rejected), "read": read, "row": row, "reason": reason},
            field="file",
            code="rejected",
        )
        self.rejected = rejected


@dataclass
class StreetsImport:
    file: str
    layer: str | None
    driver: str
    crs: str
    read: int = 0  # features in the file
    rejected: list = field(default_factory=list)  # (row, reason), rows 1-based as read
    segments: int = 0  # two-point segments made from the usable rows
    junctions: int = 0  # segments cut where another line ends on them (T-junctions)
    replaced: int = 0  # segments deleted first (--replace)
    written: int = 0
    committed: bool = False

    def as_text(self) -> str:
        lines = [
            f"{self.file} (layer {self.layer}, {self.driver}, {self.crs})",
            "",
            f"  {'features read':<22}{self.read:>8}",
            f"  {'rejected':<22}{len(self.rejected):>8}",
            f"  {'segments':<22}{self.segments:>8}",
            f"  {'cut at T-junctions':<22}{self.junctions:>8}",
        ]
        if self.rejected:
            lines += ["", "Rejected:", f"  {'row':>6}  reason"]
            lines += [f"  {row:>6}  {reason}" for row, reason in self.rejected[:200]]
            if len(self.rejected) > 200:
                lines.append(f"  ... and {len(self.rejected) - 200} more")
        if self.committed:
            lines += [
                "",
                (f"Replaced {self.replaced} segments. " if self.replaced else "")
                + f"Committed: {self.written} segments written.",
            ]
        else:
            lines += ["", "Dry run: nothing written."]
        return "\n".join(lines)


def check_lines(geoms, known: dict[int, str] | None = None) -> tuple[np.ndarray, dict[int, str]]:
    """The usable lines of a file (2D, LineString or MultiLineString, valid), and the reason for every
    other row: missing, empty, not a line (with its type), invalid (GEOS's reason)."""
    geoms = shapely.force_2d(np.asarray(geoms, dtype=object))
    rejected = dict(known or {})
    for i, g in enumerate(geoms):
        if i in rejected:
            continue
        if g is None:
            rejected[i] = _("no geometry")
        elif shapely.is_empty(g):
            rejected[i] = _("empty geometry")
        elif shapely.get_type_id(g) not in LINE_TYPES:
            kind = TYPE_NAMES.get(int(shapely.get_type_id(g)), "unknown")
            rejected[i] = _("not a line (%(type)s)") % {"type": kind}
        elif not shapely.is_valid(g):
            rejected[i] = _("invalid line: %(reason)s") % {"reason": shapely.is_valid_reason(g)}
    ok = np.ones(len(geoms), dtype=bool)
    ok[list(rejected)] = False
    return np.where(ok, geoms, None), rejected


def split_segments(lines, *, snap_m: float = SNAP_M):
    """Two-point segments (lon/lat) from lines: every line cut at each of its vertices, and every
    segment cut where the end of any line lies within `snap_m` of its interior (a T-junction drawn
    without a shared vertex; the segment is bent to that end). Repeated vertices are dropped.
    Returns (start xy array, end xy array, index of the line each segment comes from, cuts made)."""
    parts, part_of = shapely.get_parts(lines, return_index=True)
    xy, vertex_of = shapely.get_coordinates(parts, return_index=True)
    step = (vertex_of[1:] == vertex_of[:-1]) & np.any(xy[1:] != xy[:-1], axis=1)
    a_idx = np.flatnonzero(step)
    a, b, line = xy[a_idx], xy[a_idx + 1], part_of[vertex_of[a_idx]]
    if not len(a):
        return a, b, line, 0
    lon0, lat0 = xy.mean(axis=0)
    to_m = Transformer.from_crs(4326, utm_srid(lon0, lat0), always_xy=True)
    am = np.column_stack(to_m.transform(a[:, 0], a[:, 1]))
    bm = np.column_stack(to_m.transform(b[:, 0], b[:, 1]))
    # the ends of the lines (their parts): a line ending on another's interior is a T-junction; an
    # interior vertex lying on another line is more likely a crossing at another level (a bridge)
    ends = np.vstack(
        [
            shapely.get_coordinates(shapely.get_point(parts, 0)),
            shapely.get_coordinates(shapely.get_point(parts, -1)),
        ]
    )
    pts = np.unique(ends, axis=0)
    ptm = np.column_stack(to_m.transform(pts[:, 0], pts[:, 1]))
    tree = shapely.STRtree(shapely.linestrings(np.stack([am, bm], axis=1)))
    p_idx, s_idx = tree.query(shapely.points(ptm), predicate="dwithin", distance=snap_m)
    d_a = np.hypot(*(ptm[p_idx] - am[s_idx]).T)
    d_b = np.hypot(*(ptm[p_idx] - bm[s_idx]).T)
    inner = (d_a > snap_m) & (d_b > snap_m)
    p_idx, s_idx = p_idx[inner], s_idx[inner]
    if not len(p_idx):
        return a, b, line, 0
    # fraction along the segment of each cut point (projection in metres), then cut in order
    ab = bm[s_idx] - am[s_idx]
    t = np.einsum("ij,ij->i", ptm[p_idx] - am[s_idx], ab) / np.einsum("ij,ij->i", ab, ab)
    cut_segs = np.unique(s_idx)
    keep = np.ones(len(a), dtype=bool)
    keep[cut_segs] = False
    order = np.lexsort((t, s_idx))
    s_sorted, p_sorted = s_idx[order], p_idx[order]
    new_a, new_b, new_line = [a[keep]], [b[keep]], [line[keep]]
    bounds = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1], True])
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        s = s_sorted[lo]
        chain = np.vstack([a[s], pts[p_sorted[lo:hi]], b[s]])
        moves = np.any(chain[1:] != chain[:-1], axis=1)
        new_a.append(chain[:-1][moves])
        new_b.append(chain[1:][moves])
        new_line.append(np.full(int(moves.sum()), line[s]))
    return (
        np.concatenate(new_a),
        np.concatenate(new_b),
        np.concatenate(new_line),
        len(cut_segs),
    )


def streets_import(
    *,
    path,
    layer: str | None = None,
    where: str | None = None,
    srid: int | None = None,
    datum: str = "wgs84",
    name_field: str | None = None,
    id_field: str | None = None,
    replace: bool = False,
    skip_bad: bool = False,
    dry_run: bool = False,
) -> StreetsImport:
    """Read a pedestrian street network from any OGR source (GeoJSON, GeoPackage, Shapefile...; the
    file's CRS is honoured and transformed to EPSG:4326, GCJ-02/BD-09 converted with `datum`), split it
    into two-point segments and write them in one transaction: all or nothing. A row that is not a
    usable line (no geometry, empty, not a line, invalid, coordinates outside its CRS) is reported by
    number and reason and nothing is written, unless `skip_bad`. `replace` deletes every segment first
    (the file becomes the whole network); otherwise the file is added to what is loaded."""
    src = read_source(path, layer=layer, srid=srid, datum=datum, where=where)
    n = len(src.frame)
    if name_field is None:
        name_field = next((f for f in NAME_FIELDS if f in src.fields), None)
    if id_field is None:
        id_field = next((f for f in STREET_ID_FIELDS if f in src.fields), None)
    names = field_text(src.column(name_field, option="name-field"), n)
    refs = field_text(src.column(id_field, option="id-field"), n)
    lines, bad = check_lines(src.frame.geometry.values, src.problems)
    result = StreetsImport(
        file=str(path),
        layer=src.layer,
        driver=src.driver,
        crs=src.crs_in,
        read=n,
        rejected=[(i + 1, bad[i]) for i in sorted(bad)],
    )
    if result.rejected and not skip_bad:
        raise StreetsRejected(result.rejected, n)
    usable = np.flatnonzero(~shapely.is_missing(lines))
    if not len(usable):
        raise DomainError(_("%(file)s has no usable lines") % {"file": src.path}, field="file")
    a, b, line, cuts = split_segments(lines[usable])
    row = usable[line]
    result.segments, result.junctions = len(a), cuts
    if dry_run:
        return result
    ewkb = shapely.to_wkb(
        shapely.set_srid(shapely.linestrings(np.stack([a, b], axis=1)), 4326),
        hex=True,
        include_srid=True,
    )
    columns = ["geom", "name", "source_id"]
    with transaction.atomic():
        if replace:
            with connection.cursor() as cur:
                cur.execute("DELETE FROM analytics_streetsegment")
                result.replaced = cur.rowcount
        with connection.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE analytics_street_load (geom geometry(LineString, 4326), "
                "name text, source_id text) ON COMMIT DROP"
            )
        copy_rows(
            "analytics_street_load",
            columns,
            ((ewkb[k], names[r][:200], refs[r][:64]) for k, r in enumerate(row)),
        )
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO analytics_streetsegment (geom, name, source_id, created_at) "
                "SELECT geom, name, source_id, %s FROM analytics_street_load",
                [timezone.now()],
            )
            result.written = cur.rowcount
            cur.execute("DROP TABLE analytics_street_load")
    result.committed = True
    return result
