"""The San Francisco test territory: analysis neighbourhoods (tracts dissolved by `nhood`) as streets,
census tracts as communities. Codes per apps/territory/codes.py under the made-up county 999001."""

import geopandas as gpd
from django.contrib.gis.geos import GEOSGeometry
from shapely import make_valid
from shapely.geometry import MultiPolygon, Polygon

from apps.territory.codes import child_code
from apps.territory.models import Area

COUNTY = "999001"


def _multi(geom) -> GEOSGeometry:
    geom = make_valid(geom)
    if geom.geom_type == "GeometryCollection":
        geom = MultiPolygon([g for g in geom.geoms if isinstance(g, Polygon)])
    if isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    return GEOSGeometry(memoryview(geom.wkb), srid=4326)


def build_sf_territory(tracts_path) -> dict[str, Area]:
    """Create the streets and communities; returns communities by tract geoid."""
    tracts = gpd.read_file(tracts_path).to_crs(4326)
    tracts["geometry"] = tracts.geometry.make_valid()
    communities = {}
    for s_seq, (nhood, group) in enumerate(
        sorted(tracts.groupby("nhood"), key=lambda g: g[0]), start=1
    ):
        code = child_code("street", None, s_seq, county=COUNTY)
        street = Area.objects.create(
            level="street", code=code, name=nhood, ext_code=nhood, geom=_multi(group.union_all())
        )
        for c_seq, row in enumerate(group.sort_values("geoid").itertuples(), start=1):
            communities[row.geoid] = Area.objects.create(
                level="community",
                code=child_code("community", code, c_seq),
                name=f"Tract {row.tractce10}",
                ext_code=row.geoid,
                parent=street,
                geom=_multi(row.geometry),
            )
    return communities
