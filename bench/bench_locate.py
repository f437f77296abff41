"""Locate: the service call against its raw SQL, and HTTP requests/s through a real WSGI server.

Floors measured in the same run:
* service: `selectors.LOCATE_SQL` executed on the raw psycopg2 cursor with the same points (what PostGIS
  itself costs); the service adds Django's cursor wrapper and building the result dict.
* HTTP: the same gunicorn and load generator against /tiles/layers.json, a view that touches no
  database (what the framework, WSGI server and loopback cost per request).

The load generator runs here too (Python threads in two processes, keep-alive HTTP/1.1 on 127.0.0.1
only, bounded in time), so it shares the cores with gunicorn and PostgreSQL: req/s are a lower bound.
"""

import http.client
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

from django.db import connection

from bench.common import dataset, measure_dataset, row, timed_each

ROOT = Path(__file__).resolve().parent.parent


def sample_points(n: int, seed: int = 1) -> list[tuple[float, float]]:
    """Half on buildings, half anywhere in the territory's extent (some hit nothing but areas)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM"
            " (SELECT ST_Extent(geom) e FROM territory_area WHERE level = 'street') s"
        )
        x0, y0, x1, y1 = cur.fetchone()
        cur.execute("SELECT count(*) FROM territory_building")
        total = cur.fetchone()[0]
        rng = random.Random(seed)
        ids = sorted(rng.sample(range(total), min(total, n // 2)))
        cur.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(footprint) p,"
            " row_number() OVER (ORDER BY id) - 1 AS i FROM territory_building) s WHERE i = ANY(%s)",
            [ids],
        )
        points = [tuple(r) for r in cur.fetchall()]
    while len(points) < n:
        points.append((rng.uniform(x0, x1), rng.uniform(y0, y1)))
    rng.shuffle(points)
    return points


RAW_PREPARED = "bench_locate_raw"  # its own name: the service's statement keeps its own bookkeeping


def service_vs_raw(points) -> tuple[float, float, float]:
    """Mean ms of (the service call, the raw LOCATE_SQL, the raw SQL as a prepared statement), the
    three interleaved point by point so they see the same cache state."""
    from django.utils import timezone

    from apps.territory.selectors import EDGE_EPS, LOCATE, LOCATE_SQL, locate

    connection.ensure_connection()
    raw = connection.connection.cursor()  # psycopg2 itself, under Django's wrapper
    raw.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = %s", [RAW_PREPARED])
    if not raw.fetchone()[0]:
        raw.execute(LOCATE.prepare_sql.replace(LOCATE.name, RAW_PREPARED, 1))
    execute = LOCATE.execute_sql.replace(LOCATE.name, RAW_PREPARED, 1)
    at = timezone.now()

    def unprepared(p):
        raw.execute(LOCATE_SQL, {"lon": p[0], "lat": p[1], "at": at, "eps": EDGE_EPS})
        return raw.fetchall()

    def prepared(p):
        raw.execute(execute, (p[0], p[1], at, EDGE_EPS))
        return raw.fetchall()

    def service(p):
        return locate(lon=p[0], lat=p[1])

    for point in points[:50]:  # warm the cache and the plans (past the five custom plans)
        assert sorted(unprepared(point)) == sorted(prepared(point))
        service(point)
    svc_ms, raw_ms, prep_ms = [], [], []
    for point in points:
        raw_ms += timed_each(unprepared, [point])
        prep_ms += timed_each(prepared, [point])
        svc_ms += timed_each(service, [point])
    return tuple(sum(xs) / len(xs) for xs in (svc_ms, raw_ms, prep_ms))


# ---- HTTP load ----


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(
    port: int, workers: int, threads: int, env: dict | None = None, startup_s: float = 30
) -> subprocess.Popen:
    """gunicorn (gthread) serving the app with production settings on 127.0.0.1:`port`; `env` adds
    to the environment (e.g. raised rate limits); waits up to `startup_s` for a first answer."""
    # plain HTTP on loopback: production settings would redirect every request to https (as
    # bench/load.py and bench/fuzz.py, switch the redirect off)
    env = {
        **os.environ,
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        **(env or {}),
    }
    env.setdefault("SECRET_KEY", "bench-only-not-secret")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "geo.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            str(workers),
            "-k",
            "gthread",
            "--threads",
            str(threads),
            "--keep-alive",
            "30",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.time() + startup_s
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=min(10, startup_s))
            c.request("GET", "/tiles/layers.json")
            if c.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError(f"gunicorn did not start within {startup_s:.0f} s")


def _send(conn, spec) -> None:
    """A request spec is a path (GET) or (method, path, body bytes, headers)."""
    if isinstance(spec, str):
        conn.request("GET", spec)
    else:
        method, path, body, headers = spec
        conn.request(method, path, body=body, headers=headers)


def _client(port, paths, stop_at, counts, index, expect=200, keep_bodies=False, timeout=10):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    ok = bad = 0
    latencies, bodies, statuses = [], [], {}
    first = last = None
    i = index
    while time.time() < stop_at:
        t0 = time.perf_counter()
        first = first if first is not None else time.time()
        try:
            _send(conn, paths[i % len(paths)])
            resp = conn.getresponse()
            body = resp.read()
            latencies.append((time.perf_counter() - t0) * 1000)
            statuses[resp.status] = statuses.get(resp.status, 0) + 1
            if resp.status == expect:
                ok += 1
                if keep_bodies:
                    bodies.append(body)
            else:
                bad += 1
        except (OSError, http.client.HTTPException):
            bad += 1
            statuses["error"] = statuses.get("error", 0) + 1
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        last = time.time()
        i += 7
    counts.append(
        {
            "ok": ok,
            "bad": bad,
            "latencies": latencies,
            "bodies": bodies,
            "statuses": statuses,
            "first": first,
            "last": last,
        }
    )


def _load_process(port, paths, seconds, threads, queue, expect=200, keep_bodies=False, timeout=10):
    import threading

    counts: list = []
    stop_at = time.time() + seconds
    workers = [
        threading.Thread(
            target=_client, args=(port, paths, stop_at, counts, n, expect, keep_bodies, timeout)
        )
        for n in range(threads)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    queue.put(counts)


def load_stats(
    port: int,
    paths: list,
    seconds: float,
    processes=2,
    threads=8,
    *,
    expect: int = 200,
    keep_bodies: bool = False,
    timeout: float = 10,
) -> dict:
    """Run `processes` × `threads` keep-alive clients for `seconds` over `paths` (each a GET path or
    (method, path, body, headers)); a response with status `expect` is a success. Returns ok,
    failures, rps (successes per second of the clients' measured window), latencies_ms (every
    request), statuses ({status: count}) and, with keep_bodies, the bodies of the successes. A request
    unanswered after `timeout` seconds is a failure ("error")."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(
            target=_load_process,
            args=(port, paths, seconds, threads, queue, expect, keep_bodies, timeout),
        )
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    clients = [c for _ in procs for c in queue.get()]
    for p in procs:
        p.join()
    firsts = [c["first"] for c in clients if c["first"] is not None]
    lasts = [c["last"] for c in clients if c["last"] is not None]
    window = max(lasts) - min(firsts) if firsts else seconds
    statuses: dict = {}
    for c in clients:
        for k, v in c["statuses"].items():
            statuses[k] = statuses.get(k, 0) + v
    ok = sum(c["ok"] for c in clients)
    return {
        "ok": ok,
        "failures": sum(c["bad"] for c in clients),
        "rps": ok / window if window > 0 else 0.0,
        "seconds": window,
        "latencies_ms": [x for c in clients for x in c["latencies"]],
        "statuses": statuses,
        "bodies": [b for c in clients for b in c["bodies"]],
    }


def load(port: int, paths: list[str], seconds: float, processes=2, threads=8) -> tuple[float, int]:
    """(successful requests/s, failures) from `processes` × `threads` keep-alive clients."""
    stats = load_stats(port, paths, seconds, processes, threads)
    return stats["rps"], stats["failures"]


def server_configs(cores: int) -> list[tuple[int, int]]:
    """gunicorn (workers, threads) to measure: BENCH_LOCATE_SERVERS="3x4,2x8" or the default."""
    raw = os.environ.get("BENCH_LOCATE_SERVERS", "").strip()
    if not raw:
        return [(cores + 1, 4)]
    configs = []
    for item in raw.split(","):
        workers, _, threads = item.strip().partition("x")
        configs.append((int(workers), int(threads or 1)))
    return configs


def http_vs_floor(port: int, paths: list[str], seconds: float, rounds: int) -> tuple:
    """(locate req/s, floor req/s, locate failures): the floor and locate alternate `rounds` times
    (`seconds` each in all), so both see the same share of a noisy machine."""
    load(port, paths[:50], 1)  # warm-up: connections, prepared statements, plans, caches
    load(port, ["/tiles/layers.json"], 0.5)
    ok = {"floor": [0, 0.0], "locate": [0, 0.0]}
    failures = 0
    for _ in range(rounds):
        for what, targets in (("floor", ["/tiles/layers.json"]), ("locate", paths)):
            stats = load_stats(port, targets, seconds / rounds)
            ok[what][0] += stats["ok"]
            ok[what][1] += stats["seconds"]
            failures += stats["failures"] if what == "locate" else 0
    return ok["locate"][0] / ok["locate"][1], ok["floor"][0] / ok["floor"][1], failures


def run(*, quick: bool) -> list[dict]:
    name = measure_dataset(quick)
    dataset(name)
    points = sample_points(400 if quick else 2000)
    svc, raw, prepared = service_vs_raw(points)
    note = f"mean of {len(points)} points, dataset {name}"
    rows = [
        row(
            "locate: service call vs raw SQL",
            svc,
            "ms",
            floor=raw,
            target="≤ 1.5× raw SQL",
            note=f"{note}; floor = LOCATE_SQL on the psycopg2 cursor, planned every time",
        ),
        row(
            "locate: service call vs raw prepared SQL",
            svc,
            "ms",
            floor=prepared,
            target="≤ 1.5× raw SQL",
            note=f"{note}; floor = EXECUTE of LOCATE_SQL prepared on the psycopg2 cursor",
        ),
        row(
            "locate: raw prepared SQL vs raw SQL",
            prepared,
            "ms",
            floor=raw,
            note=f"{note}; what PREPARE saves (planning)",
        ),
    ]
    cores = os.cpu_count() or 2
    seconds = 6 if quick else 20
    rounds = 2 if quick else 4
    paths = [f"/api/locate?lon={lon:.7f}&lat={lat:.7f}" for lon, lat in points]
    for workers, threads in server_configs(cores):
        port = free_port()
        server = start_gunicorn(port, workers=workers, threads=threads, startup_s=90)
        try:
            rps, floor_rps, failures = http_vs_floor(port, paths, seconds, rounds)
        finally:
            server.terminate()
            server.wait(timeout=30)
        rows.append(
            row(
                "locate: HTTP requests/s",
                rps,
                "req/s",
                floor=floor_rps,
                target=f"≥ 800 on {cores} cores",
                note=f"gunicorn {workers}×{threads} gthread, 16 keep-alive clients, {seconds} s"
                f" alternating with the floor in {rounds} rounds, {failures} failures;"
                " floor = no-database view",
            )
        )
        print(
            f"   gunicorn {workers}×{threads}: {rps:.0f} req/s, floor {floor_rps:.0f}", flush=True
        )
    return rows
