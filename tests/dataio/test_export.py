"""Exports readable by GDAL's ogrinfo, with ancestor codes; export → import round trips."""

import subprocess

import pyogrio
import pytest
from django.db import connection

from apps.territory.models import Area
from tests.dataio.conftest import run

pytestmark = pytest.mark.django_db


def ogrinfo(path) -> str:
    return subprocess.run(
        ["ogrinfo", "-ro", "-so", "-al", str(path)], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shp", "csv"])
def test_export_areas_is_readable_by_ogrinfo_with_ancestor_codes(demo, tmp_path, fmt):
    out = run("export_areas", level="neighbourhood", format=fmt, output=str(tmp_path / f"n.{fmt}"))
    path = tmp_path / f"n.{fmt}"
    count = Area.objects.filter(level="neighbourhood", valid_to__isnull=True).count()
    assert f"{count} neighbourhood areas written" in out
    info = ogrinfo(path)
    assert f"Feature Count: {count}" in info
    for name in ("code", "street", "community", "grid", "households"):
        assert f"{name}:" in info
    assert "4326" in info  # a declared CRS, for QGIS too
    frame = pyogrio.read_dataframe(path)
    nbh = Area.objects.select_related("parent__parent__parent").get(code=frame.code.iloc[0])
    row = frame.iloc[0]
    assert row.grid == nbh.parent.code
    assert row.community == nbh.parent.parent.code
    assert row.street == nbh.parent.parent.parent.code


@pytest.mark.parametrize("fmt", ["geojson", "shp"])
def test_export_buildings_carries_area_codes(demo, tmp_path, fmt):
    path = tmp_path / f"b.{fmt}"
    run("export_buildings", format=fmt, output=str(path))
    info = ogrinfo(path)
    assert f"Feature Count: {demo['buildings']}" in info
    frame = pyogrio.read_dataframe(path)
    assert frame.grid.notna().all() and frame.street.notna().all()
    assert all(g.startswith(c) for g, c in zip(frame.grid, frame.community, strict=True))


def _areas():
    with connection.cursor() as cur:
        cur.execute(
            "SELECT level, code, name, ST_Area(geom::geography) FROM territory_area "
            "WHERE valid_to IS NULL AND level IN ('street', 'community', 'grid') ORDER BY level, code"
        )
        return cur.fetchall()


@pytest.mark.parametrize("fmt", ["gpkg", "csv"])
def test_round_trip_export_import_gives_the_same_codes_and_areas(demo, tmp_path, fmt):
    before = _areas()
    files = {}
    for level in ("street", "community", "grid"):
        files[level] = tmp_path / f"{level}.{fmt}"
        run("export_areas", level=level, format=fmt, output=str(files[level]))
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute(
            "TRUNCATE territory_household, territory_unit, territory_building, territory_areapart, "
            "territory_area CASCADE"
        )
    for level in ("street", "community", "grid"):
        run(
            "import_areas",
            str(files[level]),
            level=level,
            code_field="code",
            keep_codes=True,
            commit=True,
        )
    after = _areas()
    assert [(lvl, code, name) for lvl, code, name, _ in after] == [
        (lvl, code, name) for lvl, code, name, _ in before
    ]
    for (_, _, _, a), (_, _, _, b) in zip(before, after, strict=True):
        assert b == pytest.approx(a, rel=1e-6)
    # parents come back from the codes
    grid = Area.objects.filter(level="grid").select_related("parent").first()
    assert grid.parent.code == grid.code[:12]


def test_export_of_nothing_says_so(demo, tmp_path):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="nothing to export"):
        run(
            "export_areas",
            level="grid",
            within="999",
            format="gpkg",
            output=str(tmp_path / "x.gpkg"),
        )
