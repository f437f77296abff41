"""Patrols per grid: patrols started in the month on grids of the area ÷ the area's current grids.
Used by apps.analytics.indicators when the patrols app's models exist."""

from django.apps import apps as django_apps

from apps.common.routers import read_cursor

# Patrols record the grid version patrolled; the code survives redraws, so matching by code prefix
# counts patrols of every version of the area's grids.
PATROLS_SQL = """
SELECT (SELECT count(*) FROM patrols_patrol p JOIN territory_area g ON g.id = p.grid_id
         WHERE g.code LIKE %(prefix)s AND p.started_at >= %(start)s AND p.started_at < %(end)s),
       (SELECT count(*) FROM territory_area g
         WHERE g.level = 'grid' AND g.code LIKE %(prefix)s
           AND g.valid_from <= now() AND (g.valid_to IS NULL OR g.valid_to > now()))
"""


def month_indicators(*, code: str, start, end) -> dict:
    try:
        django_apps.get_model("patrols.Patrol")
    except LookupError:
        return {}
    with read_cursor() as cur:
        cur.execute(PATROLS_SQL, {"prefix": code + "%", "start": start, "end": end})
        patrols, grids = cur.fetchone()
    return {
        "patrols_per_grid": {
            "value": round(patrols / grids, 4) if grids else None,
            "num": patrols,
            "den": grids,
        }
    }
