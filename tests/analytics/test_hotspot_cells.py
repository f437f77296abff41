"""Stored H3 cells: issues keep their resolution-15 cell, the SQL parent equals h3's, and counts from
stored cells equal counts from the points (also when some rows have no cell yet)."""

from datetime import timedelta

import h3
import numpy as np
import pytest
from django.contrib.gis.geos import Point
from django.db import connection
from django.utils import timezone

from apps.analytics import hotspots
from apps.analytics.sources import SOURCES, PointSource
from apps.issues import services
from apps.issues.models import Issue, Source, h3_cell_of
from apps.territory.models import Area
from tests.analytics.points import make_source
from tests.analytics.test_hotspots import T0, q, scattered

h3i = h3.api.basic_int


def source_with_cells(name: str, rows, *, every: int) -> PointSource:
    """A point source of these rows storing each point's resolution-15 cell, except every `every`-th
    row (by id), which has none (the fallback path from the point)."""
    make_source(name, rows)
    with connection.cursor() as cur:
        cur.execute(f"ALTER TABLE {name} ADD COLUMN cell bigint")
        cur.execute(
            f"UPDATE {name} p SET cell = v.cell FROM unnest(%s::bigint[], %s::bigint[]) v(id, cell)"  # noqa: S608
            " WHERE p.id = v.id AND p.id %% %s <> 0",
            [[r[0] for r in rows], [h3i.latlng_to_cell(r[2], r[1], 15) for r in rows], every],
        )
    source = SOURCES[name] = PointSource(name, name, has_cells=True)
    return source


def test_sql_parent_of_a_res15_cell_equals_h3_cell_to_parent(db):
    rng = np.random.default_rng(3)
    # Points all over the world (every base cell region, both hemispheres), every resolution.
    cells = [
        h3i.latlng_to_cell(float(lat), float(lon), 15)
        for lat, lon in zip(rng.uniform(-89, 89, 200), rng.uniform(-180, 180, 200), strict=True)
    ]
    sql = hotspots.H3_PARENT_SQL.replace("src.cell", "c")
    with connection.cursor() as cur:
        for res in range(16):
            cur.execute(
                f"SELECT array_agg({sql} ORDER BY o) FROM unnest(%(cells)s::bigint[])"  # noqa: S608
                " WITH ORDINALITY AS u(c, o)",
                {"cells": cells, "res": res},
            )
            assert cur.fetchone()[0] == [h3i.cell_to_parent(c, res) for c in cells], res


def test_an_issue_stores_the_h3_cell_of_its_point(demo):
    area = Area.objects.filter(level="neighbourhood", valid_to=None).order_by("code").first()
    point = area.geom.point_on_surface
    issue = services.issue_create(
        point=Point(point.x, point.y, srid=4326),
        category="property-sanitation",
        description="楼道堆物",
        source=Source.RESIDENT,
    )
    issue.refresh_from_db()
    assert issue.h3_cell == h3i.latlng_to_cell(point.y, point.x, 15) == h3_cell_of(issue.point)


@pytest.mark.parametrize("res", [6, 8, 10])
def test_counts_from_stored_cells_equal_counts_from_the_points(db, res):
    rows = list(scattered(2000, seed=5))
    make_source("pts_plain", rows)
    source_with_cells("pts_cells", rows, every=4)  # a quarter without a cell: the fallback path
    for filters in ({}, {"categories": ("noise",)}, {"within": "340111001002"}):
        plain, _ = hotspots.cell_counts(q("pts_plain", **filters), res, use_precomputed=False)
        cells, how = hotspots.cell_counts(q("pts_cells", **filters), res, use_precomputed=False)
        assert how == "points" and cells == plain and sum(cells.values()) > 0


def test_issue_hotspots_use_the_stored_cells(demo):
    """The issues source reads cells: an issue whose stored cell is elsewhere is counted there."""
    now = timezone.now()
    query = hotspots.Query("issues", now - timedelta(days=400), now + timedelta(days=1))
    before, _ = hotspots.cell_counts(query, 9, use_precomputed=False)
    issue = Issue.objects.exclude(status__in=["rejected", "duplicate"]).order_by("id").first()
    far = h3i.latlng_to_cell(0.0, 0.0, 15)
    Issue.objects.filter(id=issue.id).update(h3_cell=far)
    after, _ = hotspots.cell_counts(query, 9, use_precomputed=False)
    assert after.get(h3i.cell_to_parent(far, 9)) == 1
    assert sum(after.values()) == sum(before.values())
    assert T0  # the hand-built points' clock, imported to share the scattering


def test_counts_add_up_across_resolutions(db):
    """One rule for a point's cell (the parent of its res-15 cell): a coarse cell's count is the sum of
    its children's, which latlng_to_cell at each resolution would not give."""
    make_source("pts_h", list(scattered(3000, seed=8)))
    coarse, _ = hotspots.cell_counts(q("pts_h"), 7, use_precomputed=False)
    fine, _ = hotspots.cell_counts(q("pts_h"), 9, use_precomputed=False)
    rolled: dict[int, int] = {}
    for cell, n in fine.items():
        parent = h3i.cell_to_parent(cell, 7)
        rolled[parent] = rolled.get(parent, 0) + n
    assert rolled == coarse


def test_precomputed_counts_from_stored_cells_equal_those_from_the_points(db):
    """The refresh computes a stored cell's parents in SQL and a point's in Python: the counts agree,
    including rows without a cell and a batch boundary in the middle."""
    from apps.analytics.models import HotspotCellCount
    from apps.analytics.services import hotspot_counts_refresh

    rows = list(scattered(1500, seed=9))
    make_source("pre_plain", rows)
    source_with_cells("pre_cells", rows, every=3)
    assert hotspot_counts_refresh(source="pre_plain")["points_added"] == 1500
    assert hotspot_counts_refresh(source="pre_cells", batch=400)["points_added"] == 1500

    def table(source):
        return sorted(
            HotspotCellCount.objects.filter(source=source).values_list(
                "res", "cell", "category", "week", "n"
            )
        )

    assert table("pre_cells") == table("pre_plain")
    assert sum(n for res, *_, n in table("pre_cells") if res == 8) == 1500
    # whole weeks, and partial weeks at both ends (counted from the stored cells in SQL, the rows
    # without one from their points)
    partial = {"start": T0 + timedelta(days=3, hours=5), "end": T0 + timedelta(days=40, hours=1)}
    for res in hotspots.PRECOMPUTED_RES:
        for query in (q("pre_cells"), q("pre_cells", **partial)):
            fast, how = hotspots.cell_counts(query, res)
            cold, _ = hotspots.cell_counts(query, res, use_precomputed=False)
            assert how == "precomputed" and fast == cold
        plain, _ = hotspots.cell_counts(q("pre_plain", **partial), res)
        assert plain == hotspots.cell_counts(q("pre_cells", **partial), res)[0]
