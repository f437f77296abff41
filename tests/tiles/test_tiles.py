"""Vector tiles decoded with a real MVT decoder (mapbox-vector-tile) against the session's demo district
(one community of 6 grids and ~36 buildings near 117.272 E 31.858 N)."""

import dataclasses
import math

import mapbox_vector_tile
import pytest
from django.core.cache import cache
from django.db import connection
from django.http import QueryDict

from apps.territory.models import Area, Building
from apps.tiles import layers

MVT = "application/vnd.mapbox-vector-tile"


@pytest.fixture(autouse=True)
def _clear_tile_cache():
    cache.clear()
    yield
    cache.clear()


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return z, x, y


def demo_centre():
    with connection.cursor() as cur:
        cur.execute(
            "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(geom) c FROM territory_area"
            " WHERE level = 'community') s"
        )
        return cur.fetchone()


def in_tile(table_geom: str, sql_where: str, z: int, x: int, y: int) -> set[int]:
    """Ids whose geometry meets the tile with its MVT buffer (64 of 4096 units), computed independently
    of the endpoint."""
    table, geom = table_geom.split(".")
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT id FROM {table} WHERE {sql_where} AND ST_Intersects(ST_Transform({geom}, 3857),"  # noqa: S608
            " ST_TileEnvelope(%s, %s, %s, margin => 64 / 4096.0))",
            [z, x, y],
        )
        return {row[0] for row in cur.fetchall()}


def get_tile(client, layer, z, x, y, **params):
    return client.get(f"/tiles/{layer}/{z}/{x}/{y}.mvt", params)


def decode(response, layer):
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == MVT
    data = mapbox_vector_tile.decode(response.content)
    return data[layer]["features"] if layer in data else []


def test_grid_tiles_carry_the_demo_grids_with_names_from_zoom_14(client, demo):
    lon, lat = demo_centre()
    z, x, y = tile_of(lon, lat, 14)
    features = decode(get_tile(client, "grid", z, x, y), "grid")
    expected = in_tile("territory_area.geom", "level = 'grid'", z, x, y)
    assert len(expected) == demo["grids"] == 6
    assert {f["id"] for f in features} == expected
    grids = {a.id: a for a in Area.objects.filter(level="grid")}
    for f in features:
        props = f["properties"]
        assert props["code"] == grids[f["id"]].code
        assert props["name"] == grids[f["id"]].name
        assert props["households"] == grids[f["id"]].households > 0
        assert props["level"] == "grid"
        assert f["geometry"]["type"] in ("Polygon", "MultiPolygon")
    # at zoom 12 the same grids come without names (too small to read)
    z, x, y = tile_of(lon, lat, 12)
    features = decode(get_tile(client, "grid", z, x, y), "grid")
    assert {f["id"] for f in features} == set(grids)
    assert all("name" not in f["properties"] and "code" in f["properties"] for f in features)


def test_each_area_level_starts_at_its_minimum_zoom(client, demo):
    lon, lat = demo_centre()
    for layer in ["street", "community", "grid", "neighbourhood", "compound"]:
        min_zoom = layers.LAYERS[layer].min_zoom
        below = get_tile(client, layer, *tile_of(lon, lat, min_zoom - 1))
        assert below.status_code == 200 and below.content == b""
        tile = tile_of(lon, lat, min_zoom)
        at = decode(get_tile(client, layer, *tile), layer)
        assert {f["properties"]["level"] for f in at} == {layer}
        assert {f["id"] for f in at} == in_tile("territory_area.geom", f"level = '{layer}'", *tile)


def test_building_tiles_have_details_only_at_high_zoom(client, demo):
    lon, lat = demo_centre()
    assert decode(get_tile(client, "buildings", *tile_of(lon, lat, 13)), "buildings") == []
    z, x, y = tile_of(lon, lat, 14)
    features = decode(get_tile(client, "buildings", z, x, y), "buildings")
    assert {f["id"] for f in features} == in_tile("territory_building.footprint", "TRUE", z, x, y)
    assert all(set(f["properties"]) == {"households", "floors"} for f in features)
    z, x, y = tile_of(lon, lat, 17)
    features = decode(get_tile(client, "buildings", z, x, y), "buildings")
    expected = in_tile("territory_building.footprint", "TRUE", z, x, y)
    assert features and {f["id"] for f in features} == expected
    buildings = Building.objects.in_bulk(expected)
    for f in features:
        b = buildings[f["id"]]
        assert f["properties"]["address"] == b.address
        assert f["properties"]["units"] == b.units_count
        assert f["properties"]["households"] == b.households


def test_geometry_lands_where_the_building_is(client, demo):
    """Decode a z18 building back to lon/lat: it falls inside the stored footprint."""
    b = Building.objects.order_by("id").first()
    lon, lat = b.footprint.point_on_surface.coords
    z, x, y = tile_of(lon, lat, 18)
    features = decode(get_tile(client, "buildings", z, x, y), "buildings")
    mine = next(f for f in features if f["id"] == b.id)
    ring = mine["geometry"]["coordinates"][0]
    px = sum(p[0] for p in ring[:-1]) / (len(ring) - 1) / 4096
    py = sum(p[1] for p in ring[:-1]) / (len(ring) - 1) / 4096  # y up in decoded tiles
    n = 1 << z
    lon_back = (x + px) / n * 360 - 180
    lat_back = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + 1 - py) / n))))
    from django.contrib.gis.geos import Point

    assert b.footprint.contains(Point(lon_back, lat_back, srid=4326))


def test_the_cap_limits_features_and_says_so(client, demo, monkeypatch):
    capped = dataclasses.replace(layers.LAYERS["buildings"], max_features=5)
    monkeypatch.setitem(layers.LAYERS, "buildings", capped)
    lon, lat = demo_centre()
    response = get_tile(client, "buildings", *tile_of(lon, lat, 14))
    features = decode(response, "buildings")
    assert len(features) == 5
    assert response["X-Tile-Capped"] == "true"
    # the first five by id: deterministic
    in_view = sorted(in_tile("territory_building.footprint", "TRUE", *tile_of(lon, lat, 14)))
    assert len(in_view) > 5
    assert {f["id"] for f in features} == set(in_view[:5])
    uncapped = get_tile(client, "grid", *tile_of(lon, lat, 14))
    assert uncapped["X-Tile-Capped"] == "false"


def test_a_tile_with_exactly_the_cap_is_whole_and_one_more_is_capped(client, demo, monkeypatch):
    lon, lat = demo_centre()
    tile = tile_of(lon, lat, 14)
    in_view = sorted(in_tile("territory_building.footprint", "TRUE", *tile))
    for cap, capped in ((len(in_view), "false"), (len(in_view) - 1, "true")):
        layer = dataclasses.replace(layers.LAYERS["buildings"], max_features=cap)
        monkeypatch.setitem(layers.LAYERS, "buildings", layer)
        cache.clear()
        response = get_tile(client, "buildings", *tile)
        assert response["X-Tile-Capped"] == capped, cap
        assert sorted(f["id"] for f in decode(response, "buildings")) == in_view[:cap]


def test_unfiltered_tiles_use_a_prepared_statement_filtered_ones_do_not(client, demo):
    from apps.tiles import selectors

    def held():
        with connection.cursor() as cur:
            cur.execute("SELECT name FROM pg_prepared_statements WHERE name LIKE 'linli_tile_%'")
            return {r[0] for r in cur.fetchall()}

    lon, lat = demo_centre()
    z, x, y = tile_of(lon, lat, 14)
    req = selectors.tile_request_parse(
        layer="buildings", z=str(z), x=str(x), y=str(y), query=QueryDict()
    )
    cap = req.layer.max_features
    name = selectors._prepared(selectors.tile_sql(req, limit=cap + 1, ordered=False)[0]).name
    get_tile(client, "buildings", z, x, y)
    assert {"linli_tile_versions", name} <= held()
    before = held()
    get_tile(client, "buildings", z, x, y, min_floors=18)
    assert held() == before


def test_filters_select_features_and_are_allowlisted(client, demo):
    lon, lat = demo_centre()
    tile = tile_of(lon, lat, 14)
    towers = set(Building.objects.filter(floors__gte=18).values_list("id", flat=True))
    assert towers  # the demo has a few high-rises
    features = decode(get_tile(client, "buildings", *tile, min_floors=18), "buildings")
    assert {f["id"] for f in features} == towers
    community = Area.objects.get(level="community")
    all_ids = {f["id"] for f in decode(get_tile(client, "buildings", *tile), "buildings")}
    inside = decode(get_tile(client, "buildings", *tile, within=community.code), "buildings")
    assert {f["id"] for f in inside} == all_ids
    assert decode(get_tile(client, "buildings", *tile, within="340111999"), "buildings") == []
    kinds = set(Area.objects.filter(level="compound").values_list("management_type", flat=True))
    kind = sorted(kinds)[0]
    compounds = decode(get_tile(client, "compound", *tile, management_type=kind), "compound")
    assert compounds and {f["properties"]["management_type"] for f in compounds} == {kind}
    # not allowlisted, or a bad value: 400 naming the parameter
    for layer, params, field in [
        ("buildings", {"floors; DROP TABLE x": "1"}, "floors; DROP TABLE x"),
        ("buildings", {"management_type": "self"}, "management_type"),
        ("buildings", {"min_floors": "ten"}, "min_floors"),
        ("compound", {"management_type": "royal"}, "management_type"),
        ("grid", {"within": "34%"}, "within"),
    ]:
        response = get_tile(client, layer, *tile, **params)
        assert response.status_code == 400, params
        assert response.json()["field"] == field


@pytest.mark.parametrize(
    "z,x,y,field",
    [("abc", "1", "1", "z"), ("25", "0", "0", "z"), ("3", "8", "0", "x"), ("3", "0", "-1", "y")],
)
def test_bad_tile_addresses_are_400(client, demo, z, x, y, field):
    response = client.get(f"/tiles/grid/{z}/{x}/{y}.mvt")
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_tile_errors_are_in_chinese_by_default_and_in_english_on_request(client, demo):
    response = client.get("/tiles/grid/25/0/0.mvt")
    assert response.status_code == 400
    assert response.json()["error"] == "z=25 超过最大缩放级别 24"
    response = client.get("/tiles/grid/25/0/0.mvt?lang=en")
    assert response.json()["error"] == "z=25 is above the maximum zoom 24"


def test_unknown_layer_is_404(client, demo):
    response = client.get("/tiles/parcels/1/0/0.mvt")
    assert response.status_code == 404
    assert "buildings" in response.json()["error"]


def test_etag_gives_304_until_the_data_changes(client, demo):
    lon, lat = demo_centre()
    tile = tile_of(lon, lat, 14)
    first = get_tile(client, "buildings", *tile)
    etag = first["ETag"]
    assert "max-age" in first["Cache-Control"]
    again = client.get(
        f"/tiles/buildings/{tile[0]}/{tile[1]}/{tile[2]}.mvt", HTTP_IF_NONE_MATCH=etag
    )
    assert again.status_code == 304 and again["ETag"] == etag
    # another layer's change leaves the buildings tile valid
    Area.objects.filter(level="grid").update(name="x")
    still = client.get(
        f"/tiles/buildings/{tile[0]}/{tile[1]}/{tile[2]}.mvt", HTTP_IF_NONE_MATCH=etag
    )
    assert still.status_code == 304
    # a change to a building: new ETag, and the cached tile is not served any more
    b = Building.objects.get(pk=min(in_tile("territory_building.footprint", "TRUE", *tile)))
    Building.objects.filter(pk=b.pk).update(households=4321)
    changed = client.get(
        f"/tiles/buildings/{tile[0]}/{tile[1]}/{tile[2]}.mvt", HTTP_IF_NONE_MATCH=etag
    )
    assert changed.status_code == 200 and changed["ETag"] != etag
    features = {f["id"]: f for f in decode(changed, "buildings")}
    assert features[b.id]["properties"]["households"] == 4321


def test_raw_sql_writes_invalidate_too(client, demo):
    """The version is bumped by a trigger, so writers that bypass Django (COPY, psql) count as well."""
    lon, lat = demo_centre()
    tile = tile_of(lon, lat, 14)
    before = decode(get_tile(client, "grid", *tile), "grid")
    with connection.cursor() as cur:
        cur.execute("UPDATE territory_area SET households = 7 WHERE level = 'grid'")
    after = decode(get_tile(client, "grid", *tile), "grid")
    assert {f["id"] for f in after} == {f["id"] for f in before}
    assert {f["properties"]["households"] for f in after} == {7}


def test_layer_index_describes_layers(client, demo):
    body = client.get("/tiles/layers.json").json()
    by_name = {layer["name"]: layer for layer in body["layers"]}
    assert set(by_name) == {
        "street",
        "community",
        "grid",
        "neighbourhood",
        "compound",
        "buildings",
        "issues",
    }
    assert by_name["issues"]["staff_only"] and not by_name["grid"]["staff_only"]
    assert by_name["buildings"]["min_zoom"] == 14
    assert "min_floors" in by_name["buildings"]["filters"]
    assert by_name["buildings"]["url"].endswith("/tiles/buildings/{z}/{x}/{y}.mvt")
