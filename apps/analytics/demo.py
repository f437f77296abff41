"""Demo party-mass service stations: a service center per street and a station in about two communities
out of three (the rest are left without one, so the coverage gaps and the station suggestions have
something to show). Deterministic for a seed; one INSERT ... SELECT.

And a pedestrian street network along the edges of the generated blocks (each block is one grid), so
walking distances are measured along streets in the demo: every edge of every current grid, once (two
blocks share an edge with the same two corners). Read from the territory, which it does not change.
Above DEMO_STREETS_MAX_SCALE it is skipped: a city's worth of segments would make city-wide station
coverage a network computation over hundreds of thousands of segments, and the benchmarks at those
scales measure the straight-line queries."""

import numpy as np
from django.db import connection

from apps.analytics.models import StationKind
from apps.common.demo import bulk_mode, progress_bar

# Stations sit at a point on the surface of their community (street centers: of the street), nudged
# off the exact centre so they look hand-placed. Hand-written because it is one set-based statement.
STATIONS_SQL = """
INSERT INTO analytics_servicestation (name, kind, point, community_id, address, created_at)
SELECT a.name || %(suffix)s, %(kind)s,
       ST_SetSRID(ST_MakePoint(ST_X(ST_PointOnSurface(a.geom)) + d.dx, ST_Y(ST_PointOnSurface(a.geom)) + d.dy), 4326),
       CASE WHEN a.level = 'community' THEN a.id END, '', now()
  FROM territory_area a
  JOIN unnest(%(ids)s::bigint[], %(dx)s::float8[], %(dy)s::float8[]) AS d(id, dx, dy) ON d.id = a.id
"""


# Every edge of every current grid as a two-point segment, oriented from its lower (x, y) end so the
# copy of an edge shared by two blocks is the same geometry, and written once.
STREETS_SQL = """
INSERT INTO analytics_streetsegment (geom, name, source_id, created_at)
SELECT DISTINCT ON (ST_AsBinary(g)) g, '', 'demo', now()
  FROM (SELECT CASE WHEN (ST_X(ST_StartPoint(e)), ST_Y(ST_StartPoint(e)))
                         <= (ST_X(ST_EndPoint(e)), ST_Y(ST_EndPoint(e)))
                    THEN e ELSE ST_Reverse(e) END AS g
          FROM (SELECT (ST_DumpSegments(ST_Boundary(geom))).geom AS e
                  FROM territory_area WHERE level = 'grid' AND valid_to IS NULL) d) x
 ORDER BY ST_AsBinary(g)
"""
DEMO_STREETS_MAX_SCALE = 50.0


def seed_demo(*, seed: int, scale: float) -> dict:
    rng = np.random.default_rng(seed + 808)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT id, level FROM territory_area WHERE level IN ('street', 'community') "
            "AND valid_to IS NULL ORDER BY code"
        )
        areas = cur.fetchall()
        made = 0
        for level, suffix, kind, share in (
            ("street", "党群服务中心", StationKind.CENTER, 1.0),
            ("community", "党群服务站", StationKind.STATION, 0.67),
        ):
            ids = [i for i, lvl in areas if lvl == level]
            keep = [i for i in ids if rng.random() < share]
            if not keep:
                continue
            jitter = rng.uniform(-0.0004, 0.0004, size=(len(keep), 2))
            cur.execute(
                STATIONS_SQL,
                {
                    "suffix": suffix,
                    "kind": str(kind),
                    "ids": keep,
                    "dx": jitter[:, 0].tolist(),
                    "dy": jitter[:, 1].tolist(),
                },
            )
            made += cur.rowcount
        streets = 0
        if scale <= DEMO_STREETS_MAX_SCALE:
            cur.execute(STREETS_SQL)
            streets = cur.rowcount
    return {"service_stations": made, "street_segments": streets, **_bulk_hotspot_counts(scale)}


def _bulk_hotspot_counts(scale: float) -> dict:
    """At bulk scales (apps.common.demo.bulk_mode): precompute the hotspot counts of the demo's issues
    with the app's own refresh (services.hotspot_counts_refresh, rebuilt from scratch), so city-wide
    hotspot requests read the counts table instead of millions of points. The small demos leave them
    to the first refresh, as before."""
    if not bulk_mode(scale):
        return {}
    from apps.analytics.services import hotspot_counts_refresh

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM issues_issue")
        total = cur.fetchone()[0]
    with progress_bar(total, "hotspot counts", "issue") as update:
        done = hotspot_counts_refresh(source="issues", rebuild=True, progress=update)
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM analytics_cellcount WHERE source = 'issues'")
        rows = cur.fetchone()[0]
    return {"hotspot_points": done["points_added"], "hotspot_count_rows": rows}
