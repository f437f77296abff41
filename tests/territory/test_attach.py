"""Attaching buildings to areas, checked against a straightforward reference query on real data.

Prague-Bubeneč (momepy's GeoPackage, EPSG:3857): its 407 cadastral plots are dissolved into one street,
three communities and their grids, with some plots as compounds and one extra grid drawn across the
others (an overlap, where the lowest code must win). Its 144 real building footprints are then attached
by the import (INSERT ... SELECT with the lookups) and by buildings_attach (UPDATE), and both must give
exactly what the reference gives: for each level, the current area with the lowest code whose boundary
intersects the footprint's point-on-surface, looked up in territory_area itself, not in its parts."""

import geopandas as gpd
import numpy as np
import pytest
from django.contrib.gis.geos import GEOSGeometry, Polygon
from django.db import connection

from apps.dataio.services import ReadOptions, buildings_import
from apps.territory import services
from apps.territory.models import Area, Building

pytestmark = pytest.mark.django_db

REFERENCE_SQL = """
SELECT b.id,
       (SELECT a.id FROM territory_area a WHERE a.level = 'community' AND a.valid_to IS NULL
           AND ST_Intersects(a.geom, ST_PointOnSurface(b.footprint)) ORDER BY a.code LIMIT 1),
       (SELECT a.id FROM territory_area a WHERE a.level = 'grid' AND a.valid_to IS NULL
           AND ST_Intersects(a.geom, ST_PointOnSurface(b.footprint)) ORDER BY a.code LIMIT 1),
       (SELECT a.id FROM territory_area a WHERE a.level = 'compound' AND a.valid_to IS NULL
           AND ST_Intersects(a.geom, ST_PointOnSurface(b.footprint)) ORDER BY a.code LIMIT 1)
  FROM territory_building b ORDER BY b.id
"""


def _geos(geom) -> GEOSGeometry:
    return GEOSGeometry(geom.wkt, srid=4326)


def _rows(sql):
    with connection.cursor() as cur:
        cur.execute(sql)
        return cur.fetchall()


def _attached():
    return list(
        Building.objects.order_by("id").values_list("id", "community_id", "grid_id", "compound_id")
    )


@pytest.fixture
def prague(empty_territory, shared_data):
    """Areas cut from Prague's real plots; returns the path of the buildings file."""
    path = shared_data / "osm" / "momepy_bubenec.gpkg"
    plots = gpd.read_file(path, layer="plots")
    plots["x"] = plots.geometry.centroid.x
    plots["y"] = plots.geometry.centroid.y
    plots["community"] = np.digitize(plots.x, np.quantile(plots.x, [1 / 3, 2 / 3]))
    plots = plots.to_crs(4326)
    street = services.area_create(
        level="street",
        code="999001001",
        name="Bubeneč",
        geom=_geos(plots.union_all().buffer(0.0005)),
    )
    for c, in_c in plots.groupby("community"):
        community = services.area_create(
            level="community",
            code=f"999001001{c + 1:03d}",
            name=f"C{c + 1}",
            parent=street,
            geom=_geos(in_c.union_all()),
        )
        in_c = in_c.assign(grid=np.digitize(in_c.y, np.quantile(in_c.y, [0.25, 0.5, 0.75])))
        for g, in_g in in_c.groupby("grid"):
            if (c, g) == (2, 3):
                continue  # one corner of community 3 has no grid: its buildings stay unattached
            services.area_create(
                level="grid",
                code=f"{community.code}{g + 2:03d}",
                name=f"G{c + 1}.{g + 2}",
                parent=community,
                geom=_geos(in_g.union_all()),
            )
        # grid 001 is drawn across the others: where it overlaps them, it wins (lowest code)
        middle = in_c.geometry.union_all().centroid
        services.area_create(
            level="grid",
            code=f"{community.code}001",
            name=f"G{c + 1}.1",
            parent=community,
            geom=_geos(middle.buffer(0.002)),
        )
        for k, plot in enumerate(in_c.geometry.iloc[::4]):
            services.area_create(
                level="compound",
                code=f"{community.code}C{k + 1:03d}",
                name=f"K{c + 1}.{k + 1}",
                parent=community,
                geom=_geos(plot),
            )
    return path


def test_import_and_attach_agree_with_the_reference_query(prague):
    report = buildings_import(
        path=prague, read=ReadOptions(layer="buildings"), id_field="uID", commit=True
    )
    assert report.written == 144
    reference = _rows(REFERENCE_SQL)
    # the import looked the areas up on the way in
    assert _attached() == reference

    # the data exercises every case: attached at each level, unattached, and covered twice
    assert sum(1 for _, c, _, _ in reference if c) > 100
    assert sum(1 for _, _, g, _ in reference if g) > 100
    assert 10 < sum(1 for _, _, _, k in reference if k) < 144
    assert any(g is None for _, _, g, _ in reference)
    (overlapped,) = _rows(
        "SELECT count(*) FROM territory_building b WHERE (SELECT count(*) FROM territory_area a "
        "WHERE a.level = 'grid' AND ST_Intersects(a.geom, ST_PointOnSurface(b.footprint))) > 1"
    )[0]
    assert overlapped > 5

    # buildings_attach (the UPDATE used after redraws) gives the same, and touches only what changes
    with connection.cursor() as cur:
        cur.execute("UPDATE territory_building SET community_id = NULL, grid_id = NULL")
    changed = services.buildings_attach()
    assert _attached() == reference
    assert changed == sum(1 for _, c, g, _ in reference if c or g)
    assert services.buildings_attach() == 0


def test_a_redraw_moves_exactly_the_buildings_the_reference_moves(prague):
    buildings_import(path=prague, read=ReadOptions(layer="buildings"), id_field="uID", commit=True)
    before = _rows(REFERENCE_SQL)
    # redraw community 1's overlapping grid as a small square in the street's corner: its buildings
    # fall back to the grids beneath it
    old = Area.objects.get(code="999001001001001")
    x0, y0, _, _ = old.parent.geom.extent
    corner = Polygon.from_bbox((x0, y0, x0 + 0.0001, y0 + 0.0001))
    corner.srid = 4326
    services.area_replace(area=old, geom=corner)
    after = _rows(REFERENCE_SQL)
    moved = sum(1 for a, b in zip(before, after, strict=True) if a != b)
    assert moved > 0
    assert services.buildings_attach(ids=[r[0] for r in after]) == moved
    assert _attached() == after
