"""Reads for planning: the input of a proposal, plans as GeoJSON, local metric CRSs."""

from collections import defaultdict

import numpy as np
import shapely
from django.db import connection
from django.utils.translation import gettext as _
from pyproj import Transformer

from apps.common.errors import NotFound
from apps.planning.models import Plan
from apps.planning.proposal import BuildingIn, GridIn
from apps.territory.models import Area
from apps.territory.selectors import area_current


def utm_epsg(lon: float, lat: float) -> int:
    """The UTM zone covering a point (EPSG:32650 for Hefei, 32635 for Helsinki): metres with little
    distortion across a community."""
    zone = int((lon + 180) // 6) + 1
    return (32600 if lat >= 0 else 32700) + zone


class Projector:
    """EPSG:4326 <-> the community's UTM zone, vectorised over shapely arrays."""

    def __init__(self, lon: float, lat: float):
        self.epsg = utm_epsg(lon, lat)
        self._fwd = Transformer.from_crs(4326, self.epsg, always_xy=True)
        self._inv = Transformer.from_crs(self.epsg, 4326, always_xy=True)

    def _apply(self, geoms, tr):
        arr = np.asarray(geoms, dtype=object)
        return shapely.transform(arr, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))

    def to_metric(self, geoms):
        return self._apply(geoms, self._fwd)

    def to_wgs84(self, geoms):
        return self._apply(geoms, self._inv)


def can_publish(*, user, community: Area) -> bool:
    """Publishing changes the territory: superusers, and planners attached to the community or its
    street (apps.people StaffAssignment, role planner, active)."""
    from apps.people.models import StaffAssignment, StaffRole

    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return StaffAssignment.objects.filter(
        user=user,
        role=StaffRole.PLANNER,
        active=True,
        area__code__in=[community.code, community.code[:9]],
    ).exists()


def _in_scope(scope, code: str) -> bool:
    """Plans belong to a community: the user's scope must cover it (a grid leader's grid is not
    enough: a plan redraws the whole community)."""
    return scope is None or scope.covers_code(code)


def community_get(*, code: str, scope=None) -> Area:
    """The current community by code; one outside the user's `scope` is not found (404)."""
    community = area_current(level="community", code=code)
    if not _in_scope(scope, community.code):
        raise NotFound(
            _("no current community with code %(code)s") % {"code": repr(code)}, field="community"
        )
    return community


def plan_get(*, plan_id: int, scope=None) -> Plan:
    """A plan; one of a community outside the user's `scope` is not found (404, no leak)."""
    plan = Plan.objects.select_related("community").filter(pk=plan_id).first()
    if plan is None or not _in_scope(scope, plan.community.code):
        raise NotFound(_("no plan with id %(id)s") % {"id": plan_id})
    return plan


# Hand-written: one round trip for the community's buildings (attached to its current grids) with their
# footprints as WKB, and a second for their household records; the ORM would build objects per row.
BUILDINGS_SQL = """
SELECT b.id, b.name, ST_AsBinary(b.footprint), b.households, b.grid_id, b.compound_id
  FROM territory_building b
 WHERE b.grid_id = ANY(%(grids)s)
 ORDER BY b.id
"""
HOUSEHOLDS_SQL = """
SELECT h.id, h.building_id, COALESCE(u.number, 0), h.floor
  FROM territory_household h
  LEFT JOIN territory_unit u ON u.id = h.unit_id
 WHERE h.building_id = ANY(%(buildings)s)
"""


def proposal_input(*, community: Area):
    """Grids (current, of the community) and their buildings with household records, in metres."""
    grids = list(
        Area.objects.filter(level="grid", parent__code=community.code, valid_to__isnull=True)
        .order_by("code")
        .only("id", "code", "geom")
    )
    c = community.geom.centroid
    proj = Projector(c.x, c.y)
    grid_geoms = proj.to_metric(shapely.from_wkb([bytes(g.geom.wkb) for g in grids]))
    grid_index = {g.id: i for i, g in enumerate(grids)}
    with connection.cursor() as cur:
        cur.execute(BUILDINGS_SQL, {"grids": list(grid_index)})
        rows = cur.fetchall()
        ids = [r[0] for r in rows]
        cur.execute(HOUSEHOLDS_SQL, {"buildings": ids})
        records = defaultdict(list)
        for hid, bid, unit, floor in cur.fetchall():
            records[bid].append((hid, unit, floor))
    footprints = proj.to_metric(shapely.from_wkb([bytes(r[2]) for r in rows]))
    buildings = [
        BuildingIn(
            id=r[0],
            name=r[1],
            footprint=fp,
            households=r[3],
            grid=grid_index[r[4]],
            compound=r[5],
            records=records.get(r[0], []),
        )
        for r, fp in zip(rows, footprints, strict=True)
    ]
    return (
        [GridIn(g.id, g.code, geom) for g, geom in zip(grids, grid_geoms, strict=True)],
        buildings,
        proj,
    )


# The community as it is drawn now, for the plan list: each current grid with its households, the
# household counts of its current neighbourhood grids, and its households in no current
# neighbourhood grid (a gap a planner has to close).
COMMUNITY_STATE_SQL = """
WITH g AS (
    SELECT id, code, name, households
      FROM territory_area
     WHERE parent_id = %(community)s AND level = 'grid'
       AND valid_from <= now() AND (valid_to IS NULL OR valid_to > now())
)
SELECT g.code, g.name, g.households,
       COALESCE((SELECT array_agg(n.households ORDER BY n.households)
                   FROM territory_area n
                  WHERE n.parent_id = g.id AND n.level = 'neighbourhood'
                    AND n.valid_from <= now() AND (n.valid_to IS NULL OR n.valid_to > now())),
                '{}'),
       (SELECT count(*)
          FROM territory_building b
          JOIN territory_household h ON h.building_id = b.id
          LEFT JOIN territory_area n ON n.id = h.neighbourhood_id
         WHERE b.grid_id = g.id
           AND (n.id IS NULL OR n.valid_from > now() OR n.valid_to <= now()))
  FROM g
 ORDER BY g.code
"""


def community_state(*, community: Area) -> list[dict]:
    """The community's current grids: code, name, households, `neighbourhoods` (the household count of
    each current neighbourhood grid in it, ascending) and `unassigned` (its households in none)."""
    with connection.cursor() as cur:
        cur.execute(COMMUNITY_STATE_SQL, {"community": community.id})
        return [
            {
                "code": code,
                "name": name,
                "households": households,
                "neighbourhoods": list(counts),
                "unassigned": unassigned,
            }
            for code, name, households, counts, unassigned in cur.fetchall()
        ]
