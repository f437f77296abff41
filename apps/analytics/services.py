"""Writes of the analytics app: service stations and the precomputed hotspot counts."""

import math
from collections.abc import Callable

import h3
from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.analytics.hotspots import H3_PARENT_SQL, PRECOMPUTED_RES, point_cell
from apps.analytics.models import HotspotCellCount, HotspotRefreshState, ServiceStation, StationKind
from apps.analytics.sources import get_source
from apps.common.db import copy_rows
from apps.common.errors import DomainError
from apps.territory.models import Area

h3i = h3.api.basic_int


@transaction.atomic
def station_create(
    *, name: str, lon: float, lat: float, kind: str = StationKind.STATION, address: str = ""
) -> ServiceStation:
    """A new station; its community is the current one covering the point (None outside)."""
    if not name or not name.strip():
        raise DomainError(_("a station needs a name"), field="name")
    if kind not in StationKind.values:
        raise DomainError(
            _("unknown station kind %(kind)s; use one of %(kinds)s")
            % {"kind": repr(kind), "kinds": ", ".join(StationKind.values)},
            field="kind",
        )
    for name, value, limit in (("lon", lon, 180), ("lat", lat, 90)):
        if not math.isfinite(value) or not -limit <= value <= limit:
            raise DomainError(
                _("%(name)s=%(value)s is out of range [-%(limit)s, %(limit)s]")
                % {"name": name, "value": value, "limit": limit},
                field=name,
            )
    point = Point(lon, lat, srid=4326)
    now = timezone.now()
    community = (
        Area.objects.filter(level="community", geom__intersects=point, valid_from__lte=now)
        .exclude(valid_to__lte=now)
        .order_by("code")
        .first()
    )
    return ServiceStation.objects.create(
        name=name.strip(), kind=kind, point=point, community=community, address=address
    )


# Batches by id: the upper id of the next batch, then one INSERT ... SELECT that groups the batch's
# points by cell × category × local week inside PostgreSQL and adds them to the table. A point's cell
# at resolution r is the parent of its resolution-15 cell (hotspots.point_cell). Sources that store
# that cell (issues) have the parent computed in SQL (hotspots.H3_PARENT_SQL); for points without one,
# the batch's distinct spots are read first and their cells computed in Python, one H3 call per spot
# and resolution.
BATCH_END_SQL = """
SELECT max(id), count(*) FROM (
    SELECT src.id FROM {relation} src WHERE src.id > %(after)s ORDER BY src.id LIMIT %(batch)s
) b
"""

BATCH_SPOTS_SQL = """
SELECT DISTINCT ST_X(src.geom), ST_Y(src.geom) FROM {relation} src
 WHERE src.id > %(after)s AND src.id <= %(upto)s{without_cell}
"""

UPSERT_SQL = """
INSERT INTO analytics_cellcount (source, res, cell, category, week, n)
SELECT %(source)s, c.res, c.cell, c.category, c.week, count(*)
  FROM ({points}) c
 GROUP BY 2, 3, 4, 5
ON CONFLICT (source, res, cell, category, week)
DO UPDATE SET n = analytics_cellcount.n + EXCLUDED.n
"""

# The batch's points at every precomputed resolution: (res, cell, category, week).
SPOT_POINTS_SQL = """
SELECT sc.res, sc.cell, src.category, date_trunc('week', src.created_at AT TIME ZONE %(tz)s)::date AS week
  FROM {relation} src
  JOIN _hotspot_spots sc ON sc.x = ST_X(src.geom) AND sc.y = ST_Y(src.geom)
 WHERE src.id > %(after)s AND src.id <= %(upto)s{without_cell}
"""

CELL_POINTS_SQL = """
SELECT r.res, {parent} AS cell, src.category,
       date_trunc('week', src.created_at AT TIME ZONE %(tz)s)::date AS week
  FROM {relation} src CROSS JOIN unnest(%(resolutions)s::int[]) r(res)
 WHERE src.id > %(after)s AND src.id <= %(upto)s AND src.cell IS NOT NULL
"""


def _refresh_sql(relation: str, has_cells: bool) -> tuple[str, str]:
    """The statements of one batch: its distinct spots without a stored cell, and the upsert."""
    without_cell = " AND src.cell IS NULL" if has_cells else ""
    points = SPOT_POINTS_SQL.format(relation=relation, without_cell=without_cell)
    if has_cells:
        parent = H3_PARENT_SQL.replace("%(res)s", "r.res")
        points += " UNION ALL " + CELL_POINTS_SQL.format(relation=relation, parent=parent)
    spots = BATCH_SPOTS_SQL.format(relation=relation, without_cell=without_cell)
    return spots, UPSERT_SQL.format(points=points)


@transaction.atomic
def hotspot_counts_refresh(
    *,
    source: str = "issues",
    rebuild: bool = False,
    batch: int = 200_000,
    progress: Callable[[int], None] | None = None,
) -> dict:
    """Count the points of `source` added since the last refresh into HotspotCellCount, at every
    precomputed resolution. Incremental by id: run it on a schedule or after imports; `rebuild`
    starts over (needed after points are deleted, moved or re-categorised). One transaction; the
    state row is locked, so two refreshes never double-count."""
    point_source = get_source(source)
    relation = point_source.relation
    spots_sql, upsert_sql = _refresh_sql(relation, point_source.has_cells)
    state, _ = HotspotRefreshState.objects.get_or_create(source=source)
    state = HotspotRefreshState.objects.select_for_update().get(pk=state.pk)
    if rebuild:
        HotspotCellCount.objects.filter(source=source).delete()
        state.last_id = 0
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _hotspot_spots (x float8, y float8, res smallint, "
            "cell bigint) ON COMMIT DROP"
        )
    added = 0
    params = {
        "source": source,
        "tz": settings.TIME_ZONE,
        "batch": batch,
        "resolutions": list(PRECOMPUTED_RES),
    }
    while True:
        params["after"] = state.last_id
        with connection.cursor() as cur:
            cur.execute(BATCH_END_SQL.format(relation=relation), params)
            upto, count = cur.fetchone()
            if not count:
                break
            params["upto"] = upto
            cur.execute(spots_sql, params)
            spots = cur.fetchall()
            cur.execute("TRUNCATE _hotspot_spots")
        copy_rows(
            "_hotspot_spots",
            ["x", "y", "res", "cell"],
            (
                (repr(x), repr(y), res, point_cell(y, x, res))
                for x, y in spots
                for res in PRECOMPUTED_RES
            ),
        )
        with connection.cursor() as cur:
            cur.execute("ANALYZE _hotspot_spots")
            cur.execute(upsert_sql, params)
        state.last_id = upto
        added += count
        if progress:
            progress(count)
        if count < batch:
            break
    if added:
        with connection.cursor() as cur:
            # Fresh statistics, so the planner uses the (source, res, week) index at once.
            cur.execute("ANALYZE analytics_cellcount")
    state.refreshed_at = timezone.now()
    state.save()
    return {"source": source, "points_added": added, "last_id": state.last_id}
