"""Fuzz the whole HTTP API from its OpenAPI schema with schemathesis: zero 5xx responses allowed.

    make fuzz [FUZZ_SECONDS=300]

A fresh database (FUZZ_DB, default linli_fuzz, on the local cluster at PGPORT) gets the demo district;
gunicorn serves the app with production settings (DEBUG false) on 127.0.0.1:FUZZ_PORT only;
schemathesis runs twice, anonymously and as a logged-in superuser (session cookie + CSRF token), with
the `not_a_server_error` check, bounded in time (FUZZ_SECONDS split between the two runs).

The schema is the one the server publishes at /api/schema/ (DRF views plus the plain Django views that
apps/common/openapi.py adds: Open311 GeoReport v2 and vector tiles), with changes for fuzzing only
(bench/out/fuzz-schema.json): values a fuzzer cannot guess are pinned to real ones so positive cases
get past the lookups (the Open311 POST api_key and service_code; Open311 service codes, tracking codes
and tokens in paths; negative cases still send anything else), and one tile operation per layer over
the demo district is added beside the generic tile path (fuzz_schema). The Open311 rate limits are
lifted for this server so they do not answer 429 to most of the run. The summary, with every 5xx line
of the server log, is printed and written to bench/out/fuzz.txt; schemathesis' own output goes to
bench/out/fuzz-<run>.log, the server's (with request times) to bench/out/fuzz-server.log."""

import json
import math
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PORT = int(os.environ.get("FUZZ_PORT", "8765"))
SECONDS = int(os.environ.get("FUZZ_SECONDS", "300"))
# One schemathesis worker: with two threads, CPython 3.11's shared AST state (python/cpython#106905)
# and Hypothesis's lambda-source cache raise spurious SystemError/KeyError in the fuzzer itself
# ("Runtime Error", not a server failure). FUZZ_WORKERS=2 to try anyway.
WORKERS = int(os.environ.get("FUZZ_WORKERS", "1"))
GUNICORN_WORKERS = 2
PGPORT = os.environ.get("PGPORT", "54329")
DB = os.environ.get("FUZZ_DB", "linli_fuzz")
OPEN311_KEY = "demo-open311-key"  # made by the demo generator (apps/issues/demo.py)
OPEN311_POST = "/open311/v2/requests.{format}"


def fuzz_schema(served: dict, known: dict) -> dict:
    """The served schema with values the fuzzer cannot guess pinned to real ones, so positive cases
    reach the code behind the lookups (negative cases still send anything else): the Open311 POST
    api_key (the demo key) and service_code, and the Open311 path identifiers (service codes, tracking
    codes, tokens of the demo issues)."""
    post = served["paths"][OPEN311_POST]["post"]
    for media in post["requestBody"]["content"].values():
        props = media["schema"]["properties"]
        props["api_key"] = {"type": "string", "enum": [OPEN311_KEY]}
        props["service_code"] = {"type": "string", "enum": known["service_code"]}
    for item in served["paths"].values():
        for op in item.values():
            for param in op.get("parameters", []) if isinstance(op, dict) else []:
                if param["in"] == "path" and param["name"] in known:
                    param["schema"] = {"type": "string", "enum": known[param["name"]]}
    served["paths"].update(tile_paths_by_layer(served, known["centre"]))
    return served


def warm_up() -> None:
    """A worker's first request imports every view (seconds on a busy machine), which the fuzzer would
    see as a 10 s read timeout: send concurrent requests until every gunicorn worker has answered one."""
    from concurrent.futures import ThreadPoolExecutor

    def get(_):
        with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/tiles/layers.json", timeout=120) as r:
            return r.status

    with ThreadPoolExecutor(GUNICORN_WORKERS * 2) as pool:
        for _ in range(3):
            list(pool.map(get, range(GUNICORN_WORKERS * 4)))


def tile_xy(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def tile_paths_by_layer(served: dict, centre: list[float]) -> dict:
    """Beside the generic /tiles/{layer}/{z}/{x}/{y}.mvt (where most random addresses and filter
    combinations are a 400), one operation per layer at zoom 14 (issues also at 12, where they are
    counted per cell) over the 3x3 tiles around the demo district, with only that layer's filters: the
    generated requests reach ST_AsMVT over real features."""
    generic = served["paths"]["/tiles/{layer}/{z}/{x}/{y}.mvt"]["get"]
    layers = next(p for p in generic["parameters"] if p["name"] == "layer")["schema"]["enum"]
    paths = {}
    for layer in layers:
        for z in (14, 12) if layer == "issues" else (14,):
            cx, cy = tile_xy(*centre, z)
            params = [
                {
                    "in": "path",
                    "name": name,
                    "required": True,
                    "schema": {"type": "integer", "minimum": c - 1, "maximum": c + 1},
                }
                for name, c in (("x", cx), ("y", cy))
            ]
            params += [p for p in generic["parameters"] if layer in p.get("x-layers", ())]
            paths[f"/tiles/{layer}/{z}/{{x}}/{{y}}.mvt"] = {
                "get": {**generic, "operationId": f"fuzz_tiles_{layer}_{z}", "parameters": params}
            }
    return paths


KNOWN_SQL = (
    "from apps.issues.open311 import _services; from apps.issues.models import Issue; import json;"
    "from apps.territory.models import Area; from django.contrib.gis.db.models import Union;"
    "i=list(Issue.objects.order_by('id').values_list('tracking_code','token')[:20]);"
    "print(json.dumps({'service_code':[c.code for c in _services()],"
    "'service_request_id':[t for t,_ in i],'token':[k for _,k in i if k],"
    "'centre':list(Area.objects.filter(level='street').aggregate(c=Union('geom'))['c'].centroid)}))"
)


def sh(args, env, **kw):
    return subprocess.run(args, cwd=ROOT, env=env, check=True, **kw)


def shell_output(code: str, env) -> str:
    """The last line that `manage.py shell -c CODE` prints."""
    out = sh([PY, "manage.py", "shell", "-c", code], env, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def main():
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": f"postgis://linli@127.0.0.1:{PGPORT}/{DB}",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        # production settings need a PII key (apps.people.pii); a throw-away one for this database
        "LINLI_PII_KEY": secrets.token_urlsafe(48),
        # Open311 POST limits (apps.common.ratelimit reads them from the environment): out of the way
        "LINLI_OPEN311_PER_KEY": "100000000",
        "LINLI_OPEN311_PER_IP": "100000000",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    psql = [
        "psql",
        "-X",
        "-q",
        "-h",
        "127.0.0.1",
        "-p",
        PGPORT,
        "-U",
        "linli",
        "-d",
        "postgres",
        "-c",
    ]
    sh(psql + [f"DROP DATABASE IF EXISTS {DB}"], env)
    sh(psql + [f"CREATE DATABASE {DB}"], env)
    sh([PY, "manage.py", "migrate", "-v0"], env)
    sh([PY, "manage.py", "seed_demo", "--scale", "0.2", "-v0"], env)
    # A logged-in superuser session and a CSRF token, for the authenticated run.
    session = shell_output(
        "from django.contrib.auth import get_user_model; from django.contrib.sessions.backends.db import SessionStore;"
        "u=get_user_model().objects.get(username='admin'); s=SessionStore();"
        "s['_auth_user_id']=str(u.pk); s['_auth_user_backend']='django.contrib.auth.backends.ModelBackend';"
        "s['_auth_user_hash']=u.get_session_auth_hash(); s.create(); print(s.session_key)",
        env,
    )
    csrf = secrets.token_hex(16)
    known = json.loads(shell_output(KNOWN_SQL, env))
    known = {name: values for name, values in known.items() if values}

    server = subprocess.Popen(
        [
            str(Path(PY).parent / "gunicorn"),
            "geo.wsgi",
            "-b",
            f"127.0.0.1:{PORT}",
            "-w",
            str(GUNICORN_WORKERS),
            "--timeout",
            "60",
            "--access-logfile",
            "-",
            # gunicorn's default access log line plus the request time in seconds
            "--access-logformat",
            '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)ss',
            "--error-logfile",
            "-",
        ],
        cwd=ROOT,
        env=env,
        stdout=open(out_dir / "fuzz-server.log", "w"),
        stderr=subprocess.STDOUT,
    )
    try:
        served = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{PORT}/api/schema/?format=json", timeout=10
                ) as r:
                    served = json.load(r)
                break
            except OSError:
                time.sleep(0.3)
        if served is None:
            sys.exit("the server did not answer /api/schema/")
        warm_up()
        schema_file = out_dir / "fuzz-schema.json"
        schema_file.write_text(json.dumps(fuzz_schema(served, known), ensure_ascii=False))
        operations = sum(
            1 for item in served["paths"].values() for method in item if method != "parameters"
        )
        results = []
        runs = [
            ("anonymous", []),
            (
                "superuser",
                [
                    "-H",
                    f"Cookie: sessionid={session}; csrftoken={csrf}",
                    "-H",
                    f"X-CSRFToken: {csrf}",
                ],
            ),
        ]
        for label, extra in runs:
            cmd = [
                str(Path(PY).parent / "schemathesis"),
                "run",
                str(schema_file),
                "--url",
                f"http://127.0.0.1:{PORT}",
                "--checks",
                "not_a_server_error",
                "--max-time",
                str(SECONDS // len(runs)),
                "--workers",
                str(WORKERS),
                "--suppress-health-check",
                "all",
                "--no-color",
                *extra,
            ]
            # cwd: schemathesis keeps its crash cache (.schemathesis/) there, out of the source tree
            proc = subprocess.run(cmd, cwd=out_dir, env=env, capture_output=True, text=True)
            (out_dir / f"fuzz-{label}.log").write_text(proc.stdout + proc.stderr)
            results.append((label, proc.returncode, proc.stdout[-6000:]))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    error_lines = [
        line.rstrip() for line in open(out_dir / "fuzz-server.log") if 'HTTP/1.1" 5' in line
    ]
    server_errors = len(error_lines)
    report = [
        f"fuzz run {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, budget {SECONDS}s, "
        f"{operations} operations, 5xx in server log: {server_errors}"
    ]
    report += error_lines[:50]
    for label, code, text in results:
        report.append(f"\n=== {label}: schemathesis exit {code}\n{text}")
    (out_dir / "fuzz.txt").write_text("\n".join(report))
    print("\n".join(report))
    failed = server_errors > 0 or any(code != 0 for _, code, _ in results)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
