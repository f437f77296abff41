"""Vector tiles: the endpoint against a raw ST_AsMVT statement, at zoom 12, 14 and 16.

Floor (same run, same tiles): the plainest ST_AsMVT query for the layer, on the raw psycopg2 cursor:
features by bbox from the GiST index, ST_AsMVTGeom, ST_AsMVT, nothing else. The endpoint adds URL and
filter parsing, the data-version read for the ETag, simplification, the feature cap and the cache
write, through Django's full request cycle (test client, cache emptied before every request so each
tile is built). Also: a cache hit and a 304 revalidation.
"""

import random

from django.core.cache import caches
from django.db import connection
from django.test import Client

from apps.tiles.layers import LAYERS
from bench.common import dataset, measure_dataset, percentile, row, timed, timed_each

# (zoom, layer) pairs measured: what the map asks for at each zoom.
CASES = [
    (12, "grid"),
    (12, "community"),
    (14, "buildings"),
    (14, "neighbourhood"),
    (16, "buildings"),
]

RAW_SQL = """
SELECT ST_AsMVT(t, %(layer)s, 4096, 'geom', 'id') FROM (
    SELECT id, ST_AsMVTGeom(ST_Transform({geom}, 3857), ST_TileEnvelope(%(z)s, %(x)s, %(y)s)) AS geom{columns}
      FROM {table}
     WHERE {geom} && ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s), 4326){where}
) t
"""


def raw_sql(layer_name: str, z: int) -> str:
    layer = LAYERS[layer_name]
    columns = "".join(f", {c}" for c in layer.attributes_at(z)).replace(
        ", units", ", units_count AS units"
    )
    if layer_name == "buildings":
        return RAW_SQL.format(
            geom="footprint", table="territory_building", columns=columns, where=""
        )
    return RAW_SQL.format(
        geom="geom",
        table="territory_area",
        columns=columns,
        where=f" AND level = '{layer_name}' AND valid_to IS NULL",
    )


def sample_tiles(z: int, n: int, seed: int = 2) -> list[tuple[int, int, int]]:
    """Tiles under randomly chosen buildings (so they hold data), distinct."""
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM territory_building")
        total = cur.fetchone()[0]
        rng = random.Random(seed + z)
        ids = sorted(rng.sample(range(total), min(total, n * 3)))
        cur.execute(
            """SELECT DISTINCT floor((ST_X(p) + 20037508.342789244) / (40075016.68557849 / 2 ^ %(z)s))::int,
                      floor((20037508.342789244 - ST_Y(p)) / (40075016.68557849 / 2 ^ %(z)s))::int
                 FROM (SELECT ST_Transform(ST_PointOnSurface(footprint), 3857) p,
                              row_number() OVER (ORDER BY id) - 1 AS i FROM territory_building) s
                WHERE i = ANY(%(ids)s)""",
            {"z": z, "ids": ids},
        )
        tiles = [(z, x, y) for x, y in cur.fetchall()]
    rng.shuffle(tiles)
    return tiles[:n]


def endpoint(client, cache, layer, t, sizes):
    cache.clear()
    response = client.get(f"/tiles/{layer}/{t[0]}/{t[1]}/{t[2]}.mvt")
    assert response.status_code == 200, response.content[:200]
    sizes.append(len(response.content))


def floor(raw, sql, layer, t):
    raw.execute(sql, {"layer": layer, "z": t[0], "x": t[1], "y": t[2]})
    raw.fetchone()


def run(*, quick: bool) -> list[dict]:
    name = measure_dataset(quick)
    dataset(name)
    n = 20 if quick else 60
    client = Client()
    cache = caches["default"]
    raw = connection.cursor().cursor
    # The floor with literal envelopes gets a parallel seq scan from the planner at city size (costed on
    # ST_AsMVTGeom), which is slower than the index: both run serial so the floor is a floor.
    raw.execute("SET max_parallel_workers_per_gather = 0")
    rows = []
    for z, layer in CASES:
        tiles = sample_tiles(z, n)
        sql = raw_sql(layer, z)
        for t in tiles[:3]:  # warm plans and buffers
            raw.execute(sql, {"layer": layer, "z": t[0], "x": t[1], "y": t[2]})
            client.get(f"/tiles/{layer}/{t[0]}/{t[1]}/{t[2]}.mvt")
        sizes: list[int] = []
        raw_ms, end_ms = [], []
        for t in tiles * 2:  # interleaved, so both see the same buffer cache
            raw_ms += timed_each(lambda t, sql=sql, layer=layer: floor(raw, sql, layer, t), [t])
            end_ms += timed_each(
                lambda t, layer=layer, sizes=sizes: endpoint(client, cache, layer, t, sizes), [t]
            )
        p50, p95 = percentile(end_ms, 50), percentile(end_ms, 95)
        r50, r95 = percentile(raw_ms, 50), percentile(raw_ms, 95)
        target = "≤ 1.3× raw + 2 ms" if z == 14 and layer == "buildings" else ""
        ok = " (met)" if target and p50 <= 1.3 * r50 + 2 else (" (missed)" if target else "")
        rows.append(
            row(
                f"tile z{z} {layer}: p50",
                p50,
                "ms",
                floor=r50,
                target=target + ok,
                note=f"{len(tiles)} tiles × 2, mean {sum(sizes) / len(sizes) / 1024:.1f} KiB, max {max(sizes) / 1024:.0f} KiB, dataset {name}",
            )
        )
        rows.append(
            row(
                f"tile z{z} {layer}: p95",
                p95,
                "ms",
                floor=r95,
                target="≤ 50 ms" + (" (met)" if p95 <= 50 else " (missed)")
                if z == 14 and layer == "buildings"
                else "",
            )
        )
    # Cached: a hit, and a 304 revalidation (one small query for the data versions).
    z, x, y = sample_tiles(14, 1)[0]
    url = f"/tiles/buildings/{z}/{x}/{y}.mvt"
    etag = client.get(url)["ETag"]
    hit = timed(lambda: client.get(url), 200)
    not_modified = timed(lambda: client.get(url, HTTP_IF_NONE_MATCH=etag), 200)
    rows.append(
        row(
            "tile z14 buildings: cache hit p50",
            percentile(hit, 50),
            "ms",
            note="LocMem cache, version check included",
        )
    )
    rows.append(
        row("tile z14 buildings: 304 p50", percentile(not_modified, 50), "ms", note="If-None-Match")
    )
    return rows
