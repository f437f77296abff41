import pytest
from django.db import connection

from apps.territory.models import Area
from apps.territory.selectors import locate

LEVELS = ["street", "community", "grid", "neighbourhood", "compound"]


def _xy(sql, params=()):
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def test_interior_point_returns_the_whole_chain(demo):
    grid = Area.objects.filter(level="grid").order_by("code").first()
    # a point inside a building of that grid: every level answers, the building too
    lon, lat, building_id = _xy(
        "SELECT ST_X(p), ST_Y(p), id FROM (SELECT ST_PointOnSurface(footprint) p, id FROM territory_building"
        " WHERE grid_id = %s ORDER BY id LIMIT 1) s",
        [grid.id],
    )
    result = locate(lon=lon, lat=lat)
    assert [a["level"] for a in result["chain"]] == LEVELS + ["building"]
    assert result["grid"]["id"] == grid.id
    assert result["community"]["id"] == grid.parent_id
    assert result["street"]["id"] == grid.parent.parent_id
    assert result["building"]["id"] == building_id
    assert result["neighbourhood"]["code"].startswith(grid.code)
    assert result["compound"]["code"].startswith(result["community"]["code"] + "C")


def test_locate_is_one_round_trip(demo, django_assert_num_queries):
    with django_assert_num_queries(1):
        locate(lon=117.2755, lat=31.8595)


def test_point_on_a_shared_edge_resolves_to_exactly_one_area_per_level(demo):
    # Midpoint of the edge two neighbouring grids share.
    a, b = Area.objects.filter(level="grid").order_by("code")[:2]
    lon, lat, touching = _xy(
        """WITH e AS (SELECT ST_LineInterpolatePoint(ST_LineMerge(ST_Intersection(ST_Boundary(x.geom),
                     ST_Boundary(y.geom))), 0.5) p FROM territory_area x, territory_area y WHERE x.id=%s AND y.id=%s)
           SELECT ST_X(p), ST_Y(p), (SELECT count(*) FROM territory_area g WHERE g.level='grid'
                  AND ST_Intersects(g.geom, ST_Buffer(e.p, 1e-9))) FROM e""",
        [a.id, b.id],
    )
    assert touching == 2
    result = locate(lon=lon, lat=lat)
    assert result["grid"]["id"] in {a.id, b.id}
    assert sum(1 for x in result["chain"] if x["level"] == "grid") == 1
    assert result["community"]["id"] == Area.objects.get(pk=result["grid"]["id"]).parent_id


def test_point_on_a_vertex_shared_by_four_grids(demo):
    # The corner where four grids meet is an exact shared vertex of all four polygons.
    lon, lat, n = _xy(
        """SELECT ST_X(pt), ST_Y(pt), cnt FROM (
             SELECT (ST_DumpPoints(geom)).geom pt FROM territory_area WHERE level='grid') v,
           LATERAL (SELECT count(*) cnt FROM territory_area g WHERE g.level='grid' AND ST_Intersects(g.geom, v.pt)) c
           WHERE cnt = 4 LIMIT 1"""
    )
    assert n == 4
    result = locate(lon=lon, lat=lat)
    levels = [x["level"] for x in result["chain"]]
    assert len(levels) == len(set(levels))
    grid = Area.objects.get(pk=result["grid"]["id"])
    assert result["community"]["id"] == grid.parent_id
    assert result["neighbourhood"]["code"].startswith(grid.code)


@pytest.mark.parametrize("lon,lat", [(0.0, 0.0), (117.0, 31.0), (-122.4, 37.77)])
def test_point_outside_the_territory_returns_an_empty_chain(demo, client, lon, lat):
    response = client.get("/api/locate", {"lon": lon, "lat": lat})
    assert response.status_code == 200
    body = response.json()
    assert body["chain"] == []
    assert all(body[level] is None for level in LEVELS + ["building"])


@pytest.mark.parametrize(
    "params,field,message",
    [
        ({"lat": "31.86"}, "lon", "lon is required"),
        ({"lon": "117.28"}, "lat", "lat is required"),
        ({"lon": "abc", "lat": "31.86"}, "lon", "not a number"),
        ({"lon": "117.28", "lat": "nan"}, "lat", "out of range"),
        ({"lon": "181", "lat": "31.86"}, "lon", "out of range"),
        ({"lon": "117.28", "lat": "-90.5"}, "lat", "out of range"),
        ({"lon": "", "lat": "31.86"}, "lon", "required"),
    ],
)
def test_bad_coordinates_get_400_naming_the_parameter(db, client, params, field, message):
    response = client.get("/api/locate", params)
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field
    assert message in body["error"]


def test_locate_api_returns_names_codes_and_ids(demo, client):
    lon, lat = _xy(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM territory_area"
        " WHERE level='neighbourhood' ORDER BY code LIMIT 1) s"
    )
    body = client.get("/api/locate", {"lon": lon, "lat": lat}).json()
    for level in LEVELS:
        assert set(body[level]) == {"level", "id", "code", "name"}
        assert body[level]["name"]
