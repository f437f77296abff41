"""Issues benchmarks: the map's GeoJSON built in PostGIS vs the plain row fetch it replaces, the
console's city-wide "awaiting me" list (a page, soonest due first, and its count) vs the count alone,
and bulk locate for imports vs one locate() per point. Runs on the database in DATABASE_URL (the demo district);
`quick` uses fewer points. Never asserted in tests; figures in docs/BENCHMARKS.md."""

import json
import time

FLOOR_SQL = (
    "SELECT i.id, ST_X(i.point), ST_Y(i.point), i.tracking_code, i.status, c.code, "
    "i.created_at, i.due_at FROM issues_issue i JOIN issues_category c ON c.id = i.category_id"
)


def _best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(*, quick: bool) -> list[dict]:
    from django.db import connection

    from apps.issues.selectors import IssueFilter, issues_geojson, locate_many
    from apps.territory.selectors import locate

    rows = []
    repeat = 3 if quick else 7
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM issues_issue")
        n_issues = cur.fetchone()[0]
    # The map asks for GeoJSON only below LINLI_GEOJSON_MAX_FEATURES (tiles above): on a generated city
    # (millions of issues; all of them as GeoJSON would be tens of GB in Python) both sides read the
    # first community's issues instead, as a community's staff would.
    within, where = None, ""
    if n_issues > 100_000:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT code FROM territory_area WHERE level = 'community' AND valid_to IS NULL"
                " ORDER BY code LIMIT 1"
            )
            within = cur.fetchone()[0]
            cur.execute("SELECT count(*) FROM issues_issue WHERE area_code LIKE %s", [within + "%"])
            n_issues = cur.fetchone()[0]
        where = " WHERE i.area_code LIKE %(within)s"

    def ours():
        json.loads(issues_geojson(filters=IssueFilter(within=within)))

    def floor():
        # The least any GeoJSON endpoint must do: fetch the same columns, then serialise in Python.
        with connection.cursor() as cur:
            cur.execute(
                FLOOR_SQL + where,
                {"within": f"{within}%"},
            )
            json.dumps(
                [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [r[1], r[2]]},
                        "properties": {
                            "id": r[0],
                            "code": r[3],
                            "status": r[4],
                            "category": r[5],
                            "created_at": r[6].isoformat(),
                            "due_at": r[7].isoformat(),
                        },
                    }
                    for r in cur.fetchall()
                ]
            )

    t_ours, t_floor = _best(ours, repeat), _best(floor, repeat)
    rows.append(
        {
            "benchmark": f"issues.geojson, {n_issues} issues"
            + (f" (community {within})" if within else ""),
            "value": round(t_ours * 1000, 2),
            "unit": "ms",
            "floor": round(t_floor * 1000, 2),
            "ratio": round(t_ours / t_floor, 2),
            "target": "ratio <= 1.5 (PostGIS json_agg vs fetch + json.dumps of fewer fields)",
            "note": "full feature properties incl. overdue; floor serialises 6 fields in Python",
        }
    )

    rows += _awaiting_list(repeat)

    with connection.cursor() as cur:
        cur.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(footprint) p FROM territory_building"
            " ORDER BY id LIMIT 2000) t"
        )
        pts = cur.fetchall()
    from django.utils import timezone

    now = timezone.now()
    sample = (pts * 20)[: (200 if quick else 2000)]

    def bulk():
        locate_many([(x, y, now) for x, y in sample])

    def one_by_one():
        for x, y in sample:
            locate(lon=x, lat=y)

    t_bulk, t_each = _best(bulk, repeat), _best(one_by_one, max(1, repeat // 2))
    rows.append(
        {
            "benchmark": f"locate_many, {len(sample)} points",
            "value": round(t_bulk * 1000, 2),
            "unit": "ms",
            "floor": round(t_each * 1000, 2),
            "ratio": round(t_bulk / t_each, 3),
            "target": "ratio < 0.5 (one statement vs a locate() round trip per point)",
            "note": "floor = apps.territory.selectors.locate per point, as a naive importer would",
        }
    )
    return rows


def _awaiting_list(repeat: int) -> list[dict]:
    """The console's home panel for a city-wide user: /api/issues?awaiting=true&order=due&page_size=15
    (selectors.issues_list: the page, then the count) against the count statement alone, and, once,
    the single statement it replaced (the page with count(*) OVER ())."""
    from django.contrib.auth.models import User
    from django.db import connection
    from django.http import QueryDict

    from apps.issues.selectors import LIST_FROM, issues_list, parse_filter
    from apps.people.scope import Scope

    user = User(username="bench", is_superuser=True)  # unsaved: a superuser's rules need no rows
    filters = parse_filter(QueryDict("awaiting=true"), scope=Scope(everything=True), user=user)
    where, params = filters.sql()
    result = {}

    def ours():
        result["count"], result["page"] = issues_list(filters=filters, limit=15, order="due")

    def count_alone():
        with connection.cursor() as cur:
            cur.execute(f"SELECT count(*){LIST_FROM} WHERE {where}", params)  # noqa: S608
            cur.fetchone()

    def window():
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT i.id, count(*) OVER (){LIST_FROM} WHERE {where}"  # noqa: S608
                " ORDER BY i.due_at, i.created_at, i.id LIMIT 15",
                params,
            )
            cur.fetchall()

    t_ours, t_floor = _best(ours, repeat), _best(count_alone, repeat)
    t_window = _best(window, 1)
    return [
        {
            "benchmark": f"issues list, city-wide awaiting me, page of 15 by due + count "
            f"({result['count']} issues)",
            "value": round(t_ours * 1000, 2),
            "unit": "ms",
            "floor": round(t_floor * 1000, 2),
            "ratio": round(t_ours / t_floor, 2),
            "target": "",
            "note": f"floor = the count statement alone; the page with count(*) OVER () "
            f"(the statement before) {t_window * 1000:.0f} ms",
        }
    ]


if __name__ == "__main__":
    import os
    import sys

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geo.settings")
    django.setup()
    for row in run(quick="--quick" in sys.argv):
        print(json.dumps(row, ensure_ascii=False))
