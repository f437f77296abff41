"""Gap kinds that read the patrols app: buildings nobody walked past lately, and compound heads below
their monthly visit target. Registered by apps.analytics.gaps when the patrols models exist."""

from django.utils import timezone
from django.utils.translation import gettext_lazy

from apps.analytics.sentences import _
from apps.common.routers import read_cursor

# Buildings with households and no visit (near the track or checked in) on a patrol started in the last
# `patrol_days` days.
BUILDING_NOT_PATROLLED_SQL = """
SELECT 'building', b.id, COALESCE(k.name || ' ', '') || b.name, COALESCE(g.code, c.code, ''),
       CASE WHEN %(geometry)s THEN ST_AsGeoJSON(b.footprint, 7) END,
       json_build_object('households', b.households, 'days', %(patrol_days)s,
                         'last', (lv.last AT TIME ZONE %(tz)s)::date)
  FROM territory_building b
  LEFT JOIN territory_area c ON c.id = b.community_id
  LEFT JOIN territory_area g ON g.id = b.grid_id
  LEFT JOIN territory_area k ON k.id = b.compound_id
 CROSS JOIN LATERAL (SELECT max(p.started_at) AS last
                       FROM patrols_patrolvisit v JOIN patrols_patrol p ON p.id = v.patrol_id
                      WHERE v.building_id = b.id) lv
 WHERE b.households > 0 AND COALESCE(g.code, c.code, '') LIKE %(prefix)s
   AND (lv.last IS NULL OR lv.last < %(patrol_since)s)
 ORDER BY b.id
"""


def compound_head_rows(params: dict) -> list[tuple]:
    """Compound heads with fewer visits this month than the target, from the patrols app's own
    selector (the same counting rule as its pages)."""
    from apps.patrols.selectors import compound_head_visits

    today = timezone.localdate()
    prefix = params["prefix"].rstrip("%")
    rows = [
        r
        for r in compound_head_visits(since=today.replace(day=1), until=today, within=None)
        # compounds hang on communities: a grid-level filter (longer prefix) has none
        if not r["meets_target"] and len(prefix) <= 12 and r["compound_code"].startswith(prefix)
    ]
    if not rows:
        return []
    with read_cursor() as cur:
        cur.execute(
            "SELECT a.code, ST_AsGeoJSON(a.geom, 7) FROM territory_area a WHERE a.level = 'compound' "
            "AND a.code = ANY(%s) AND a.valid_from <= now() AND (a.valid_to IS NULL OR a.valid_to > now())",
            [[r["compound_code"] for r in rows]],
        )
        geoms = dict(cur.fetchall())
    return [
        (
            "staff",
            r["assignment_id"],
            r["head"],
            r["compound_code"][:12],
            geoms.get(r["compound_code"]),
            {"visits": r["visits"], "target": r["target"], "compound": r["compound"]},
        )
        for r in rows
    ]


def kinds():
    from apps.analytics.gaps import GapKind

    needs = ("patrols.Patrol", "patrols.PatrolVisit")
    return [
        GapKind(
            "building_not_patrolled",
            gettext_lazy("Buildings not patrolled lately"),
            BUILDING_NOT_PATROLLED_SQL,
            lambda name, d, p: (
                (
                    _(
                        "Building %(name)s (%(households)s households) has not been patrolled in the "
                        "last %(days)s days (last patrol: %(last)s)."
                    )
                    if d.get("last")
                    else _(
                        "Building %(name)s (%(households)s households) has never been patrolled "
                        "(looked back %(days)s days)."
                    )
                )
                % {
                    "name": name,
                    "households": d["households"],
                    "days": d["days"],
                    "last": d.get("last"),
                }
            ),
            needs=needs,
        ),
        GapKind(
            "compound_head_few_visits",
            gettext_lazy("Compound heads with too few visits this month"),
            None,
            lambda name, d, p: (
                _(
                    "Compound head %(name)s has visited %(compound)s %(visits)s times this month; the "
                    "target is %(target)s."
                )
                % {
                    "name": name,
                    "compound": d["compound"],
                    "visits": d["visits"],
                    "target": d["target"],
                }
            ),
            needs=needs + ("people.StaffAssignment",),
            fetch=compound_head_rows,
        ),
    ]
