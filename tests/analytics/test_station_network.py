"""Walking distance to the service stations along the street network (issue #8), on a hand-built
network whose answers are known, the import of street files, and a real street network.

Local metres (UTM 50N, the origin of tests/analytics/world.py), x to the east, y to the north:

    street 340111905: community ...001 = box(0, 0, 2000, 2000), community ...002 = box(6000, 0, 7000, 2000)

    station S (1000, 1000) in community 1. Streets (all in community 1):
      L1  (1000, 975) → (1400, 975)                                  one two-point segment
      L2  (1000, 975) → (625, 975) → (625, 1400) → (975, 1400)       one segment of four vertices (a detour)
      L3  (1600, 975) → (1700, 975)                                  isolated: touches nothing
    buildings (10 × 10 m, point at their centre):
      A (1400, 1000)  400 m straight east of S: 25 + 400 + 25 = 450 m along L1      10-minute tier
      B (1000, 1400)  400 m straight north: only via L2, 25 + 1,150 + 25 = 1,200 m  beyond 15 minutes
      C (1600, 1000)  600 m straight: its street L3 reaches no station              beyond (unreachable)
    Straight line × 1.3 would give A and B 520 m (15-minute tier) and C 780 m (15-minute tier).

    community 2, no streets: station S2 (6400, 1000), building D (6700, 1000): 300 m × 1.3 = 390 m.
"""

import io
import json
from datetime import timedelta

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry, LineString, Point
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone, translation
from pyproj import Transformer
from shapely.geometry import box

from apps.analytics import gaps, stations
from apps.analytics.models import ServiceStation, StreetSegment
from apps.dataio.services import ReadOptions, buildings_import
from apps.territory.models import Building
from apps.territory.services import area_counts_refresh, buildings_attach
from apps.territory.services import area_create as _area_create
from tests.analytics.world import ORIGIN, lonlat, point, poly

STREET = "340111905"
COMM1, COMM2 = STREET + "001", STREET + "002"


def street(*xy, name="", source_id=""):
    coords = [lonlat(x, y) for x, y in xy]
    return StreetSegment.objects.create(
        geom=LineString(coords, srid=4326), name=name, source_id=source_id
    )


@pytest.fixture
def net(empty_territory):
    since = timezone.now() - timedelta(days=1)

    def area_create(**kw):
        return _area_create(valid_from=since, **kw)

    s = area_create(level="street", code=STREET, name="网络街道", geom=poly(0, 0, 7000, 2000))
    c1 = area_create(
        level="community", code=COMM1, name="一社区", geom=poly(0, 0, 2000, 2000), parent=s
    )
    c2 = area_create(
        level="community", code=COMM2, name="二社区", geom=poly(6000, 0, 7000, 2000), parent=s
    )
    ServiceStation.objects.create(name="甲站", point=point(1000, 1000), community=c1)
    ServiceStation.objects.create(name="乙站", point=point(6400, 1000), community=c2)
    for name, x, y, hh in [
        ("A", 1400, 1000, 10),
        ("B", 1000, 1400, 20),
        ("C", 1600, 1000, 5),
        ("D", 6700, 1000, 7),
    ]:
        Building.objects.create(
            name=name, footprint=poly(x - 5, y - 5, x + 5, y + 5), households=hh
        )
    buildings_attach()
    area_counts_refresh()
    street((1000, 975), (1400, 975), name="一路")
    street((1000, 975), (625, 975), (625, 1400), (975, 1400), name="绕行路")
    street((1600, 975), (1700, 975), name="断头路")


def access():
    return {b.name: b for b in stations.building_access(within=STREET)}


def far(tier=15):
    return [it["name"] for it in gaps.gap_items(kinds=["station_far"], within=STREET, tier=tier)]


def test_walking_distances_follow_the_streets(net):
    a = access()
    assert {n: b.method for n, b in a.items()} == {
        "A": "network",
        "B": "network",
        "C": "network",
        "D": "straight",
    }
    # A and B are both 400 m from the station in a straight line ...
    assert a["A"].straight_m == pytest.approx(400, abs=1)
    assert a["B"].straight_m == pytest.approx(400, abs=1)
    # ... but 450 m and 1,200 m along the streets, access legs included
    assert a["A"].walk_m == pytest.approx(450, abs=1)
    assert a["A"].access_m == pytest.approx(25, abs=0.1)
    assert a["B"].walk_m == pytest.approx(1200, abs=1.5)
    assert a["A"].walk_station[1] == a["B"].walk_station[1] == "甲站"
    assert (a["A"].tier(), a["B"].tier()) == (10, None)
    # C's street touches no other: no station is reachable from it
    assert a["C"].network_m is None and a["C"].walk_m is None and a["C"].tier() is None
    assert a["C"].access_m == pytest.approx(25, abs=0.1)
    # D's community has no streets: straight line × 1.3, as before
    assert a["D"].walk_m == pytest.approx(300 * 1.3, abs=1.5) and a["D"].tier() == 10


def test_the_gap_lists_whom_the_network_leaves_beyond(net):
    # straight line × 1.3 would list A, B and C at 10 minutes and nobody at 15
    assert far(tier=10) == ["B", "C"]
    assert far(tier=15) == ["B", "C"]
    assert far(tier=5) == ["A", "B", "C", "D"]
    items = {i["name"]: i for i in gaps.gap_items(kinds=["station_far"], within=STREET, tier=5)}
    assert {n: i["method"] for n, i in items.items()} == {
        "A": "network",
        "B": "network",
        "C": "network",
        "D": "straight",
    }
    fc = gaps.gaps_geojson(kinds=["station_far"], within=STREET, tier=5)
    assert sorted(f["properties"]["method"] for f in fc["features"]) == [
        "network",
        "network",
        "network",
        "straight",
    ]
    assert all(f["geometry"]["type"] == "MultiPolygon" for f in fc["features"])
    counts = gaps.gap_counts(by="community", kinds=["station_far"], within=STREET, tier=5)
    assert {a["code"]: a["counts"]["station_far"] for a in counts["areas"]} == {COMM1: 3, COMM2: 1}


def test_the_sentence_says_how_the_distance_was_measured(net):
    with translation.override("en"):
        items = {i["name"]: i for i in gaps.gap_items(kinds=["station_far"], within=STREET, tier=5)}
    b, c, d = items["B"]["detail"], items["C"]["detail"], items["D"]["detail"]
    assert abs(b["walk_m"] - 1200) <= 2 and abs(b["straight_m"] - 400) <= 1
    assert items["B"]["explanation"] == (
        f"Building B (20 households) is {b['walk_m']} m along the street network from the nearest "
        f"service station, 甲站 ({b['straight_m']} m in a straight line), beyond the 5-minute walk "
        "of 300 m."
    )
    assert c["walk_m"] is None and c["nearest"] == "甲站" and abs(c["straight_m"] - 600) <= 1
    assert items["C"]["explanation"] == (
        "Building C (5 households) cannot reach any service station within 2000 m along the street "
        f"network; the nearest, 甲站, is {c['straight_m']} m away in a straight line."
    )
    assert items["D"]["explanation"] == (
        f"Building D (7 households) is about {d['walk_m']} m on foot from the nearest service "
        f"station, 乙站 ({d['straight_m']} m in a straight line × 1.3), beyond the 5-minute walk of "
        "300 m."
    )
    with translation.override("zh-hans"):
        zh = {i["name"]: i for i in gaps.gap_items(kinds=["station_far"], within=STREET, tier=5)}
    assert "沿街道路网" in zh["B"]["explanation"] and "甲站" in zh["B"]["explanation"]
    assert "沿街道路网" in zh["C"]["explanation"] and "2000" in zh["C"]["explanation"]
    assert "直线" in zh["D"]["explanation"] and "× 1.3" in zh["D"]["explanation"]


def test_coverage_counts_each_building_by_its_method(net):
    cov = stations.coverage(within=STREET)
    assert cov["methods"] == {"network": 3, "straight": 1}
    # A (10) and D (7) within 10 minutes, B (20) and C (5) beyond
    assert cov["total"]["households"] == {"5": 0, "10": 17, "15": 0, "beyond": 25}
    assert "street network" in cov["distance"] and "straight line" in cov["distance"]
    # the suggestion's demand is the households the network leaves beyond 15 minutes: B and C
    assert stations.suggest_stations(within=STREET, count=1, tier=15)["uncovered_households"] == 25


def test_without_streets_in_the_area_the_straight_line_answer_is_kept(net):
    StreetSegment.objects.all().delete()
    street((20_000, 20_000), (20_100, 20_000))  # a network elsewhere does not count here
    assert stations.networked_communities(COMM1 + "%") == []
    a = access()
    assert {b.method for b in a.values()} == {"straight"}
    assert a["A"].walk_m == pytest.approx(520, abs=1.5)
    assert a["B"].walk_m == pytest.approx(520, abs=1.5)
    assert far(tier=10) == ["A", "B", "C"]
    assert far(tier=15) == []
    items = gaps.gap_items(kinds=["station_far"], within=STREET, tier=10)
    assert {i["method"] for i in items} == {"straight"}
    with translation.override("en"):
        text = gaps.gap_items(kinds=["station_far"], within=STREET, tier=10)[0]["explanation"]
    assert "m in a straight line × 1.3" in text
    cov = stations.coverage(within=STREET)
    assert cov["methods"] == {"network": 0, "straight": 4}
    assert cov["distance"].startswith("straight line × detour factor")


def test_a_network_walk_and_the_straight_line_path_agree_in_the_mixed_gap(net):
    """In a mixed area the straight-line buildings get the same detail as STATION_FAR_SQL gives."""
    python = {i["name"]: i["detail"] for i in gaps.gap_items(kinds=["station_far"], tier=5)}
    StreetSegment.objects.all().delete()
    sql = {i["name"]: i["detail"] for i in gaps.gap_items(kinds=["station_far"], tier=5)}
    assert python["D"] == sql["D"]


# ---- the graph, without the database ---------------------------------------------------------------


def test_ends_closer_than_half_a_metre_are_one_node():
    # two 100 m segments in a row, the second starting 0.3 m (joined) or 2 m (not) after the first
    station = ("s", 1, 10, 0.0, 5.0)
    building = ("b", 7, 20, 1.0, 5.0)
    joined = stations.walk_graph(
        [(10, 100.0, 0, 0, 100, 0), (20, 99.7, 100.3, 0, 200, 0)], [station, building]
    )
    assert joined[7][0] == 1 and joined[7][1] == pytest.approx(5 + 100 + 99.7 + 5)
    apart = stations.walk_graph(
        [(10, 100.0, 0, 0, 100, 0), (20, 98.0, 102, 0, 200, 0)], [station, building]
    )
    assert apart[7] == (None, None, 5.0)


def test_points_on_one_segment_walk_between_them_not_round_its_ends():
    # a station at 400 m and a building at 500 m along one 1 km street, 10 m off it each
    found = stations.walk_graph(
        [(1, 1000.0, 0, 0, 1000, 0)], [("s", 1, 1, 0.4, 10.0), ("b", 2, 1, 0.5, 10.0)]
    )
    assert found[2][1] == pytest.approx(120.0)


def test_the_nearest_station_over_the_network_wins_and_parallel_edges_keep_the_shortest():
    # nodes at x = 0, 100, 300; two parallel segments 0-100 (100 m and 150 m); stations at both ends
    segments = [(1, 100.0, 0, 0, 100, 0), (2, 150.0, 0, 0, 100, 0), (3, 200.0, 100, 0, 300, 0)]
    snaps = [("s", 11, 1, 0.0, 0.0), ("s", 12, 3, 1.0, 0.0), ("b", 5, 3, 0.25, 0.0)]
    # at 0.2 along 100-300 the building is 100 + 40 m from x = 0 (by the short parallel) and 160 m
    # from x = 300; at 0.3, 160 m and 140 m
    snaps[2] = ("b", 5, 3, 0.2, 0.0)
    found = stations.walk_graph(segments, snaps)
    assert found[5][0] == 11 and found[5][1] == pytest.approx(140.0)
    snaps[2] = ("b", 5, 3, 0.3, 0.0)
    found = stations.walk_graph(segments, snaps)
    assert found[5][0] == 12 and found[5][1] == pytest.approx(140.0)
    # beyond the search limit nothing is reached
    far_away = stations.walk_graph(segments, snaps, limit_m=100.0)
    assert far_away[5][:2] == (None, None)


# ---- import_streets --------------------------------------------------------------------------------


def feature(geometry, **props):
    return {"type": "Feature", "properties": props, "geometry": geometry}


def line(*xy):
    return {"type": "LineString", "coordinates": [list(lonlat(x, y)) for x, y in xy]}


def write_geojson(path, features):
    path.write_text(
        json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
        encoding="utf-8",
    )
    return path


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_streets", *map(str, args), stdout=out, stderr=err)
    return out.getvalue()


def test_import_splits_lines_into_segments_in_one_transaction(db, tmp_path):
    before = StreetSegment.objects.count()
    path = write_geojson(
        tmp_path / "streets.geojson",
        [
            feature(line((0, 0), (100, 0), (100, 100)), name="幸福路", id="r1"),
            feature(
                {
                    "type": "MultiLineString",
                    "coordinates": [line((0, 200), (50, 200))["coordinates"]]
                    + [line((60, 200), (60, 300), (60, 300), (90, 300))["coordinates"]],
                },
                name="和平街",
                id="r2",
            ),
        ],
    )
    out = run(path)
    assert "Committed: 5 segments written." in out
    rows = list(StreetSegment.objects.order_by("-id")[:5])[::-1]
    assert StreetSegment.objects.count() == before + 5
    # two pieces of 幸福路, one of the first part of 和平街, two of its second (the repeated vertex
    # makes no piece)
    assert [(r.name, r.source_id) for r in rows] == [("幸福路", "r1")] * 2 + [("和平街", "r2")] * 3
    assert all(r.geom.srid == 4326 and r.geom.num_points == 2 for r in rows)
    assert rows[1].geom.coords[1] == pytest.approx(lonlat(100, 100), abs=1e-9)


def test_import_reprojects_and_cuts_t_junctions(db, tmp_path):
    # in UTM 50N metres, in a GeoPackage with two layers: a bar, a stem ending 0.2 m from the bar's
    # interior (no shared vertex: a T-junction), a bridge whose interior vertex passes 0.2 m over the
    # bar (not a junction), and a layer of something else
    e, n = ORIGIN
    frame = gpd.GeoDataFrame(
        {"name": ["横街", "竖街", "桥"]},
        geometry=[
            shapely.LineString([(e, n), (e + 200, n)]),
            shapely.LineString([(e + 80, n + 100), (e + 80, n + 0.2)]),
            shapely.LineString([(e + 150, n + 50), (e + 150, n + 0.2), (e + 150, n - 50)]),
        ],
        crs="EPSG:32650",
    )
    path = tmp_path / "net.gpkg"
    frame.to_file(path, layer="streets")
    gpd.GeoDataFrame({"k": [1]}, geometry=[box(e, n, e + 1, n + 1)], crs="EPSG:32650").to_file(
        path, layer="parcels"
    )
    with pytest.raises(CommandError, match="has 2 layers"):
        run(path)
    before = StreetSegment.objects.count()
    out = run(path, "--layer", "streets")
    assert "cut at T-junctions           1" in out and "Committed: 5 segments written." in out
    rows = list(StreetSegment.objects.order_by("id")[before:])
    assert [r.name for r in rows] == ["竖街", "桥", "桥", "横街", "横街"]
    # the bar is cut at the stem's end, (80, 0.2), so three segments meet there; not under the bridge
    joint = np.array(lonlat(80, 0.2))
    at_joint = [c for r in rows for c in r.geom.coords if np.abs(np.array(c) - joint).max() < 1e-8]
    assert len(at_joint) == 3
    assert np.allclose(rows[3].geom.coords, [lonlat(0, 0), lonlat(80, 0.2)], rtol=0, atol=1e-9)
    assert np.allclose(rows[4].geom.coords, [lonlat(80, 0.2), lonlat(200, 0)], rtol=0, atol=1e-9)


def test_a_bad_row_is_named_and_nothing_changes(db, tmp_path):
    street((0, 0), (10, 0), name="已有")
    before = StreetSegment.objects.count()
    path = write_geojson(
        tmp_path / "bad.geojson",
        [
            feature(line((0, 0), (100, 0)), name="好路"),
            feature({"type": "Point", "coordinates": list(lonlat(5, 5))}, name="一个点"),
            feature(
                {
                    "type": "Polygon",
                    "coordinates": [
                        [list(lonlat(x, y)) for x, y in box(0, 0, 9, 9).exterior.coords]
                    ],
                },
                name="面",
            ),
            feature(line((3, 3), (3, 3)), name="零长"),
            feature(None, name="无几何"),
        ],
    )
    err = io.StringIO()
    with pytest.raises(CommandError) as exc:
        call_command("import_streets", str(path), "--replace", stdout=io.StringIO(), stderr=err)
    assert str(exc.value).startswith(
        "4 of 5 features rejected (first: row 2: not a line (Point)); nothing was written."
    )
    lines = err.getvalue()
    assert "row 3: not a line (Polygon)" in lines
    assert "row 4: invalid line: Too few points" in lines
    assert "row 5: no geometry" in lines
    assert StreetSegment.objects.count() == before  # --replace deleted nothing either
    assert StreetSegment.objects.filter(name="已有").exists()
    # a dry run writes nothing; --skip-bad writes the good row; --replace then replaces everything
    assert "Dry run" in run(path, "--dry-run", "--skip-bad")
    assert StreetSegment.objects.count() == before
    run(path, "--skip-bad")
    assert StreetSegment.objects.count() == before + 1
    run(path, "--skip-bad", "--replace")
    assert list(StreetSegment.objects.values_list("name", flat=True)) == ["好路"]


def test_a_file_that_is_not_geographic_data_is_refused(db, tmp_path):
    path = tmp_path / "notes.geojson"
    path.write_text("this is not GeoJSON", encoding="utf-8")
    with pytest.raises(CommandError, match="cannot read notes.geojson"):
        run(path)


# ---- real data: Prague-Bubeneč (momepy's example), streets and buildings ---------------------------


def _independent_walks(streets_m, points_m, stations_m, limit_m):
    """Walking distances by networkx on the file's own lines (vertices as nodes), each point joined to
    its metrically nearest two-point piece: min over the ends of both pieces of the partial lengths and
    the node-to-node shortest path. A different formulation from the engine's (it cuts the graph)."""
    graph = nx.Graph()
    pieces = []
    for geom in streets_m:
        xy = shapely.get_coordinates(geom)
        for p, q in zip(xy[:-1], xy[1:], strict=True):
            if (p == q).all():
                continue
            u, v = tuple(p), tuple(q)
            w = float(np.hypot(*(q - p)))
            if not graph.has_edge(u, v) or graph[u][v]["weight"] > w:
                graph.add_edge(u, v, weight=w)
            pieces.append((u, v, w))
    lines = shapely.linestrings([[u, v] for u, v, _ in pieces])

    def snap(pt):
        d = shapely.distance(lines, shapely.Point(pt))
        k = int(np.argmin(d))
        u, v, w = pieces[k]
        t = shapely.line_locate_point(lines[k], shapely.Point(pt)) / w
        return k, float(d[k]), u, v, t, w

    station_snaps = [snap(s) for s in stations_m]
    sources = {s[2] for s in station_snaps} | {s[3] for s in station_snaps}
    dist = {src: nx.single_source_dijkstra_path_length(graph, src) for src in sources}
    out = []
    for pt in points_m:
        kb, db, ub, vb, tb, wb = snap(pt)
        best = np.inf
        for ks, ds, us, vs, ts, ws in station_snaps:
            if ks == kb:
                best = min(best, db + ds + abs(tb - ts) * wb)
            for s_end, s_part in ((us, ts * ws), (vs, (1 - ts) * ws)):
                for b_end, b_part in ((ub, tb * wb), (vb, (1 - tb) * wb)):
                    path = dist[s_end].get(b_end)
                    if path is not None:
                        best = min(best, ds + s_part + path + b_part + db)
        out.append(best if best <= limit_m else None)
    return out


def test_real_streets_give_the_walking_distances_networkx_gives(empty_territory, shared_data):
    gpkg = shared_data / "osm" / "momepy_bubenec.gpkg"
    streets = gpd.read_file(gpkg, layer="streets")
    west, south, east, north = streets.to_crs(4326).total_bounds
    since = timezone.now() - timedelta(days=1)
    ring = box(west - 0.01, south - 0.01, east + 0.01, north + 0.01)
    geom = GEOSGeometry(shapely.MultiPolygon([ring]).wkt, srid=4326)
    s = _area_create(level="street", code="340111906", name="Bubeneč", geom=geom, valid_from=since)
    _area_create(
        level="community",
        code="340111906001",
        name="Bubeneč",
        geom=geom,
        parent=s,
        valid_from=since,
    )
    buildings_import(path=gpkg, read=ReadOptions(layer="buildings"), commit=True)
    StreetSegment.objects.all().delete()  # only this network (the demo district has one too)
    out = run(gpkg, "--layer", "streets")
    pairs = int((shapely.get_num_coordinates(streets.geometry.values) - 1).sum())
    assert f"Committed: {pairs} segments written." in out  # noded by shared vertices: no cuts

    to_m = Transformer.from_crs(4326, 32633, always_xy=True)
    # two stations: between the buildings' quartiles
    with connection.cursor() as cur:
        cur.execute(
            "SELECT percentile_cont(ARRAY[0.3, 0.7]) WITHIN GROUP (ORDER BY ST_X(p)), "
            "percentile_cont(ARRAY[0.3, 0.7]) WITHIN GROUP (ORDER BY ST_Y(p)) "
            "FROM (SELECT ST_PointOnSurface(footprint) AS p FROM territory_building) b"
        )
        xs, ys = cur.fetchone()
    ServiceStation.objects.create(name="west", point=Point(xs[0], ys[0], srid=4326))
    ServiceStation.objects.create(name="east", point=Point(xs[1], ys[1], srid=4326))

    result = stations.building_access()
    assert len(result) == 144 and {b.method for b in result} == {"network"}
    streets_m = streets.to_crs(32633).geometry.values
    points_m = [to_m.transform(b.lon, b.lat) for b in result]
    stations_m = [to_m.transform(x, y) for x, y in ((xs[0], ys[0]), (xs[1], ys[1]))]
    expected = _independent_walks(streets_m, points_m, stations_m, stations.NETWORK_LIMIT_M)
    reached = 0
    for b, want in zip(result, expected, strict=True):
        if want is None:
            assert b.network_m is None, b.name
            continue
        reached += 1
        # UTM 33N at 14.4° E is ~0.04 % short of geodesic metres
        assert b.network_m == pytest.approx(want, rel=2e-3, abs=0.5), b.name
        assert b.network_m >= b.straight_m - 0.5  # never shorter than the straight line
    assert reached == 144
    cov = stations.coverage()
    assert cov["methods"] == {"network": 144, "straight": 0}
