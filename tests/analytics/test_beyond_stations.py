"""stations.beyond_stations (a k-d tree on the sphere, then exact geodesics) answers what PostGIS's
ST_DWithin on geography answers, including points within a fraction of a per cent of the radius."""

import numpy as np
import pytest
from django.db import connection

from apps.analytics.stations import WGS84, beyond_stations

RADIUS = 769.23  # the 15-minute tier's 1,000 m over the detour factor


@pytest.mark.parametrize("lat", [0.5, 31.2, 39.9, 60.2])
def test_agrees_with_st_dwithin_on_geography(db, lat):
    rng = np.random.default_rng(int(lat * 10))
    stations = np.column_stack([116.3 + rng.uniform(0, 0.05, 12), lat + rng.uniform(0, 0.05, 12)])
    # points around random stations, most within ±1 % of the radius (the band the tree cannot settle)
    k = rng.integers(0, len(stations), 600)
    dist = RADIUS * np.concatenate([rng.uniform(0.99, 1.01, 500), rng.uniform(0, 3, 100)])
    lon, lat_, _ = WGS84.fwd(stations[k, 0], stations[k, 1], rng.uniform(0, 360, 600), dist)
    mine = beyond_stations(lon, lat_, stations[:, 0], stations[:, 1], RADIUS)
    with connection.cursor() as cur:
        cur.execute(
            """SELECT NOT EXISTS (
                      SELECT 1 FROM unnest(%s::float8[], %s::float8[]) AS s(x, y)
                       WHERE ST_DWithin(ST_MakePoint(s.x, s.y)::geography,
                                        ST_MakePoint(p.x, p.y)::geography, %s))
                 FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS p(x, y, n)
                ORDER BY p.n""",
            [stations[:, 0].tolist(), stations[:, 1].tolist(), RADIUS, lon.tolist(), lat_.tolist()],
        )
        theirs = np.array([r[0] for r in cur.fetchall()])
    assert 100 < mine.sum() < 550  # both answers are well represented
    assert (mine == theirs).all(), np.nonzero(mine != theirs)


def test_no_stations_means_every_point_is_beyond():
    assert beyond_stations([116.3, 116.4], [39.9, 39.9], [], [], RADIUS).all()
