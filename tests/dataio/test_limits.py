"""Geometry limits on imports: a feature with more vertices, or more ground, than its level allows is
rejected naming the row and the limit, and a commit then writes nothing."""

import json

import pytest
import shapely
from django.core.management.base import CommandError

from apps.dataio.geometry import DEFAULT_LIMITS, geodesic_area_km2, limits_for
from apps.dataio.services import ImportRejected, areas_import, buildings_import
from apps.territory.models import Area, Building
from tests.dataio.conftest import run

pytestmark = pytest.mark.django_db

FAR = (100.0, 20.0)  # longitude/latitude far from the demo district (no current area there)


def write(tmp_path, geoms, name="in.geojson"):
    feats = [
        {"type": "Feature", "properties": {"name": f"f{i + 1}"}, "geometry": g.__geo_interface__}
        for i, g in enumerate(geoms)
    ]
    path = tmp_path / name
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    return path


def square(size_deg, at=FAR):
    x, y = at
    return shapely.box(x, y, x + size_deg, y + size_deg)


def ring(n, at=FAR, radius_deg=0.01):
    """A polygon with n + 1 vertices (a circle)."""
    return shapely.Point(at).buffer(radius_deg, quad_segs=n // 4)


@pytest.fixture
def unchanged(demo):
    before = (Area.objects.count(), Building.objects.count())
    yield
    assert (Area.objects.count(), Building.objects.count()) == before


def test_limits_are_per_level_and_settings_override_them(settings):
    assert limits_for("street").max_area_km2 > 2_000_000  # a province (Xinjiang: 1.66 M km²) fits
    assert limits_for("compound").max_area_km2 < limits_for("grid").max_area_km2
    settings.LINLI_IMPORT_LIMITS = {"compound": {"max_vertices": 7}}
    got = limits_for("compound")
    assert (got.max_vertices, got.max_area_km2) == (7, DEFAULT_LIMITS["compound"]["max_area_km2"])
    with pytest.raises(ValueError):
        limits_for("province")


def test_geodesic_area_is_right_for_a_known_square():
    # 1° x 1° at the equator: 12,308.8 km² on the WGS84 ellipsoid (either ring orientation)
    sq = shapely.box(0, 0, 1, 1)
    assert geodesic_area_km2(sq) == pytest.approx(12_308.8, rel=1e-4)
    assert geodesic_area_km2(shapely.reverse(sq)) == pytest.approx(12_308.8, rel=1e-4)


def test_a_feature_over_the_vertex_limit_is_rejected_naming_row_and_limit(
    unchanged, tmp_path, settings
):
    settings.LINLI_IMPORT_LIMITS = {"street": {"max_vertices": 1000}}
    ok, big = ring(400), ring(2000, at=(FAR[0] + 1, FAR[1]))
    n = shapely.get_num_coordinates(big)
    path = write(tmp_path, [ok, big])
    out = run("import_areas", str(path), level="street", county="340111")
    assert f"{n:,} vertices; the limit for a street is 1,000 (setting LINLI_IMPORT_LIMITS)" in out
    with pytest.raises(CommandError, match=rf"1 of 2 features rejected \(first: row 2: {n:,} vert"):
        run("import_areas", str(path), level="street", county="340111", commit=True)


def test_the_default_vertex_limit_stops_an_absurd_building(unchanged, tmp_path):
    limit = DEFAULT_LIMITS["building"]["max_vertices"]
    path = write(tmp_path, [square(0.0002), ring(limit + 100)])
    report = buildings_import(path=path)
    assert [r.status for r in report.rows] == ["ok", "rejected"]
    assert report.rows[1].reason.endswith(
        f"the limit for a building is {limit:,} (setting LINLI_IMPORT_LIMITS)"
    )
    with pytest.raises(ImportRejected, match="first: row 2: "):
        buildings_import(path=path, commit=True)


def test_an_absurd_area_is_rejected_naming_row_and_limit(unchanged, tmp_path):
    # swapped axes or a wrong CRS: a "street" covering most of the globe
    globe = shapely.box(-170, -80, 170, 80)
    path = write(tmp_path, [square(0.01), globe])
    report = areas_import(path=path, level="street", county="340111")
    assert [r.status for r in report.rows] == ["ok", "rejected"]
    km2 = geodesic_area_km2(globe)
    # 340° of the band between 80° S and 80° N: 94 % of the Earth's 510 million km²
    assert km2 == pytest.approx(510.07e6 * 340 / 360 * 0.9848, rel=0.005)
    assert report.rows[1].reason == (
        f"covers {km2:,.0f} km²; the limit for a street is 5,000,000 km² (setting LINLI_IMPORT_LIMITS)"
    )
    # a building of 9 km² is no building; with the limit raised it imports
    huge = square(0.03)  # ~3.1 km x 3.3 km at 20° N
    path = write(tmp_path, [square(0.0002), huge], name="b.geojson")
    report = buildings_import(path=path)
    assert report.rows[1].status == "rejected"
    assert "the limit for a building is 2 km²" in report.rows[1].reason
    assert report.rows[1].reason.startswith(f"covers {geodesic_area_km2(huge):,.2f} km²")


def test_the_area_limit_can_be_raised(unchanged, tmp_path, settings):
    path = write(tmp_path, [square(0.0002), square(0.03)])
    settings.LINLI_IMPORT_LIMITS = {"building": {"max_area_km2": 20}}
    assert buildings_import(path=path).summary()["rejected"] == 0
    settings.LINLI_IMPORT_LIMITS = {
        "building": {"max_area_km2": 0.001}
    }  # 1,000 m² (the first: 465)
    report = buildings_import(path=path)
    assert [r.status for r in report.rows] == ["ok", "rejected"]


def test_repair_does_not_hide_an_area_over_the_limit(unchanged, tmp_path, settings):
    """The area is checked on the repaired polygon: a bow-tie over the limit is rejected, not listed as
    repaired."""
    settings.LINLI_IMPORT_LIMITS = {"compound": {"max_area_km2": 1}}
    x, y = FAR
    bowtie = shapely.Polygon([(x, y), (x + 0.1, y + 0.1), (x + 0.1, y), (x, y + 0.1), (x, y)])
    assert not bowtie.is_valid
    report = areas_import(path=write(tmp_path, [bowtie]), level="compound")
    # no parent community so far away either, but the limit is found first and named
    assert report.rows[0].status == "rejected"
    assert (
        report.rows[0].reason.startswith("covers ")
        and "limit for a compound is 1 km²" in report.rows[0].reason
    )
    assert report.summary()["repaired"] == 0
