"""Demo party-mass service stations: a service center per street and a station in about two communities
out of three (the rest are left without one, so the coverage gaps and the station suggestions have
something to show). Deterministic for a seed; one INSERT ... SELECT."""

import numpy as np
from django.db import connection

from apps.analytics.models import StationKind

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
    return {"service_stations": made}
