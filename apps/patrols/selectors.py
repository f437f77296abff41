"""Reads about patrols: the grids a user patrols, patrol history and detail, compound heads' visits."""

import json
from datetime import date

from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.common.errors import NotFound
from apps.common.routers import read_cursor
from apps.patrols import conf
from apps.patrols.models import Patrol, PatrolPoint, PointStatus
from apps.people.models import StaffRole
from apps.territory.models import Area

PATROL_ROLES = (StaffRole.GRID_LEADER, StaffRole.GRID_WORKER)


def user_grids(*, user) -> list[Area]:
    """The current grids a user patrols: grids they lead or work in, the grids of their community (community
    staff), and the grids holding buildings of a compound they head. Assignments point at an area version;
    matching by code keeps a leader on their grid after a redraw."""
    if not user.is_authenticated:
        return []
    now = timezone.now()
    current = Area.objects.filter(level="grid", valid_from__lte=now).exclude(valid_to__lte=now)
    assignments = list(
        user.assignments.filter(active=True, area__isnull=False).values_list("role", "area__code")
    )
    grid_codes = {code for role, code in assignments if role in PATROL_ROLES}
    community_codes = [code for role, code in assignments if role == StaffRole.COMMUNITY_STAFF]
    compound_codes = [code for role, code in assignments if role == StaffRole.COMPOUND_HEAD]
    ids = set(current.filter(code__in=grid_codes).values_list("id", flat=True))
    for code in community_codes:
        ids |= set(current.filter(code__startswith=code).values_list("id", flat=True))
    if compound_codes:
        ids |= set(
            current.filter(
                grid_buildings__compound__code__in=compound_codes,
            ).values_list("id", flat=True)
        )
    return list(Area.objects.filter(id__in=ids).order_by("code"))


def can_patrol(*, user, grid: Area) -> bool:
    return user.is_superuser or any(g.id == grid.id for g in user_grids(user=user))


# One round trip for the phone's map: the user's grids and their buildings as GeoJSON built by PostGIS
# (json_agg), like the territory layers; building centroids let the phone sort by distance itself.
MY_MAP_SQL = """
SELECT json_build_object(
  'grids', json_build_object('type', 'FeatureCollection', 'features', COALESCE((
    SELECT json_agg(json_build_object(
      'type', 'Feature', 'id', a.id, 'geometry', ST_AsGeoJSON(a.geom, 7)::json,
      'properties', json_build_object('id', a.id, 'code', a.code, 'name', a.name,
                                      'households', a.households, 'buildings', a.buildings)
    ) ORDER BY a.code) FROM territory_area a WHERE a.id = ANY(%(ids)s)), '[]'::json)),
  'buildings', json_build_object('type', 'FeatureCollection', 'features', COALESCE((
    SELECT json_agg(json_build_object(
      'type', 'Feature', 'id', b.id, 'geometry', ST_AsGeoJSON(b.footprint, 7)::json,
      'properties', json_build_object(
        'id', b.id, 'name', b.name, 'address', b.address, 'households', b.households,
        'grid_id', b.grid_id, 'compound', c.name,
        'lon', ST_X(ST_PointOnSurface(b.footprint)), 'lat', ST_Y(ST_PointOnSurface(b.footprint)))
    ) ORDER BY b.id)
    FROM territory_building b LEFT JOIN territory_area c ON c.id = b.compound_id
    WHERE b.grid_id = ANY(%(ids)s)), '[]'::json))
)::text
"""


def my_map_geojson(*, user) -> str:
    """The user's grids and their buildings (GeoJSON built by PostGIS), and `heads`: the building and
    compound heads of each building, to call on a patrol ({building id: [...]}, only buildings with
    one; names and phones masked unless the user may see personal data there)."""
    ids = [g.id for g in user_grids(user=user)]
    with connection.cursor() as cur:
        cur.execute(MY_MAP_SQL, {"ids": ids})
        text = cur.fetchone()[0]
    heads = building_heads(user=user, grid_ids=ids)
    # spliced into the JSON text PostGIS built (its last character closes the object)
    return text[:-1] + ', "heads": ' + json.dumps(heads, ensure_ascii=False) + "}"


def building_heads(*, user, grid_ids: list[int]) -> dict[int, list[dict]]:
    """Building heads and the heads of their compounds, for the buildings of these grids."""
    from apps.people.models import StaffAssignment
    from apps.people.privacy import access_for
    from apps.people.selectors import contact_of
    from apps.territory.models import Building

    buildings = list(
        Building.objects.filter(grid_id__in=grid_ids).values(
            "id", "grid_id", "community_id", "compound_id"
        )
    )
    if not buildings:
        return {}
    compounds = {b["compound_id"] for b in buildings if b["compound_id"]}
    rows = StaffAssignment.objects.filter(active=True).filter(
        Q(role=StaffRole.BUILDING_HEAD, building_id__in=[b["id"] for b in buildings])
        | Q(role=StaffRole.COMPOUND_HEAD, area_id__in=compounds)
    )
    by_building, by_compound = {}, {}
    for r in rows.order_by("id").values("role", "name", "phone", "building_id", "area_id"):
        if r["role"] == StaffRole.BUILDING_HEAD:
            by_building.setdefault(r["building_id"], []).append(r)
        else:
            by_compound.setdefault(r["area_id"], []).append(r)
    access = access_for(user)
    out = {}
    for b in buildings:
        found = by_building.get(b["id"], []) + by_compound.get(b["compound_id"], [])
        if found:
            out[b["id"]] = [
                contact_of(access, r, grid_id=b["grid_id"], community_id=b["community_id"])
                for r in found
            ]
    return out


def patrol_get(*, patrol_id: int, user) -> Patrol:
    """A patrol its user (or a superuser) may see; others get 404 so ids are not probed."""
    qs = Patrol.objects.select_related("grid")
    if not user.is_superuser:
        qs = qs.filter(user=user)
    patrol = qs.filter(id=patrol_id).first()
    if patrol is None:
        raise NotFound(_("no patrol %(id)s of yours") % {"id": patrol_id}, field="patrol_id")
    return patrol


def patrol_active(*, user) -> Patrol | None:
    return Patrol.objects.select_related("grid").filter(user=user, ended_at__isnull=True).first()


def patrol_summary(patrol: Patrol) -> dict:
    return {
        "id": patrol.id,
        "client_id": str(patrol.client_id),
        "grid": {"id": patrol.grid_id, "code": patrol.grid.code, "name": patrol.grid.name},
        "started_at": patrol.started_at.isoformat(),
        "ended_at": patrol.ended_at.isoformat() if patrol.ended_at else None,
        "active": patrol.active,
        "length_m": round(patrol.length_m, 1),
        "visit_distance_m": patrol.visit_distance_m,
    }


def patrol_history(*, user, limit: int = 50) -> list[dict]:
    """The user's patrols, newest first, with counts (one query)."""
    from django.db.models import Count, Q

    patrols = (
        Patrol.objects.filter(user=user)
        .select_related("grid")
        .annotate(
            n_points=Count("points", filter=Q(points__status=PointStatus.ACCEPTED), distinct=True),
            n_visits=Count("visits", distinct=True),
            n_checkins=Count("checkins", distinct=True),
            n_issues=Count("issue_links", distinct=True),
        )
        .order_by("-started_at")[:limit]
    )
    return [
        patrol_summary(p)
        | {
            "points": p.n_points,
            "buildings_visited": p.n_visits,
            "checkins": p.n_checkins,
            "issues": p.n_issues,
        }
        for p in patrols
    ]


def patrol_detail(patrol: Patrol) -> dict:
    """Everything about one patrol: the track, every point with its status, visits and check-ins."""
    points = list(
        PatrolPoint.objects.filter(patrol=patrol)
        .order_by("recorded_at", "id")
        .values("client_id", "recorded_at", "point", "accuracy_m", "status", "reason")
    )
    visits = patrol.visits.select_related("building").order_by("first_at", "building_id")
    checkins = patrol.checkins.select_related("building").order_by("at", "id")
    issues = patrol.issue_links.select_related("issue__category").order_by("reported_at", "id")
    return patrol_summary(patrol) | {
        "track": json.loads(patrol.track.json) if patrol.track else None,
        "points": [
            {
                "id": str(p["client_id"]),
                "t": p["recorded_at"].isoformat(),
                "lon": p["point"].x,
                "lat": p["point"].y,
                "accuracy": p["accuracy_m"],
                "status": p["status"],
                "reason": p["reason"],
            }
            for p in points
        ],
        "visits": [
            {
                "building_id": v.building_id,
                "building": str(v.building),
                "first_at": v.first_at.isoformat(),
                "distance_m": None if v.distance_m is None else round(v.distance_m, 1),
                "near_track": v.near_track,
                "checked_in": v.checked_in,
            }
            for v in visits
        ],
        "issues": [
            {
                "id": link.issue_id,
                "tracking_code": link.issue.tracking_code,
                "category": link.issue.category.label,
                "status": link.issue.status,
                "reported_at": link.reported_at.isoformat(),
                "lon": link.issue.point.x,
                "lat": link.issue.point.y,
            }
            for link in issues
        ],
        "checkins": [
            {
                "id": str(c.client_id),
                "building_id": c.building_id,
                "building": str(c.building),
                "at": c.at.isoformat(),
                "distance_m": None if c.distance_m is None else round(c.distance_m, 1),
                "note": c.note,
            }
            for c in checkins
        ],
    }


# Visits of compound heads to their compounds, per calendar month (local time). A visit is a day on which a
# patrol of the head's user came near (or checked in at) a building of the compound; several patrols on
# one day are one visit. Heads with no visits in a month get a 0 row, so a missed target is visible.
# Buildings point at a compound version; matching by code counts visits across redraws. Raw SQL: the
# month series and the per-day de-duplication are one GROUP BY here, several queries in the ORM.
COMPOUND_HEAD_VISITS_SQL = """
WITH months AS (
  SELECT generate_series(date_trunc('month', %(since)s::timestamp),
                         date_trunc('month', %(until)s::timestamp), interval '1 month')::date AS month
), heads AS (
  SELECT sa.id, sa.name, sa.user_id, a.code, a.name AS compound
  FROM people_staffassignment sa JOIN territory_area a ON a.id = sa.area_id
  WHERE sa.role = 'compound_head' AND sa.active AND a.code LIKE %(prefix)s
), days AS (
  SELECT DISTINCT h.id AS head_id,
         (p.started_at AT TIME ZONE %(tz)s)::date AS day
  FROM heads h
  JOIN patrols_patrol p ON p.user_id = h.user_id
  JOIN patrols_patrolvisit v ON v.patrol_id = p.id
  JOIN territory_building b ON b.id = v.building_id
  JOIN territory_area c ON c.id = b.compound_id AND c.code = h.code
  WHERE p.started_at >= (date_trunc('month', %(since)s::timestamp) AT TIME ZONE %(tz)s)
    AND p.started_at < ((date_trunc('month', %(until)s::timestamp) + interval '1 month') AT TIME ZONE %(tz)s)
)
SELECT h.id, h.name, h.code, h.compound, m.month,
       count(d.day) AS visits
FROM heads h CROSS JOIN months m
LEFT JOIN days d ON d.head_id = h.id AND date_trunc('month', d.day)::date = m.month
GROUP BY h.id, h.name, h.code, h.compound, m.month
ORDER BY h.code, h.id, m.month
"""


def compound_head_visits(*, since: date, until: date, within: str | None = None) -> list[dict]:
    """Visits per compound head per month from the month of `since` to the month of `until`."""
    target = conf.compound_head_visit_target()
    with read_cursor() as cur:  # the replica inside replica_reads() (analytics)
        cur.execute(
            COMPOUND_HEAD_VISITS_SQL,
            {
                "since": since,
                "until": until,
                "prefix": (within or "") + "%",
                "tz": timezone.get_current_timezone_name(),
            },
        )
        rows = cur.fetchall()
    return [
        {
            "assignment_id": r[0],
            "head": r[1],
            "compound_code": r[2],
            "compound": r[3],
            "month": r[4].strftime("%Y-%m"),
            "visits": r[5],
            "target": target,
            "meets_target": r[5] >= target,
        }
        for r in rows
    ]
