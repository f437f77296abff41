"""Automatic proposal of neighbourhood grids (邻里格) of about 30 households.

Pure computation on metric geometries (no database): `propose(grids, buildings, ...)` returns groups of
households with a map polygon each and a quality report. apps.planning.services loads the input from the
territory and stores the result as a plan.

The steps, per grid (a neighbourhood grid never crosses a grid line, and grids are drawn along main
streets, so no proposal crosses a main street):

1. **Pieces.** A building is one piece unless it holds more than `max` households; then it is split by
   units, and a unit holding more than `max` by floor ranges (cuts on floor boundaries, never through a
   household). Pieces are what groups are made of.
2. **Map cells.** A Voronoi tessellation of points along the building outlines (shapely's
   `voronoi_polygons`, the "morphological tessellation" of urban morphology), dissolved per building and
   clipped to the grid: cells tile the grid with no gap or overlap. A split building's cell is cut into
   strips along its long axis, one per piece, in proportion to households.
3. **Adjacency.** Two pieces are neighbours when their cells share a border (longer than 0.5 m). A group
   whose pieces are connected in this graph therefore has a map polygon in one piece: contiguity by
   construction. Edges between different compounds weigh less, so cuts follow compound boundaries.
4. **Partition.** METIS (pymetis, `contiguous=True`) cuts each connected component of the graph into
   round(households / target) parts balanced by household count, minimising the weight of cut edges.
5. **Repair.** Parts above `max` are cut again by METIS; parts below `min` merge with the neighbour that
   brings them nearest to `target` without exceeding `max`, or take boundary pieces from a neighbour that
   stays within range and connected; then boundary pieces move between neighbours while that brings
   more groups within [25, 35] (or nearer to `target`). Groups that still miss the range are reported with
   the reason (an isolated building, a grid holding too few households, neighbours all too full).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
import pymetis
import shapely
from django.utils.translation import gettext
from shapely import affinity
from shapely.geometry import MultiPoint, Polygon, box

# Shares of groups reported against this band in the quality report, whatever min/max were asked.
GOOD_BAND = (25, 35)
CELL_SPACING = 2.0  # metres between points sampled along building outlines
EDGE_MIN = 0.5  # metres of shared border that make two cells neighbours


@dataclass
class BuildingIn:
    id: int
    footprint: object  # shapely geometry, metric CRS
    households: int  # count (used when there are no household records)
    grid: int  # index into the grids list
    compound: int | None = None
    name: str = ""
    # household records: (household_id, unit_number, floor); empty when only a count is known
    records: list = field(default_factory=list)


@dataclass
class GridIn:
    id: int | None
    code: str
    geom: object  # shapely polygon, metric CRS


@dataclass
class Piece:
    building: int  # index into buildings
    households: int
    household_ids: list
    label: str
    share: float = 1.0  # part of the building's households
    geom: object = None


@dataclass
class Group:
    grid: int
    pieces: list  # indices into Proposal.pieces
    households: int
    geom: object = None
    reason: str = ""

    @property
    def contiguous(self) -> bool:
        return self.geom is not None and self.geom.geom_type == "Polygon"


@dataclass
class Proposal:
    pieces: list
    groups: list
    report: dict


def _split_records(records: list, n: int, k: int, max_hh: int) -> list[list]:
    """Split sorted household records (hid, unit, floor) into k consecutive runs of near-equal size, each
    cut on a floor boundary when one is near enough (else between two households of one floor)."""
    floors = [r[2] for r in records]
    boundaries = [i for i in range(1, n) if floors[i] != floors[i - 1]]
    cuts, prev = [], 0
    for j in range(1, k):
        ideal = round(j * n / k)
        best = ideal
        if boundaries:
            nearest = min(boundaries, key=lambda b: abs(b - ideal))
            if nearest > prev and abs(nearest - ideal) <= max(1, (max_hh - n / k)):
                best = nearest
        best = max(best, prev + 1)
        cuts.append(best)
        prev = best
    edges = [0, *cuts, n]
    return [records[a:b] for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def building_pieces(b: BuildingIn, index: int, *, target: int, max_hh: int) -> list[Piece]:
    """Whole building if it holds at most max_hh households; else units; else floor ranges of a unit."""
    if b.records:
        records = sorted(b.records, key=lambda r: (r[1] or 0, r[2], r[0]))
        n = len(records)
    else:
        records, n = [], int(b.households)
    if n <= max_hh:
        return [Piece(index, n, [r[0] for r in records], "whole building")]
    pieces = []
    if records:
        by_unit = defaultdict(list)
        for r in records:
            by_unit[r[1] or 0].append(r)
        for unit, recs in sorted(by_unit.items()):
            if len(recs) <= max_hh:
                pieces.append(Piece(index, len(recs), [r[0] for r in recs], f"unit {unit}"))
                continue
            k = math.ceil(len(recs) / target)
            for run in _split_records(recs, len(recs), k, max_hh):
                lo, hi = run[0][2], run[-1][2]
                pieces.append(
                    Piece(index, len(run), [r[0] for r in run], f"unit {unit}, floors {lo}-{hi}")
                )
    else:
        # Only a count is known: equal runs (as floor ranges would be), none above max.
        k = math.ceil(n / target)
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        for i, s in enumerate(sizes):
            pieces.append(Piece(index, s, [], f"part {i + 1} of {k}"))
    for p in pieces:
        p.share = p.households / n if n else 1.0 / len(pieces)
    return pieces


def tessellate(footprints: list, clip, *, spacing: float = CELL_SPACING) -> list:
    """One cell per footprint: Voronoi cells of points along the outlines, dissolved per footprint and
    clipped to `clip`. The cells tile `clip` (no gap, no overlap). A footprint's stray cell parts (cut
    off by a neighbour) go to the neighbouring cell that shares most border with them."""
    n = len(footprints)
    if n == 0:
        return []
    if n == 1:
        return [clip]
    outlines = shapely.segmentize(shapely.boundary(np.asarray(footprints, dtype=object)), spacing)
    coords, owner = shapely.get_coordinates(outlines, return_index=True)
    coords = np.round(coords, 3)
    coords, first = np.unique(coords, axis=0, return_index=True)
    owner = owner[first]
    cells = shapely.voronoi_polygons(
        MultiPoint(coords), extend_to=clip.envelope.buffer(10), ordered=True
    )
    parts = np.asarray(shapely.get_parts(cells), dtype=object)
    by_owner = defaultdict(list)
    for cell, o in zip(parts, owner, strict=True):
        by_owner[int(o)].append(cell)
    out = []
    for i in range(n):
        cs = by_owner.get(i)
        if not cs:
            out.append(Polygon())
            continue
        out.append(shapely.intersection(shapely.coverage_union_all(cs), clip))
    return _carve_hidden(_fix_strays(out, footprints), footprints)


def _carve_hidden(cells: list, footprints: list) -> list:
    """A footprint drawn inside another (OSM building parts) gets no Voronoi cell of its own: carve
    it out of the cell that holds it, so every building has a place on the map."""
    empty = [i for i, c in enumerate(cells) if c.is_empty]
    if not empty:
        return cells
    tree = shapely.STRtree(cells)
    for i in empty:
        p = shapely.point_on_surface(footprints[i])
        hosts = [j for j in tree.query(p, predicate="intersects").tolist() if not cells[j].is_empty]
        if not hosts:
            continue
        j = hosts[0]
        carve = shapely.intersection(cells[j], shapely.buffer(footprints[i], 0.5))
        parts = _polygons(carve)
        if not parts:
            continue
        carve = max(parts, key=lambda g: g.area)
        rest = _polygons(shapely.difference(cells[j], carve))
        if not rest:
            continue
        main = max(rest, key=lambda g: g.intersection(footprints[j]).area + g.area * 1e-6)
        cells[i] = shapely.union_all([carve] + [g for g in rest if g is not main])
        cells[j] = main
    return cells


def _polygons(g) -> list:
    if g is None or g.is_empty:
        return []
    if g.geom_type == "Polygon":
        return [g]
    return [p for p in shapely.get_parts(g) if p.geom_type == "Polygon" and p.area > 0]


def _fix_strays(cells: list, footprints: list) -> list:
    """Keep each cell's part that holds its footprint; hand other parts to the neighbour cell sharing
    the longest border, so every cell is one polygon (where the clip allows)."""
    keep, strays = [], []
    for i, (cell, fp) in enumerate(zip(cells, footprints, strict=True)):
        ps = _polygons(cell)
        if len(ps) <= 1:
            keep.append(ps[0] if ps else Polygon())
            continue
        main = max(ps, key=lambda p: (p.intersection(fp).area if fp is not None else 0, p.area))
        keep.append(main)
        strays.extend((i, p) for p in ps if p is not main)
    if not strays:
        return keep
    tree = shapely.STRtree(keep)
    for i, p in strays:
        best, best_len = None, 0.0
        for j in tree.query(p.buffer(0.01)):
            if j == i or keep[j].is_empty:
                continue
            shared = shapely.length(shapely.intersection(p.boundary, keep[j].buffer(0.01)))
            if shared > best_len:
                best, best_len = j, shared
        target = best if best is not None else i
        keep[target] = shapely.union(keep[target], p)
    return keep


def _strips(cell, footprint, shares: list[float]) -> list:
    """Cut a building's cell into strips across the building's long axis, in proportion to shares."""
    if len(shares) == 1:
        return [cell]
    rect = footprint.minimum_rotated_rectangle
    xy = np.asarray(rect.exterior.coords)[:4]
    e1, e2 = xy[1] - xy[0], xy[2] - xy[1]
    axis = e1 if np.hypot(*e1) >= np.hypot(*e2) else e2
    angle = math.degrees(math.atan2(axis[1], axis[0]))
    origin = footprint.centroid
    rc = affinity.rotate(cell, -angle, origin=origin)
    # cut across the part of the footprint inside the cell (a footprint may cross the grid line)
    inside = shapely.intersection(footprint, cell)
    rf = affinity.rotate(inside if inside.area > 1.0 else cell, -angle, origin=origin)
    fx0, _, fx1, _ = rf.bounds
    cx0, cy0, cx1, cy1 = rc.bounds
    cuts = fx0 + np.cumsum(shares)[:-1] * (fx1 - fx0)
    edges = [min(cx0, fx0) - 1, *cuts, max(cx1, fx1) + 1]
    out = []
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        piece = rc.intersection(box(a, cy0 - 1, b, cy1 + 1))
        out.append(affinity.rotate(piece, angle, origin=origin))
    return out


def adjacency(geoms: list, weights_same: list | None = None) -> dict[int, dict[int, float]]:
    """Neighbours by shared border longer than EDGE_MIN; value: shared length in metres."""
    arr = np.asarray(geoms, dtype=object)
    tree = shapely.STRtree(arr)
    left, right = tree.query(arr, predicate="intersects")
    mask = left < right
    left, right = left[mask], right[mask]
    adj: dict[int, dict[int, float]] = defaultdict(dict)
    if len(left) == 0:
        return adj
    shared = shapely.length(
        shapely.intersection(shapely.boundary(arr[left]), shapely.buffer(arr[right], 0.05))
    )
    for a, b, s in zip(left.tolist(), right.tolist(), shared.tolist(), strict=True):
        if s > EDGE_MIN:
            adj[a][b] = s
            adj[b][a] = s
    return adj


def _components(nodes: list[int], adj) -> list[list[int]]:
    nodes_set, seen, comps = set(nodes), set(), []
    for start in nodes:
        if start in seen:
            continue
        comp, stack = [], [start]
        seen.add(start)
        while stack:
            v = stack.pop()
            comp.append(v)
            for w in adj.get(v, ()):
                if w in nodes_set and w not in seen:
                    seen.add(w)
                    stack.append(w)
        comps.append(comp)
    return comps


def _connected(nodes, adj) -> bool:
    nodes = list(nodes)
    return len(nodes) <= 1 or len(_components(nodes, adj)) == 1


class _Partitioner:
    """METIS on one grid's piece graph, then repair."""

    def __init__(self, pieces, adj, edge_w, *, target, min_hh, max_hh):
        self.pieces, self.adj, self.edge_w = pieces, adj, edge_w
        self.target, self.min, self.max = target, min_hh, max_hh
        self._penalties: dict[int, float] = {}

    def w(self, nodes) -> int:
        return sum(self.pieces[v].households for v in nodes)

    def metis(self, nodes: list[int], k: int, seed: int = 7, ufactor: int = 200) -> list[list[int]]:
        if k <= 1 or len(nodes) <= 1:
            return [list(nodes)]
        if len(nodes) <= k:
            return [[v] for v in nodes]
        local = {v: i for i, v in enumerate(nodes)}
        xadj, adjncy, ew = [0], [], []
        for v in nodes:
            for u in self.adj.get(v, ()):
                if u in local:
                    adjncy.append(local[u])
                    ew.append(self.edge_w(v, u))
            xadj.append(len(adjncy))
        vw = [max(1, self.pieces[v].households) for v in nodes]
        opts = pymetis.Options(seed=seed, ufactor=ufactor, niter=20, contig=1)
        _, parts = pymetis.part_graph(
            k, pymetis.CSRAdjacency(xadj, adjncy), vweights=vw, eweights=ew, options=opts
        )
        groups = defaultdict(list)
        for v, p in zip(nodes, parts, strict=True):
            groups[p].append(v)
        out = []
        for g in groups.values():  # METIS keeps parts contiguous on a connected graph; make sure
            out.extend(_components(g, self.adj))
        return out

    def run(self, nodes: list[int]) -> list[list[int]]:
        """Two starts, METIS and greedy agglomeration, each repaired; the lower penalty wins."""
        groups = []
        for comp in _components(nodes, self.adj):
            k = max(1, round(self.w(comp) / self.target))
            groups.extend(self.metis(comp, k))
        best = self._repair(groups)
        other = self._repair(self._agglomerate(nodes))
        if self.total(other) < self.total(best):
            best = other
        return best

    def total(self, groups) -> float:
        return sum(self.penalty(self.w(g)) for g in groups)

    def _agglomerate(self, nodes: list[int]) -> list[list[int]]:
        """Start from single pieces and keep merging the pair of neighbouring groups whose merge
        lowers the penalty most (pieces are often nearly the size of a group, so this packs well)."""
        import heapq

        owner = {v: v for v in nodes}
        members = {v: [v] for v in nodes}
        size = {v: self.pieces[v].households for v in nodes}
        version = dict.fromkeys(nodes, 0)

        def delta(a, b):
            return self.penalty(size[a] + size[b]) - self.penalty(size[a]) - self.penalty(size[b])

        heap = []
        for v in nodes:
            for u in self.adj.get(v, ()):
                if u in owner and v < u and size[v] + size[u] <= self.max:
                    heapq.heappush(heap, (delta(v, u), v, u, 0, 0))
        while heap:
            d, a, b, va, vb = heapq.heappop(heap)
            if d >= 0:
                break
            if a not in members or b not in members or version[a] != va or version[b] != vb:
                continue
            members[a].extend(members.pop(b))
            size[a] += size.pop(b)
            version[a] += 1
            for v in members[a]:
                owner[v] = a
            seen = set()
            for v in members[a]:
                for u in self.adj.get(v, ()):
                    g = owner.get(u)
                    if g is None or g == a or g in seen:
                        continue
                    seen.add(g)
                    if size[a] + size[g] <= self.max:
                        x, y = (a, g) if a < g else (g, a)
                        heapq.heappush(heap, (delta(x, y), x, y, version[x], version[y]))
        return list(members.values())

    def _repair(self, groups):
        groups = self._split_large(groups)
        groups = self._merge_small(groups)
        groups = self._refine(groups)
        groups = self._pairs(groups)
        groups = self._refine(groups)
        groups = self._local_repair(groups)
        return groups

    def _local_repair(self, groups, rounds: int = 2, seeds: int = 6):
        """For each group still out of range: re-cut it together with all its neighbouring groups by
        METIS (several seeds, one group more or fewer) and keep the best cut if it lowers the penalty."""
        groups = [list(g) for g in groups]
        for _ in range(rounds):
            improved = False
            for gi in range(len(groups)):
                if not groups[gi] or self.min <= self.w(groups[gi]) <= self.max:
                    continue
                owner = self._owner(groups)
                region = [gi, *sorted(self._neighbours(groups, owner, gi))]
                if len(region) == 1:
                    continue
                nodes = [v for r in region for v in groups[r]]
                now = sum(self.penalty(self.w(groups[r])) for r in region)
                best = None
                for k in (len(region) - 1, len(region), len(region) + 1):
                    for seed in range(seeds):
                        parts = self._refine(self.metis(nodes, k, seed), passes=4)
                        if any(not _connected(p, self.adj) for p in parts):
                            continue
                        score = sum(self.penalty(self.w(p)) for p in parts)
                        if score < now - 1e-6 and (best is None or score < best[0]):
                            best = (score, parts)
                if best is None:
                    continue
                for r in region:
                    groups[r] = []
                groups.extend(best[1])
                improved = True
            groups = [g for g in groups if g]
            if not improved:
                break
        return groups

    def _split_large(self, groups):
        out, todo = [], list(groups)
        while todo:
            g = todo.pop()
            if self.w(g) <= self.max or len(g) == 1:
                out.append(g)
                continue
            k = max(2, round(self.w(g) / self.target))
            parts = self.metis(g, k)
            if len(parts) == 1:  # a loose balance can leave parts empty: ask for a tight one
                parts = self.metis(g, k, ufactor=30)
            if len(parts) == 1:
                parts = self._grow(g)
            if len(parts) == 1:
                out.append(g)
            else:
                todo.extend(parts)
        return out

    def _grow(self, nodes: list[int]) -> list[list[int]]:
        """Fallback bisection: grow a region by breadth-first search from one end until it holds
        about `target` households; the rest falls into its connected components."""
        inside, start = set(nodes), nodes[0]
        order, seen = [start], {start}
        for v in order:
            for u in self.adj.get(v, ()):
                if u in inside and u not in seen:
                    seen.add(u)
                    order.append(u)
        region, total = [], 0
        for v in order:
            if total >= self.target:
                break
            region.append(v)
            total += self.pieces[v].households
        rest = [v for v in nodes if v not in set(region)]
        return [region, *(_components(rest, self.adj) if rest else [])]

    def _owner(self, groups):
        owner = {}
        for gi, g in enumerate(groups):
            for v in g:
                owner[v] = gi
        return owner

    def _neighbours(self, groups, owner, gi):
        out = set()
        for v in groups[gi]:
            for u in self.adj.get(v, ()):
                if u in owner and owner[u] != gi:
                    out.add(owner[u])
        return out

    def _merge_small(self, groups):
        groups = [list(g) for g in groups]
        changed = True
        while changed:
            changed = False
            owner = self._owner(groups)
            sizes = [self.w(g) for g in groups]
            for gi in sorted(range(len(groups)), key=lambda i: sizes[i]):
                if not groups[gi] or sizes[gi] >= self.min:
                    continue
                nbrs = self._neighbours(groups, owner, gi)
                fits = [n for n in nbrs if groups[n] and sizes[n] + sizes[gi] <= self.max]
                if fits:
                    n = min(fits, key=lambda n: abs(sizes[n] + sizes[gi] - self.target))
                    groups[n].extend(groups[gi])
                    groups[gi] = []
                    changed = True
                    break
                if self._steal(groups, owner, sizes, gi, nbrs):
                    changed = True
                    break
            groups = [g for g in groups if g]
        return groups

    def _steal(self, groups, owner, sizes, gi, nbrs) -> bool:
        """Take one boundary piece from a neighbour that stays in range and connected."""
        best = None
        for n in nbrs:
            for v in groups[n]:
                wv = self.pieces[v].households
                if sizes[n] - wv < self.min or sizes[gi] + wv > self.max:
                    continue
                if not any(owner.get(u) == gi for u in self.adj.get(v, ())):
                    continue
                rest = [x for x in groups[n] if x != v]
                if not _connected(rest, self.adj):
                    continue
                score = abs(sizes[gi] + wv - self.target)
                if best is None or score < best[0]:
                    best = (score, n, v)
        if best is None:
            return False
        _, n, v = best
        groups[n].remove(v)
        groups[gi].append(v)
        return True

    def penalty(self, s: int) -> float:
        cached = self._penalties.get(s)
        if cached is not None:
            return cached
        p = (s - self.target) ** 2
        if not GOOD_BAND[0] <= s <= GOOD_BAND[1]:
            p += 400
        if not self.min <= s <= self.max:
            p += 100_000 * (1 + max(self.min - s, s - self.max))
        self._penalties[s] = p
        return p

    def _cut(self, a: list[int], b: list[int]) -> float:
        bs = set(b)
        return sum(self.edge_w(v, u) for v in a for u in self.adj.get(v, ()) if u in bs)

    def _best_split(self, nodes: list[int]):
        """The best way to hold `nodes` (two neighbouring groups) as one or two connected groups:
        exhaustive over bipartitions (groups hold a handful of pieces)."""
        total = self.w(nodes)
        best = (self.penalty(total) + 0.01 * 0, [nodes])
        first, rest = nodes[0], nodes[1:]
        n = len(rest)
        for mask in range(0, 1 << n):
            a = [first] + [rest[i] for i in range(n) if mask >> i & 1]
            if len(a) == len(nodes):
                continue
            wa = self.w(a)
            p = self.penalty(wa) + self.penalty(total - wa)
            if p >= best[0]:
                continue
            b = [v for v in nodes if v not in set(a)]
            if not (_connected(a, self.adj) and _connected(b, self.adj)):
                continue
            best = (p + 0.01 * self._cut(a, b), [a, b])
        return best

    def _pairs(self, groups, passes: int = 6, max_nodes: int = 11):
        """Re-cut each pair of neighbouring groups the best way (or merge them) while it helps."""
        groups = [list(g) for g in groups]
        for _ in range(passes):
            improved = False
            owner = self._owner(groups)
            for a in range(len(groups)):
                if not groups[a]:
                    continue
                for b in sorted(self._neighbours(groups, owner, a)):
                    if b <= a or not groups[b] or not groups[a]:
                        continue
                    nodes = groups[a] + groups[b]
                    if len(nodes) > max_nodes:
                        continue
                    now = (
                        self.penalty(self.w(groups[a]))
                        + self.penalty(self.w(groups[b]))
                        + 0.01 * self._cut(groups[a], groups[b])
                    )
                    score, parts = self._best_split(nodes)
                    if score < now - 1e-6:
                        groups[a] = parts[0]
                        groups[b] = parts[1] if len(parts) > 1 else []
                        for v in groups[a]:
                            owner[v] = a
                        for v in groups[b]:
                            owner[v] = b
                        improved = True
            groups = [g for g in groups if g]
            if not improved:
                break
        return groups

    def _refine(self, groups, passes: int = 12):
        """Move single boundary pieces between neighbouring groups while the total penalty drops."""
        groups = [list(g) for g in groups]
        for _ in range(passes):
            moved = False
            owner = self._owner(groups)
            sizes = [self.w(g) for g in groups]
            for v in list(owner):
                a = owner[v]
                if len(groups[a]) == 1:
                    continue
                wv = self.pieces[v].households
                targets = {owner[u] for u in self.adj.get(v, ()) if u in owner and owner[u] != a}
                best = None
                for b in targets:
                    delta = (
                        self.penalty(sizes[a] - wv)
                        + self.penalty(sizes[b] + wv)
                        - self.penalty(sizes[a])
                        - self.penalty(sizes[b])
                    )
                    # prefer keeping compounds together: a small cost per cut edge weight change
                    cut = sum(
                        self.edge_w(v, u) * (1 if owner[u] == a else -1 if owner[u] == b else 0)
                        for u in self.adj.get(v, ())
                        if u in owner
                    )
                    delta += 0.01 * cut
                    if delta < -1e-9 and (best is None or delta < best[0]):
                        best = (delta, b)
                if best is None:
                    continue
                rest = [x for x in groups[a] if x != v]
                if not _connected(rest, self.adj):
                    continue
                b = best[1]
                groups[a] = rest
                groups[b].append(v)
                sizes[a] -= wv
                sizes[b] += wv
                owner[v] = b
                moved = True
            if not moved:
                break
        return [g for g in groups if g]


def band_upper_bound(pieces: list[Piece], grid_of_piece: list[int]) -> float:
    """An upper bound on the share of groups within GOOD_BAND that any grouping of these pieces can
    reach. A piece above the band, or below it but unable to reach it with the smallest other piece
    of its grid, can only be in a group outside the band ("forced"). At most (free households / 25)
    groups can be in the band and at least (forced households / 40) groups hold the forced pieces."""
    lo, hi = GOOD_BAND
    by_grid = defaultdict(list)
    for p, g in zip(pieces, grid_of_piece, strict=True):
        by_grid[g].append(p.households)
    forced = free = 0
    for sizes in by_grid.values():
        ordered = sorted(sizes)
        for s in sizes:
            smallest_other = ordered[1] if s == ordered[0] and len(ordered) > 1 else ordered[0]
            if len(ordered) == 1:
                smallest_other = math.inf
            if s > hi or (s < lo and s + smallest_other > hi):
                forced += s
            else:
                free += s
    good = free // lo
    bad = math.ceil(forced / 40)
    return good / (good + bad) if good + bad else 1.0


def polsby_popper(g) -> float:
    return 4 * math.pi * g.area / g.length**2 if g.length else 0.0


def propose(
    grids: list[GridIn],
    buildings: list[BuildingIn],
    *,
    target: int = 30,
    min_hh: int = 20,
    max_hh: int = 40,
    partition=None,
) -> Proposal:
    """Group the households of each grid into contiguous neighbourhood grids near `target`.
    `partition(pieces, adj, nodes, min_hh)` may replace METIS + repair (the benchmark plugs spopt's
    MaxP in here, so both see the same pieces, graph and map cells)."""
    if not 0 < min_hh <= target <= max_hh:
        from apps.common.errors import DomainError

        raise DomainError(
            gettext("need 0 < min (%(min)s) ≤ target (%(target)s) ≤ max (%(max)s)")
            % {"min": min_hh, "target": target, "max": max_hh},
            field="target",
        )
    t0 = time.perf_counter()
    pieces: list[Piece] = []
    groups: list[Group] = []
    notes: list[str] = []
    by_grid = defaultdict(list)
    for bi, b in enumerate(buildings):
        by_grid[b.grid].append(bi)
    for gi, grid in enumerate(grids):
        bis = [bi for bi in by_grid.get(gi, []) if buildings[bi].footprint is not None]
        bis = [bi for bi in bis if (buildings[bi].records or buildings[bi].households)]
        if not bis:
            notes.append(
                gettext("grid %(grid)s holds no households: no neighbourhood grid proposed")
                % {"grid": grid.code}
            )
            continue
        cells = tessellate([buildings[bi].footprint for bi in bis], grid.geom)
        start = len(pieces)
        for bi, cell in zip(bis, cells, strict=True):
            ps = building_pieces(buildings[bi], bi, target=target, max_hh=max_hh)
            for p, strip in zip(
                ps, _strips(cell, buildings[bi].footprint, [p.share for p in ps]), strict=True
            ):
                p.geom = strip
                pieces.append(p)
        local = list(range(start, len(pieces)))
        # a strip of a concave cell may fall apart: stray parts go to the neighbour sharing most border
        fixed = _fix_strays([pieces[i].geom for i in local], [None] * len(local))
        # snap to a 1 cm grid so neighbouring pieces share vertices exactly (unions close up)
        snapped = shapely.set_precision(np.asarray(fixed, dtype=object), 0.01)
        for i, g in zip(local, snapped, strict=True):
            pieces[i].geom = g
        adj_local = adjacency([pieces[i].geom for i in local])
        adj = {local[a]: {local[b]: s for b, s in nb.items()} for a, nb in adj_local.items()}

        def edge_w(v, u, adj=adj):
            bv, bu = buildings[pieces[v].building], buildings[pieces[u].building]
            same = bv.compound is not None and bv.compound == bu.compound
            if pieces[v].building == pieces[u].building:
                return 30
            return max(1, round(adj[v][u])) * (10 if same else 1)

        part = _Partitioner(pieces, adj, edge_w, target=target, min_hh=min_hh, max_hh=max_hh)
        grid_total = sum(pieces[i].households for i in local)
        found = part.run(local) if partition is None else partition(pieces, adj, local, min_hh)
        for nodes in found:
            hh = part.w(nodes)
            geom = shapely.union_all([pieces[v].geom for v in nodes])
            parts = _polygons(geom)
            geom = parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
            group = Group(gi, sorted(nodes), hh, geom)
            if not min_hh <= hh <= max_hh:
                group.reason = _reason(
                    group, grid, grid_total, part, nodes, pieces, buildings, min_hh, max_hh
                )
            groups.append(group)
    runtime = time.perf_counter() - t0
    report = quality(groups, min_hh, max_hh, runtime, notes)
    grid_of_piece = [buildings[p.building].grid for p in pieces]
    report["within_25_35_bound"] = round(band_upper_bound(pieces, grid_of_piece), 4)
    return Proposal(pieces, groups, report)


def _reason(group, grid, grid_total, part, nodes, pieces, buildings, min_hh, max_hh) -> str:
    """Why a group is out of range, for the planner (in the active language: it is stored on the
    plan area and shown in the editor)."""
    hh = group.households
    if hh > max_hh:
        return gettext(
            "%(n)d households in pieces that cannot be cut into contiguous groups of at most %(max)d"
        ) % {"n": hh, "max": max_hh}
    if grid_total < min_hh:
        return gettext("grid %(grid)s holds only %(n)d households in all") % {
            "grid": grid.code,
            "n": grid_total,
        }
    neighbours = {
        u for v in nodes for u in part.adj.get(v, ()) if u not in set(nodes)
    }  # pieces next door
    names = ", ".join(sorted({buildings[pieces[v].building].name or "?" for v in nodes}))
    if not neighbours:
        return gettext(
            "isolated: %(names)s (%(n)d households) has no neighbouring building in grid %(grid)s"
        ) % {"names": names, "n": hh, "grid": grid.code}
    return gettext(
        "%(names)s (%(n)d households): every neighbouring group would exceed %(max)d households "
        "if merged, and none can spare a piece"
    ) % {"names": names, "n": hh, "max": max_hh}


def quality(groups: list[Group], min_hh: int, max_hh: int, runtime: float, notes=()) -> dict:
    sizes = np.array([g.households for g in groups], dtype=float)
    n = len(groups)
    compact = [polsby_popper(g.geom) for g in groups if g.geom is not None and not g.geom.is_empty]
    return {
        "groups": n,
        "households": int(sizes.sum()) if n else 0,
        "min": int(sizes.min()) if n else 0,
        "mean": round(float(sizes.mean()), 1) if n else 0.0,
        "max": int(sizes.max()) if n else 0,
        "within_range": round(float(((sizes >= min_hh) & (sizes <= max_hh)).mean()), 4) if n else 0,
        "within_25_35": round(float(((sizes >= GOOD_BAND[0]) & (sizes <= GOOD_BAND[1])).mean()), 4)
        if n
        else 0,
        "contiguous": round(sum(g.contiguous for g in groups) / n, 4) if n else 0,
        "compactness": round(float(np.mean(compact)), 3) if compact else 0.0,
        "runtime_s": round(runtime, 3),
        "range": [min_hh, max_hh],
        "out_of_range": [
            {"index": i, "households": g.households, "reason": g.reason}
            for i, g in enumerate(groups)
            if g.reason
        ],
        "notes": list(notes),
    }
