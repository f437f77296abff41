"""Analytics benchmarks: city-wide hotspots cold (from the points) and from the precomputed counts, and
all coverage gaps city-wide.

Points: N synthetic complaints in a temporary table registered as a point source (the engine reads any
source the same way; residents' issues are one). Each complaint is pinned at an entrance of a building of
the territory in the database (building point-on-surface + 8 m per unit), so there are at most
~3 spots per building, as when residents pin issues to their building; 12 categories; created uniformly
over 52 weeks. Everything is rolled back at the end: the run leaves no trace.

Floors, measured in the same run:
  hotspots cold        one scan of the points with the same filter (SELECT count(*))
  hotspots precomputed the SQL sum over the precomputed table alone (no Gi*)
  gaps                 the raw SQL of every gap kind, without building the sentences and JSON
Targets (issue 8): ≤ 3 s cold, ≤ 300 ms precomputed over 10M issues; ≤ 5 s for all gaps city-wide.
On a database with ≥ 1M issues the generated issues are measured instead of synthetic points;
BENCH_ANALYTICS_GAPS_ONLY=1 measures only the gaps there.

    python -m bench analytics            (with the bench framework: its database and datasets)
    python bench/bench_analytics.py      (standalone, against DATABASE_URL; prints the rows)
"""

import os
import sys
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

try:
    from bench import common
except ImportError:  # the framework (bench/__main__.py, bench/common.py) is not in this branch yet
    common = None


def row(benchmark, value, unit, *, floor=None, target="", note="") -> dict:
    ratio = value / floor if floor not in (None, 0) else None
    return {
        "benchmark": benchmark,
        "value": float(value),
        "unit": unit,
        "floor": float(floor) if floor is not None else None,
        "ratio": ratio,
        "target": target,
        "note": note,
    }


CATEGORIES = [f"cat{i:02d}" for i in range(12)]
T0 = datetime(2025, 11, 3, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday

POINTS_SQL = """
CREATE TEMP TABLE bench_points ON COMMIT DROP AS
WITH b AS (
    SELECT row_number() OVER (ORDER BY b.id) AS k, b.id, ST_PointOnSurface(b.footprint) AS p,
           GREATEST(b.units_count, 1) AS units, COALESCE(g.code, c.code, '') AS code
      FROM territory_building b
      LEFT JOIN territory_area c ON c.id = b.community_id
      LEFT JOIN territory_area g ON g.id = b.grid_id
), nb AS (SELECT count(*) AS n FROM b)
SELECT s.i::bigint AS id,
       ST_SetSRID(ST_MakePoint(ST_X(b.p) + 0.00008 * (s.i %% b.units), ST_Y(b.p)), 4326) AS geom,
       'cat' || lpad(((s.i * 7) %% 12)::text, 2, '0') AS category,
       %(t0)s::timestamptz + ((s.i * 7919) %% (52 * 7 * 86400)) * interval '1 second' AS created_at,
       b.id AS building_id, b.code || '001' AS area_code
  FROM generate_series(1::bigint, %(n)s::bigint) s(i)
 CROSS JOIN nb
  JOIN b ON b.k = 1 + (hashint4(s.i::int) & 2147483647) %% nb.n
"""


def ms(fn, repeat=3) -> float:
    best = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best.append((time.perf_counter() - start) * 1000)
    return sorted(best)[len(best) // 2]


# A dataset with at least this many issues (the megacity's 10M) is measured on the issues themselves.
ISSUES_MIN = 1_000_000


def cold_and_floor(q) -> tuple[int, float, float]:
    """(points counted, floor ms, cold ms) for a hotspot query: the floor is one filtered scan of the
    query's source (count(*)), the value city-wide H3 res 8 hotspots from the points; medians of 3."""
    from django.db import connection

    from apps.analytics import hotspots

    def scan():
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT count(*) FROM {q.relation} src WHERE {hotspots.FILTER}",  # noqa: S608
                q.params(),
            )
            return cur.fetchone()[0]

    counted = scan()
    return counted, ms(scan), ms(lambda: hotspots.h3_hotspots(q, 8, use_precomputed=False))


def raw_gaps(geometry=True):
    """Every gap kind's rows as gap_items reads them (its SQL or another app's selector), without
    building the sentences, geometry and JSON: the floor of the gaps benchmark."""
    from django.db import connection

    from apps.analytics import gaps

    kinds, params = gaps._params(None, None, 15, geometry=geometry)
    with connection.cursor() as cur:
        for key in kinds:
            kind = gaps.KINDS[key]
            if kind.fetch is not None:
                kind.fetch(params)
            else:
                cur.execute(kind.sql, params)
                cur.fetchall()


COPIES_TARGET = 10_000_000

COPIES_SQL = """
CREATE UNLOGGED TABLE bench_issue_copies AS
SELECT (k * 100000000 + i.id)::bigint AS id, i.point AS geom, c.code AS category, i.created_at,
       i.building_id, i.area_code, i.h3_cell AS cell
  FROM issues_issue i JOIN issues_category c ON c.id = i.category_id
 CROSS JOIN generate_series(0, %(copies)s - 1) k
 WHERE i.status NOT IN ('rejected', 'duplicate')
"""


def ten_million_cold(issues: int, where: str) -> list[dict]:
    """Cold hotspots over ~10M issues when the dataset holds fewer: the generated issues repeated
    (each copy at the same places and times, so 10x the density) in an unlogged table indexed like
    issues_issue for this path, registered as a source with stored cells. Dropped afterwards."""
    from django.db import connection

    from apps.analytics import hotspots
    from apps.analytics.sources import SOURCES, PointSource

    copies = -(-COPIES_TARGET // issues)
    if copies <= 1:
        return []
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_issue_copies")
        start = time.perf_counter()
        cur.execute(COPIES_SQL, {"copies": copies})
        cur.execute(
            "CREATE INDEX ON bench_issue_copies (created_at) INCLUDE (cell, category, area_code)"
        )
        cur.execute("VACUUM ANALYZE bench_issue_copies")
        built_s = time.perf_counter() - start
        cur.execute("SELECT count(*), min(created_at), max(created_at) FROM bench_issue_copies")
        n, first, last = cur.fetchone()
    SOURCES["bench_issue_copies"] = PointSource(
        "bench_issue_copies", "bench_issue_copies", has_cells=True
    )
    try:
        start = hotspots._local_monday(first)
        q = hotspots.Query("bench_issue_copies", start, last + timedelta(seconds=1))

        _counted, floor, cold = cold_and_floor(q)
        return [
            row(
                f"hotspots city-wide, cold (H3 res 8, Gi*), {n / 1e6:.1f}M issues",
                cold,
                "ms",
                floor=floor,
                target="≤ 3000 ms at 10M",
                note=f"{n:,} rows: the {issues:,} generated issues x {copies} (unlogged copy,"
                f" built in {built_s:.0f} s, index on created_at INCLUDE cell, category, area_code);"
                " floor: one filtered scan (count(*))",
            )
        ]
    finally:
        SOURCES.pop("bench_issue_copies", None)
        with connection.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS bench_issue_copies")


def run_on_issues(issues: int) -> list[dict]:
    """Hotspots over the generated issues (the `issues` source, stored H3 cells) and all gaps."""
    from django.db import connection

    from apps.analytics import hotspots
    from apps.analytics.models import HotspotRefreshState
    from apps.analytics.services import hotspot_counts_refresh

    with connection.cursor() as cur:
        cur.execute(
            "SELECT min(created_at), max(created_at), count(*) FILTER (WHERE h3_cell IS NULL) FROM issues_issue"
        )
        first, last, no_cell = cur.fetchone()
        cur.execute("SELECT count(*) FROM territory_building")
        buildings = cur.fetchone()[0]
    start = hotspots._local_monday(first)
    end = min(start + timedelta(days=hotspots.MAX_RANGE_DAYS), last + timedelta(seconds=1))
    q = hotspots.Query("issues", start, end)
    where = (
        f"{issues:,} issues ({no_cell:,} without a stored cell), {buildings:,} buildings,"
        f" period {start:%Y-%m-%d}..{end:%Y-%m-%d}"
    )
    if os.environ.get("BENCH_ANALYTICS_GAPS_ONLY"):
        return gaps_rows(buildings)
    rows = []

    counted, floor, cold = cold_and_floor(q)
    rows.append(
        row(
            "hotspots city-wide, cold (H3 res 8, Gi*), the issues",
            cold,
            "ms",
            floor=floor,
            target="≤ 3000 ms at 10M",
            note=f"{where}; {counted:,} counted; floor: one filtered scan (count(*))",
        )
    )
    rows += ten_million_cold(issues, where)
    state = HotspotRefreshState.objects.filter(source="issues").first()
    start_s = time.perf_counter()
    stats = hotspot_counts_refresh(source="issues")
    refresh_s = time.perf_counter() - start_s
    rows.append(
        row(
            "precomputed counts: refresh",
            refresh_s,
            "s",
            target="(scheduled)",
            note=f"{stats['points_added']:,} issues added"
            + (" (incremental: built during generation)" if state else " (full build)"),
        )
    )

    def table_only():
        weeks = hotspots.week_span(q)
        with connection.cursor() as cur:
            cur.execute(
                "SELECT cell, sum(n) FROM analytics_cellcount WHERE source = 'issues' "
                "AND res = 8 AND week >= %s AND week < %s GROUP BY cell",
                [weeks[0].date(), weeks[1].date()],
            )
            cur.fetchall()

    floor = ms(table_only, 5)
    pre = ms(lambda: hotspots.h3_hotspots(q, 8), 5)
    rows.append(
        row(
            "hotspots city-wide, precomputed (H3 res 8, Gi*), the issues",
            pre,
            "ms",
            floor=floor,
            target="≤ 300 ms at 10M",
            note=where + "; floor: the table's SQL alone",
        )
    )

    rows += gaps_rows(buildings)
    return rows


def gaps_rows(buildings: int) -> list[dict]:
    """All gaps city-wide: the list with sentences (what /api/analytics/gaps, the counts and the CSV
    build) and the GeoJSON of the map (/api/analytics/gaps.geojson: geometries, serialised as the
    endpoint does)."""
    from apps.analytics import gaps
    from apps.analytics.api import geojson_bytes

    rows = []
    items = []
    # A megacity's map GeoJSON is millions of footprints (minutes and gigabytes each time): once there.
    repeat = 1 if buildings > 500_000 else 3
    floor = ms(lambda: raw_gaps(geometry=False), repeat)
    value = ms(lambda: items.append(len(gaps.gap_items(geometry=False))), repeat)
    rows.append(
        row(
            "all coverage gaps city-wide, listed with their sentences",
            value,
            "ms",
            floor=floor,
            target="≤ 5000 ms",
            note=f"{buildings:,} buildings, {items[-1]:,} gaps; floor: every kind's SQL and fetch,"
            " one after another",
        )
    )
    floor = ms(raw_gaps, repeat)
    value = ms(lambda: geojson_bytes(gaps.gaps_geojson()), repeat)
    rows.append(
        row(
            "all coverage gaps city-wide as GeoJSON for the map (geometry, serialised)",
            value,
            "ms",
            floor=floor,
            note="floor: every kind's SQL and fetch with the geometry, one after another",
        )
    )
    return rows


def run(*, quick: bool) -> list[dict]:
    from django.db import connection, transaction

    from apps.analytics import gaps, hotspots
    from apps.analytics.services import hotspot_counts_refresh
    from apps.analytics.sources import SOURCES, PointSource

    if common is not None and hasattr(common, "dataset"):
        common.dataset(common.measure_dataset(quick))
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM issues_issue")
        issues = cur.fetchone()[0]
    if issues >= ISSUES_MIN and os.environ.get("BENCH_ANALYTICS_POINTS") is None:
        return run_on_issues(issues)
    n = int(os.environ.get("BENCH_ANALYTICS_POINTS", 200_000 if quick else 2_000_000))
    rows = []
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM territory_building")
            buildings = cur.fetchone()[0]
            if not buildings:
                raise RuntimeError(
                    "no territory in the database: load one (make reset-db / seed_demo)"
                )
            start = time.perf_counter()
            cur.execute(POINTS_SQL, {"n": n, "t0": T0})
            cur.execute("ALTER TABLE bench_points ADD PRIMARY KEY (id)")
            cur.execute("ANALYZE bench_points")
            gen_s = time.perf_counter() - start
            cur.execute("SELECT count(DISTINCT geom) FROM bench_points")
            spots = cur.fetchone()[0]
        SOURCES["bench_points"] = PointSource("bench_points", "bench_points")
        where = (
            f"{n:,} points at {spots:,} spots ({buildings:,} buildings), generated in {gen_s:.1f} s"
        )
        q = hotspots.Query("bench_points", T0, T0 + timedelta(weeks=52))

        _counted, floor, cold = cold_and_floor(q)
        rows.append(
            row(
                "hotspots city-wide, cold (H3 res 8, Gi*)",
                cold,
                "ms",
                floor=floor,
                target="≤ 3000 ms at 10M",
                note=where + "; floor: one filtered scan",
            )
        )
        start = time.perf_counter()
        stats = hotspot_counts_refresh(source="bench_points")
        refresh_s = time.perf_counter() - start
        rows.append(
            row(
                "precomputed counts: full build",
                refresh_s,
                "s",
                target="(scheduled)",
                note=f"{stats['points_added']:,} points into cell × category × week, res 6-8",
            )
        )

        def table_only():
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT cell, sum(n) FROM analytics_cellcount WHERE source = 'bench_points' "
                    "AND res = 8 AND week >= %s AND week < %s GROUP BY cell",
                    [T0.date(), (T0 + timedelta(weeks=52)).date()],
                )
                cur.fetchall()

        floor = ms(table_only, 5)
        pre = ms(lambda: hotspots.h3_hotspots(q, 8), 5)
        rows.append(
            row(
                "hotspots city-wide, precomputed (H3 res 8, Gi*)",
                pre,
                "ms",
                floor=floor,
                target="≤ 300 ms at 10M",
                note=where + "; floor: the table's SQL alone",
            )
        )
        one_cat = hotspots.Query("bench_points", T0, T0 + timedelta(weeks=52), ("cat03",))
        rows.append(
            row(
                "hotspots city-wide, precomputed, one category",
                ms(lambda: hotspots.h3_hotspots(one_cat, 8), 5),
                "ms",
                target="≤ 300 ms at 10M",
                note="partial weeks and newer points counted from the points",
            )
        )

        floor = ms(raw_gaps)
        items = []
        value = ms(lambda: items.append(len(gaps.gap_items())))
        rows.append(
            row(
                "all coverage gaps city-wide (with geometry and sentences)",
                value,
                "ms",
                floor=floor,
                target="≤ 5000 ms",
                note=f"{buildings:,} buildings, {items[-1]:,} gaps; floor: the raw SQL",
            )
        )
        transaction.set_rollback(True)
    return rows


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geo.settings")
    import django

    django.setup()
    for r in run(quick="--full" not in sys.argv):
        ratio = f"{r['ratio']:.1f}×" if r["ratio"] else ""
        print(
            f"{r['benchmark']:<62} {r['value']:>10.1f} {r['unit']:<3} floor {r['floor'] or 0:>8.1f} {ratio:>7}  {r['target']}  {r['note']}"
        )
