"""Topology findings on a territory built with a known gap, a known overlap and stray buildings."""

import re

import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry
from pyproj import Transformer
from shapely.geometry import box

from apps.dataio.topology import topology_check
from apps.territory import services
from apps.territory.models import Area, Building
from tests.dataio.conftest import run

pytestmark = pytest.mark.django_db

TO_WGS = Transformer.from_crs(32650, 4326, always_xy=True)
X0, Y0 = 500_000.0, 3_525_000.0  # UTM 50N on the central meridian (117° E): Hefei's latitude


def geom(x0, y0, x1, y1):
    poly = shapely.transform(
        box(X0 + x0, Y0 + y0, X0 + x1, Y0 + y1),
        lambda x, y: TO_WGS.transform(x, y),
        interleaved=False,
    )
    return GEOSGeometry(shapely.MultiPolygon([poly]).wkt, srid=4326)


@pytest.fixture
def known(empty_territory):
    """street 300 × 200 m = community A (x 0-150) + community B (x 160-300): a 10 × 200 m gap.
    In A, grid A1 (x 0-80) and grid A2 (x 75-150) overlap by 5 × 200 m; B has one grid B1.
    One building in A1 and B1 each (B1 has none otherwise), one outside every grid, one across A1/A2."""
    street = services.area_create(
        level="street", code="340111001", name="S", geom=geom(0, 0, 300, 200)
    )
    a = services.area_create(
        level="community", code="340111001001", name="A", parent=street, geom=geom(0, 0, 150, 200)
    )
    b = services.area_create(
        level="community", code="340111001002", name="B", parent=street, geom=geom(160, 0, 300, 200)
    )
    a1 = services.area_create(
        level="grid", code="340111001001001", name="A1", parent=a, geom=geom(0, 0, 80, 200)
    )
    services.area_create(
        level="grid", code="340111001001002", name="A2", parent=a, geom=geom(75, 0, 150, 200)
    )
    services.area_create(
        level="grid", code="340111001002001", name="B1", parent=b, geom=geom(160, 0, 300, 200)
    )
    for name, g in [
        ("in A1", geom(10, 10, 30, 30)),
        ("in B1", geom(200, 10, 220, 30)),
        ("in the gap", geom(151, 100, 159, 110)),
        ("across", geom(60, 150, 100, 170)),
    ]:
        Building.objects.create(name=name, footprint=g)
    services.buildings_attach()
    return a1


def test_gap_and_overlap_are_found_with_their_areas(known):
    findings = topology_check(level="community")
    assert [(f["kind"], f["code"]) for f in findings if f["kind"] in ("gap", "overlap")] == [
        ("gap", "340111001")
    ]
    gap = next(f for f in findings if f["kind"] == "gap")
    assert gap["area_m2"] == pytest.approx(10 * 200, rel=0.005)
    assert gap["geometry"]["type"] == "Polygon"

    findings = topology_check(level="grid")
    overlaps = [f for f in findings if f["kind"] == "overlap"]
    assert [(f["code"], f["other_code"]) for f in overlaps] == [
        ("340111001001001", "340111001001002")
    ]
    assert overlaps[0]["area_m2"] == pytest.approx(5 * 200, rel=0.005)
    assert not [f for f in findings if f["kind"] in ("gap", "crossing")]


def test_buildings_in_no_grid_or_two_are_found(known):
    findings = topology_check(level="grid")
    stray = sorted((f["kind"], f["name"]) for f in findings if f["kind"].startswith("building"))
    assert stray == [("building_no_grid", "in the gap"), ("building_two_grids", "across")]
    across = next(f for f in findings if f["kind"] == "building_two_grids")
    assert across["grids"] == ["340111001001001", "340111001001002"]
    assert across["area_m2"] == pytest.approx(40 * 20, rel=0.005)


def test_crossing_and_empty_areas(known):
    a = Area.objects.get(code="340111001001")
    # a grid drawn 20 m beyond its community's edge
    services.area_create(
        level="grid", code="340111001001003", name="A3", parent=a, geom=geom(0, 190, 150, 220)
    )
    findings = topology_check(level="grid", within="340111001001")
    crossing = [f for f in findings if f["kind"] == "crossing"]
    assert [f["code"] for f in crossing] == ["340111001001003"]
    assert crossing[0]["area_m2"] == pytest.approx(150 * 20, rel=0.005)
    assert "340111001001003" in [f["code"] for f in findings if f["kind"] == "empty"]


def test_command_and_api_report_the_same_findings(known, client):
    text = run("check_topology", level="community")
    assert text.splitlines()[-1] == "1 findings (gap: 1)"
    assert re.search(r"2,00\d m² of S \(340111001\) is in no community", text)
    body = client.get("/api/topology", {"level": "grid", "within": "340111001"}).json()
    kinds = sorted(f["properties"]["kind"] for f in body["features"])
    assert kinds.count("overlap") == 1 and "building_no_grid" in kinds
    assert all(f["geometry"] for f in body["features"])
    assert client.get("/api/topology", {"level": "province"}).json()["field"] == "level"


def test_the_demo_district_is_clean(demo):
    findings = topology_check()
    assert [
        f for f in findings if f["kind"] in ("gap", "overlap", "crossing", "building_no_grid")
    ] == []
