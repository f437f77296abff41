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
    lon, lat = _xy(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(footprint) p FROM territory_building"
        " ORDER BY id LIMIT 1) s"
    )
    with django_assert_num_queries(1):
        result = locate(lon=lon, lat=lat)
    # the whole chain came back from that one statement
    assert [a["level"] for a in result["chain"]] == LEVELS + ["building"]


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
    # the same point always gets the same answer, and the chain below the grid belongs to that grid
    assert locate(lon=lon, lat=lat)["grid"]["id"] == result["grid"]["id"]
    grid = Area.objects.get(pk=result["grid"]["id"])
    assert result["community"]["id"] == grid.parent_id
    assert result["neighbourhood"]["code"].startswith(grid.code)


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
    assert [x["level"] for x in result["chain"]][:3] == ["street", "community", "grid"]
    grid = Area.objects.get(pk=result["grid"]["id"])
    four = set(
        Area.objects.filter(
            level="grid", geom__intersects=f"SRID=4326;POINT({lon} {lat})"
        ).values_list("id", flat=True)
    )
    assert len(four) == 4 and grid.id in four
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
    response = client.get("/api/locate", {**params, "lang": "en"})
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == field
    assert message in body["error"]


def test_api_errors_are_in_chinese_by_default_and_in_english_on_request(db, client):
    response = client.get("/api/locate", {"lat": "31.86"})
    assert response.status_code == 400
    assert response.json() == {"error": "缺少 lon", "code": "invalid", "field": "lon"}
    response = client.get("/api/areas/987654321")
    assert response.status_code == 404
    assert response.json()["error"] == "没有编号为 987654321 的区域"
    # ?lang=en answers in English (and remembers the choice in a cookie)
    response = client.get("/api/locate", {"lat": "31.86", "lang": "en"})
    assert response.json()["error"] == "lon is required"
    response = client.get("/api/areas/987654321?lang=en")
    assert response.json()["error"] == "no area with id 987654321"


def test_locate_api_returns_names_codes_and_ids(demo, client):
    lon, lat = _xy(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM territory_area"
        " WHERE level='neighbourhood' ORDER BY code LIMIT 1) s"
    )
    body = client.get("/api/locate", {"lon": lon, "lat": lat}).json()
    for level in LEVELS:
        assert set(body[level]) == {"level", "id", "code", "name"}
        assert body[level]["name"]


def _square(x0, y0, x1, y1):
    """A rectangle in metres east/north of (117.28 E, 31.86 N), as a WGS84 multipolygon."""
    from django.contrib.gis.geos import MultiPolygon, Polygon

    dx, dy = 1 / 94_600, 1 / 110_900  # degrees per metre at 31.86 N
    ring = [
        (117.28 + x * dx, 31.86 + y * dy)
        for x, y in [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    ]
    return MultiPolygon(Polygon(ring), srid=4326)


def test_point_on_a_community_boundary_gets_one_consistent_chain(empty_territory):
    """Two communities share an edge; each has one grid reaching that edge. A point on the edge must get one
    community and a grid of that same community, never a grid of one and the community of the other."""
    from apps.territory import services

    street = services.area_create(
        level="street", code="340111001", name="S", geom=_square(0, 0, 200, 100)
    )
    west = services.area_create(
        level="community",
        code="340111001001",
        name="W",
        parent=street,
        geom=_square(0, 0, 100, 100),
    )
    east = services.area_create(
        level="community",
        code="340111001002",
        name="E",
        parent=street,
        geom=_square(100, 0, 200, 100),
    )
    services.area_create(
        level="grid", code="340111001001001", name="W1", parent=west, geom=_square(0, 0, 100, 100)
    )
    services.area_create(
        level="grid", code="340111001002001", name="E1", parent=east, geom=_square(100, 0, 200, 100)
    )
    # the same float expression as the squares' shared vertices, so the point lies exactly on the edge
    lon, lat = 117.28 + 100 * (1 / 94_600), 31.86 + 50 * (1 / 110_900)

    result = locate(lon=lon, lat=lat)
    assert result["street"]["code"] == "340111001"
    assert result["community"]["code"] in {"340111001001", "340111001002"}
    assert result["grid"]["code"].startswith(result["community"]["code"])
    assert [x["level"] for x in result["chain"]] == ["street", "community", "grid"]
    # a hair to either side answers with that side's community and grid
    assert locate(lon=lon - 1e-7, lat=lat)["grid"]["code"] == "340111001001001"
    assert locate(lon=lon + 1e-7, lat=lat)["grid"]["code"] == "340111001002001"
