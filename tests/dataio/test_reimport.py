"""Re-importing a level without a code field: rows are matched to the current areas they redraw by
ground (or by name), so a second import of the same file changes nothing, a redrawn boundary becomes a
new version of the same code, and a row that would overlap areas it does not redraw is rejected."""

import re
from datetime import timedelta

import geopandas as gpd
import pytest
import shapely
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from apps.dataio.services import ImportRejected, areas_import
from apps.territory.models import Area
from apps.territory.selectors import current_areas
from tests.dataio.conftest import run

pytestmark = pytest.mark.django_db

SF_COUNTY = "060750"
SF_METRES = 7131  # NAD83(2011) / San Francisco CS13, metres


def _yesterday():
    """The test runs in one transaction (one now()): the first import is dated a day back, so the
    re-import's new versions can start after it."""
    return timezone.now() - timedelta(days=1)


def _streets(path, **options):
    """The SF neighbourhoods as streets, without a code field."""
    return areas_import(path=path, level="street", county=SF_COUNTY, **options)


def _no_duplicate_codes():
    dup = (
        current_areas()
        .values("level", "code")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("code", flat=True)
    )
    assert list(dup) == []


def line(label: str, n: int) -> str:
    """A line of the report's counts table."""
    return f"  {label:<22}{n:>8}"


def _overlaps_in_reason(reason: str) -> dict[str, float]:
    """'... overlaps 060750004 (Nob Hill) by 246,756 m² and ...' -> {code: m²}."""
    return {
        code: float(m2.replace(",", ""))
        for code, m2 in re.findall(r"(\d{9,}) \([^)]*\) by ([\d,]+) m²", reason)
    }


def test_same_file_twice_without_a_code_field_is_unchanged(empty_territory, sf_nhoods, shared_data):
    tracts = shared_data / "sf" / "sf_analysis_neighborhoods.geojson"
    assert (
        _streets(sf_nhoods, name_field="nhood", valid_from=_yesterday(), commit=True).written == 41
    )
    first = areas_import(path=tracts, level="community", valid_from=_yesterday(), commit=True)
    assert first.written == 195
    codes = sorted(current_areas().values_list("code", flat=True))

    again = run(
        "import_areas", str(sf_nhoods), level="street", county=SF_COUNTY, name_field="nhood"
    )
    assert line("unchanged", 41) in again
    assert line("new areas", 0) in again and line("not in file", 0) in again
    report = _streets(sf_nhoods, name_field="nhood", commit=True)
    assert report.summary()["unchanged"] == 41 and report.written == 0
    assert {r.matched_by for r in report.rows} == {"ground"}
    # the tracts find their current selves under the same neighbourhood, too
    report = areas_import(path=tracts, level="community", commit=True)
    s = report.summary()
    assert (s["unchanged"], s["new"], s["new_version"], s["rejected"], report.written) == (
        195,
        0,
        0,
        0,
        0,
    )
    assert sorted(current_areas().values_list("code", flat=True)) == codes
    assert Area.objects.count() == 41 + 195  # no new versions either
    _no_duplicate_codes()


def test_a_redrawn_area_without_a_code_becomes_a_new_version_of_its_code(
    empty_territory, sf_nhoods, tmp_path
):
    _streets(sf_nhoods, name_field="nhood", valid_from=_yesterday(), commit=True)
    frame = gpd.read_file(sf_nhoods)
    k = int(frame.index[frame.nhood == "Glen Park"][0])
    old = Area.objects.get(name="Glen Park")
    # shrink Glen Park by 30 m all round: still most of the old ground, so it is matched by ground
    metric = frame.to_crs(SF_METRES)
    metric.loc[k, "geometry"] = metric.geometry[k].buffer(-30)
    changed = tmp_path / "changed.geojson"
    metric.to_crs(4326).to_file(changed, driver="GeoJSON")

    dry = _streets(changed, name_field="nhood")
    assert (dry.summary()["new_version"], dry.summary()["unchanged"]) == (1, 40)
    row = dry.rows[k]
    assert (row.action, row.code, row.matched_by) == ("new_version", old.code, "ground")
    _streets(changed, name_field="nhood", commit=True)

    versions = list(Area.objects.filter(code=old.code).order_by("version"))
    assert [(v.version, v.valid_to is None) for v in versions] == [(1, False), (2, True)]
    assert versions[0].pk == old.pk and versions[0].valid_to == versions[1].valid_from
    # the old boundary is still there for its period, and smaller now
    yesterday = versions[1].valid_from - (versions[1].valid_from - old.valid_from) / 2
    assert list(current_areas(level="street", at=yesterday).filter(code=old.code)) == [versions[0]]
    assert versions[1].geom.area < versions[0].geom.area
    assert Area.objects.filter(level="street").count() == 42
    _no_duplicate_codes()


def test_an_area_redrawn_beyond_recognition_is_matched_by_its_unique_name(
    empty_territory, sf_nhoods, tmp_path
):
    _streets(sf_nhoods, name_field="nhood", valid_from=_yesterday(), commit=True)
    frame = gpd.read_file(sf_nhoods).to_crs(SF_METRES)
    k = int(frame.index[frame.nhood == "Glen Park"][0])
    # a quarter of its old area: too little shared ground, but the name is unique under the county
    frame.loc[k, "geometry"] = frame.geometry[k].buffer(-300)
    assert frame.geometry[k].area < 0.5 * gpd.read_file(sf_nhoods).to_crs(SF_METRES).area[k]
    changed = tmp_path / "changed.geojson"
    frame.to_crs(4326).to_file(changed, driver="GeoJSON")
    report = _streets(changed, name_field="nhood")
    row = report.rows[k]
    assert (row.action, row.matched_by, row.code) == (
        "new_version",
        "name",
        Area.objects.get(name="Glen Park").code,
    )
    assert any(f"row(s) {k + 1} have no code" in n for n in report.notes)
    # without names nothing ties the small polygon to Glen Park: it would be a new street inside the
    # current one, so it is rejected (and Glen Park is reported as not in the file)
    report = _streets(changed)
    assert report.rows[k].status == "rejected"
    assert "matches no current street but overlaps" in report.rows[k].reason
    assert [a["name"] for a in report.not_in_file] == ["Glen Park"]


def test_a_shifted_area_overlapping_two_others_is_rejected_with_the_overlaps(
    empty_territory, sf_nhoods, tmp_path
):
    _streets(sf_nhoods, valid_from=_yesterday(), commit=True)  # no names: only the ground can match
    before = sorted(Area.objects.values_list("id", "code", "version"))
    frame = gpd.read_file(sf_nhoods).to_crs(SF_METRES)
    k = int(frame.index[frame.nhood == "Chinatown"][0])
    # Chinatown moved 800 m west: ~10 % of its old ground, most of it on Russian Hill and Nob Hill
    frame.loc[k, "geometry"] = shapely.affinity.translate(frame.geometry[k], -800, 0)
    shifted = tmp_path / "shifted.geojson"
    frame.to_crs(4326).to_file(shifted, driver="GeoJSON")
    # without names the streets are called "street <row>": neighbourhood -> code
    order = {frame.nhood[int(a.name.split()[1]) - 1]: a.code for a in Area.objects.all()}

    with pytest.raises(ImportRejected) as caught:
        _streets(shifted, commit=True)
    report = caught.value.report
    assert [r.row for r in report.rejected] == [k + 1]
    reason = report.rejected[0].reason
    assert reason.startswith("matches no current street but overlaps ")
    assert reason.endswith("; areas of one level may not overlap")
    found = _overlaps_in_reason(reason)
    # the same overlaps measured independently (pyproj geodesic on the file's geometries)
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    moved = frame.to_crs(4326).geometry[k]
    expected = {}  # the current streets, Chinatown's old self included (no row redraws it)
    for nhood, g in zip(frame.nhood, gpd.read_file(sf_nhoods).geometry, strict=True):
        shared = moved.intersection(g)
        m2 = abs(geod.geometry_area_perimeter(shapely.orient_polygons(shared))[0])
        if m2 > 1000:
            expected[order[nhood]] = m2
    top = sorted(expected, key=expected.get, reverse=True)[:3]
    assert list(found) == top
    assert {order["Russian Hill"], order["Nob Hill"], order["Chinatown"]} == set(found)
    for code, m2 in found.items():
        assert m2 == pytest.approx(expected[code], rel=0.005), code
    # the first message names the row; nothing was written
    assert f"row {k + 1}: matches no current street" in caught.value.message
    assert sorted(Area.objects.values_list("id", "code", "version")) == before
    # skipping the bad row writes nothing either (the other 40 are unchanged); Chinatown stays
    report = _streets(shifted, commit=True, skip_bad=True)
    assert report.written == 0 and report.summary()["unchanged"] == 40
    assert [a["code"] for a in report.not_in_file] == [order["Chinatown"]]
    assert sorted(Area.objects.values_list("id", "code", "version")) == before


def test_areas_missing_from_the_file_are_listed_not_retired(empty_territory, sf_nhoods, tmp_path):
    _streets(sf_nhoods, name_field="nhood", valid_from=_yesterday(), commit=True)
    frame = gpd.read_file(sf_nhoods)
    gone = frame.nhood[5]
    fewer = tmp_path / "fewer.geojson"
    frame.drop(index=5).to_file(fewer, driver="GeoJSON")
    code = Area.objects.get(name=gone).code

    out = run("import_areas", str(fewer), level="street", county=SF_COUNTY, name_field="nhood")
    assert line("unchanged", 40) in out and line("not in file", 1) in out
    assert re.search(rf"Not in file .*\n.*\n  {code} +{re.escape(gone)}", out)
    report = _streets(fewer, name_field="nhood", commit=True)
    assert report.written == 0
    assert report.as_dict()["not_in_file"] == [{"code": code, "name": gone, "parent_code": ""}]
    assert current_areas(level="street").filter(code=code).exists()


def test_a_file_repeating_a_polygon_is_rejected_naming_both_rows(
    empty_territory, sf_nhoods, tmp_path
):
    _streets(sf_nhoods, valid_from=_yesterday(), commit=True)
    frame = gpd.read_file(sf_nhoods)
    twice = tmp_path / "twice.geojson"
    gpd.GeoDataFrame(
        [frame.iloc[0], frame.iloc[1], frame.iloc[0]], crs=frame.crs, geometry="geometry"
    ).to_file(twice, driver="GeoJSON")
    report = _streets(twice)
    code = f"{SF_COUNTY}001"
    assert [(r.row, r.status) for r in report.rows] == [
        (1, "rejected"),
        (2, "ok"),
        (3, "rejected"),
    ]
    assert report.rows[0].reason.startswith(f"matches street {code} (street 1),")
    assert "row(s) 3 match too" in report.rows[0].reason
    assert "row(s) 1 match too" in report.rows[2].reason


def test_communities_without_codes_overlapping_the_demo_are_rejected(demo, tmp_path):
    """The demo district's community, and a file with a new community drawn in the middle of it: a
    quarter of its size or less, so it matches nothing, and overlaps the current one."""
    community = current_areas(level="community").first()
    minx, miny, maxx, maxy = community.geom.extent
    p = community.geom.point_on_surface
    w, h = (maxx - minx) / 4, (maxy - miny) / 4
    box = shapely.box(p.x - w, p.y - h, p.x + w, p.y + h)
    path = tmp_path / "half.geojson"
    gpd.GeoDataFrame({"name": ["东扩社区"]}, geometry=[box], crs=4326).to_file(
        path, driver="GeoJSON"
    )
    report = areas_import(path=path, level="community")
    assert report.rows[0].status == "rejected", report.rows[0]
    assert f"overlaps {community.code} ({community.name}) by " in report.rows[0].reason
    m2 = _overlaps_in_reason(report.rows[0].reason)[community.code]
    with connection.cursor() as cur:
        cur.execute(
            "SELECT ST_Area(ST_Intersection(geom, ST_GeomFromText(%s, 4326))::geography) "
            "FROM territory_area WHERE id = %s",
            [box.wkt, community.id],
        )
        assert m2 == pytest.approx(cur.fetchone()[0], abs=1)


def test_grids_redrawn_by_import_take_their_buildings_and_counts_along(demo, tmp_path):
    """Two demo grids with a strip of ground moved from one to the other, re-imported with their
    codes: the buildings on the strip follow it, the counts follow them, and the import re-attaches
    only the buildings under the areas it wrote or closed."""
    from apps.territory.models import Building
    from apps.territory.services import area_counts_refresh, buildings_attach

    grids = list(current_areas(level="grid").order_by("code"))
    g1, g2 = grids[0], grids[1]  # side by side in the demo
    s1, s2 = shapely.from_wkt(g1.geom.wkt), shapely.from_wkt(g2.geom.wkt)
    strip = shapely.intersection(s2, shapely.buffer(s1, 0.0004))  # ~40 m of grid 2 go to grid 1
    geoms = {g1.code: shapely.union(s1, strip), g2.code: shapely.difference(s2, strip)}
    moved = [
        b.id
        for b in Building.objects.filter(grid=g2)
        if shapely.contains(strip, shapely.from_wkt(b.footprint.point_on_surface.wkt))
    ]
    assert moved, "the demo has a building on the strip"
    # a building far from both, attached to the wrong grid: the import must leave it alone
    bystander = Building.objects.filter(grid=grids[-1]).order_by("id").first()
    Building.objects.filter(pk=bystander.pk).update(grid=grids[-2])
    path = tmp_path / "grids.geojson"
    gpd.GeoDataFrame(
        {"code": [g.code for g in grids], "name": [g.name for g in grids]},
        geometry=[geoms.get(g.code, shapely.from_wkt(g.geom.wkt)) for g in grids],
        crs=4326,
    ).to_file(path, driver="GeoJSON")
    report = areas_import(
        path=path, level="grid", code_field="code", keep_codes=True, name_field="name", commit=True
    )
    assert report.committed
    new1 = current_areas(level="grid").get(code=g1.code)
    assert new1.id != g1.id
    assert set(Building.objects.filter(id__in=moved).values_list("grid_id", flat=True)) == {new1.id}
    assert new1.buildings == Building.objects.filter(grid=new1).count()
    # a full re-attach only has the bystander to move back; then every count is what a full
    # refresh makes it
    assert Building.objects.get(pk=bystander.pk).grid_id == grids[-2].id
    assert buildings_attach() == 1
    assert area_counts_refresh() == 0
