"""Patrol ingestion: how much patrol_add_points (parse, lock, duplicate check, jump filter, COPY) costs over
the floor of a bare COPY of the same rows, and patrol_stop (track + buildings visited) over the floor of the
bare ST_MakeLine. Runs in a transaction that is rolled back, on the demo district (seeded if empty).

    .venv/bin/python -m bench.bench_patrols [--quick]
"""

import os
import sys
import time
import uuid
from datetime import timedelta


def _setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geo.settings")
    import django

    django.setup()


def _best(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(*, quick: bool) -> list[dict]:
    _setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from apps.common.db import copy_rows
    from apps.common.demo import seed_all
    from apps.patrols.models import Patrol, PatrolPoint
    from apps.patrols.services import patrol_add_points, patrol_stop
    from apps.people.models import StaffAssignment
    from apps.territory.models import Area
    from tests.patrols.paths import fixes, grid_walk

    n = 200 if quick else 1000  # the API takes at most 1000 fixes a batch
    repeat = 3 if quick else 5
    rows = []

    class Rollback(Exception):
        pass

    try:
        with transaction.atomic():
            if not Area.objects.exists():
                seed_all(seed=7, scale=0.2)
            a = StaffAssignment.objects.select_related("user", "area").get(user__username="grid")
            user, grid = a.user, a.area
            walk = grid_walk(grid, steps=50)
            start = timezone.now() - timedelta(hours=2)
            path = (walk * (n // len(walk) + 1))[:n]

            def new_patrol():
                return Patrol.objects.create(
                    client_id=uuid.uuid4(),
                    user=user,
                    grid=grid,
                    started_at=start,
                    ended_at=start + timedelta(hours=1),
                    visit_distance_m=15,
                )

            def service():
                p = new_patrol()
                patrol_add_points(
                    patrol_id=p.id, user=user, points=fixes(path, start=start, every_s=1)
                )

            def floor():
                p = new_patrol()
                pts = fixes(path, start=start, every_s=1)
                copy_rows(
                    PatrolPoint._meta.db_table,
                    [
                        "client_id",
                        "patrol_id",
                        "recorded_at",
                        "point",
                        "accuracy_m",
                        "status",
                        "reason",
                        "received_at",
                    ],
                    (
                        (
                            f["id"],
                            p.id,
                            f["t"],
                            f"SRID=4326;POINT({f['lon']} {f['lat']})",
                            f["accuracy"],
                            "accepted",
                            "",
                            f["t"],
                        )
                        for f in pts
                    ),
                )

            s, f = _best(service, repeat), _best(floor, repeat)
            rows.append(
                {
                    "benchmark": f"patrol_add_points, {n} fixes in one batch",
                    "value": round(s * 1000, 1),
                    "unit": "ms",
                    "floor": round(f * 1000, 1),
                    "ratio": round(s / f, 2),
                    "target": "ratio <= 5 (validation and the jump filter are Python)",
                    "note": "floor: bare COPY of the same rows",
                }
            )

            patrol = Patrol.objects.filter(points__isnull=False).order_by("-id").first()

            def stop():
                Patrol.objects.filter(id=patrol.id).update(ended_at=None)
                patrol_stop(patrol_id=patrol.id, user=user, ended_at=start + timedelta(hours=1))

            def line():
                with connection.cursor() as cur:
                    cur.execute(
                        "SELECT ST_Length(ST_MakeLine(point ORDER BY recorded_at)::geography) "
                        "FROM patrols_patrolpoint WHERE patrol_id = %s",
                        [patrol.id],
                    )
                    cur.fetchone()

            s, f = _best(stop, repeat), _best(line, repeat)
            rows.append(
                {
                    "benchmark": f"patrol_stop (track, length, buildings visited), {n} fixes",
                    "value": round(s * 1000, 1),
                    "unit": "ms",
                    "floor": round(f * 1000, 1),
                    "ratio": round(s / f, 2),
                    "target": "under 100 ms a stop (the floor has no buildings search)",
                    "note": "floor: bare ST_MakeLine + geography length of the same fixes",
                }
            )
            raise Rollback
    except Rollback:
        pass
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
