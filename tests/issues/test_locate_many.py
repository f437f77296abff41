"""locate_many (the importers' bulk path) answers every point as locate does, one point at a time:
inside buildings, on the shared edges and corners of grids and neighbourhood grids, and outside."""

import pytest
from django.db import connection
from django.utils import timezone

from apps.issues.selectors import locate_many
from apps.territory.selectors import CHAIN_LEVELS, locate

pytestmark = pytest.mark.django_db


def _points() -> list[tuple[float, float]]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(footprint) p FROM territory_building"
            " UNION ALL SELECT (ST_DumpPoints(geom)).geom FROM territory_area"
            "  WHERE level IN ('grid', 'neighbourhood') AND valid_to IS NULL) s ORDER BY 1, 2"
        )
        return [tuple(r) for r in cur.fetchall()] + [(117.0, 31.0)]  # and one outside every street


def test_locate_many_agrees_with_locate_point_by_point(demo):
    points = _points()
    assert len(points) > 200
    now = timezone.now()
    many = locate_many([(x, y, now) for x, y in points])
    for (x, y), got in zip(points, many, strict=True):
        one = locate(lon=x, lat=y, at=now)
        expected = {lv: one[lv]["id"] for lv in CHAIN_LEVELS if one[lv] is not None}
        assert {lv: (v if lv == "building" else v[0]) for lv, v in got.items()} == expected, (x, y)
    assert many[-1] == {}
