"""Vector tiles: the endpoint against a raw ST_AsMVT statement, at zoom 12, 14 and 16.

Floor (same run, same tiles): the plainest ST_AsMVT query for the layer, on the raw psycopg2 cursor:
features by bbox from the GiST index, ST_AsMVTGeom, ST_AsMVT, nothing else. The endpoint adds URL and
filter parsing, the data-version read for the ETag, simplification, the feature cap and the cache
write, through Django's full request cycle: the WSGI application that gunicorn calls (every middleware,
URL resolving, the view), with production settings (DEBUG off: no query log, no static-file finder
lookups), the cache emptied before every request so each tile is built. Also: a cache hit and a 304
revalidation.

(Until the fourth session the requests went through Django's test client, whose own per-request work,
signal wiring and response decoration, costs ~0.5-0.9 ms that no server pays.)
"""

import io
import random

from django.core.cache import caches
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.test.utils import override_settings

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


# What the server (production settings) differs in from the bench process's DEBUG=true environment.
PRODUCTION = {"DEBUG": False, "WHITENOISE_AUTOREFRESH": False, "WHITENOISE_USE_FINDERS": False}


class Wsgi:
    """GET requests handed to Django's WSGI application in this process, as a WSGI server hands them."""

    def __init__(self):
        self.app = WSGIHandler()  # loads the middleware under the settings in force

    def get(self, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(b""),
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            **{"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()},
        }
        started = {}

        def start_response(status, response_headers, exc_info=None):
            started["status"] = int(status.split()[0])
            started["headers"] = dict(response_headers)

        result = self.app(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            result.close()  # request_finished: what a server does after sending
        return started["status"], started["headers"], body


def endpoint(server, cache, layer, t, sizes):
    cache.clear()
    status, _headers, body = server.get(f"/tiles/{layer}/{t[0]}/{t[1]}/{t[2]}.mvt")
    assert status == 200, body[:200]
    sizes.append(len(body))


def floor(raw, sql, layer, t):
    raw.execute(sql, {"layer": layer, "z": t[0], "x": t[1], "y": t[2]})
    raw.fetchone()


def run(*, quick: bool) -> list[dict]:
    name = measure_dataset(quick)
    dataset(name)
    # The floor has a connection of its own: the handler closes Django's at the end of a request once
    # CONN_MAX_AGE has passed since it was opened (by an earlier module, say), under the floor's cursor.
    floor_connection = connection.get_new_connection(connection.get_connection_params())
    floor_connection.autocommit = True
    try:
        with override_settings(**PRODUCTION):
            return measure(name, quick, floor_connection.cursor())
    finally:
        floor_connection.close()


def measure(name: str, quick: bool, raw) -> list[dict]:
    n = 20 if quick else 60
    server = Wsgi()
    cache = caches["default"]
    # The floor with literal envelopes gets a parallel seq scan from the planner at city size (costed on
    # ST_AsMVTGeom), which is slower than the index: both run serial so the floor is a floor.
    raw.execute("SET max_parallel_workers_per_gather = 0")
    rows = []
    for z, layer in CASES:
        tiles = sample_tiles(z, n)
        sql = raw_sql(layer, z)
        for t in tiles[:3]:  # warm plans and buffers
            raw.execute(sql, {"layer": layer, "z": t[0], "x": t[1], "y": t[2]})
            server.get(f"/tiles/{layer}/{t[0]}/{t[1]}/{t[2]}.mvt")
        sizes: list[int] = []
        raw_ms, end_ms = [], []
        for t in tiles * 2:  # interleaved, so both see the same buffer cache
            raw_ms += timed_each(lambda t, sql=sql, layer=layer: floor(raw, sql, layer, t), [t])
            end_ms += timed_each(
                lambda t, layer=layer, sizes=sizes: endpoint(server, cache, layer, t, sizes), [t]
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
    status, headers, _body = server.get(url)
    assert status == 200, status
    etag = headers["ETag"]
    assert server.get(url)[0] == 200 and server.get(url, {"If-None-Match": etag})[0] == 304
    hit = timed(lambda: server.get(url), 200)
    not_modified = timed(lambda: server.get(url, {"If-None-Match": etag}), 200)
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
