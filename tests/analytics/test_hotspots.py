"""The hotspot engine on hand-built points: counts, precomputed = cold, incremental refresh, classes,
repeat locations, emerging hotspots, grids."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import h3
import numpy as np
import pytest
from django.core.management import call_command

from apps.analytics import hotspots
from apps.analytics.models import HotspotCellCount
from apps.analytics.services import hotspot_counts_refresh
from apps.common.errors import DomainError
from apps.territory.models import Area, Building
from tests.analytics.points import make_source

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, tzinfo=TZ)  # a Monday
CENTER = (117.2800, 31.8600)


def scattered(n, seed, start_id=1, weeks=10, cats=("noise", "litter", "parking")):
    rng = np.random.default_rng(seed)
    for i in range(n):
        yield (
            start_id + i,
            CENTER[0] + rng.uniform(-0.02, 0.02),
            CENTER[1] + rng.uniform(-0.02, 0.02),
            str(rng.choice(cats)),
            T0 + timedelta(seconds=float(rng.uniform(0, weeks * 7 * 86400))),
            None,
            f"340111001{int(rng.integers(1, 4)):03d}001",
        )


def q(source="pts", **kw):
    kw.setdefault("start", T0)
    kw.setdefault("end", T0 + timedelta(weeks=10))
    return hotspots.Query(source, **kw)


@pytest.fixture
def pts(db):
    return make_source("pts", list(scattered(3000, seed=1)))


def test_res_for_zoom():
    assert [hotspots.res_for_zoom(z) for z in (5, 12, 14, 15, 18)] == [6, 7, 8, 9, 10]
    with pytest.raises(DomainError, match="zoom='x'"):
        hotspots.res_for_zoom("x")


def test_cell_counts_are_h3_cells_of_every_point(pts):
    counts, how = hotspots.cell_counts(q(), 8)
    assert how == "points" and sum(counts.values()) == 3000
    expected = {}
    for _i, lon, lat, *_ in scattered(3000, seed=1):
        c = hotspots.point_cell(lat, lon, 8)  # the parent of its res-15 cell
        expected[c] = expected.get(c, 0) + 1
    assert counts == expected


@pytest.mark.parametrize("res", [6, 7, 8])
def test_precomputed_counts_equal_cold_counts_for_any_period_and_filter(pts, res):
    hotspot_counts_refresh(source="pts")
    assert HotspotCellCount.objects.filter(source="pts", res=res).exists()
    cases = [
        q(),
        # partial weeks at both ends, one category, one community
        q(start=T0 + timedelta(days=3, hours=5), end=T0 + timedelta(days=40, hours=1)),
        q(categories=("noise",), within="340111001002"),
        q(within="340111001", start=T0 + timedelta(days=8)),
    ]
    for query in cases:
        fast, how = hotspots.cell_counts(query, res)
        cold, _ = hotspots.cell_counts(query, res, use_precomputed=False)
        # an area filter is answered from the points (the area-code index keeps it small)
        assert how == ("points" if query.within else "precomputed")
        assert fast == cold


def test_refresh_is_incremental_and_new_points_count_before_the_next_refresh(pts):
    first = hotspot_counts_refresh(source="pts")
    assert first["points_added"] == 3000
    from apps.common.db import copy_rows

    copy_rows(
        "pts",
        ["id", "geom", "category", "created_at", "building_id", "area_code"],
        [
            (
                5001,
                f"SRID=4326;POINT({CENTER[0]} {CENTER[1]})",
                "noise",
                (T0 + timedelta(days=20)).isoformat(),
                None,
                "",
            )
        ],
    )
    counts, how = hotspots.cell_counts(q(), 8)
    assert how == "precomputed" and sum(counts.values()) == 3001  # the tail is counted from points
    assert hotspot_counts_refresh(source="pts")["points_added"] == 1
    assert hotspot_counts_refresh(source="pts")["points_added"] == 0
    counts2, _ = hotspots.cell_counts(q(), 8)
    assert counts2 == counts
    total = sum(HotspotCellCount.objects.filter(source="pts", res=8).values_list("n", flat=True))
    assert total == 3001
    # finer resolutions are not precomputed: counted from the points
    fine, how = hotspots.cell_counts(q(), 9)
    assert how == "points" and sum(fine.values()) == 3001
    call_command("hotspot_refresh", source="pts", rebuild=True, verbosity=0)
    total = sum(HotspotCellCount.objects.filter(source="pts", res=7).values_list("n", flat=True))
    assert total == 3001


def test_a_planted_cluster_is_a_99_percent_hot_spot(db):
    rows = list(scattered(2000, seed=2))
    # 300 complaints around one spot: the cell there and its ring are hot
    rng = np.random.default_rng(3)
    for k in range(300):
        rows.append(
            (
                10_000 + k,
                117.27 + rng.normal(0, 0.0003),
                31.87 + rng.normal(0, 0.0003),
                "noise",
                T0 + timedelta(days=k % 60),
                None,
                "",
            )
        )
    make_source("cl", rows)
    # resolution 10 (~66 m): over 1,000 cells, so analytic z-scores
    result = hotspots.h3_hotspots(q("cl"), 10)
    assert result["method"] == "analytic" and len(result["units"]) > 1000
    spot = hotspots.point_cell(31.87, 117.27, 10)
    by_cell = {u["cell"]: u for u in result["units"]}
    assert by_cell[spot]["class"] == 3 and by_cell[spot]["z"] > 5
    hot = [u for u in result["units"] if u["class"] > 0]
    assert hot and all(
        h3.grid_distance(h3.int_to_str(u["cell"]), h3.int_to_str(spot)) <= 2 for u in hot
    )
    # no cold spots in uniform noise with a cluster on top
    assert not [u for u in result["units"] if u["class"] < -1]
    fc = hotspots.h3_geojson(result)
    assert fc["features"][0]["geometry"]["type"] == "Polygon"


def test_emerging_hotspots_are_hot_now_and_not_before(db):
    rows = list(scattered(1500, seed=4, weeks=8))
    for k in range(200):  # a cluster in the last four weeks only
        rows.append(
            (20_000 + k, 117.29, 31.85, "noise", T0 + timedelta(weeks=4, hours=3 * k), None, "")
        )
    make_source("em", rows)
    result = hotspots.emerging_hotspots(
        q("em", start=T0 + timedelta(weeks=4), end=T0 + timedelta(weeks=8)), 10
    )
    spot = hotspots.point_cell(31.85, 117.29, 10)
    emerging = {u["cell"] for u in result["units"] if u["emerging"]}
    assert spot in emerging
    # the same window earlier had no cluster: asking about the first four weeks, nothing is hot there
    earlier = hotspots.h3_hotspots(q("em", start=T0, end=T0 + timedelta(weeks=4)), 10)
    assert {u["cell"]: u["class"] for u in earlier["units"]}.get(spot, 0) <= 0


def test_repeat_locations_and_grid_hotspots_on_the_demo(demo):
    grids = list(Area.objects.filter(level="grid").order_by("code"))
    b = Building.objects.filter(grid=grids[0]).order_by("id").first()
    other = Building.objects.filter(grid=grids[1]).order_by("id").first()
    p = b.footprint.point_on_surface
    rows = []
    end = T0 + timedelta(weeks=10)
    # 4 at building b within the last 30 days, 2 at `other`, 3 at b but 40 days before the end
    for k in range(4):
        rows.append(
            (k + 1, p.x, p.y, "noise", end - timedelta(days=k + 1), b.id, grids[0].code + "001")
        )
    for k in range(2):
        rows.append(
            (k + 10, p.x, p.y, "noise", end - timedelta(days=2), other.id, grids[1].code + "001")
        )
    for k in range(3):
        rows.append(
            (k + 20, p.x, p.y, "noise", end - timedelta(days=40), other.id, grids[1].code + "001")
        )
    make_source("rp", rows)
    rep = hotspots.repeat_locations(q("rp"), min_count=3)
    assert [(r["building_id"], r["count"]) for r in rep] == [(b.id, 4)]
    longer = hotspots.repeat_locations(q("rp"), min_count=3, days=60)
    assert [(r["building_id"], r["count"]) for r in longer] == [(other.id, 5), (b.id, 4)]
    grid = hotspots.grid_hotspots(q("rp"))
    counts = {u["code"]: u["count"] for u in grid["units"]}
    assert counts[grids[0].code] == 4 and counts[grids[1].code] == 5
    assert sum(counts.values()) == 9 and len(counts) == len(grids)
    assert grid["method"] == "permutations"


def test_bad_queries_name_the_problem(pts):
    with pytest.raises(DomainError, match="end must be after start"):
        q(end=T0)
    with pytest.raises(DomainError, match="unknown point source 'nope'"):
        q("nope")
    with pytest.raises(DomainError, match="min_count"):
        hotspots.repeat_locations(q(), min_count=1)
