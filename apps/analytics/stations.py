"""Service-station coverage by the walking tiers of the 15-minute living circle, and where new stations
would cover the most uncovered households (maximal covering location problem, spopt MCLP).

Distances. GB 50180-2018 (城市居住区规划设计标准) sizes living circles by walking time: 5 minutes ≈ 300 m,
10 minutes ≈ 500 m, 15 minutes ≈ 800-1,000 m of walking. No street network is loaded in Linli yet, so the
walking distance is estimated as the straight-line (geodesic, PostGIS geography) distance times a detour
factor DETOUR_FACTOR = 1.3, a common urban circuity for pedestrian paths. A household is within a tier
when 1.3 × straight-line ≤ the tier's radius. When a network lands, `walking_m` is the one place to swap.
"""

import math
from dataclasses import dataclass

import h3
import numpy as np
import pulp
from spopt.locate import MCLP

from apps.common.errors import DomainError
from apps.common.routers import read_cursor

DETOUR_FACTOR = 1.3
# (minutes, walking radius in metres). 15 minutes uses the upper bound of 800-1,000 m.
TIERS = {5: 300.0, 10: 500.0, 15: 1000.0}
SUGGEST_RES = 10  # H3 resolution (~66 m edge) for aggregating demand and candidate sites
SOLVER_SECONDS = 30
MAX_MATRIX = 4_000_000  # demand cells × candidate sites the solver is given at most


def tier_radius(tier) -> float:
    try:
        return TIERS[int(tier)]
    except (TypeError, ValueError, KeyError):
        raise DomainError(
            f"tier={tier!r} is not a living-circle tier; use one of 5, 10, 15 (minutes)",
            field="tier",
        ) from None


def walking_m(straight_m: float) -> float:
    return straight_m * DETOUR_FACTOR


def within_prefix(within: str | None) -> str:
    """A LIKE pattern for an area-code prefix (street, community, grid...), '%' for everything."""
    if not within:
        return "%"
    if not within.replace("C", "").isdigit():
        raise DomainError(f"within={within!r} is not an area code", field="within")
    return within + "%"


# Nearest station per building. Hand-written: a LATERAL KNN (`<->` on the GiST index of the station
# points) takes the 4 planar-nearest candidates, then the geodesic distance (geography) picks the nearest
# of those; degrees are not metres (a degree of longitude is ~15 % shorter than one of latitude at 31°N).
# Buildings are filtered by the code of their grid, else community, so `within` can be any level.
BUILDING_STATION_SQL = """
SELECT b.id, b.name, b.households, COALESCE(g.code, c.code, '') AS area_code,
       ST_X(pp.p), ST_Y(pp.p), ns.id, ns.name, ns.d
  FROM territory_building b
  LEFT JOIN territory_area c ON c.id = b.community_id
  LEFT JOIN territory_area g ON g.id = b.grid_id
 CROSS JOIN LATERAL (SELECT ST_PointOnSurface(b.footprint) AS p) pp
  LEFT JOIN LATERAL (
        SELECT k.id, k.name, ST_Distance(k.point::geography, pp.p::geography) AS d
          FROM (SELECT s.id, s.name, s.point FROM analytics_servicestation s
                 ORDER BY s.point <-> pp.p LIMIT 4) k
         ORDER BY 3, 1 LIMIT 1
  ) ns ON true
 WHERE COALESCE(g.code, c.code, '') LIKE %(prefix)s
 ORDER BY b.id
"""


@dataclass
class BuildingAccess:
    id: int
    name: str
    households: int
    area_code: str
    lon: float
    lat: float
    station_id: int | None
    station_name: str | None
    straight_m: float | None

    @property
    def walk_m(self) -> float | None:
        return None if self.straight_m is None else walking_m(self.straight_m)

    def tier(self) -> int | None:
        """The smallest living-circle tier (minutes) that reaches this building, None beyond 15."""
        if self.walk_m is None:
            return None
        for minutes, radius in sorted(TIERS.items()):
            if self.walk_m <= radius:
                return minutes
        return None


def building_access(*, within: str | None = None) -> list[BuildingAccess]:
    with read_cursor() as cur:
        cur.execute(BUILDING_STATION_SQL, {"prefix": within_prefix(within)})
        return [BuildingAccess(*row) for row in cur.fetchall()]


def coverage(*, within: str | None = None) -> dict:
    """Households and buildings by the smallest tier that reaches them, overall and per community."""
    rows = building_access(within=within)
    keys = [str(m) for m in sorted(TIERS)] + ["beyond"]

    def empty():
        return {"households": dict.fromkeys(keys, 0), "buildings": dict.fromkeys(keys, 0)}

    total, per_area = empty(), {}
    for b in rows:
        key = str(b.tier()) if b.tier() else "beyond"
        area = per_area.setdefault(b.area_code[:12], empty())
        for bucket in (total, area):
            bucket["households"][key] += b.households
            bucket["buildings"][key] += 1
    hh = sum(total["households"].values())
    # Cumulative shares: a household within 5 minutes is also within 10 and 15.
    cumulative, running = {}, 0
    for k in keys[:-1]:
        running += total["households"][k]
        cumulative[k] = round(running / hh, 4) if hh else None
    return {
        "detour_factor": DETOUR_FACTOR,
        "distance": "straight line × detour factor (no street network loaded)",
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
    for _ in range(min(p, cost.shape[1])):
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
        raise DomainError(f"count={count!r} must be a whole number from 1 to 50", field="count")
    radius = tier_radius(tier)
    rows = building_access(within=within)
    if not rows:
        raise DomainError("no buildings in that area", field="within")
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
            f"{len(demand):,} demand cells × {len(cand_cells):,} candidate sites is too large a problem; "
            "choose a street or community with `within`",
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
