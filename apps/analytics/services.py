"""Writes of the analytics app: service stations and the precomputed hotspot counts."""

from collections import Counter
from collections.abc import Callable

import h3
from django.conf import settings
from django.contrib.gis.geos import Point
from django.db import connection, transaction
from django.utils import timezone

from apps.analytics.hotspots import PRECOMPUTED_RES
from apps.analytics.models import HotspotCellCount, HotspotRefreshState, ServiceStation, StationKind
from apps.analytics.sources import get_source
from apps.common.db import copy_rows
from apps.common.errors import DomainError
from apps.territory.models import Area

h3i = h3.api.basic_int


@transaction.atomic
def station_create(*, name: str, lon: float, lat: float, kind: str = StationKind.STATION,
                   address: str = "") -> ServiceStation:
    """A new station; its community is the current one covering the point (None outside)."""
    if not name or not name.strip():
        raise DomainError("a station needs a name", field="name")
    if kind not in StationKind.values:
        raise DomainError(f"unknown station kind {kind!r}; use one of {', '.join(StationKind.values)}",
                          field="kind")
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


# The points not counted yet, in id order. The week is the Monday of the local (settings.TIME_ZONE)
# week; the community is the first 12 characters of the intake area code.
NEW_POINTS_SQL = """
SELECT src.id, ST_X(src.geom), ST_Y(src.geom), src.category,
       date_trunc('week', src.created_at AT TIME ZONE %(tz)s)::date,
       CASE WHEN length(src.area_code) >= 12 THEN left(src.area_code, 12) ELSE '' END
  FROM {relation} src
 WHERE src.id > %(after)s
 ORDER BY src.id
 LIMIT %(batch)s
"""

UPSERT_SQL = """
INSERT INTO analytics_hotspotcellcount (source, res, cell, category, week, community, n)
SELECT source, res, cell, category, week, community, sum(n) FROM _hotspot_in
 GROUP BY source, res, cell, category, week, community
ON CONFLICT (source, res, cell, category, week, community)
DO UPDATE SET n = analytics_hotspotcellcount.n + EXCLUDED.n
"""


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
    relation = get_source(source).relation
    state, _ = HotspotRefreshState.objects.get_or_create(source=source)
    state = HotspotRefreshState.objects.select_for_update().get(pk=state.pk)
    if rebuild:
        HotspotCellCount.objects.filter(source=source).delete()
        state.last_id = 0
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE IF NOT EXISTS _hotspot_in (source text, res smallint, cell bigint, "
            "category text, week date, community text, n int) ON COMMIT DROP"
        )
    added = 0
    while True:
        with connection.cursor() as cur:
            cur.execute(
                NEW_POINTS_SQL.format(relation=relation),
                {"tz": settings.TIME_ZONE, "after": state.last_id, "batch": batch},
            )
            rows = cur.fetchall()
        if not rows:
            break
        # H3 is not exactly nested (a child cell can stick out of its parent), so every resolution
        # is computed from the point itself, once per distinct spot.
        base = Counter((lon, lat, category, week, community) for _i, lon, lat, category, week, community in rows)
        out = Counter()
        for (lon, lat, category, week, community), n in base.items():
            for res in PRECOMPUTED_RES:
                out[(res, h3i.latlng_to_cell(lat, lon, res), category, week, community)] += n
        with connection.cursor() as cur:
            cur.execute("TRUNCATE _hotspot_in")
        copy_rows(
            "_hotspot_in",
            ["source", "res", "cell", "category", "week", "community", "n"],
            ((source, *key, n) for key, n in out.items()),
        )
        with connection.cursor() as cur:
            cur.execute(UPSERT_SQL)
        state.last_id = rows[-1][0]
        added += len(rows)
        if progress:
            progress(len(rows))
        if len(rows) < batch:
            break
    state.refreshed_at = timezone.now()
    state.save()
    return {"source": source, "points_added": added, "last_id": state.last_id}
