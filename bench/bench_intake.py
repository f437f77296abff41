"""Issue intake over HTTP: issues/s filed through Open311 POST requests against a real WSGI server.

Open311 GeoReport v2 `POST /open311/v2/requests.json` is the machine intake (hotline bridges, apps and
the load test's intake all use it; the staff console's `/api/issues` is the same `issue_create` behind a
session login). Each request is a form body with the bench's api_key, a service code (the active
subcategories in turn) and a point on a building of the territory (`ST_PointOnSurface` of the
footprint), so every issue is located down to its building and routed; each body carries
`attribute[bench]=<run id>` so the run's issues can be checked and removed. gunicorn and the keep-alive
load generator are bench_locate's (`start_gunicorn`, `load_stats`: two processes × 8 threads on
127.0.0.1 only, bounded in time); the Open311 rate limits are raised in the server's environment, so
this measures capacity, not the limiter.

Floor, same run: the same number of issues filed by `apps.issues.services.issue_create` in this process
(one connection, autocommit: one transaction per issue as over HTTP), with the arguments the Open311 view
passes. The ratio is HTTP issues/s ÷ in-process issues/s (the HTTP side has several workers, so it can
exceed 1 where the database is not the bottleneck).

Checked at the end (the module fails otherwise): the issues table grew by exactly the number of 201
responses, the run's issues are exactly the tracking codes those 201s returned, and every one was
located in a street. The run's issues (HTTP and floor) and its api key are then deleted, unaudited (as
bench_import removes its territory), so the bench database keeps the dataset the other modules measure.
"""

import json
import os
import secrets
import time
import urllib.parse

from django.db import connection, transaction

from bench.bench_locate import free_port, load_stats, start_gunicorn
from bench.common import dataset, measure_dataset, percentile, row

PATH = "/open311/v2/requests.json"
N_POINTS = 2000
UNLIMITED = str(10**9)


def building_points(n: int, seed: float = 0.42) -> list[tuple[float, float]]:
    """Points on up to `n` buildings of the territory, a seeded random sample."""
    with connection.cursor() as cur:
        cur.execute("SELECT setseed(%s)", [seed])
        cur.execute(  # sample first, so the point is computed for the sample only
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(footprint) p FROM"
            " (SELECT footprint FROM territory_building ORDER BY random() LIMIT %s) b) s",
            [n],
        )
        return [tuple(r) for r in cur.fetchall()]


def service_codes() -> list[str]:
    from apps.issues.models import Category

    codes = list(
        Category.objects.filter(active=True, parent__isnull=False)
        .order_by("parent__sort", "sort", "code")
        .values_list("code", flat=True)
    )
    if not codes:
        raise RuntimeError("no active Open311 service (subcategory) in the bench database")
    return codes


def _issue_count() -> int:
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM issues_issue")
        return cur.fetchone()[0]


def _run_codes(marker: str) -> tuple[set[str], int]:
    """Tracking codes of the issues with this bench marker, and how many lie outside every street."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tracking_code, street_id IS NULL OR outside FROM issues_issue"
            " WHERE attributes->>'bench' = %s",
            [marker],
        )
        rows = cur.fetchall()
    return {r[0] for r in rows}, sum(1 for r in rows if r[1])


def _bodies(key: str, run: str, points, codes) -> list[tuple]:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    out = []
    for n, (lon, lat) in enumerate(points):
        form = {
            "api_key": key,
            "service_code": codes[n % len(codes)],
            "lat": f"{lat:.7f}",
            "long": f"{lon:.7f}",
            "description": f"基准测试诉求 {n}（bench intake）",
            "attribute[bench]": run,
            "first_name": "基准",
            "phone": "13800000000",
        }
        out.append(("POST", PATH, urllib.parse.urlencode(form).encode(), headers))
    return out


def in_process(n: int, marker: str, points, codes) -> list[float]:
    """File `n` issues through the service function, one transaction each, with the arguments the
    Open311 view passes; milliseconds per issue."""
    from django.contrib.gis.geos import Point
    from django.test.utils import override_settings

    from apps.issues import services

    out = []
    with override_settings(DEBUG=False):  # as the server runs: no query log in the cursor
        for k in range(n):
            lon, lat = points[k % len(points)]
            t0 = time.perf_counter()
            services.issue_create(
                point=Point(lon, lat, srid=4326),
                category=codes[k % len(codes)],
                description=f"基准测试诉求 {k}（bench intake, in process）",
                source="online",
                reporter_name="基准",
                reporter_phone="13800000000",
                actor_name="Open311: bench intake",
                attributes={"bench": marker},
            )
            out.append((time.perf_counter() - t0) * 1000)
    return out


def cleanup(markers: list[str], key_id: int | None) -> int:
    """Delete the run's issues (events and photos with them) and its api key, unaudited."""
    from apps.issues.models import ApiKey, Issue

    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("SET LOCAL linli.audit = 'off'")
        deleted, _by_model = Issue.objects.filter(attributes__bench__in=markers).delete()
        if key_id is not None:
            ApiKey.objects.filter(pk=key_id).delete()
    return deleted


def run(*, quick: bool) -> list[dict]:
    from apps.issues.models import ApiKey

    name = measure_dataset(quick)
    dataset(name)
    points = building_points(N_POINTS)
    if not points:
        raise RuntimeError(f"dataset {name} has no buildings")
    codes = service_codes()
    run_id = "intake-" + secrets.token_hex(4)
    # markers of the warm-up requests, the measured requests and the floor's issues
    warm, measured, floor = f"{run_id}-warm", run_id, f"{run_id}-floor"
    key = ApiKey.objects.create(name=f"bench {run_id}", key="bench-" + secrets.token_hex(16))
    seconds = 10 if quick else 30
    cores = os.cpu_count() or 2
    workers, threads = cores + 1, 4
    try:
        requests = _bodies(key.key, measured, points, codes)
        port = free_port()
        server = start_gunicorn(
            port,
            workers=workers,
            threads=threads,
            env={"LINLI_OPEN311_PER_KEY": UNLIMITED, "LINLI_OPEN311_PER_IP": UNLIMITED},
            startup_s=120,  # workers import the whole project; slow on a loaded machine
        )
        try:
            # warm-up: imports, connections, plans (its issues are marked apart). A worker's first
            # request imports every view; the long timeout lets every warm-up request finish before
            # the count below, so none lands during the measured window.
            load_stats(port, _bodies(key.key, warm, points[:50], codes), 2, expect=201, timeout=300)
            before = _issue_count()
            stats = load_stats(port, requests, seconds, expect=201, keep_bodies=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
        after = _issue_count()
        created = stats["ok"]
        returned = {json.loads(b)[0]["service_request_id"] for b in stats["bodies"]}
        if after - before != created or len(returned) != created:
            raise RuntimeError(
                f"issues grew by {after - before} but {created} requests answered 201 "
                f"({len(returned)} distinct tracking codes); responses {stats['statuses']}"
            )
        if created == 0:
            raise RuntimeError(f"no request answered 201: {stats['statuses']}")
        stored, outside = _run_codes(measured)
        if stored != returned:
            raise RuntimeError(
                f"{len(stored)} issues stored by the measured requests, {len(returned)} tracking "
                f"codes returned by their 201s, {len(stored ^ returned)} differ"
            )

        # The floor: as many issues through the service function, without HTTP.
        t0 = time.perf_counter()
        floor_ms = in_process(created, floor, points, codes)
        floor_s = time.perf_counter() - t0
        floor_stored, floor_outside = _run_codes(floor)
        if len(floor_stored) != created:
            raise RuntimeError(f"the floor stored {len(floor_stored)} issues of {created}")
        if outside or floor_outside:
            raise RuntimeError(
                f"{outside} HTTP and {floor_outside} in-process issues were not located in a street"
            )
    finally:
        deleted = cleanup([warm, measured, floor], key.pk)

    lat_ms = stats["latencies_ms"]
    floor_rate = created / floor_s
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(stats["statuses"].items(), key=str))
    served = f"gunicorn {workers}×{threads} gthread, 16 keep-alive clients"
    return [
        row(
            "intake: HTTP issues/s (Open311 POST)",
            stats["rps"],
            "issues/s",
            floor=floor_rate,
            target="≥ 300",
            note=f"{served}, {stats['seconds']:.1f} s, {created:,} issues (count +{after - before:,} = "
            f"201s, codes matched, all located), {stats['failures']} failures ({statuses}); "
            f"floor = issue_create in process, 1 connection, {created:,} issues in {floor_s:.1f} s; "
            f"dataset {name}; {deleted:,} rows removed after",
        ),
        row(
            "intake: HTTP latency p50",
            percentile(lat_ms, 50),
            "ms",
            floor=percentile(floor_ms, 50),
            note="every request of the run; floor = one issue_create call",
        ),
        row(
            "intake: HTTP latency p95",
            percentile(lat_ms, 95),
            "ms",
            floor=percentile(floor_ms, 95),
        ),
    ]
