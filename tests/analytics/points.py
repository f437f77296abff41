"""Point sources for hotspot tests: a temporary table registered as a source (the Issue model is not
needed to test the engine)."""

from django.db import connection

from apps.analytics.sources import SOURCES, PointSource
from apps.common.db import copy_rows

COLUMNS = ["id", "geom", "category", "created_at", "building_id", "area_code"]


def make_source(name: str, rows) -> PointSource:
    """rows: (id, lon, lat, category, created_at, building_id, area_code). The table lives until the
    test's transaction ends."""
    with connection.cursor() as cur:
        cur.execute(
            f"CREATE TEMP TABLE {name} (id bigint PRIMARY KEY, geom geometry(Point, 4326), "
            "category text, created_at timestamptz, building_id bigint, area_code text) ON COMMIT DROP"
        )
    copy_rows(
        name,
        COLUMNS,
        (
            (i, f"SRID=4326;POINT({lon} {lat})", cat, ts.isoformat(), b, code)
            for i, lon, lat, cat, ts, b, code in rows
        ),
    )
    source = PointSource(name, name)
    SOURCES[name] = source
    return source
