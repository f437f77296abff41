"""Writes for planning: create, propose, save, validate, publish, discard plans. Each one transaction.

Publishing goes through apps.territory.services: area_replace for a changed code (the old version is
closed and stays queryable), area_create for a new one, a conditional close for a removed one; then
buildings are re-attached, households' neighbourhood links and staff assignments move to the new
versions, and cached counts are refreshed."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import shapely
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.common.errors import Conflict, DomainError
from apps.common.geometry import check_geometry
from apps.people.models import StaffAssignment
from apps.planning import proposal as prop
from apps.planning import validation
from apps.planning.models import PLAN_AREA_ORDER, Plan, PlanArea, PlanLevel, PlanStatus
from apps.planning.selectors import Projector, proposal_input
from apps.territory import services as territory
from apps.territory.models import Area, Building, Household, Level

DEFAULT_RANGE = {"neighbourhood": (30, 20, 40), "grid": (None, None, None)}
GEOM_TOLERANCE = 1.0  # m² of symmetric difference below which a polygon has "not changed"


def _polygonal(g):
    """Valid polygons only: reprojection can leave a self-touching ring; make_valid mends it and
    anything not areal (a stray line) is dropped."""
    if not g.is_valid:
        g = shapely.make_valid(g)
    if g.geom_type == "GeometryCollection":
        g = shapely.union_all([p for p in shapely.get_parts(g) if p.geom_type.endswith("Polygon")])
    return g


def _geos(geom4326) -> MultiPolygon:
    # Snap to the 1e-7° grid (~1 cm) that GeoJSON output uses, so what the editor reads back is
    # exactly what is stored (no ring collapsing in rounding), then keep valid polygons only.
    geom4326 = _polygonal(shapely.set_precision(_polygonal(geom4326), 1e-7))
    g = GEOSGeometry(memoryview(shapely.to_wkb(geom4326, include_srid=False)), srid=4326)
    return territory.as_multipolygon(g)


def _shp(geos) -> shapely.Geometry:
    return shapely.from_wkb(bytes(geos.wkb))


EDITOR_PRECISION = 1e-7  # degrees (~1 cm): the GeoJSON the editor reads and sends back


def _metric_as_edited(proj, geoms) -> list:
    """Polygons at the editor's precision, in metres, for "has it changed?". A polygon that went
    through the editor unchanged differs from the stored one by its rounding to 1e-7°, which on a
    grid's long boundary adds up to more than GEOM_TOLERANCE; snapped alike, the two are equal."""
    if not len(geoms):
        return []
    return proj.to_metric(
        [_polygonal(shapely.set_precision(_shp(g), EDITOR_PRECISION)) for g in geoms]
    )


@dataclass
class Context:
    """What a plan is checked against: the community, its current grids, buildings and households."""

    community: Area
    proj: Projector
    parent: object  # community polygon, metric
    grids: list  # current grids [{id, code, geom}]
    buildings: list  # [{id, name, point, households}]
    household_ids: set
    current: list  # current areas of the plan's level, Area objects


def plan_context(*, plan: Plan) -> Context:
    community = plan.community
    c = community.geom.centroid
    proj = Projector(c.x, c.y)
    parent = proj.to_metric([_shp(community.geom)])[0]
    grids = list(
        Area.objects.filter(level="grid", parent__code=community.code, valid_to__isnull=True)
        .exclude(valid_from__gt=timezone.now())
        .order_by("code")
    )
    grid_geoms = proj.to_metric([_shp(g.geom) for g in grids]) if grids else []
    with connection.cursor() as cur:
        # Buildings of the community: by their attachment, or (not yet attached) by their point.
        cur.execute(
            """SELECT b.id, b.name, ST_AsBinary(ST_PointOnSurface(b.footprint)), b.households,
                      ST_AsBinary(b.footprint)
                 FROM territory_building b
                WHERE b.community_id = %(c)s
                   OR (b.community_id IS NULL AND ST_Intersects(ST_PointOnSurface(b.footprint), %(g)s))
                ORDER BY b.id""",
            {"c": community.id, "g": community.geom.ewkt},
        )
        rows = cur.fetchall()
        cur.execute(
            "SELECT id FROM territory_household WHERE building_id = ANY(%s)", [[r[0] for r in rows]]
        )
        hids = {r[0] for r in cur.fetchall()}
    points = proj.to_metric(shapely.from_wkb([bytes(r[2]) for r in rows])) if rows else []
    fps = proj.to_metric(shapely.from_wkb([bytes(r[4]) for r in rows])) if rows else []
    buildings = [
        {"id": r[0], "name": r[1], "point": p, "households": r[3], "footprint": fp}
        for r, p, fp in zip(rows, points, fps, strict=True)
    ]
    current = _current_areas(plan.level, community)
    return Context(
        community,
        proj,
        parent,
        [
            {"id": g.id, "code": g.code, "geom": geom}
            for g, geom in zip(grids, grid_geoms, strict=True)
        ],
        buildings,
        hids,
        current,
    )


def _current_areas(level: str, community: Area) -> list[Area]:
    now = timezone.now()
    return list(
        Area.objects.filter(level=level, code__startswith=community.code, valid_from__lte=now)
        .exclude(valid_to__lte=now)
        .order_by("code")
    )


def _check_level(level: str):
    if level not in PlanLevel.values:
        raise DomainError(
            _("unknown plan level %(level)s; use one of %(levels)s")
            % {"level": repr(level), "levels": ", ".join(PlanLevel.values)},
            field="level",
        )


def _level_label(level: str) -> str:
    return str(Level(level).label) if level in Level.values else level


def _status_label(status: str) -> str:
    return str(PlanStatus(status).label) if status in PlanStatus.values else status


def _community(community: Area):
    if community.level != "community":
        raise DomainError(
            _("plans are made for a community, not for %(code)s (level: %(level)s)")
            % {"code": community.code, "level": _level_label(community.level)},
            field="community",
        )
    if community.valid_to is not None:
        raise DomainError(
            _("community %(code)s is no longer current") % {"code": community.code},
            field="community",
        )


# --- create ------------------------------------------------------------------------------------


@transaction.atomic
def plan_create_from_current(*, community: Area, level: str, name: str = "", user=None) -> Plan:
    """A draft holding a copy of the community's current grids (or neighbourhood grids)."""
    _check_level(level)
    _community(community)
    target, lo, hi = DEFAULT_RANGE[level]
    plan = Plan.objects.create(
        community=community,
        level=level,
        name=name or f"{community.name} {timezone.localdate():%Y-%m-%d}",
        target_households=target,
        min_households=lo,
        max_households=hi,
        origin="current",
        created_by=user,
        updated_by=user,
    )
    current = _current_areas(level, community)
    members = defaultdict(list)
    if level == "neighbourhood":
        for hid, nid in Household.objects.filter(
            neighbourhood_id__in=[a.id for a in current]
        ).values_list("id", "neighbourhood_id"):
            members[nid].append(hid)
    PlanArea.objects.bulk_create(
        [
            PlanArea(
                plan=plan,
                code=a.code,
                name=a.name,
                geom=a.geom,
                source=a,
                household_ids=sorted(members[a.id]) if level == "neighbourhood" else None,
                households=len(members[a.id]) if level == "neighbourhood" else a.households,
            )
            for a in current
        ]
    )
    return plan


def _match_codes(new_geoms: list, old: list[tuple[str, object]]) -> list[str | None]:
    """Give each new polygon the code of the old one it overlaps most (each old code used once)."""
    if not old:
        return [None] * len(new_geoms)
    old_geoms = np.asarray([g for _, g in old], dtype=object)
    tree = shapely.STRtree(old_geoms)
    pairs = []
    for i, g in enumerate(new_geoms):
        for j in tree.query(g, predicate="intersects").tolist():
            a = shapely.intersection(g, old_geoms[j]).area
            if a > GEOM_TOLERANCE:
                pairs.append((a, i, j))
    pairs.sort(reverse=True)
    out: list[str | None] = [None] * len(new_geoms)
    used = set()
    for _area, i, j in pairs:
        if out[i] is None and j not in used:
            out[i] = old[j][0]
            used.add(j)
    return out


@transaction.atomic
def plan_propose(
    *,
    community: Area,
    target: int = 30,
    min_hh: int = 20,
    max_hh: int = 40,
    name: str = "",
    user=None,
) -> Plan:
    """Propose neighbourhood grids for the whole community and store them as a draft plan."""
    _community(community)
    _positive_counts(target=target, min=min_hh, max=max_hh)
    grids, buildings, proj = proposal_input(community=community)
    if not grids:
        raise DomainError(
            _("community %(code)s has no current grids to hold neighbourhood grids")
            % {"code": community.code},
            field="community",
        )
    result = prop.propose(grids, buildings, target=target, min_hh=min_hh, max_hh=max_hh)
    if not result.groups:
        raise DomainError(
            _("community %(code)s has no households to group") % {"code": community.code},
            field="community",
        )
    old = _current_areas("neighbourhood", community)
    old_geoms = proj.to_metric([_shp(a.geom) for a in old]) if old else []
    geoms = [g.geom for g in result.groups]
    matched = _match_codes(geoms, [(a.code, g) for a, g in zip(old, old_geoms, strict=True)])
    by_code = {a.code: a for a in old}
    wgs = proj.to_wgs84(geoms)
    plan = Plan.objects.create(
        community=community,
        level=PlanLevel.NEIGHBOURHOOD,
        name=name
        or _("%(community)s proposal %(date)s")
        % {"community": community.name, "date": f"{timezone.localdate():%Y-%m-%d}"},
        target_households=target,
        min_households=min_hh,
        max_households=max_hh,
        origin="proposal",
        report=result.report,
        created_by=user,
        updated_by=user,
    )
    rows = []
    for group, code, g in zip(result.groups, matched, wgs, strict=True):
        ids = sorted(h for v in group.pieces for h in result.pieces[v].household_ids)
        grid_code = grids[group.grid].code
        if code is not None and not code.startswith(grid_code):
            code = None  # a neighbourhood grid's code extends its grid's code
        rows.append(
            PlanArea(
                plan=plan,
                code=code or "",
                name=by_code[code].name if code else "",
                geom=_geos(g),
                source=by_code.get(code),
                household_ids=ids,
                households=group.households,
                note=group.reason[:300],
            )
        )
    PlanArea.objects.bulk_create(rows)
    return plan


# --- save ----------------------------------------------------------------------------------------


def _parse_areas(areas: list[dict], *, lenient: bool = False) -> list[dict]:
    """Read the editor's polygons. Saving is strict (an invalid polygon is refused, naming it);
    checking is lenient: an invalid polygon is mended for the check and reported as a finding."""
    out = []
    if not isinstance(areas, list):
        raise DomainError(_("areas must be a list of polygons"), field="areas")
    for i, a in enumerate(areas):
        if not isinstance(a, dict) or "geom" not in a:
            raise DomainError(
                _("area #%(n)s has no geometry") % {"n": i + 1}, field=f"areas[{i}].geom"
            )
        try:
            geom = a["geom"]
            if isinstance(geom, dict):
                geom = GEOSGeometry(json.dumps(geom), srid=4326)
            elif isinstance(geom, str):
                geom = GEOSGeometry(geom)
                if geom.srid is None:
                    geom.srid = 4326
        except (ValueError, TypeError, Exception) as exc:  # GEOS raises several kinds
            raise DomainError(
                _("area #%(n)s: the geometry cannot be read (%(error)s)")
                % {"n": i + 1, "error": exc},
                field=f"areas[{i}].geom",
            ) from None
        code = str(a.get("code") or "").strip()
        if code and not re.fullmatch(r"\d{15}|\d{18}", code):
            raise DomainError(
                _("area #%(n)s: %(code)s is not a grid or neighbourhood-grid code")
                % {"n": i + 1, "code": repr(code)},
                field=f"areas[{i}].code",
            )
        # Limits on every incoming geometry (vertex count, coordinate range, area); validity is a
        # finding when checking leniently, an error when saving.
        geom = check_geometry(
            geom,
            field=f"areas[{i}].geom",
            allowed=(geom.geom_type,),  # the type is as_multipolygon's business below
            check_valid=not lenient,
        )
        problem = ""
        if lenient and geom.geom_type.endswith("Polygon") and not geom.valid:
            problem = geom.valid_reason
            geom = _geos(_polygonal(shapely.from_wkb(bytes(geom.wkb))))
        area_id = a.get("id")
        if area_id is not None and (isinstance(area_id, bool) or not isinstance(area_id, int)):
            raise DomainError(
                _("area #%(n)s: id %(id)s is not a plan area id (a whole number or null)")
                % {"n": i + 1, "id": repr(area_id)},
                field=f"areas[{i}].id",
            )
        out.append(
            {
                "code": code,
                "name": str(a.get("name") or "")[:200],
                "geom": territory.as_multipolygon(geom, field=f"areas[{i}].geom"),
                "id": area_id,
                "problem": problem,
            }
        )
    codes = [a["code"] for a in out if a["code"]]
    dup = {c for c in codes if codes.count(c) > 1}
    if dup:
        raise DomainError(
            _("code %(code)s is used by two areas") % {"code": sorted(dup)[0]}, field="areas"
        )
    ids = [a["id"] for a in out if a["id"] is not None]
    dup_ids = {i for i in ids if ids.count(i) > 1}
    if dup_ids:
        raise DomainError(
            _("plan area id %(id)s is given twice") % {"id": sorted(dup_ids)[0]}, field="areas"
        )
    return out


def _reassign_households(ctx: Context, old_rows: list[PlanArea], new: list[dict]) -> None:
    """Neighbourhood plans: households follow the polygons. A building whose households sat in one
    area moves whole to the area now holding its point-on-surface; a building split between areas
    (a tower) keeps its split while those areas exist (households of a deleted one follow the point)."""
    old_by_id = {r.id: r for r in old_rows}
    old_members = defaultdict(set)
    by_code = {r.code: r for r in old_rows if r.code}
    for n in new:
        src = old_by_id.get(n.get("id")) or (by_code.get(n["code"]) if n["code"] else None)
        n["_old"] = set(src.household_ids or []) if src else set()
        for h in n["_old"]:
            old_members[h].add(id(n))
    geoms = ctx.proj.to_metric([_shp(n["geom"]) for n in new])
    tree = shapely.STRtree(np.asarray(geoms, dtype=object))
    with connection.cursor() as cur:
        cur.execute(
            """SELECT h.id, h.building_id FROM territory_household h WHERE h.id = ANY(%s)""",
            [list(ctx.household_ids)],
        )
        by_building = defaultdict(list)
        for hid, bid in cur.fetchall():
            by_building[bid].append(hid)
    new_index = {id(n): i for i, n in enumerate(new)}
    members = [set() for _ in new]
    for b in ctx.buildings:
        hits = tree.query(b["point"], predicate="intersects").tolist()
        home = hits[0] if hits else None
        hh = by_building.get(b["id"], [])
        holders = {new_index[k] for h in hh for k in old_members.get(h, ())}
        for h in hh:
            was = [new_index[k] for k in old_members.get(h, ())]
            if was and len(holders) > 1:  # split tower: keeps its split while those areas exist
                members[was[0]].add(h)
            elif home is not None:
                members[home].add(h)
            elif was:
                members[was[0]].add(h)
    for n, m in zip(new, members, strict=True):
        n["household_ids"] = sorted(m)


def _draft_only(plan: Plan) -> None:
    if plan.status != PlanStatus.DRAFT:
        raise DomainError(
            _("plan %(id)s is not a draft (%(status)s); only drafts can be edited")
            % {"id": plan.id, "status": _status_label(plan.status)}
        )


def _positive_counts(*, optional: bool = False, **counts) -> None:
    """Household counts given by a planner: positive whole numbers (None allowed if `optional`)."""
    for key, v in counts.items():
        if optional and v is None:
            continue
        if not isinstance(v, int) or v <= 0:
            raise DomainError(
                _("%(field)s must be a positive whole number, got %(value)s")
                % {"field": key, "value": repr(v)},
                field=key,
            )


@transaction.atomic
def plan_save(*, plan: Plan, revision: int, areas: list[dict], user=None) -> Plan:
    """Replace the plan's polygons. `revision` is the one the editor loaded: if someone saved since,
    the save is refused with Conflict and nothing is written (the editor keeps its copy)."""
    _draft_only(plan)
    parsed = _parse_areas(areas)
    bumped = Plan.objects.filter(pk=plan.pk, revision=revision, status=PlanStatus.DRAFT).update(
        revision=revision + 1, updated_by=user, updated_at=timezone.now(), origin="editor"
    )
    if bumped != 1:
        latest = Plan.objects.get(pk=plan.pk)
        raise Conflict(
            _(
                "plan %(id)s was saved by someone else (revision %(theirs)s, yours was %(mine)s); "
                "nothing was saved: reload the plan and apply your changes again"
            )
            % {"id": plan.id, "theirs": latest.revision, "mine": revision},
            field="revision",
        )
    old_rows = list(plan.areas.all())
    if plan.level == PlanLevel.NEIGHBOURHOOD:
        _reassign_households(plan_context(plan=plan), old_rows, parsed)
    sources = {r.code: r.source_id for r in old_rows if r.code}
    # A polygon that names one of the plan's areas by id keeps that row (and its id), so an editor
    # that lost a race can tell which areas it changed from those the other planner changed.
    by_id = {r.id: r for r in old_rows}
    keep, create = [], []
    for a in parsed:
        row = by_id.pop(a["id"], None) if a["id"] is not None else None
        row = row or PlanArea(plan=plan)
        row.code, row.name, row.geom = a["code"], a["name"], a["geom"]
        row.source_id = sources.get(a["code"])
        row.household_ids = a.get("household_ids")
        row.households = len(a.get("household_ids") or [])
        row.note = ""  # the proposal's reason no longer describes an edited plan
        (keep if row.pk else create).append(row)
    PlanArea.objects.filter(pk__in=list(by_id)).delete()
    fields = ["code", "name", "geom", "source", "household_ids", "households", "note"]
    if keep:
        PlanArea.objects.bulk_update(keep, fields)
    PlanArea.objects.bulk_create(create)
    plan.refresh_from_db()
    return plan


def plan_range_set(
    *, plan: Plan, target: int | None, min_hh: int | None, max_hh: int | None, user=None
) -> Plan:
    """Set the households an area of the plan should hold: the target its colours are measured
    against, and the range outside which the checks report a count (None: not set)."""
    _draft_only(plan)
    _positive_counts(optional=True, target=target, min=min_hh, max=max_hh)
    if min_hh is not None and max_hh is not None and min_hh > max_hh:
        raise DomainError(
            _("min (%(min)s) is above max (%(max)s)") % {"min": min_hh, "max": max_hh},
            field="min",
        )
    if target is not None and not (min_hh or target) <= target <= (max_hh or target):
        raise DomainError(
            _("target (%(target)s) is outside min-max (%(min)s-%(max)s)")
            % {"target": target, "min": min_hh or "", "max": max_hh or ""},
            field="target",
        )
    plan.target_households, plan.min_households, plan.max_households = target, min_hh, max_hh
    plan.updated_by = user
    plan.save(
        update_fields=[
            "target_households",
            "min_households",
            "max_households",
            "updated_by",
            "updated_at",
        ]
    )
    return plan


# --- validate ------------------------------------------------------------------------------------


def plan_check(*, plan: Plan, areas: list[dict] | None = None) -> dict:
    """Findings and per-area counts for the plan as saved, or for unsaved `areas` from the editor."""
    ctx = plan_context(plan=plan)
    if areas is None:
        rows = list(plan.areas.all().order_by(*PLAN_AREA_ORDER))
        items = [
            {
                "key": r.id,
                "code": r.code,
                "name": r.name,
                "geom4326": r.geom,
                "household_ids": r.household_ids,
                "note": r.note,
            }
            for r in rows
        ]
    else:
        parsed = _parse_areas(areas, lenient=True)
        if plan.level == PlanLevel.NEIGHBOURHOOD:
            _reassign_households(ctx, list(plan.areas.all()), parsed)
        items = [
            {
                "key": a.get("id") if a.get("id") is not None else i,
                "code": a["code"],
                "name": a["name"],
                "geom4326": a["geom"],
                "household_ids": a.get("household_ids"),
                "problem": a["problem"],
            }
            for i, a in enumerate(parsed)
        ]
    metric = ctx.proj.to_metric([_shp(i["geom4326"]) for i in items]) if items else []
    for item, g in zip(items, metric, strict=True):
        item["geom"] = g
    findings, counts = validation.check(
        level=plan.level,
        proj=ctx.proj,
        parent_geom=ctx.parent,
        areas=items,
        buildings=ctx.buildings,
        grids=ctx.grids,
        community_household_ids=ctx.household_ids if plan.level == "neighbourhood" else None,
        min_hh=plan.min_households,
        max_hh=plan.max_households,
    )
    if plan.level == PlanLevel.GRID:
        findings.extend(_orphan_findings(ctx, items))
    return {
        "plan": plan.id,
        "revision": plan.revision,
        "valid": not any(f["severity"] == "error" for f in findings),
        "errors": sum(f["severity"] == "error" for f in findings),
        "warnings": sum(f["severity"] == "warning" for f in findings),
        "findings": findings,
        "counts": counts,
    }


def _orphan_findings(ctx: Context, items: list[dict]) -> list[dict]:
    """A grid plan may not remove a grid that still holds neighbourhood grids (plan those first)."""
    kept = {i["code"] for i in items if i["code"]}
    out = []
    for g in ctx.current:
        if g.code in kept:
            continue
        n = Area.objects.filter(level="neighbourhood", parent=g, valid_to__isnull=True).count()
        if n:
            out.append(
                {
                    "kind": "orphans",
                    "severity": "error",
                    "message": _(
                        "grid %(grid)s is removed but still holds %(n)d neighbourhood grids; "
                        "plan its neighbourhood grids first"
                    )
                    % {"grid": g.code, "n": n},
                    "codes": [g.code],
                    "geometry": None,
                }
            )
    return out


# --- diff ----------------------------------------------------------------------------------------


def plan_diff(*, plan: Plan, areas: list[dict] | None = None, geometry: bool = False) -> dict:
    """What publishing the plan changes: codes added, removed, changed, unchanged; households moved;
    and per area (`areas`) its households before and after and how many moved in and out.

    `areas`: unsaved polygons from the editor (as for plan_check) instead of the saved ones.
    `geometry`: add `features`, a GeoJSON FeatureCollection of the added, removed and changed areas
    (`side` "after" is the plan's polygon, "before" the current area's). For a published plan, the
    diff recorded when it was published (its polygons are read back from the plan and the closed
    area versions)."""
    if plan.status == PlanStatus.PUBLISHED:
        if not geometry:
            return plan.diff
        return {**plan.diff, "features": _published_diff_features(plan.diff)}
    ctx = plan_context(plan=plan)
    if areas is None:
        items = [
            {
                "id": r.id,
                "code": r.code,
                "name": r.name,
                "geom": r.geom,
                "household_ids": r.household_ids,
            }
            for r in plan.areas.all().order_by(*PLAN_AREA_ORDER)
        ]
    else:
        items = _parse_areas(areas, lenient=True)
        if plan.level == PlanLevel.NEIGHBOURHOOD:
            _reassign_households(ctx, list(plan.areas.all()), items)
    current = {a.code: a for a in ctx.current}
    cur_geom = dict(
        zip(current, _metric_as_edited(ctx.proj, [a.geom for a in current.values()]), strict=True)
    )
    plan_geom = _metric_as_edited(ctx.proj, [r["geom"] for r in items])
    n = len(items)
    before_of = defaultdict(int)  # current code -> households now
    after = [0] * n
    moved_in = [0] * n
    moved_out = defaultdict(int)  # current code -> households leaving it
    moved = 0
    members_cur = defaultdict(set)
    if plan.level == PlanLevel.NEIGHBOURHOOD:
        for hid, nid in Household.objects.filter(
            neighbourhood_id__in=[a.id for a in current.values()]
        ).values_list("id", "neighbourhood_id"):
            members_cur[nid].add(hid)
        now_code = {}
        for a in current.values():
            before_of[a.code] = len(members_cur[a.id])
            for h in members_cur[a.id]:
                now_code[h] = a.code
        plan_code = {}
        for i, r in enumerate(items):
            ids = r.get("household_ids") or []
            after[i] = len(ids)
            for h in ids:
                plan_code[h] = r["code"] or None
                if now_code.get(h) != (r["code"] or None):
                    moved += 1
                    moved_in[i] += 1
        for h, c in now_code.items():
            if plan_code.get(h) != c:
                moved_out[c] += 1
    else:
        # grids hold the buildings whose point-on-surface they cover
        tree = shapely.STRtree(np.asarray(plan_geom, dtype=object)) if items else None
        grid_of = dict(
            Building.objects.filter(id__in=[b["id"] for b in ctx.buildings]).values_list(
                "id", "grid__code"
            )
        )
        for b in ctx.buildings:
            hits = tree.query(b["point"], predicate="intersects").tolist() if tree else []
            i = hits[0] if hits else None
            code = items[i]["code"] if i is not None else None
            was = grid_of.get(b["id"])
            hh = b["households"]
            if was:
                before_of[was] += hh
            if i is not None:
                after[i] += hh
            if code != was or not code:
                moved += hh
                if i is not None:
                    moved_in[i] += hh
                if was:
                    moved_out[was] += hh
    added, changed, unchanged, rows = [], [], [], []
    features = []
    for i, (r, g) in enumerate(zip(items, plan_geom, strict=True)):
        a = current.get(r["code"]) if r["code"] else None
        if a is None:
            label = r["code"] or (f"(new #{r['id']})" if r["id"] else f"(new {i + 1})")
            added.append(label)
            status, before = "added", None
        else:
            moved_geom = shapely.symmetric_difference(g, cur_geom[a.code]).area > GEOM_TOLERANCE
            moved_members = (
                plan.level == PlanLevel.NEIGHBOURHOOD
                and set(r.get("household_ids") or []) != members_cur[a.id]
            )
            if not (moved_geom or moved_members):
                unchanged.append(a.code)
                continue
            changed.append(a.code)
            status, before, label = "changed", before_of[a.code], a.code
        row = {
            "status": status,
            "code": r["code"],
            "label": label,
            "name": r["name"] or (a.name if a is not None else ""),
            "plan_area": r["id"] if areas is None else None,
            "area": a.id if a is not None else None,
            "before": before,
            "after": after[i],
            "moved_in": moved_in[i],
            "moved_out": moved_out[a.code] if a is not None else 0,
        }
        rows.append(row)
        if geometry:
            features.append(_diff_feature(r["geom"], row, "after"))
            if a is not None:
                features.append(_diff_feature(a.geom, row, "before"))
    kept = {r["code"] for r in items if r["code"]}
    removed = sorted(c for c in current if c not in kept)
    for c in removed:
        a = current[c]
        row = {
            "status": "removed",
            "code": c,
            "label": c,
            "name": a.name,
            "plan_area": None,
            "area": a.id,
            "before": before_of[c],
            "after": None,
            "moved_in": 0,
            "moved_out": moved_out[c],
        }
        rows.append(row)
        if geometry:
            features.append(_diff_feature(a.geom, row, "before"))
    order = {"added": 0, "changed": 1, "removed": 2}
    rows.sort(key=lambda x: (order[x["status"]], x["label"]))
    out = {
        "added": sorted(added),
        "removed": removed,
        "changed": sorted(changed),
        "unchanged": len(unchanged),
        "households_moved": moved,
        "areas": rows,
    }
    if geometry:
        out["features"] = {"type": "FeatureCollection", "features": features}
    return out


def _diff_feature(geom, row: dict, side: str) -> dict:
    props = {k: row[k] for k in ("status", "code", "label", "name", "before", "after")}
    props["side"] = side
    return {"type": "Feature", "geometry": json.loads(geom.geojson), "properties": props}


def _published_diff_features(diff: dict) -> dict:
    """The polygons of a published diff: the plan's areas (after) and the area versions that
    publishing closed (before); both stay in the database."""
    rows = diff.get("areas") or []
    after = {
        p.id: p.geom
        for p in PlanArea.objects.filter(id__in=[r["plan_area"] for r in rows if r["plan_area"]])
    }
    before = {
        a.id: a.geom for a in Area.objects.filter(id__in=[r["area"] for r in rows if r["area"]])
    }
    features = []
    for r in rows:
        if r["status"] != "removed" and r["plan_area"] in after:
            features.append(_diff_feature(after[r["plan_area"]], r, "after"))
        if r["status"] != "added" and r["area"] in before:
            features.append(_diff_feature(before[r["area"]], r, "before"))
    return {"type": "FeatureCollection", "features": features}


# --- publish -------------------------------------------------------------------------------------


def _next_seq(level: str, parent_code: str) -> int:
    """Next free sequence under a parent, over all versions (a retired code is never reused)."""
    codes = Area.objects.filter(level=level, code__startswith=parent_code).values_list(
        "code", flat=True
    )
    width = len(parent_code) + 3
    seqs = [int(c[len(parent_code) :]) for c in codes if len(c) == width]
    return max(seqs, default=0) + 1


MOVE_HOUSEHOLDS_SQL = """
UPDATE territory_household h SET neighbourhood_id = m.area
  FROM unnest(%(hids)s::bigint[], %(areas)s::bigint[]) AS m(hid, area)
  JOIN territory_household old ON old.id = m.hid
 WHERE h.id = m.hid AND h.neighbourhood_id IS DISTINCT FROM m.area
RETURNING old.neighbourhood_id  -- the statement's snapshot: where the household was
"""


@transaction.atomic
def plan_publish(*, plan: Plan, revision: int, user=None) -> dict:
    """Publish a valid draft: new versions of changed areas, new areas, removed ones closed; links
    follow. Refused (nothing written) if the plan has errors or was saved since `revision`."""
    if plan.status != PlanStatus.DRAFT:
        raise DomainError(
            _("plan %(id)s is not a draft (%(status)s)")
            % {"id": plan.id, "status": _status_label(plan.status)}
        )
    diff = plan_diff(plan=plan)
    claimed = Plan.objects.filter(pk=plan.pk, revision=revision, status=PlanStatus.DRAFT).update(
        status=PlanStatus.PUBLISHED, published_at=timezone.now(), updated_by=user
    )
    if claimed != 1:
        raise Conflict(
            _(
                "plan %(id)s changed since revision %(revision)s (saved or published by someone "
                "else); reload it before publishing"
            )
            % {"id": plan.id, "revision": revision},
            field="revision",
        )
    result = plan_check(plan=plan)
    if not result["valid"]:
        errors = [f["message"] for f in result["findings"] if f["severity"] == "error"]
        raise DomainError(
            _("the plan has %(n)s errors; first: %(first)s")
            % {"n": len(errors), "first": errors[0]},
            code="plan_invalid",
        )
    # The transaction's own timestamp: territory's attach and count SQL judge "current" by now(), so
    # the new versions must start exactly then (a later Python clock would leave them in the future).
    with connection.cursor() as cur:
        cur.execute("SELECT now()")
        at = cur.fetchone()[0]
    ctx = plan_context(plan=plan)
    current = {a.code: a for a in ctx.current}
    rows = list(plan.areas.all().order_by(*PLAN_AREA_ORDER))
    metric = _metric_as_edited(ctx.proj, [r.geom for r in rows])
    cur_metric = dict(
        zip(current, _metric_as_edited(ctx.proj, [a.geom for a in current.values()]), strict=True)
    )
    members_now = defaultdict(set)
    if plan.level == PlanLevel.NEIGHBOURHOOD:
        for hid, nid in Household.objects.filter(
            neighbourhood_id__in=[a.id for a in current.values()]
        ).values_list("id", "neighbourhood_id"):
            members_now[nid].add(hid)
    grid_tree = shapely.STRtree([g["geom"] for g in ctx.grids]) if ctx.grids else None
    grid_by_code = {}
    if plan.level == PlanLevel.NEIGHBOURHOOD:
        grid_by_code = {a.code: a for a in _current_areas("grid", plan.community)}
    versions = {}  # code -> new/kept Area
    new_codes = []
    for r, g in zip(rows, metric, strict=True):
        if plan.level == PlanLevel.GRID:
            parent = plan.community
        else:
            hits = grid_tree.query(shapely.point_on_surface(g), predicate="intersects").tolist()
            parent = grid_by_code[ctx.grids[hits[0]]["code"]]
        code = r.code if r.code.startswith(parent.code) else ""
        old = current.get(code) if code else None
        if old is not None:
            geom_changed = shapely.symmetric_difference(g, cur_metric[code]).area > GEOM_TOLERANCE
            members_changed = (
                plan.level == PlanLevel.NEIGHBOURHOOD
                and set(r.household_ids or []) != members_now[old.id]
            )
            if geom_changed or members_changed or (r.name and r.name != old.name):
                versions[code] = territory.area_replace(
                    area=old, geom=r.geom, name=r.name or old.name, parent=parent, at=at
                )
            else:
                versions[code] = old
        else:
            code = f"{parent.code}{_next_seq(plan.level, parent.code):03d}"
            name = r.name or (
                f"{parent.name}{code[-3:]}号邻里格"
                if plan.level == PlanLevel.NEIGHBOURHOOD
                else f"{parent.name}第{int(code[-3:])}网格"
            )
            versions[code] = territory.area_create(
                level=plan.level, code=code, name=name, geom=r.geom, parent=parent, valid_from=at
            )
            new_codes.append(code)
        r.code = code
        r.save(update_fields=["code"])
    removed = [a for c, a in current.items() if c not in versions]
    if removed:
        closed = Area.objects.filter(pk__in=[a.pk for a in removed], valid_to__isnull=True).update(
            valid_to=at
        )
        if closed != len(removed):
            raise Conflict(_("some areas of the plan were closed by someone else; reload the plan"))
    replaced = {
        current[c].id: v.id for c, v in versions.items() if c in current and v.id != current[c].id
    }
    # children of replaced grids now hang from the new version of the same code
    if plan.level == PlanLevel.GRID and replaced:
        for old_id, new_id in replaced.items():
            Area.objects.filter(parent_id=old_id, valid_to__isnull=True).update(parent_id=new_id)
    # households (neighbourhood plans) follow the plan's membership
    hh_moved = 0
    touched: set[int] = set()  # areas whose counts may change: refreshed at the end
    if plan.level == PlanLevel.NEIGHBOURHOOD:
        hids, areas = [], []
        for r in rows:
            for h in r.household_ids or []:
                hids.append(h)
                areas.append(versions[r.code].id)
        with connection.cursor() as cur:
            cur.execute(MOVE_HOUSEHOLDS_SQL, {"hids": hids, "areas": areas})
            hh_moved = cur.rowcount
            touched.update(a for (a,) in cur.fetchall())
    # staff follow their area's code; staff on removed areas are reported for reassignment
    staff_moved = 0
    for old_id, new_id in replaced.items():
        staff_moved += StaffAssignment.objects.filter(area_id=old_id).update(area_id=new_id)
    staff_orphaned = list(
        StaffAssignment.objects.filter(area_id__in=[a.id for a in removed], active=True).values(
            "id", "name", "role", "area__code"
        )
    )
    touched |= territory.buildings_reattach(ids=[b["id"] for b in ctx.buildings])
    touched.update(v.id for v in versions.values())
    territory.area_counts_refresh(areas=touched)
    code_of = {r.id: r.code for r in rows}  # new areas now have their codes
    for item in diff.get("areas", []):
        if item["status"] == "added" and item["plan_area"] in code_of:
            item["code"] = item["label"] = code_of[item["plan_area"]]
    diff.update(
        {
            "published_at": at.isoformat(),
            "versions": {c: v.id for c, v in versions.items()},
            "new_codes": new_codes,
            "households_relinked": hh_moved,
            "staff_moved": staff_moved,
            "staff_to_reassign": staff_orphaned,
        }
    )
    Plan.objects.filter(pk=plan.pk).update(diff=diff, published_at=at)
    plan.refresh_from_db()
    return diff


@transaction.atomic
def plan_discard(*, plan: Plan, revision: int, user=None) -> Plan:
    done = Plan.objects.filter(pk=plan.pk, revision=revision, status=PlanStatus.DRAFT).update(
        status=PlanStatus.DISCARDED, updated_by=user
    )
    if done != 1:
        raise Conflict(
            _("plan %(id)s changed since revision %(revision)s; reload it")
            % {"id": plan.id, "revision": revision}
        )
    plan.refresh_from_db()
    return plan
