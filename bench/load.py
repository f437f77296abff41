"""Load test: 50 concurrent users mixing map reads, tiles and intake against gunicorn (2 workers).

    make load [LOAD_SECONDS=600 LOAD_USERS=50]

A fresh database (linli_load on the local cluster) gets the demo district; gunicorn serves it with
production settings (DEBUG false) on 127.0.0.1 only. Each user is a thread with one keep-alive
http.client connection (no extra package), looping until the deadline over:
  35% map reads   (areas GeoJSON of the grids; issues GeoJSON as a signed-in officer),
  40% tiles       (grid, buildings and issues layers around the demo community, zooms 12-16),
  25% intake      (Open311 POST with the demo key `demo-open311-key`).
It reports requests/s, p50/p95 latency per kind, errors (any status >= 400 or a dropped connection;
must be 0) and checks that the issues stored equal the issues acknowledged (every 201's
service_request_id is in the database, and nothing else arrived). Rate limits are raised for the run
(LINLI_OPEN311_PER_KEY / _PER_IP in the server's environment): this measures capacity, not the limiter.
Prints a summary and writes it to bench/out/load.txt."""

import http.client
import json
import math
import os
import random
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PORT = int(os.environ.get("LOAD_PORT", "8766"))
SECONDS = int(os.environ.get("LOAD_SECONDS", "600"))
USERS = int(os.environ.get("LOAD_USERS", "50"))
PGPORT = os.environ.get("PGPORT", "54329")
DB = os.environ.get("LOAD_DB", "linli_load")
KEY = "demo-open311-key"


def sh(args, env, **kw):
    return subprocess.run(args, cwd=ROOT, env=env, check=True, **kw)


def psql(env, sql: str, db: str = DB) -> str:
    out = subprocess.run(
        ["psql", "-X", "-qAt", "-h", "127.0.0.1", "-p", PGPORT, "-U", "linli", "-d", db, "-c", sql],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def count_codes(codes: list[str], db: str = DB) -> int:
    """How many of these tracking codes are stored (one parameterised query)."""
    import psycopg2

    with psycopg2.connect(host="127.0.0.1", port=PGPORT, user="linli", dbname=db) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM issues_issue WHERE tracking_code = ANY(%s)", [codes])
            return cur.fetchone()[0]


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def server_env() -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": f"postgis://linli@127.0.0.1:{PGPORT}/{DB}",
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("LOAD_SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "LINLI_OPEN311_PER_KEY": "1000000",
        "LINLI_OPEN311_PER_IP": "1000000",
    }
    env.setdefault("LINLI_PII_KEY", "load-test-pii-key-" + "x" * 32)
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    return env


def prepare_database(env):
    admin = ["psql", "-X", "-q", "-h", "127.0.0.1", "-p", PGPORT, "-U", "linli", "-d", "postgres"]
    sh(admin + ["-c", f"DROP DATABASE IF EXISTS {DB}"], env)
    sh(admin + ["-c", f"CREATE DATABASE {DB}"], env)
    sh([PY, "manage.py", "migrate", "-v0"], env)
    sh([PY, "manage.py", "seed_demo", "--scale", "0.2", "-v0"], env)


def staff_session(env) -> str:
    """A signed-in session of the demo's community officer (scoped reads, like a real user)."""
    code = (
        "from django.contrib.auth import get_user_model; "
        "from django.contrib.sessions.backends.db import SessionStore; "
        "u=get_user_model().objects.get(username='community'); s=SessionStore(); "
        "s['_auth_user_id']=str(u.pk); "
        "s['_auth_user_backend']='django.contrib.auth.backends.ModelBackend'; "
        "s['_auth_user_hash']=u.get_session_auth_hash(); s.create(); print(s.session_key)"
    )
    out = sh([PY, "manage.py", "shell", "-c", code], env, capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def start_server(env, out_dir: Path, port: int = PORT) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            str(Path(PY).parent / "gunicorn"),
            "geo.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--timeout",
            "60",
            "--error-logfile",
            "-",
        ],
        cwd=ROOT,
        env=env,
        stdout=open(out_dir / f"server-{port}.log", "a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    for _ in range(200):
        try:
            urllib.request.urlopen(
                f"http://127.0.0.1:{port}/api/areas.geojson?level=street", timeout=2
            )
            return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start: see " + str(out_dir / f"server-{port}.log"))


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.acknowledged: list[str] = []

    def record(self, kind: str, seconds: float, error: str | None = None, code: str | None = None):
        with self.lock:
            self.latency.setdefault(kind, []).append(seconds)
            if error:
                self.errors.append(f"{kind}: {error}")
            if code:
                self.acknowledged.append(code)


def user_loop(n: int, deadline: float, session: str, targets: dict, stats: Stats):
    rng = random.Random(n)
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    cookie = {"Cookie": f"sessionid={session}"}
    while time.monotonic() < deadline:
        r = rng.random()
        headers = {}
        body = None
        method = "GET"
        if r < 0.35:
            kind = "map"
            if rng.random() < 0.5:
                path = "/api/areas.geojson?level=grid"
            else:
                path, headers = "/api/issues.geojson", cookie
        elif r < 0.75:
            kind = "tile"
            z = rng.choice([12, 13, 14, 15, 16])
            x, y = tile_xy(targets["lon"], targets["lat"], z)
            x += rng.choice([-1, 0, 0, 1])
            y += rng.choice([-1, 0, 0, 1])
            layer = rng.choice(["grid", "buildings", "issues"])
            path = f"/tiles/{layer}/{z}/{x}/{y}.mvt"
            if layer == "issues":
                headers = cookie
        else:
            kind, method, path = "intake", "POST", "/open311/v2/requests.json"
            lon = targets["lon"] + rng.uniform(-0.002, 0.002)
            lat = targets["lat"] + rng.uniform(-0.002, 0.002)
            body = urllib.parse.urlencode(
                {
                    "api_key": KEY,
                    "service_code": rng.choice(targets["services"]),
                    "long": f"{lon:.6f}",
                    "lat": f"{lat:.6f}",
                    "description": f"负载测试 {n}-{rng.randrange(10**9)}",
                }
            )
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
        t0 = time.perf_counter()
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            elapsed = time.perf_counter() - t0
            if resp.status >= 400:
                stats.record(kind, elapsed, error=f"{resp.status} {path} {data[:120]!r}")
            elif kind == "intake":
                code = json.loads(data)[0]["service_request_id"]
                stats.record(kind, elapsed, code=code)
            else:
                stats.record(kind, elapsed)
        except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            stats.record(kind, time.perf_counter() - t0, error=f"{type(exc).__name__} {path}")
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=60)
    conn.close()


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else float("nan")


def main():
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    env = server_env()
    prepare_database(env)
    session = staff_session(env)
    lon, lat = map(
        float,
        psql(
            env,
            "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(geom) c FROM territory_area"
            " WHERE level = 'community' AND valid_to IS NULL ORDER BY code LIMIT 1) t",
        ).split("|"),
    )
    services = psql(
        env, "SELECT string_agg(code, ',') FROM issues_category WHERE parent_id IS NOT NULL"
    ).split(",")
    targets = {"lon": lon, "lat": lat, "services": services}
    before = int(psql(env, "SELECT count(*) FROM issues_issue"))
    server = start_server(env, out_dir)
    stats = Stats()
    try:
        started = time.monotonic()
        deadline = started + SECONDS
        threads = [
            threading.Thread(target=user_loop, args=(n, deadline, session, targets, stats))
            for n in range(USERS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.monotonic() - started
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    stored = int(psql(env, "SELECT count(*) FROM issues_issue")) - before
    codes = stats.acknowledged
    found = count_codes(codes)
    total = sum(len(v) for v in stats.latency.values())
    lines = [
        f"load test {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: {USERS} users, "
        f"{SECONDS} s, gunicorn 2 workers, demo scale 0.2",
        f"requests: {total} in {wall:.0f} s = {total / wall:.1f} req/s",
    ]
    for kind, values in sorted(stats.latency.items()):
        lines.append(
            f"  {kind:7s} n={len(values):6d}  p50={pct(values, 0.5):7.1f} ms  "
            f"p95={pct(values, 0.95):7.1f} ms  mean={statistics.fmean(values) * 1000:7.1f} ms"
        )
    lines += [
        f"errors: {len(stats.errors)}",
        *[f"  {e}" for e in stats.errors[:10]],
        f"issues acknowledged: {len(codes)}; stored: {stored}; acknowledged and found: {found}",
    ]
    ok = not stats.errors and stored == len(codes) == found
    lines.append("RESULT: " + ("OK" if ok else "FAILED"))
    text = "\n".join(lines)
    print(text)
    (out_dir / "load.txt").write_text(text + "\n")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
