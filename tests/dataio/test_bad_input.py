"""Every kind of bad input gets a clear message naming the problem, and changes nothing."""

import json

import geopandas as gpd
import pytest
import shapely
from django.core.management.base import CommandError

from apps.territory.models import Area, Building
from tests.dataio.conftest import run

pytestmark = pytest.mark.django_db

# ~15 km south-west of the demo district: a street drawn here overlaps no current street (one that did
# would be rejected for the overlap, see test_reimport.py)
SQUARE = [[[117.17, 31.75], [117.18, 31.75], [117.18, 31.76], [117.17, 31.76], [117.17, 31.75]]]


def geojson(tmp_path, features, name="in.geojson", crs=True):
    body = {"type": "FeatureCollection", "features": features}
    if not crs:
        body["crs"] = None
    path = tmp_path / name
    path.write_text(json.dumps(body), encoding="utf-8")
    return path


def feature(props, geometry):
    return {"type": "Feature", "properties": props, "geometry": geometry}


def poly(dx=0.0, coords=SQUARE):
    return {"type": "Polygon", "coordinates": [[[x + dx, y] for x, y in coords[0]]]}


@pytest.fixture
def unchanged(demo):
    """Asserts after the test that no area or building was written."""
    before = (Area.objects.count(), Building.objects.count())
    yield
    assert (Area.objects.count(), Building.objects.count()) == before


def fails(match, *args, **options):
    with pytest.raises(CommandError, match=match):
        run(*args, **options)


def test_missing_file(unchanged, tmp_path):
    fails(
        r"file not found: .*nope\.geojson",
        "import_areas",
        str(tmp_path / "nope.geojson"),
        level="street",
        county="340111",
        commit=True,
    )


def test_unreadable_format(unchanged, tmp_path):
    path = tmp_path / "garbage.geojson"
    path.write_bytes(b"\x00\x01 this is not geojson {")
    fails(
        r"cannot read garbage\.geojson: not a format GDAL can open",
        "import_areas",
        str(path),
        level="street",
        county="340111",
        commit=True,
    )


def test_layer_that_does_not_exist_lists_the_layers(unchanged, shared_data):
    fails(
        r"layer 'houses' does not exist in momepy_bubenec\.gpkg; layers: tessellation, buildings, streets, plots",
        "import_buildings",
        str(shared_data / "osm" / "momepy_bubenec.gpkg"),
        layer="houses",
        commit=True,
    )


def test_file_with_several_layers_asks_for_one(unchanged, shared_data):
    fails(
        r"has 4 layers \(tessellation, buildings, streets, plots\); choose one with --layer",
        "import_buildings",
        str(shared_data / "osm" / "momepy_bubenec.gpkg"),
        commit=True,
    )


def test_field_that_does_not_exist_lists_the_fields(unchanged, shared_data):
    fails(
        r"field 'code' \(--code-field\) does not exist in sf_analysis_neighborhoods\.geojson; "
        r"fields: shape_area, nhood, tractce10, geoid, shape_len",
        "import_areas",
        str(shared_data / "sf" / "sf_analysis_neighborhoods.geojson"),
        level="street",
        county="060750",
        code_field="code",
        commit=True,
    )


def test_csv_without_crs_needs_srid(unchanged, tmp_path):
    path = tmp_path / "areas.csv"
    wkt = shapely.Polygon(SQUARE[0]).wkt
    path.write_text(f'name,wkt\nA,"{wkt}"\n', encoding="utf-8")
    fails(
        r"areas\.csv has no coordinate reference system .*pass --srid",
        "import_areas",
        str(path),
        level="street",
        county="340111",
        commit=True,
    )
    # with --srid it reads
    out = run("import_areas", str(path), level="street", county="340111", srid=4326)
    assert "features read                1" in out


def test_shapefile_without_prj_needs_srid_and_srid_is_refused_when_a_crs_exists(
    unchanged, tmp_path
):
    frame = gpd.GeoDataFrame({"name": ["A"]}, geometry=[shapely.Polygon(SQUARE[0])], crs=4326)
    shp = tmp_path / "a.shp"
    frame.to_file(shp)
    fails(
        r"already declares its CRS \(EPSG:4326\); --srid is only for files without one",
        "import_areas",
        str(shp),
        level="street",
        county="340111",
        srid=3857,
    )
    (tmp_path / "a.prj").unlink()
    fails(
        r"a\.shp has no coordinate reference system",
        "import_areas",
        str(shp),
        level="street",
        county="340111",
    )


def test_non_polygon_geometries_are_rejected_by_row(unchanged, tmp_path):
    path = geojson(
        tmp_path,
        [
            feature({"name": "ok"}, poly()),
            feature({"name": "pin"}, {"type": "Point", "coordinates": [117.27, 31.85]}),
            feature(
                {"name": "road"},
                {"type": "LineString", "coordinates": [[117.27, 31.85], [117.28, 31.86]]},
            ),
        ],
    )
    with pytest.raises(
        CommandError, match=r"2 of 3 features rejected \(first: row 2: not a polygon \(Point\)\)"
    ):
        run("import_areas", str(path), level="street", county="340111", commit=True)
    out = run("import_areas", str(path), level="street", county="340111")
    assert "not a polygon (LineString)" in out and "rejected                     2" in out


def test_empty_geometries_are_rejected_by_row(unchanged, tmp_path):
    path = geojson(
        tmp_path,
        [
            feature({"name": "ok"}, poly()),
            feature({"name": "nothing"}, None),
            feature({"name": "hollow"}, {"type": "Polygon", "coordinates": []}),
        ],
    )
    fails(
        r"2 of 3 features rejected \(first: row 2: empty or unreadable geometry\)",
        "import_areas",
        str(path),
        level="street",
        county="340111",
        commit=True,
    )


def test_duplicate_codes_name_the_rows(unchanged, tmp_path):
    path = geojson(
        tmp_path,
        [
            feature({"name": "a", "code": "X1"}, poly(0)),
            feature({"name": "b", "code": "X2"}, poly(0.02)),
            feature({"name": "c", "code": "X1"}, poly(0.04)),
        ],
    )
    out = run("import_areas", str(path), level="street", county="340111", code_field="code")
    assert "codes duplicated             1" in out and "X1: rows 1, 3" in out
    fails(
        r"row 1: code X1 is also at row\(s\) 3",
        "import_areas",
        str(path),
        level="street",
        county="340111",
        code_field="code",
        commit=True,
    )


def test_coordinates_out_of_range_for_the_crs(unchanged, tmp_path):
    # metres from a projected CRS in a file that says longitude/latitude
    metres = [[[500000, 3520000], [500100, 3520000], [500100, 3520100], [500000, 3520000]]]
    path = geojson(tmp_path, [feature({"name": "m"}, {"type": "Polygon", "coordinates": metres})])
    fails(
        r"row 1: coordinates out of range for EPSG:4326 \(bounds 500000, 3.52e\+06",
        "import_areas",
        str(path),
        level="street",
        county="340111",
        commit=True,
    )


def test_file_with_zero_features(unchanged, tmp_path):
    path = geojson(tmp_path, [])
    fails(
        r"in\.geojson \(layer 'in'\) has no features",
        "import_areas",
        str(path),
        level="street",
        county="340111",
        commit=True,
    )


def test_streets_need_a_county_code(unchanged, tmp_path):
    path = geojson(tmp_path, [feature({"name": "a"}, poly())])
    fails(
        r"pass --county with its 6-digit code",
        "import_areas",
        str(path),
        level="street",
        commit=True,
    )


def test_area_without_a_parent_is_rejected(unchanged, tmp_path):
    far = poly(10.0)  # 10 degrees east of the demo district: in no community
    path = geojson(tmp_path, [feature({"name": "lost"}, far)])
    fails(
        r"row 1: no parent community: its point-on-surface is outside every current community",
        "import_areas",
        str(path),
        level="grid",
        commit=True,
    )


def test_unknown_parent_code_is_rejected(unchanged, tmp_path):
    path = geojson(tmp_path, [feature({"name": "g", "p": "999"}, poly())])
    fails(
        r"row 1: no current community with code '999'",
        "import_areas",
        str(path),
        level="grid",
        parent_field="p",
        commit=True,
    )


def test_bad_household_parameters(unchanged, shared_data):
    fails(
        r"--dwelling-area must be positive",
        "import_buildings",
        str(shared_data / "osm" / "momepy_bubenec.gpkg"),
        layer="buildings",
        dwelling_area=0,
    )
