"""import_areas on real files: SF's two-level hierarchy, DataV's GCJ-02 boundaries with invalid rings."""

import geopandas as gpd
import pytest
import shapely
from django.core.management.base import CommandError
from django.db import connection

from apps.dataio.services import ReadOptions, areas_import
from apps.territory.models import Area
from tests.dataio.conftest import run

pytestmark = pytest.mark.django_db

SF_COUNTY = "060750"


def _import_sf(sf_nhoods, shared_data):
    run(
        "import_areas",
        str(sf_nhoods),
        level="street",
        county=SF_COUNTY,
        code_field="nhood",
        name_field="nhood",
        commit=True,
    )
    return run(
        "import_areas",
        str(shared_data / "sf" / "sf_analysis_neighborhoods.geojson"),
        level="community",
        code_field="geoid",
        name_field="geoid",
        commit=True,
    )


def test_sf_tracts_find_their_neighbourhood_as_parent(empty_territory, sf_nhoods, shared_data):
    out = _import_sf(sf_nhoods, shared_data)
    assert "parents matched            195" in out
    assert Area.objects.filter(level="street").count() == 41
    tracts = gpd.read_file(shared_data / "sf" / "sf_analysis_neighborhoods.geojson")
    expected = dict(zip(tracts.geoid.astype(str), tracts.nhood, strict=True))
    communities = Area.objects.filter(level="community").select_related("parent")
    assert communities.count() == 195
    # every tract's parent is the neighbourhood named in the file, and its code extends the parent's
    for c in communities:
        assert c.parent.ext_code == expected[c.ext_code]
        assert c.code.startswith(c.parent.code) and len(c.code) == 12
    assert {a.code[:6] for a in Area.objects.filter(level="street")} == {SF_COUNTY}
    # areas survive the import: the 41 streets cover the same ground as the 195 tracts
    with connection.cursor() as cur:
        cur.execute(
            "SELECT sum(ST_Area(geom::geography)) FILTER (WHERE level = 'street'),"
            "       sum(ST_Area(geom::geography)) FILTER (WHERE level = 'community') FROM territory_area"
        )
        streets, communities_m2 = cur.fetchone()
    assert communities_m2 == pytest.approx(streets, rel=1e-6)
    assert streets == pytest.approx(tracts.to_crs(7131).area.sum(), rel=0.01)


def test_sf_parents_by_field_agree_with_parents_by_point(empty_territory, sf_nhoods, shared_data):
    run(
        "import_areas",
        str(sf_nhoods),
        level="street",
        county=SF_COUNTY,
        code_field="nhood",
        commit=True,
    )
    path = shared_data / "sf" / "sf_analysis_neighborhoods.geojson"
    by_point = areas_import(path=path, level="community", code_field="geoid")
    by_field = areas_import(path=path, level="community", code_field="geoid", parent_field="nhood")
    assert [r.parent_code for r in by_point.rows] == [r.parent_code for r in by_field.rows]
    assert by_field.summary()["parents_matched"] == 195


def _imported_yesterday():
    """The test runs in one transaction; move the first import a day back, as if done yesterday."""
    with connection.cursor() as cur:
        cur.execute("UPDATE territory_area SET valid_from = valid_from - interval '1 day'")


def test_reimport_makes_new_versions_only_for_changed_areas(
    empty_territory, sf_nhoods, shared_data, tmp_path
):
    run(
        "import_areas",
        str(sf_nhoods),
        level="street",
        county=SF_COUNTY,
        code_field="nhood",
        commit=True,
    )
    _imported_yesterday()
    before = {a.ext_code: a.code for a in Area.objects.filter(level="street")}
    out = run(
        "import_areas",
        str(sf_nhoods),
        level="street",
        county=SF_COUNTY,
        code_field="nhood",
        commit=True,
    )
    assert "unchanged                   41" in out
    assert Area.objects.filter(level="street").count() == 41
    # redraw one neighbourhood: it gets version 2 with the same code; version 1 is closed, not overwritten
    frame = gpd.read_file(sf_nhoods)
    frame.loc[0, "geometry"] = frame.geometry[0].buffer(-0.0005)
    changed = tmp_path / "changed.geojson"
    frame.to_file(changed, driver="GeoJSON")
    out = run(
        "import_areas",
        str(changed),
        level="street",
        county=SF_COUNTY,
        code_field="nhood",
        commit=True,
    )
    assert "new versions                 1" in out
    versions = Area.objects.filter(ext_code=frame.nhood[0]).order_by("version")
    assert [(v.version, v.code, v.valid_to is None) for v in versions] == [
        (1, before[frame.nhood[0]], False),
        (2, before[frame.nhood[0]], True),
    ]


def test_dry_run_writes_nothing(empty_territory, sf_nhoods):
    out = run("import_areas", str(sf_nhoods), level="street", county=SF_COUNTY, code_field="nhood")
    assert "Dry run: nothing written" in out
    assert "new areas                   41" in out
    assert not Area.objects.exists()


def test_datav_provinces_in_gcj02_are_repaired_and_reported(empty_territory, shared_data):
    path = shared_data / "china" / "datav_china_provinces_100000_full.json"
    out = run(
        "import_areas",
        str(path),
        level="street",
        county="100000",
        code_field="adcode",
        datum="gcj02",
        commit=True,
    )
    assert "repaired                    21" in out
    assert "rejected                     0" in out
    # each repaired province is listed with GEOS's reason
    assert out.count("repaired: ") == 21 and "北京市" in out and "Self-intersection" in out
    assert Area.objects.filter(level="street").count() == 35
    assert Area.objects.get(ext_code="110000").name == "北京市"


def test_strict_rejects_invalid_rings_and_commit_writes_nothing(empty_territory, shared_data):
    path = shared_data / "china" / "datav_china_provinces_100000_full.json"
    with pytest.raises(CommandError, match="21 of 35 features rejected .*nothing was written"):
        run(
            "import_areas",
            str(path),
            level="street",
            county="100000",
            code_field="adcode",
            datum="gcj02",
            strict=True,
            commit=True,
        )
    assert not Area.objects.exists()
    # skipping the bad rows writes the 14 valid provinces
    report = areas_import(
        path=path,
        level="street",
        county="100000",
        code_field="adcode",
        read=ReadOptions(datum="gcj02"),
        strict=True,
        skip_bad=True,
        commit=True,
    )
    assert report.written == 14 and Area.objects.count() == 14


@pytest.mark.parametrize(
    "name,count,adcode,district",
    [
        ("datav_beijing_110000_districts.json", 16, "110101", "东城区"),
        ("datav_shanghai_310000_districts.json", 16, "310101", "黄浦区"),
        ("datav_shenzhen_440300_districts.json", 9, "440303", "罗湖区"),
    ],
)
def test_datav_districts_are_moved_from_gcj02_to_wgs84(
    empty_territory, shared_data, name, count, adcode, district
):
    path = shared_data / "china" / name
    report = areas_import(
        path=path,
        level="street",
        county=adcode[:4] + "00",
        code_field="adcode",
        read=ReadOptions(datum="gcj02"),
        commit=True,
    )
    assert report.summary()["written"] == count
    area = Area.objects.get(ext_code=adcode)
    assert area.name == district
    raw = gpd.read_file(path)
    raw = raw[raw.adcode.astype(str) == adcode].to_crs(32650 if adcode < "44" else 32649)
    moved = gpd.GeoSeries.from_wkt([area.geom.wkt], crs=4326).to_crs(raw.crs)
    shift = raw.geometry.iloc[0].centroid.distance(moved.iloc[0].centroid)
    assert 200 < shift < 800  # GCJ-02 is offset by a few hundred metres from WGS84
    # the offset varies smoothly (periods of ~30 km), so areas change by well under 1 %
    assert moved.iloc[0].area == pytest.approx(raw.geometry.iloc[0].area, rel=0.01)


def test_datav_provinces_keep_their_areas_through_repair_and_datum_shift(
    empty_territory, shared_data
):
    """Repair keeps the ground a province covers: each stored province (after make_valid and the
    GCJ-02 → WGS84 shift) has the geodesic area of the file's polygon, made valid, within 0.5 %."""
    from pyproj import Geod

    path = shared_data / "china" / "datav_china_provinces_100000_full.json"
    report = areas_import(
        path=path,
        level="street",
        county="100000",
        code_field="adcode",
        read=ReadOptions(datum="gcj02"),
        commit=True,
    )
    assert report.written == 35 and report.summary()["repaired"] == 21
    raw = gpd.read_file(path)
    geod = Geod(ellps="WGS84")
    expected = {
        str(code): abs(geod.geometry_area_perimeter(shapely.make_valid(g))[0])
        for code, g in zip(raw.adcode, raw.geometry, strict=True)
    }
    with connection.cursor() as cur:
        cur.execute("SELECT ext_code, ST_Area(geom::geography) FROM territory_area")
        stored = dict(cur.fetchall())
    assert stored.keys() == expected.keys()
    for code, m2 in stored.items():
        assert m2 == pytest.approx(expected[code], rel=0.005), code
    # and the country adds up: ~9.6 million km² of land and islands in the file
    assert 9.0e12 < sum(stored.values()) < 10.5e12


def test_a_refused_commit_does_not_call_itself_a_dry_run(empty_territory, shared_data):
    from apps.dataio.services import ImportRejected

    path = shared_data / "china" / "datav_china_provinces_100000_full.json"
    with pytest.raises(ImportRejected) as caught:
        areas_import(
            path=path,
            level="street",
            county="100000",
            code_field="adcode",
            read=ReadOptions(datum="gcj02"),
            strict=True,
            commit=True,
        )
    text = caught.value.report.as_text()
    assert text.endswith("Not committed: rows were rejected, nothing written.")
    assert "Dry run" not in text and not Area.objects.exists()
