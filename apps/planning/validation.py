"""Checks on a plan's polygons, before saving (the editor's live messages) and before publishing.

Findings are dicts {kind, severity, message, codes, geometry (GeoJSON, EPSG:4326)}; severity "error"
blocks publishing, "warning" does not (a proposal may leave an isolated building out of range, with the
reason). Geometry work is done in metres (the community's UTM zone) with shapely; a sliver under
TOLERANCE m² is not a finding (digitising noise)."""

import json
from collections import Counter

import numpy as np
import shapely
from django.utils.translation import gettext as _

TOLERANCE = 1.0  # m²
SLIVER_WIDTH = 0.1  # m: thinner pieces (mean width = 2 area / perimeter) are rounding noise


def _real(g) -> bool:
    """A gap, overlap or overhang worth reporting: over TOLERANCE m² and not a hairline sliver."""
    return g.area > TOLERANCE and 2 * g.area / max(g.length, 1e-9) > SLIVER_WIDTH


def _geojson(proj, geom) -> dict | None:
    if geom is None or geom.is_empty:
        return None
    return json.loads(shapely.to_geojson(proj.to_wgs84([geom])[0], indent=None))


def _deeply_inside(point, geoms, candidates) -> int:
    """Areas holding the point farther than SLIVER_WIDTH from their edge (a hairline overlap from
    rounding is not a building in two areas)."""
    return sum(
        shapely.contains(geoms[i], point)
        and shapely.distance(point, shapely.boundary(geoms[i])) > SLIVER_WIDTH
        for i in candidates.tolist()
    )


def check(
    *,
    level: str,
    proj,
    parent_geom,
    areas: list[dict],
    buildings: list[dict],
    grids: list[dict] | None = None,
    community_household_ids: set | None = None,
    min_hh: int | None = None,
    max_hh: int | None = None,
) -> tuple[list[dict], list[dict]]:
    """areas: [{key, code, geom (metric), household_ids or None}], buildings: [{id, point (metric),
    households}], grids: current grids (for neighbourhood plans) [{code, geom (metric)}].
    Returns (findings, counts) where counts[i] = {key, households, buildings}."""
    findings = []

    def add(kind, severity, message, codes=(), geom=None):
        findings.append(
            {
                "kind": kind,
                "severity": severity,
                "message": message,
                "codes": list(codes),
                "geometry": _geojson(proj, geom),
            }
        )

    label = [a.get("code") or a.get("name") or f"#{i + 1}" for i, a in enumerate(areas)]
    geoms = []
    for i, a in enumerate(areas):
        g = a["geom"]
        if a.get("problem"):
            add(
                "invalid",
                "error",
                _("%(area)s is not a valid polygon: %(reason)s")
                % {"area": label[i], "reason": a["problem"]},
                [label[i]],
                g,
            )
        if g is None or g.is_empty:
            add("empty", "error", _("%(area)s has no polygon") % {"area": label[i]}, [label[i]])
            g = shapely.Polygon()
        elif not g.is_valid:
            add(
                "invalid",
                "error",
                _("%(area)s is not a valid polygon: %(reason)s")
                % {"area": label[i], "reason": shapely.is_valid_reason(g)},
                [label[i]],
                g,
            )
            g = shapely.make_valid(g)
        geoms.append(g)
    arr = np.asarray(geoms, dtype=object)

    # outside the parent (the community; for neighbourhood grids also their grid)
    for i, g in enumerate(geoms):
        out = shapely.difference(g, parent_geom)
        if _real(out):
            add(
                "outside",
                "error",
                _("%(area)s reaches %(m2).0f m² outside the community")
                % {"area": label[i], "m2": out.area},
                [label[i]],
                out,
            )
    if level == "neighbourhood" and grids:
        gtree = shapely.STRtree([g["geom"] for g in grids])
        for i, g in enumerate(geoms):
            if g.is_empty:
                continue
            hits = gtree.query(shapely.point_on_surface(g), predicate="intersects")
            if len(hits) == 0:
                continue
            grid = grids[int(hits[0])]
            out = shapely.difference(g, grid["geom"])
            if _real(out):
                add(
                    "outside",
                    "error",
                    _("%(area)s crosses the line of grid %(grid)s by %(m2).0f m²")
                    % {"area": label[i], "grid": grid["code"], "m2": out.area},
                    [label[i]],
                    out,
                )

    # overlaps between plan areas
    tree = shapely.STRtree(arr)
    left, right = tree.query(arr, predicate="intersects")
    for a, b in zip(left.tolist(), right.tolist(), strict=True):
        if a >= b:
            continue
        inter = shapely.intersection(geoms[a], geoms[b])
        if _real(inter):
            add(
                "overlap",
                "error",
                _("%(a)s and %(b)s overlap by %(m2).0f m²")
                % {"a": label[a], "b": label[b], "m2": inter.area},
                [label[a], label[b]],
                inter,
            )

    # gaps inside the community
    covered = shapely.union_all(arr) if len(arr) else shapely.Polygon()
    gaps = shapely.difference(parent_geom, covered)
    for part in shapely.get_parts(gaps):
        if _real(part):
            add(
                "gap",
                "error",
                _("a gap of %(m2).0f m² inside the community belongs to no area")
                % {"m2": part.area},
                [],
                part,
            )

    # contiguity
    for i, g in enumerate(geoms):
        if g.geom_type == "MultiPolygon" and len(g.geoms) > 1:
            add(
                "contiguity",
                "warning",
                _("%(area)s is in %(n)d separate pieces") % {"area": label[i], "n": len(g.geoms)},
                [label[i]],
                g,
            )

    # membership and counts
    counts = [
        {"key": a.get("key", i), "households": 0, "buildings": 0} for i, a in enumerate(areas)
    ]
    if buildings:
        pts = np.asarray([b["point"] for b in buildings], dtype=object)
        b_idx, a_idx = tree.query(pts, predicate="intersects")
        hits = Counter(b_idx.tolist())
        # a point on a shared edge touches two areas but is inside neither: only a point inside two
        # (an overlap) is a duplicate
        w_idx = tree.query(pts, predicate="within")[0]
        inside = Counter(w_idx.tolist())
        owner = {}
        for bi, ai in zip(b_idx.tolist(), a_idx.tolist(), strict=True):
            owner.setdefault(bi, ai)
        for bi, b in enumerate(buildings):
            n = hits.get(bi, 0)
            if n == 0:
                add(
                    "unassigned",
                    "error",
                    _("building %(name)s lies in no area") % {"name": b["name"]},
                    [],
                    shapely.buffer(b["point"], 3),
                )
            elif (
                inside.get(bi, 0) > 1 and _deeply_inside(b["point"], geoms, a_idx[b_idx == bi]) > 1
            ):
                add(
                    "duplicate",
                    "error",
                    _("building %(name)s lies in more than one area") % {"name": b["name"]},
                    [label[ai] for ai in a_idx[b_idx == bi].tolist()],
                    shapely.buffer(b["point"], 3),
                )
            if level == "grid" and bi in owner:
                counts[owner[bi]]["households"] += b["households"]
                counts[owner[bi]]["buildings"] += 1
    if level == "neighbourhood":
        seen = Counter()
        for i, a in enumerate(areas):
            ids = a.get("household_ids") or []
            seen.update(ids)
            counts[i]["households"] = len(ids)
        dup = [h for h, n in seen.items() if n > 1]
        if dup:
            add(
                "duplicate",
                "error",
                _("%(n)d households are in more than one neighbourhood grid") % {"n": len(dup)},
            )
        if community_household_ids is not None:
            missing = community_household_ids - set(seen)
            if missing:
                add(
                    "unassigned",
                    "error",
                    _("%(n)d households of the community are in no neighbourhood grid")
                    % {"n": len(missing)},
                )
            stray = set(seen) - community_household_ids
            if stray:
                add(
                    "unassigned",
                    "error",
                    _("%(n)d households listed in the plan are not in this community")
                    % {"n": len(stray)},
                )
    if min_hh is not None or max_hh is not None:
        lo, hi = min_hh or 0, max_hh or 10**9
        for i, c in enumerate(counts):
            if not lo <= c["households"] <= hi:
                note = areas[i].get("note") or ""
                add(
                    "count",
                    "warning",
                    _("%(area)s holds %(n)d households, outside [%(lo)d, %(hi)d]")
                    % {"area": label[i], "n": c["households"], "lo": lo, "hi": hi}
                    + (f" ({note})" if note else ""),
                    [label[i]],
                    geoms[i],
                )
    return findings, counts
