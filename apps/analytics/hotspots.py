"""The hotspot engine: where points of a source (residents' issues) concentrate.

* Counts on H3 hexagons (resolution chosen by map zoom; ids as 64-bit integers) and on grids.
* Getis-Ord Gi* (PySAL esda.G_Local, star=True, binary weights) with false-discovery-rate control
  (esda.fdr) at 90 / 95 / 99 % confidence, giving hot/cold classes -3..3. Analytic z-scores (normal
  approximation) on large study areas; conditional permutations (999, seeded) only where the study area
  is small (< PERMUTATION_MAX_UNITS units), where the normal approximation is weakest.
* Repeat locations: a building with ≥ N points in the last 30 days of the period.
* Emerging hotspots: hot (≥ 90 %) in the period and not hot in the previous window of the same length.

Counts come from the precomputed table (HotspotCellCount, kept up to date by
services.hotspot_counts_refresh) for the whole weeks of the period and for points already counted; the
rest (partial weeks at the edges, points newer than the refresh, grid-level filters) is counted from the
points themselves ("cold"). So answers are exact whatever the period, and fast when refreshed.

p-values. esda reports a one-tailed p for |z| (p_norm = P(Z > |z|)); hot and cold are both tested,
so the two-tailed p = 2 · p_norm is used (and 2 · p_sim for permutations, capped at 1), as in ArcGIS's
Hot Spot Analysis: 90 % ↔ |z| > 1.645 before the FDR correction.
"""

import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import esda
import geopandas as gpd
import h3
import numpy as np
from django.conf import settings
from django.db import connections
from django.utils.translation import gettext as _
from libpysal.weights import Queen, W

from apps.analytics.models import HotspotRefreshState
from apps.analytics.sources import get_source
from apps.analytics.stations import within_prefix
from apps.common.errors import DomainError
from apps.common.routers import read_cursor, routed_alias

h3i = h3.api.basic_int  # the same functions over integer cell ids

# City-wide views are at zoom ≤ 14 (res ≤ 8); finer resolutions are for zoomed-in views of a street or
# community, counted from the points. Finer precomputed levels would hold about one row per point.
PRECOMPUTED_RES = (6, 7, 8)
PERMUTATION_MAX_UNITS = 500
PERMUTATIONS = 999
SEED = 12345
CONFIDENCES = (99, 95, 90)
MAX_RANGE_DAYS = 11 * 366


def res_for_zoom(zoom) -> int:
    """H3 resolution for a web-map zoom: hexagons of roughly 20-40 pixels across."""
    try:
        z = int(zoom)
    except (TypeError, ValueError):
        raise DomainError(
            _("zoom=%(value)s is not a whole number") % {"value": repr(zoom)}, field="zoom"
        ) from None
    if not 0 <= z <= 22:
        raise DomainError(_("zoom=%(value)s is out of range [0, 22]") % {"value": z}, field="zoom")
    return 6 if z <= 11 else 7 if z <= 12 else 8 if z <= 14 else 9 if z <= 15 else 10


@dataclass(frozen=True)
class Query:
    """What to count: a source, a period [start, end), categories (None: all), an area-code prefix."""

    source: str
    start: datetime
    end: datetime
    categories: tuple[str, ...] | None = None
    within: str | None = None

    def __post_init__(self):
        get_source(self.source)
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise DomainError(_("start and end need a time zone"), field="start")
        if self.end <= self.start:
            raise DomainError(_("end must be after start"), field="end")
        if self.end - self.start > timedelta(days=MAX_RANGE_DAYS):
            raise DomainError(
                _("the period may be at most %(n)s days") % {"n": MAX_RANGE_DAYS}, field="start"
            )
        within_prefix(self.within)

    @property
    def relation(self) -> str:
        return get_source(self.source).relation

    def params(self) -> dict:
        return {
            "start": self.start,
            "end": self.end,
            "all_cats": self.categories is None,
            "cats": list(self.categories or []),
            "prefix": within_prefix(self.within),
        }

    def previous(self) -> "Query":
        span = self.end - self.start
        return Query(self.source, self.start - span, self.start, self.categories, self.within)


# Every query aliases the source relation as `src`.
FILTER = """src.created_at >= %(start)s AND src.created_at < %(end)s
   AND (%(all_cats)s OR src.category = ANY(%(cats)s)) AND src.area_code LIKE %(prefix)s"""


# ---- counting --------------------------------------------------------------------------------------


def point_cell(lat: float, lon: float, res: int) -> int:
    """A point's cell at `res`: the parent of its resolution-15 cell. H3 cells do not nest exactly
    (a fine cell's parent is not always the coarse cell holding the point), so one rule for every
    path: counts at res r are then the sums of their children's counts at any finer resolution, and
    equal whether computed from a point or from an issue's stored cell (Issue.h3_cell)."""
    return h3i.cell_to_parent(h3i.latlng_to_cell(lat, lon, 15), res)


def _cells_of_points(rows, res: int) -> dict[int, int]:
    counts: dict[int, int] = {}
    for lon, lat, n in rows:
        cell = point_cell(lat, lon, res)
        counts[cell] = counts.get(cell, 0) + n
    return counts


def _local_monday(dt: datetime) -> datetime:
    tz = ZoneInfo(settings.TIME_ZONE)
    local = dt.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return monday


def week_span(q: Query) -> tuple[datetime, datetime] | None:
    """The whole local weeks [first, last) inside the period, or None if there is none."""
    first = _local_monday(q.start)
    if first < q.start:
        first += timedelta(days=7)
    last = _local_monday(q.end)
    return (first, last) if last > first else None


def can_use_precomputed(q: Query, res: int) -> bool:
    """City-wide requests at a precomputed resolution; an area filter is answered from the points
    (the area-code index makes those small)."""
    return res in PRECOMPUTED_RES and not q.within


def cell_counts(q: Query, res: int, *, use_precomputed: bool = True) -> tuple[dict[int, int], str]:
    """Points per H3 cell; returns (counts, how) where how says which path answered."""
    if not 0 <= res <= 15:
        raise DomainError(
            _("res=%(value)s is not an H3 resolution (0-15)") % {"value": res}, field="res"
        )
    # The watermark and the table it describes are read from the same database (replica or primary).
    alias = routed_alias()
    state = HotspotRefreshState.objects.using(alias).filter(source=q.source).first()
    weeks = week_span(q)
    if not (use_precomputed and state and weeks and can_use_precomputed(q, res)):
        return _cold_counts(q, res), "points"
    params = q.params() | {
        "src": q.source,
        "res": res,
        "w0": weeks[0].date(),
        "w1": weeks[1].date(),
        "ws": weeks[0],
        "we": weeks[1],
        "last_id": state.last_id,
    }
    # Whole weeks from the table; the table's rows cover ids <= last_id only.
    with connections[alias].cursor() as cur:
        cur.execute(
            """SELECT cell, sum(n) FROM analytics_cellcount
                WHERE source = %(src)s AND res = %(res)s AND week >= %(w0)s AND week < %(w1)s
                  AND (%(all_cats)s OR category = ANY(%(cats)s))
                GROUP BY cell""",
            params,
        )
        counts = {cell: int(n) for cell, n in cur.fetchall()}
        # The rest from the points, as separate queries so each can use an index and empty ones are
        # skipped: the partial weeks at both ends (already counted ids only), then points newer than
        # the refresh (primary key range).
        parts = [
            (FILTER + " AND src.id <= %(last_id)s AND src.created_at < %(ws)s", q.start < weeks[0]),
            (FILTER + " AND src.id <= %(last_id)s AND src.created_at >= %(we)s", weeks[1] < q.end),
            (FILTER + " AND src.id > %(last_id)s", True),
        ]
        for where, needed in parts:
            if needed:
                _add_counts(counts, cur, q, where, params)
    return counts, "precomputed"


# The parent at resolution %(res)s of a resolution-15 H3 cell, as bit arithmetic on the index (H3's
# layout: 4 resolution bits at 52-55, then 3 bits per resolution digit, res 1 at bits 42-44 ... res 15
# at bits 0-2; a coarser cell's unused digits are all 7). Equal to h3.cell_to_parent (tested).
H3_PARENT_SQL = """((src.cell & ~(15::bigint << 52)) | (%(res)s::bigint << 52)
                    | ((1::bigint << (3 * (15 - %(res)s))) - 1))"""


def _cold_counts(q: Query, res: int) -> dict[int, int]:
    counts: dict[int, int] = {}
    with read_cursor() as cur:
        _add_counts(counts, cur, q, FILTER, q.params() | {"res": res})
    return counts


def _add_counts(counts: dict[int, int], cur, q: Query, where: str, params: dict) -> None:
    """Add the points of `q.relation` matching `where` to `counts`, per cell at %(res)s."""
    missing = ""
    if get_source(q.source).has_cells:
        # Stored cells: one grouped (index-only) scan in SQL, integers only.
        cur.execute(
            f"SELECT {H3_PARENT_SQL}, count(*) FROM {q.relation} src"  # noqa: S608 - code constants
            f" WHERE {where} AND src.cell IS NOT NULL GROUP BY 1",
            params,
        )
        for cell, n in cur.fetchall():
            counts[cell] = counts.get(cell, 0) + int(n)
        missing = " AND src.cell IS NULL"
    # Points without a cell: those at the same spot (a building's entrance) are grouped first, one H3
    # call per spot.
    cur.execute(
        f"SELECT ST_X(geom), ST_Y(geom), count(*) FROM {q.relation} src WHERE {where}{missing}"  # noqa: S608
        " GROUP BY geom",
        params,
    )
    for cell, n in _cells_of_points(cur.fetchall(), params["res"]).items():
        counts[cell] = counts.get(cell, 0) + n


# ---- Gi* ------------------------------------------------------------------------------------------


def gi_star(values, w: W, *, seed: int = SEED) -> dict:
    """Getis-Ord Gi* of `values` on binary weights `w` (each unit is added as its own neighbour:
    star_weights), FDR-classified.

    Returns arrays z, p (two-tailed; from permutations when the study area is small), cls (-3..3:
    cold 99/95/90 %, not significant, hot 90/95/99 %) and the method used."""
    y = np.asarray(values, dtype=float)
    n = len(y)
    if n < 3 or y.sum() == 0:
        return {
            "z": np.zeros(n),
            "p": np.ones(n),
            "cls": np.zeros(n, dtype=int),
            "method": "none",
        }
    permutations = PERMUTATIONS if n < PERMUTATION_MAX_UNITS else 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # islands and the star=True note are expected here
        g = esda.G_Local(
            y,
            star_weights(w),
            transform="B",
            star=True,
            permutations=permutations,
            seed=seed,
            n_jobs=1,
        )
    z = np.nan_to_num(np.asarray(g.Zs, dtype=float))
    p_one = g.p_sim if permutations else g.p_norm
    p = np.minimum(1.0, 2.0 * np.nan_to_num(np.asarray(p_one, dtype=float), nan=0.5))
    return {
        "z": z,
        "p": p,
        "cls": classify(z, p),
        "method": "permutations" if permutations else "analytic",
    }


def classify(z: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Hot/cold at 99/95/90 % with the false discovery rate controlled at each level (esda.fdr)."""
    cls = np.zeros(len(z), dtype=int)
    for conf in sorted(CONFIDENCES):  # 90, 95, 99: a stricter level overwrites a looser one
        threshold = esda.fdr(p, 1 - conf / 100)
        sig = p <= threshold
        level = {90: 1, 95: 2, 99: 3}[conf]
        cls[sig] = np.sign(z[sig]).astype(int) * level
    return cls


def h3_weights(cells: list[int]) -> W:
    """Contiguity of H3 cells (the six neighbours), restricted to the study area."""
    index = set(cells)
    neighbours = {c: [n for n in h3i.grid_ring(c, 1) if n in index] for c in cells}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return W(neighbours, id_order=list(cells), silence_warnings=True)


def star_weights(w: W) -> W:
    """Binary weights `w` with every unit also its own neighbour (weight 1): the weights Gi* uses.
    esda makes them itself from weights without a diagonal (libpysal's fill_diagonal, through a
    sparse matrix and back: 0.45 s of a 1.9 s city-wide hotspot map of 9,820 cells); given them, it
    uses them as they are, with the same result (tests/analytics/test_hotspots_sf.py compares with
    esda run on the weights without a diagonal)."""
    neighbours = {k: [k, *(n for n in ns if n != k)] for k, ns in w.neighbors.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return W(neighbours, id_order=w.id_order, silence_warnings=True)


def study_cells(counts: dict[int, int]) -> list[int]:
    """The cells with points plus their neighbours (zeros), so a lone busy cell is judged against
    its surroundings rather than against other busy cells only."""
    cells = set(counts)
    for c in counts:
        cells.update(h3i.grid_ring(c, 1))
    return sorted(cells)


def h3_hotspots(q: Query, res: int, *, use_precomputed: bool = True) -> dict:
    counts, how = cell_counts(q, res, use_precomputed=use_precomputed)
    cells = study_cells(counts)
    y = np.array([counts.get(c, 0) for c in cells], dtype=float)
    result = gi_star(y, h3_weights(cells)) if cells else gi_star([], None)
    units = [
        {
            "cell": int(c),
            "h3": h3.int_to_str(c),
            "count": int(y[i]),
            "z": round(float(result["z"][i]), 4),
            "p": round(float(result["p"][i]), 6),
            "class": int(result["cls"][i]),
        }
        for i, c in enumerate(cells)
    ]
    return {
        "res": res,
        "counts_from": how,
        "method": result["method"],
        "total": int(y.sum()),
        "units": units,
    }


def polygon_gi(counts: np.ndarray, geoms) -> dict:
    """Gi* on polygons (grids, tracts) with queen contiguity."""
    frame = gpd.GeoDataFrame(geometry=list(geoms), crs=4326)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = Queen.from_dataframe(frame, use_index=False, silence_warnings=True)
    return gi_star(counts, w)


# Points per polygon for arbitrary polygons (passed as WKB): one set-based spatial join.
POLYGON_COUNTS_SQL = """
SELECT u.k, count(src.id)
  FROM unnest(%(keys)s::int[], %(wkb)s::bytea[]) AS u(k, wkb)
  CROSS JOIN LATERAL (SELECT ST_SetSRID(ST_GeomFromWKB(u.wkb), 4326) AS g) pg
  LEFT JOIN {relation} src ON ST_Intersects(pg.g, src.geom) AND {filter}
 GROUP BY u.k
"""


def polygon_counts(q: Query, geoms) -> np.ndarray:
    """Points of the query inside each shapely polygon (EPSG:4326), in order."""
    sql = POLYGON_COUNTS_SQL.format(relation=q.relation, filter=FILTER)
    with read_cursor() as cur:
        cur.execute(
            sql,
            q.params() | {"keys": list(range(len(geoms))), "wkb": [g.wkb for g in geoms]},
        )
        found = dict(cur.fetchall())
    return np.array([found.get(i, 0) for i in range(len(geoms))], dtype=float)


def polygon_hotspots(q: Query, geoms) -> dict:
    counts = polygon_counts(q, geoms)
    result = polygon_gi(counts, geoms)
    return {"counts": counts, **result}


# Points per grid at intake: the first 15 characters of the intake area code are the grid's code
# (codes survive redraws), joined to the current version of that grid for its polygon.
GRID_COUNTS_SQL = """
WITH n AS (
    SELECT left(area_code, 15) AS code, count(*) AS n FROM {relation} src
     WHERE {filter} AND length(area_code) >= 15 GROUP BY 1
)
SELECT a.id, a.code, a.name, a.households, COALESCE(n.n, 0), ST_AsBinary(a.geom)
  FROM territory_area a LEFT JOIN n ON n.code = a.code
 WHERE a.level = 'grid' AND a.code LIKE %(prefix)s
   AND a.valid_from <= now() AND (a.valid_to IS NULL OR a.valid_to > now())
 ORDER BY a.code
"""


def grid_hotspots(q: Query) -> dict:
    import shapely

    with read_cursor() as cur:
        cur.execute(GRID_COUNTS_SQL.format(relation=q.relation, filter=FILTER), q.params())
        rows = cur.fetchall()
    geoms = [shapely.from_wkb(bytes(r[5])) for r in rows]
    counts = np.array([r[4] for r in rows], dtype=float)
    result = polygon_gi(counts, geoms) if rows else gi_star([], None)
    return {
        "method": result["method"],
        "total": int(counts.sum()),
        "units": [
            {
                "id": r[0],
                "code": r[1],
                "name": r[2],
                "households": r[3],
                "count": int(counts[i]),
                "per_1000_households": round(1000 * counts[i] / r[3], 2) if r[3] else None,
                "z": round(float(result["z"][i]), 4),
                "p": round(float(result["p"][i]), 6),
                "class": int(result["cls"][i]),
            }
            for i, r in enumerate(rows)
        ],
        "geoms": geoms,
    }


# ---- repeat locations and emerging hotspots ------------------------------------------------------

REPEAT_SQL = """
SELECT b.id, b.name, COALESCE(k.name, ''), b.address, count(*) AS n,
       ST_X(ST_PointOnSurface(b.footprint)), ST_Y(ST_PointOnSurface(b.footprint))
  FROM {relation} src
  JOIN territory_building b ON b.id = src.building_id
  LEFT JOIN territory_area k ON k.id = b.compound_id
 WHERE {filter}
 GROUP BY b.id, b.name, k.name, b.address, b.footprint
HAVING count(*) >= %(min_n)s
 ORDER BY n DESC, b.id
"""


def repeat_locations(q: Query, *, min_count: int = 3, days: int = 30) -> list[dict]:
    """Buildings with at least `min_count` points in the last `days` days of the period."""
    if min_count < 2:
        raise DomainError(
            _("min_count=%(value)s must be at least 2") % {"value": min_count}, field="min_count"
        )
    window = Query(
        q.source, max(q.start, q.end - timedelta(days=days)), q.end, q.categories, q.within
    )
    with read_cursor() as cur:
        cur.execute(
            REPEAT_SQL.format(relation=window.relation, filter=FILTER),
            window.params() | {"min_n": min_count},
        )
        return [
            {
                "building_id": r[0],
                "name": f"{r[2]} {r[1]}".strip(),
                "address": r[3],
                "count": r[4],
                "lon": r[5],
                "lat": r[6],
            }
            for r in cur.fetchall()
        ]


def emerging_hotspots(q: Query, res: int) -> dict:
    """Cells hot (≥ 90 %) in the period that were not hot in the previous window of the same length."""
    now = h3_hotspots(q, res)
    before = h3_hotspots(q.previous(), res)
    was_hot = {u["cell"] for u in before["units"] if u["class"] > 0}
    now["units"] = [
        u | {"emerging": u["class"] > 0 and u["cell"] not in was_hot} for u in now["units"]
    ]
    now["previous"] = {"start": q.previous().start, "end": q.previous().end}
    return now


# ---- output -------------------------------------------------------------------------------------


def cell_polygon(cell: int) -> dict:
    ring = [[round(lng, 7), round(lat, 7)] for lat, lng in h3i.cell_to_boundary(cell)]
    ring.append(ring[0])
    return {"type": "Polygon", "coordinates": [ring]}


def h3_geojson(result: dict, *, only_nonzero: bool = False) -> dict:
    return {
        "type": "FeatureCollection",
        "properties": {k: v for k, v in result.items() if k not in ("units", "previous")},
        "features": [
            {"type": "Feature", "geometry": cell_polygon(u["cell"]), "properties": u}
            for u in result["units"]
            if not only_nonzero or u["count"] or u["class"]
        ],
    }
