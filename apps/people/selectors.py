"""Reads about who is responsible for what, and about residents and center households."""

import numpy as np
from django.db import connection
from django.db.models import Q
from django.utils.translation import gettext as _

from apps.common.errors import DomainError
from apps.common.labels import choice_label
from apps.people.models import (
    Department,
    PropertyCompany,
    StaffAssignment,
    StaffRole,
)
from apps.territory.models import Area, Level


def compound_property_company(*, compound_id: int | None) -> PropertyCompany | None:
    """The company serving a compound, or None (无物业 or unknown compound)."""
    if compound_id is None:
        return None
    return PropertyCompany.objects.filter(services__compound_id=compound_id).first()


def grid_leader(*, grid_id: int | None) -> StaffAssignment | None:
    if grid_id is None:
        return None
    return (
        StaffAssignment.objects.filter(role=StaffRole.GRID_LEADER, area_id=grid_id, active=True)
        .order_by("id")
        .first()
    )


def department_for(*, kind: str, street_id: int | None = None) -> Department | None:
    """The department of a kind serving a street; one with no street serves everywhere."""
    qs = Department.objects.filter(kind=kind)
    if street_id is not None:
        local = qs.filter(street_id=street_id).order_by("id").first()
        if local:
            return local
    return qs.filter(street__isnull=True).order_by("id").first()


# --- Center households -----------------------------------------------------------------------------

DEFAULT_POLICY = {"min_links": 10, "max_links": 30, "rule": "distance", "max_distance_m": 200}


# The roles that are someone to call about a place (not planners, auditors or the city's administrators).
CONTACT_ROLES = (
    StaffRole.BUILDING_HEAD,
    StaffRole.COMPOUND_HEAD,
    StaffRole.GRID_LEADER,
    StaffRole.GRID_WORKER,
    StaffRole.COMMUNITY_STAFF,
    StaffRole.STREET_STAFF,
)


def contact_of(access, row: dict, **place) -> dict:
    """A staff assignment row (role, name, phone) as a contact: its role and role's name, its name and
    phone through `access` (apps.people.privacy) at `place` (grid_id, community_id, street_id)."""
    return {
        "role": row["role"],
        "role_name": choice_label(StaffRole, row["role"]),
        **access.render_contact(row["name"], row["phone"], **place),
    }


def contact_places(*, area: Area | None = None, building=None) -> list[tuple[str, int, str]]:
    """(level, id, name) of a place and of what holds it, nearest first, up to its community (a
    street: itself). A building: itself, its compound, grid and community; an area: itself and its
    parents (a neighbourhood grid's grid, a compound's community)."""
    if building is not None:
        places = [("building", building.id, building.address or building.name)]
        for level in ("compound", "grid", "community"):
            held = getattr(building, level)
            if held is not None:
                places.append((level, held.id, held.name))
        return places
    places = []
    while area is not None:
        places.append((area.level, area.id, area.name))
        if area.level in (Level.COMMUNITY, Level.STREET):
            break
        area = area.parent
    return places


def contacts(*, access, area: Area | None = None, building=None) -> dict:
    """Who to call about a place (`area` or `building`): the active staff and heads attached to it and
    to what holds it (contact_places), nearest first, then by role; and the property company serving
    its compound. Names and phones go through `access` (apps.people.privacy), judged by the place
    asked about: its grid, community and street."""
    places = contact_places(area=area, building=building)
    rank = {(level, pk): i for i, (level, pk, _name) in enumerate(places)}
    names = {(level, pk): name for level, pk, name in places}
    area_ids = [pk for level, pk, _name in places if level != "building"]
    where = Q(area_id__in=area_ids)
    if building is not None:
        where |= Q(building_id=building.id)
    rows = StaffAssignment.objects.filter(where, active=True, role__in=CONTACT_ROLES).values(
        "id", "role", "name", "phone", "since", "area_id", "area__level", "building_id"
    )
    ids = {level: pk for level, pk, _name in places}
    place = {
        "grid_id": ids.get("grid"),
        "community_id": ids.get("community"),
        "street_id": ids.get("street"),
    }
    role_order = {role: i for i, role in enumerate(CONTACT_ROLES)}
    staff = []
    for r in rows:
        key = (
            ("building", r["building_id"]) if r["building_id"] else (r["area__level"], r["area_id"])
        )
        contact = {
            "id": r["id"],
            **contact_of(access, r, **place),
            "since": r["since"],
            "place": {"level": key[0], "id": key[1], "name": names[key]},
        }
        staff.append(((rank[key], role_order[r["role"]], r["id"]), contact))
    staff.sort(key=lambda pair: pair[0])
    company = compound_property_company(compound_id=ids.get("compound"))
    data = {
        "results": [contact for _order, contact in staff],
        "company": (
            {"id": company.id, "name": company.name, "phone": company.phone} if company else None
        ),
    }
    if area is not None and area.level == Level.COMMUNITY:
        data["grids"] = community_grid_staff(access=access, community=area)
    return data


def community_grid_staff(*, access, community: Area) -> list[dict]:
    """Each current grid of a community with its active grid leader and workers (none: a grid with no
    leader is a coverage gap), in code order; names and phones through `access`."""
    from apps.territory.selectors import current_areas

    grids = list(
        current_areas(level=Level.GRID, within=community.code)
        .order_by("code")
        .values("id", "code", "name")
    )
    rows = (
        StaffAssignment.objects.filter(
            area_id__in=[g["id"] for g in grids],
            active=True,
            role__in=(StaffRole.GRID_LEADER, StaffRole.GRID_WORKER),
        )
        .order_by("role", "id")
        .values("id", "role", "name", "phone", "area_id")
    )
    by_grid: dict[int, list] = {g["id"]: [] for g in grids}
    for r in rows:
        by_grid[r["area_id"]].append(
            {
                "id": r["id"],
                **contact_of(access, r, grid_id=r["area_id"], community_id=community.id),
            }
        )
    return [{**g, "staff": by_grid[g["id"]]} for g in grids]


def center_policy(*, community_id: int | None):
    """The community's policy, else the default row, else the built-in defaults (unsaved)."""
    from apps.people.models import CenterPolicy

    policies = {
        p.community_id: p
        for p in CenterPolicy.objects.filter(
            Q(community_id=community_id) | Q(community__isnull=True)
        )
    }
    return policies.get(community_id) or policies.get(None) or CenterPolicy(**DEFAULT_POLICY)


def policy_dict(policy) -> dict:
    return {k: getattr(policy, k) for k in DEFAULT_POLICY}


def scope_grids(*, area: Area) -> list[Area]:
    """The grids a community or grid covers (current versions)."""
    if area.level == "grid":
        return [area]
    if area.level == "community":
        return list(
            Area.objects.filter(parent=area, level="grid", valid_to__isnull=True).order_by("code")
        )
    raise DomainError(
        _("center households are planned for a community or a grid, not a %(level)s")
        % {"level": choice_label(Level, area.level)},
        field="area",
    )


# Hand-written: the building's point on surface as lon/lat for every household of some grids, in one
# statement (the ORM would need a function expression per coordinate and a join per row).
HOUSEHOLD_POINTS_SQL = """
SELECT h.id, COALESCE(h.neighbourhood_id, -1), b.grid_id, b.community_id, ST_X(p.g), ST_Y(p.g),
       COALESCE(u.number, 1), h.floor
  FROM territory_household h
  JOIN territory_building b ON b.id = h.building_id
  LEFT JOIN territory_unit u ON u.id = h.unit_id
  CROSS JOIN LATERAL (SELECT ST_PointOnSurface(b.footprint) AS g) p
 WHERE b.grid_id = ANY(%s)
 ORDER BY h.id
"""

HOUSEHOLD_POINTS_BY_ID_SQL = HOUSEHOLD_POINTS_SQL.replace("b.grid_id = ANY(%s)", "h.id = ANY(%s)")


# Where a dwelling is, for straight-line distances: the building's point on surface, moved UNIT_SPACING_M
# east per unit (stairwells are about that far apart) and FLOOR_HEIGHT_M up per floor.
UNIT_SPACING_M = 12.0
FLOOR_HEIGHT_M = 3.0


def household_points(*, grid_ids=None, household_ids=None) -> list[tuple]:
    """(household id, neighbourhood id or -1, grid id, community id, lon, lat, unit number, floor)."""
    sql, arg = (
        (HOUSEHOLD_POINTS_SQL, list(grid_ids))
        if grid_ids is not None
        else (HOUSEHOLD_POINTS_BY_ID_SQL, list(household_ids))
    )
    with connection.cursor() as cur:
        cur.execute(sql, [arg])
        return cur.fetchall()


def dwelling_xyz(rows) -> np.ndarray:
    """Metric (x, y, z) of household_points rows."""
    from apps.people.solver import metric_xy

    xy = metric_xy([r[4] for r in rows], [r[5] for r in rows])
    if not len(rows):
        return np.zeros((0, 3))
    unit = np.array([r[6] for r in rows], dtype=float)
    floor = np.array([r[7] for r in rows], dtype=float)
    return np.column_stack(
        [xy[:, 0] + (unit - 1) * UNIT_SPACING_M, xy[:, 1], floor * FLOOR_HEIGHT_M]
    )


def household_distance_m(a_id: int, b_id: int) -> float:
    if a_id == b_id:
        return 0.0
    rows = {r[0]: r for r in household_points(household_ids=[a_id, b_id])}
    xyz = dwelling_xyz([rows[a_id], rows[b_id]])
    return float(np.linalg.norm(xyz[0] - xyz[1]))


def member_households(*, household_ids) -> dict[int, int]:
    """household id -> the party member who represents it (retired and community members first)."""
    from apps.people.models import PartyMember

    order = {"retired": 0, "community": 1, "in_service": 2}
    best: dict[int, tuple] = {}
    for pm_id, hh, kind in PartyMember.objects.filter(
        resident__household_id__in=household_ids
    ).values_list("id", "resident__household_id", "kind"):
        key = (order.get(kind, 9), pm_id)
        if hh not in best or key < best[hh][0]:
            best[hh] = (key, pm_id)
    return {hh: v[1] for hh, v in best.items()}


def solver_problems(*, area: Area, policy) -> list[tuple[Area, object, dict]]:
    """One solver Problem per grid in scope (links never cross grid lines: the grid leader supervises
    the center households of the grid), with the party member of each candidate household."""
    from apps.people.solver import Problem

    grids = scope_grids(area=area)
    rows = household_points(grid_ids=[g.id for g in grids])
    members = member_households(household_ids=[r[0] for r in rows])
    by_grid: dict[int, list] = {}
    for r in rows:
        by_grid.setdefault(r[2], []).append(r)
    problems = []
    for g in grids:
        grid_rows = by_grid.get(g.id, [])
        ids = np.array([r[0] for r in grid_rows], dtype=np.int64)
        problems.append(
            (
                g,
                Problem(
                    households=ids,
                    xy=dwelling_xyz(grid_rows),
                    neighbourhood=np.array([r[1] for r in grid_rows], dtype=np.int64),
                    candidates=np.array(
                        [i for i, r in enumerate(grid_rows) if r[0] in members], dtype=np.int64
                    ),
                    min_links=policy.min_links,
                    max_links=policy.max_links,
                    rule=policy.rule,
                    max_distance_m=float(policy.max_distance_m),
                ),
                members,
            )
        )
    return problems


# Hand-written: households and covered households (centers + linked) per grid in one pass.
COVERAGE_SQL = """
SELECT b.grid_id, g.code, g.name, count(*) AS households,
       count(*) FILTER (WHERE c.id IS NOT NULL OR l.id IS NOT NULL) AS covered,
       count(c.id) AS centers
  FROM territory_household h
  JOIN territory_building b ON b.id = h.building_id
  JOIN territory_area g ON g.id = b.grid_id
  LEFT JOIN people_centerhousehold c ON c.household_id = h.id
  LEFT JOIN people_centerlink l ON l.household_id = h.id
 WHERE b.grid_id = ANY(%s)
 GROUP BY b.grid_id, g.code, g.name
 ORDER BY g.code
"""


def coverage(*, area: Area) -> list[dict]:
    """Households linked (or centers themselves) ÷ households, per grid of a community or grid."""
    grids = scope_grids(area=area)
    with connection.cursor() as cur:
        cur.execute(COVERAGE_SQL, [[g.id for g in grids]])
        rows = cur.fetchall()
    return [
        {
            "grid_id": gid,
            "code": code,
            "name": name,
            "households": n,
            "covered": covered,
            "centers": centers,
            "coverage": round(covered / n, 4) if n else None,
        }
        for gid, code, name, n, covered, centers in rows
    ]


def center_map(*, area: Area, access, proposal=None) -> dict:
    """Centers, their links (with distances) and warnings for the map page, from the live tables or
    from a proposal. Names go through the privacy rule."""
    from apps.people.models import (
        CenterHousehold,
        CenterLink,
        ProposalCenter,
        ProposalLink,
        Resident,
    )

    policy = center_policy(community_id=area.id if area.level == "community" else area.parent_id)
    grids = scope_grids(area=area)
    points = {r[0]: r for r in household_points(grid_ids=[g.id for g in grids])}
    if proposal is None:
        centers = list(
            CenterHousehold.objects.filter(household_id__in=points).values_list(
                "id", "household_id", "party_member__resident_id"
            )
        )
        links = list(
            CenterLink.objects.filter(center__household_id__in=points).values_list(
                "center_id", "household_id"
            )
        )
    else:
        centers = list(
            ProposalCenter.objects.filter(proposal=proposal).values_list(
                "id", "household_id", "party_member__resident_id"
            )
        )
        links = list(
            ProposalLink.objects.filter(proposal=proposal).values_list("center_id", "household_id")
        )
    residents = {r.id: r for r in Resident.objects.filter(id__in=[c[2] for c in centers])}
    extra = {h for _c, h in links if h not in points} | {
        c[1] for c in centers if c[1] not in points
    }
    if extra:
        points.update({r[0]: r for r in household_points(household_ids=list(extra))})
    ids = list(points)
    xy = dwelling_xyz([points[h] for h in ids])
    pos = {h: i for i, h in enumerate(ids)}
    out = []
    by_center: dict[int, list] = {}
    for cid, hh in links:
        by_center.setdefault(cid, []).append(hh)
    for cid, hh, resident_id in centers:
        p = points[hh]
        person = access.render_person(residents[resident_id], grid_id=p[2], community_id=p[3])
        linked = []
        for lh in sorted(by_center.get(cid, [])):
            d = float(np.linalg.norm(xy[pos[hh]] - xy[pos[lh]]))
            q = points[lh]
            far = (
                d > policy.max_distance_m
                if policy.rule == "distance"
                else (q[1] != p[1] or q[1] < 0)
            )
            linked.append(
                {"household": lh, "lon": q[4], "lat": q[5], "distance_m": round(d, 1), "far": far}
            )
        n = len(linked)
        warnings = []
        if n > policy.max_links:
            warnings.append("overload")
        if n < policy.min_links:
            warnings.append("underload")
        if any(x["far"] for x in linked):
            warnings.append("distance")
        out.append(
            {
                "id": cid,
                "household": hh,
                "lon": p[4],
                "lat": p[5],
                "grid_id": p[2],
                "member": person["name"],
                "links": linked,
                "count": n,
                "warnings": warnings,
            }
        )
    return {
        "area": {"id": area.id, "code": area.code, "name": area.name, "level": area.level},
        "policy": policy_dict(policy),
        "proposal": proposal.id if proposal else None,
        "centers": out,
    }
