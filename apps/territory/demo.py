"""A deterministic, realistic demo district in Hefei, Baohe (合肥市包河区, 117.28 E 31.86 N).

Layout, in metres in UTM zone 50N, then transformed to EPSG:4326:

    street (1,500 × 450 m) = 5 communities in a row
    community (300 × 450 m) = 2 × 3 blocks; each block is one grid (网格) holding one compound (小区)
    block (150 × 150 m) = 2 × 3 lots of 75 × 50 m, taken in snake order; most lots hold one building,
                          a few are left as green space
    building: 72 % six/seven-floor walk-ups, 22 % mid-rise, 6 % high-rise towers; 2-3 units, 2-4 households
              per floor; every household is a record (unit, floor, room)
    neighbourhood grid (邻里格): consecutive lots packed to about 30 households (20-40); a building with more
              than 40 households is split by units, a unit with more than 40 by floor ranges, so several
              neighbourhood grids can share a tower. Their polygons are unions of lots (or strips of a lot
              for split buildings), so they tile the grid with no gaps or overlaps; grids tile communities,
              communities tile streets.

`--scale S` grows it linearly: round(5 S) communities, five to a street, streets laid out in a square; above
999 streets the county code moves on to the next. Everything is written with COPY.

How it is fast (a megacity, scale 6700, is ~1M buildings and ~47M households; docs/BENCHMARKS.md):

* Planning touches no geometry objects: areas and footprints are boxes (four floats) until a whole batch
  of streets is encoded at once (one PROJ call, EWKB written by numpy). Only neighbourhood grids made of
  several rectangles go through GEOS (one vectorised union per batch).
* Into an empty territory (`_bulk_load`), ids are counted instead of drawn from the sequences one by one,
  and a thread plans and encodes the next streets while the database loads the previous ones, so Python
  and PostgreSQL work on two cores. Households are COPY text made of cached per-floor templates.
* The bulk load drops the generated tables' keys, indexes and per-row triggers (and, while auditing is
  off, the audit triggers, whose transition tables would copy every row), writes the subdivided parts
  itself (these polygons are small enough to be their own only part), and rebuilds everything once at
  the end (sorted index builds, one validating join per foreign key).

The output is the same, row for row, as the straightforward version (one shapely box per lot, a GEOS
union per neighbourhood, ids from nextval, parts from the trigger): the random numbers are drawn in the
same order, coordinates come from the same float expressions and go point by point through the same
PROJ pipeline. tests/territory/test_demo.py checks digests of the rows against that version's, the
encoded boxes against shapely's and the parts against ST_Subdivide.
"""

import bisect
import io
import math
import queue
import threading
from contextlib import contextmanager
from functools import cache

import numpy as np
import shapely
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from pyproj import Transformer

from apps.common import derived
from apps.common.db import reserve_ids
from apps.territory.services import area_counts_refresh

COUNTY = "340111"  # 合肥市包河区
LOCAL_CRS = "EPSG:32650"
ORIGIN_LONLAT = (117.272, 31.858)

BLOCK = 150.0
LOT_W, LOT_H = 75.0, 50.0
COMM_COLS, COMM_ROWS = 2, 3
STREET_COMMS = 5
COMPOUND_INSET = 6.0
NBH_TARGET, NBH_MIN, NBH_MAX = 30, 20, 40

STREET_NAMES = [
    "望湖街道",
    "芜湖路街道",
    "包公街道",
    "常青街道",
    "烟墩街道",
    "骆岗街道",
    "宁国路街道",
    "万年埠街道",
    "同安街道",
    "方兴街道",
]
COMMUNITY_NAMES = [
    "南园社区",
    "绿洲社区",
    "书香社区",
    "清风社区",
    "翠园社区",
    "和平社区",
    "春晖社区",
    "桂香社区",
    "滨湖社区",
    "荷塘社区",
    "紫云社区",
    "望湖社区",
]
COMPOUND_PREFIX = [
    "锦绣",
    "幸福",
    "翠竹",
    "和平",
    "阳光",
    "金桂",
    "梅园",
    "南苑",
    "绿洲",
    "滨湖",
    "书香",
    "龙图",
    "望湖",
    "芙蓉",
    "丽景",
    "安居",
    "康乐",
    "清溪",
    "怡景",
    "紫薇",
    "银杏",
    "海棠",
]
COMPOUND_SUFFIX = ["苑", "小区", "花园", "新村", "家园", "雅居", "公寓"]
MGMT_TYPES = ["commercial", "proxy", "self", "none"]
MGMT_P = [0.60, 0.15, 0.10, 0.15]

# Rows are COPY text format: no value may hold a tab, newline or backslash.
assert not any(
    set("\t\n\\") & set(s)
    for s in STREET_NAMES + COMMUNITY_NAMES + COMPOUND_PREFIX + COMPOUND_SUFFIX + MGMT_TYPES
)


def _cdf(p):
    """Cumulative weights exactly as numpy's Generator.choice computes them."""
    cdf = np.asarray(p, dtype=float).cumsum()
    cdf /= cdf[-1]
    return cdf.tolist()


def _choice(rng, options, cdf=None):
    """rng.choice(options[, p]) drawing the same random numbers, ~10x faster for one draw:
    with weights one rng.random() located in the cdf, without them one rng.integers(0, n)."""
    if cdf is None:
        return options[int(rng.integers(0, len(options)))]
    return options[bisect.bisect_right(cdf, rng.random())]


KIND_CDF = _cdf([0.72, 0.22, 0.06])
WALKUP_UNITS_CDF = _cdf([0.6, 0.4])
MGMT_CDF = _cdf(MGMT_P)


def _building_spec(rng):
    kind = _choice(rng, (0, 1, 2), KIND_CDF)
    if kind == 0:
        return int(rng.integers(6, 8)), _choice(rng, (2, 3), WALKUP_UNITS_CDF), 2
    if kind == 1:
        return int(rng.integers(9, 13)), _choice(rng, (2, 3)), 2
    return int(rng.integers(18, 31)), 2, _choice(rng, (3, 4))


@cache
def _pieces(floors: int, units: int, hpf: int) -> tuple:
    """Split a building into pieces of at most NBH_MAX households, whole units first, then floor ranges.
    A piece is (first unit, last unit, first floor, last floor, households, share) where share is the
    x-range (a, b) of the building's lot, as fractions, that the piece's polygon takes. Depends on the
    building's shape only, so it is computed once per shape."""
    total = floors * units * hpf
    if total <= NBH_MAX:
        return ((1, units, 1, floors, total, (0.0, 1.0)),)
    runs = []
    for u in range(1, units + 1):
        unit_hh = floors * hpf
        k = 1 if unit_hh <= NBH_MAX else math.ceil(unit_hh / NBH_TARGET)
        bounds = np.linspace(0, floors, k + 1).round().astype(int)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            runs.append((u, int(a) + 1, int(b)))
    # Strips of the lot in proportion to households, so neighbourhood polygons still tile the block.
    counts = [(f1 - f0 + 1) * hpf for _u, f0, f1 in runs]
    edges = np.cumsum([0] + counts) / total
    return tuple(
        (u, u, f0, f1, n, (float(a), float(b)))
        for (u, f0, f1), n, a, b in zip(runs, counts, edges[:-1], edges[1:], strict=True)
    )


def _pack(counts):
    """Greedy packing of consecutive pieces (their household counts) into groups near NBH_TARGET,
    within [NBH_MIN, NBH_MAX]. Returns lists of piece indexes."""
    groups, cur, n = [], [], 0
    for i, k in enumerate(counts):
        if cur and (
            n + k > NBH_MAX or (n >= NBH_MIN and abs(n + k - NBH_TARGET) > abs(n - NBH_TARGET))
        ):
            groups.append(cur)
            cur, n = [], 0
        cur.append(i)
        n += k
    if cur:
        if groups and n < NBH_MIN and n + sum(counts[i] for i in groups[-1]) <= NBH_MAX:
            groups[-1].extend(cur)
        else:
            groups.append(cur)
    return groups


@cache
def _room_template(f0: int, f1: int, hpf: int) -> tuple:
    """The leading 'floor<TAB>room<TAB>' of each household row of one unit's floors f0..f1, in order."""
    return tuple(f"{f}\t{f}{r:02d}\t" for f in range(f0, f1 + 1) for r in range(1, hpf + 1))


class StreetPlan:
    """The areas and buildings of one or more streets, before ids are known. Area geometries are boxes
    (minx, miny, maxx, maxy) in the local metric CRS, or for neighbourhood grids the list of boxes whose
    union they are; parents and the areas of buildings are indexes into the plan's areas."""

    __slots__ = (
        "a_level",
        "a_code",
        "a_name",
        "a_parent",
        "a_geom",
        "a_mgmt",
        "a_hh",
        "a_bc",
        "b_name",
        "b_address",
        "b_fp",
        "b_floors",
        "b_units",
        "b_hpf",
        "b_comm",
        "b_grid",
        "b_cpd",
        "b_pieces",
        "streets",
    )

    def __init__(self):
        for name in self.__slots__:
            setattr(self, name, [])
        self.streets = 0

    def _area(self, level, code, name, parent, geom, mgmt=None) -> int:
        self.a_level.append(level)
        self.a_code.append(code)
        self.a_name.append(name)
        self.a_parent.append(parent)
        self.a_geom.append(geom)
        self.a_mgmt.append(mgmt)
        self.a_hh.append(0)
        self.a_bc.append(0)
        return len(self.a_level) - 1

    @property
    def units(self) -> int:
        return sum(self.b_units)


# EWKB headers (little-endian, SRID 4326): a MultiPolygon of one polygon of one ring of five points,
# and that Polygon alone.
_MULTI_BOX_HEADER = bytes.fromhex("0106000020E61000000100000001030000000100000005000000")
_POLY_BOX_HEADER = bytes.fromhex("0103000020E61000000100000005000000")


class DemoWriter:
    """Generates street by street and COPYs rows. `street()` writes one street into any territory (ids
    reserved from the tables' sequences); `seed_demo` drives it in bulk (ids counted)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.to_wgs84 = Transformer.from_crs(LOCAL_CRS, "EPSG:4326", always_xy=True)
        ox, oy = Transformer.from_crs("EPSG:4326", LOCAL_CRS, always_xy=True).transform(
            *ORIGIN_LONLAT
        )
        self.origin = (round(ox), round(oy))
        self.now = timezone.now()
        self.stats = {
            "streets": 0,
            "communities": 0,
            "grids": 0,
            "neighbourhoods": 0,
            "compounds": 0,
            "buildings": 0,
            "units": 0,
            "households": 0,
        }

    # --- planning (no database access: safe in a thread) ------------------------------------------

    def street_plan(
        self, street_index: int, n_communities: int, x0: float, y0: float, plan=None
    ) -> StreetPlan:
        """The areas and buildings of one street, in memory, appended to `plan` (a new one by default)."""
        rng = self.rng
        plan = StreetPlan() if plan is None else plan
        plan.streets += 1
        county = f"{int(COUNTY) + street_index // 999:06d}"
        street_code = f"{county}{street_index % 999 + 1:03d}"
        street_name = STREET_NAMES[street_index % len(STREET_NAMES)]
        if street_index >= len(STREET_NAMES):
            street_name = f"{street_name[:-2]}{street_index // len(STREET_NAMES) + 1}街道"
        street_i = plan._area(
            "street",
            street_code,
            street_name,
            -1,
            (x0, y0, x0 + n_communities * COMM_COLS * BLOCK, y0 + COMM_ROWS * BLOCK),
        )
        for c in range(n_communities):
            cx = x0 + c * COMM_COLS * BLOCK
            comm_code = f"{street_code}{c + 1:03d}"
            comm_name = COMMUNITY_NAMES[(street_index * STREET_COMMS + c) % len(COMMUNITY_NAMES)]
            comm_i = plan._area(
                "community",
                comm_code,
                comm_name,
                street_i,
                (cx, y0, cx + COMM_COLS * BLOCK, y0 + COMM_ROWS * BLOCK),
            )
            for g in range(COMM_COLS * COMM_ROWS):
                bx = cx + (g % COMM_COLS) * BLOCK
                by = y0 + (g // COMM_COLS) * BLOCK
                grid_code = f"{comm_code}{g + 1:03d}"
                grid_name = f"{comm_name[:-2]}第{g + 1}网格"
                grid_i = plan._area(
                    "grid", grid_code, grid_name, comm_i, (bx, by, bx + BLOCK, by + BLOCK)
                )
                cpd_name = _choice(rng, COMPOUND_PREFIX) + _choice(rng, COMPOUND_SUFFIX)
                cpd_box = (
                    bx + COMPOUND_INSET,
                    by + COMPOUND_INSET,
                    bx + BLOCK - COMPOUND_INSET,
                    by + BLOCK - COMPOUND_INSET,
                )
                mgmt = _choice(rng, MGMT_TYPES, MGMT_CDF)
                cpd_i = plan._area(
                    "compound", f"{comm_code}C{g + 1:03d}", cpd_name, comm_i, cpd_box, mgmt
                )
                self._block(
                    plan, street_i, comm_i, grid_i, cpd_i, grid_code, grid_name, cpd_name, bx, by
                )
        return plan

    def _block(self, plan, street_i, comm_i, grid_i, cpd_i, grid_code, grid_name, cpd_name, bx, by):
        rng = self.rng
        lots = []
        for r in range(int(BLOCK // LOT_H)):
            cols = range(int(BLOCK // LOT_W))
            for col in cols if r % 2 == 0 else reversed(cols):
                lots.append(
                    (bx + col * LOT_W, by + r * LOT_H, bx + (col + 1) * LOT_W, by + (r + 1) * LOT_H)
                )
        pieces = []  # (building index, piece, lot index), in block order
        empty_lots = []
        number = 0
        first_b = len(plan.b_name)
        for li, (minx, miny, maxx, maxy) in enumerate(lots):
            if rng.random() < 0.12:
                empty_lots.append(li)
                continue
            floors, n_units, hpf = _building_spec(rng)
            tower = hpf > 2
            length = 30.0 if tower else min(n_units * 13.0, LOT_W - 12)
            depth = 18.0 if tower else 11.0
            mx, my = (minx + maxx) / 2, (miny + maxy) / 2
            number += 1
            bi = len(plan.b_name)
            plan.b_name.append(f"{number}栋")
            plan.b_address.append(f"{cpd_name}{number}栋")
            plan.b_fp.append((mx - length / 2, my - depth / 2, mx + length / 2, my + depth / 2))
            plan.b_floors.append(floors)
            plan.b_units.append(n_units)
            plan.b_hpf.append(hpf)
            plan.b_comm.append(comm_i)
            plan.b_grid.append(grid_i)
            plan.b_cpd.append(cpd_i)
            plan.b_pieces.append([])  # (u0, u1, f0, f1, households, neighbourhood area index)
            for p in _pieces(floors, n_units, hpf):
                pieces.append((bi, p, li))
        groups = _pack([p[4] for _bi, p, _li in pieces])
        # Polygons: each piece's strip of its lot; empty lots join the group of the lot before them.
        lot_groups = []
        first_group_of_lot = {}
        for gi, group in enumerate(groups):
            boxes = []
            for k in group:
                _bi, p, li = pieces[k]
                minx, miny, maxx, maxy = lots[li]
                a, b = p[5]
                x1 = minx + a * (maxx - minx)
                x2 = maxx if b >= 1.0 else minx + b * (maxx - minx)
                boxes.append((x1, miny, x2, maxy))
                first_group_of_lot.setdefault(li, gi)
            lot_groups.append(boxes)
        for li in empty_lots:
            # the group owning the nearest earlier lot, else the nearest later one
            owner = next(
                (first_group_of_lot[j] for j in range(li - 1, -1, -1) if j in first_group_of_lot),
                None,
            )
            if owner is None:
                owner = next(
                    (
                        first_group_of_lot[j]
                        for j in range(li + 1, len(lots))
                        if j in first_group_of_lot
                    ),
                    None,
                )
            if owner is None:  # a block with no buildings at all: leave it to the grid alone
                continue
            lot_groups[owner].append(lots[li])
        # Household and building counts per area, as services.area_counts_refresh would compute them:
        # known here, so the load needs no aggregate pass over millions of households afterwards.
        hh, bc = plan.a_hh, plan.a_bc
        for gi, group in enumerate(groups):
            nbh_i = plan._area(
                "neighbourhood",
                f"{grid_code}{gi + 1:03d}",
                f"{grid_name}{gi + 1}号邻里格",
                grid_i,
                lot_groups[gi],
            )
            last_bi = None
            for k in group:
                bi, p, _li = pieces[k]
                plan.b_pieces[bi].append((p[0], p[1], p[2], p[3], p[4], nbh_i))
                hh[nbh_i] += p[4]
                if bi != last_bi:
                    bc[nbh_i] += 1
                    last_bi = bi
        for bi in range(first_b, len(plan.b_name)):
            n = plan.b_floors[bi] * plan.b_units[bi] * plan.b_hpf[bi]
            for i in (street_i, comm_i, grid_i, cpd_i):
                hh[i] += n
                bc[i] += 1

    # --- encoding (no database access) --------------------------------------------------------------

    def _box_ewkb(self, boxes, header: bytes) -> list[str]:
        """Hex EWKB of boxes (minx, miny, maxx, maxy) in the local CRS, as shapely.box (counter-clockwise
        from (maxx, miny)) transformed to EPSG:4326 would give: each corner through PROJ once."""
        n = len(boxes)
        if n == 0:
            return []
        b = np.asarray(boxes, dtype=np.float64)
        xs = b[:, [2, 2, 0, 0]].ravel()
        ys = b[:, [1, 3, 3, 1]].ravel()
        lon, lat = self.to_wgs84.transform(xs, ys)
        coords = np.empty((n, 5, 2), dtype="<f8")
        coords[:, :4, 0] = np.asarray(lon).reshape(n, 4)
        coords[:, :4, 1] = np.asarray(lat).reshape(n, 4)
        coords[:, 4] = coords[:, 0]
        size = len(header) + 80
        out = np.empty((n, size), dtype=np.uint8)
        out[:, : len(header)] = np.frombuffer(header, dtype=np.uint8)
        out[:, len(header) :] = coords.reshape(n, 10).view(np.uint8)
        text = out.tobytes().hex()
        w = 2 * size
        return [text[i : i + w] for i in range(0, n * w, w)]

    def _union_ewkb(self, groups) -> tuple[list[str], list[list[str]]]:
        """Neighbourhood grids of several boxes: the GEOS union of the boxes (in the plan's order, one
        vectorised call), transformed to EPSG:4326. Returns the MultiPolygon EWKB of each and the
        Polygon EWKB of its parts (what ST_Subdivide(geom, 64) returns for polygons this small)."""
        if not groups:
            return [], []
        width = max(len(g) for g in groups)
        arr = np.full((len(groups), width), None, dtype=object)
        for i, g in enumerate(groups):
            b = np.asarray(g, dtype=np.float64)
            arr[i, : len(g)] = shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3])
        unions = shapely.union_all(arr, axis=1)
        unions = shapely.transform(
            unions, lambda xy: np.column_stack(self.to_wgs84.transform(xy[:, 0], xy[:, 1]))
        )
        multi = np.array(
            [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in unions]
        )
        multi = shapely.set_srid(multi, 4326)
        hexes = shapely.to_wkb(multi, hex=True, include_srid=True).tolist()
        parts = []
        for g in multi:
            polys = shapely.set_srid(np.asarray(shapely.get_parts(g)), 4326)
            if max(shapely.get_num_coordinates(polys)) > 64:  # never for these shapes
                raise ValueError("a neighbourhood grid too complex for the precomputed parts")
            parts.append(shapely.to_wkb(polys, hex=True, include_srid=True).tolist())
        return hexes, parts

    def encode(self, plan: StreetPlan, area_ids, building_ids, unit_ids, household_id=None) -> dict:
        """COPY text (bytes) of every table for the plan, given the ids of its areas, buildings and
        units (sequences, in plan order). With `household_id` the households get consecutive ids from
        it, else the column's identity default. Also returns areapart rows (see `_bulk_load`)."""
        boxes, box_at, multi, multi_at = [], [], [], []
        for i, g in enumerate(plan.a_geom):
            if isinstance(g, tuple):
                boxes.append(g)
                box_at.append(i)
            elif len(g) == 1:
                boxes.append(g[0])
                box_at.append(i)
            else:
                multi.append(g)
                multi_at.append(i)
        geom = [None] * len(plan.a_geom)
        part = [None] * len(plan.a_geom)
        for i, h in zip(box_at, self._box_ewkb(boxes, _MULTI_BOX_HEADER), strict=True):
            geom[i] = h
        # A box's only part (ST_Subdivide) is its polygon: the same coordinates, a Polygon header.
        skip, poly = 2 * len(_MULTI_BOX_HEADER), _POLY_BOX_HEADER.hex()
        for i in box_at:
            part[i] = (poly + geom[i][skip:],)
        hexes, parts = self._union_ewkb(multi)
        for i, h, ps in zip(multi_at, hexes, parts, strict=True):
            geom[i] = h
            part[i] = ps

        now = str(self.now)
        ids = [str(a) for a in area_ids]
        n_areas = len(ids)
        parent = [ids[p] if p >= 0 else "\\N" for p in plan.a_parent]
        mgmt = ["\\N" if m_ is None else m_ for m_ in plan.a_mgmt]
        area = "".join(
            f"{i}\t{lv}\t{c}\t{nm}\t{pa}\t{g}\t{now}\t\\N\t1\t\t{mg}\t{h}\t{b}\t{now}\n"
            for i, lv, c, nm, pa, g, mg, h, b in zip(
                ids,
                plan.a_level,
                plan.a_code,
                plan.a_name,
                parent,
                geom,
                mgmt,
                plan.a_hh,
                plan.a_bc,
                strict=True,
            )
        )
        areapart = "".join(
            f"{i}\t{lv}\t{now}\t\\N\t{g}\n"
            for i, lv, ps in zip(ids, plan.a_level, part, strict=True)
            for g in ps
        )

        b_ids = [str(b) for b in building_ids]
        fps = self._box_ewkb(plan.b_fp, _MULTI_BOX_HEADER)
        b_hh = [f * u * h for f, u, h in zip(plan.b_floors, plan.b_units, plan.b_hpf, strict=True)]
        building = "".join(
            f"{i}\t{nm}\t{ad}\t{fp}\t{fl}\t{un}\t{h}\tsurveyed\t{ids[c]}\t{ids[g]}\t{ids[k]}\t\n"
            for i, nm, ad, fp, fl, un, h, c, g, k in zip(
                b_ids,
                plan.b_name,
                plan.b_address,
                fps,
                plan.b_floors,
                plan.b_units,
                b_hh,
                plan.b_comm,
                plan.b_grid,
                plan.b_cpd,
                strict=True,
            )
        )
        u_ids = iter([str(u) for u in unit_ids])
        unit, hh = [], []
        n_hh = 0
        for bid, n_units, hpf, pieces in zip(
            b_ids, plan.b_units, plan.b_hpf, plan.b_pieces, strict=True
        ):
            uids = [next(u_ids) for _ in range(n_units)]
            unit.extend(f"{u}\t{bid}\t{k}\t\\N\n" for k, u in enumerate(uids, 1))
            for u0, u1, f0, f1, n, nbh in pieces:
                rooms = _room_template(f0, f1, hpf)
                nbh_id = ids[nbh]
                for u in range(u0, u1 + 1):
                    tail = f"{bid}\t{uids[u - 1]}\t{nbh_id}\n"
                    if household_id is None:
                        hh.append(tail.join(rooms))
                        hh.append(tail)
                    else:
                        hh.append(
                            "".join(f"{household_id + j}\t{r}{tail}" for j, r in enumerate(rooms))
                        )
                        household_id += len(rooms)
                n_hh += n
        return {
            "territory_area": area.encode(),
            "territory_areapart": areapart.encode(),
            "territory_building": building.encode(),
            "territory_unit": "".join(unit).encode(),
            "territory_household": "".join(hh).encode(),
            "counts": (n_areas, len(b_ids), len(unit), n_hh),
        }

    # --- writing ------------------------------------------------------------------------------------

    def _count(self, plan: StreetPlan, n_households: int) -> None:
        key = {"neighbourhood": "neighbourhoods", "community": "communities"}
        for level in plan.a_level:
            self.stats[key.get(level, level + "s")] += 1
        self.stats["buildings"] += len(plan.b_name)
        self.stats["units"] += plan.units
        self.stats["households"] += n_households

    def _copy(self, rows: dict, *, household_ids: bool, areaparts: bool) -> None:
        """COPY encoded rows, parents first. `areaparts`: write the areapart rows too (when the trigger
        that would is disabled); `household_ids`: the household rows carry their ids."""
        household_columns = ("id, " if household_ids else "") + HOUSEHOLD_COLUMNS
        with connection.cursor() as cur:
            for table, columns in (
                ("territory_area", AREA_COLUMNS),
                ("territory_areapart", AREAPART_COLUMNS if areaparts else None),
                ("territory_building", BUILDING_COLUMNS),
                ("territory_unit", UNIT_COLUMNS),
                ("territory_household", household_columns),
            ):
                if columns:
                    cur.cursor.copy_expert(
                        f"COPY {table} ({columns}) FROM STDIN",
                        io.BytesIO(rows[table]),
                        size=1 << 20,
                    )

    def street(self, street_index: int, n_communities: int, x0: float, y0: float):
        """Plan and write one street into the territory as it is (every constraint and trigger live)."""
        plan = self.street_plan(street_index, n_communities, x0, y0)
        area_ids = reserve_ids("territory_area", len(plan.a_level))
        building_ids = reserve_ids("territory_building", len(plan.b_name))
        unit_ids = reserve_ids("territory_unit", plan.units)
        rows = self.encode(plan, area_ids, building_ids, unit_ids)
        self._copy(rows, household_ids=False, areaparts=False)  # the trigger writes the parts
        self._count(plan, rows["counts"][3])


AREA_COLUMNS = (
    "id, level, code, name, parent_id, geom, valid_from, valid_to, version, ext_code,"
    " management_type, households, buildings, created_at"
)
AREAPART_COLUMNS = "area_id, level, valid_from, valid_to, geom"
BUILDING_COLUMNS = (
    "id, name, address, footprint, floors, units_count, households, households_source,"
    " community_id, grid_id, compound_id, ext_ref"
)
UNIT_COLUMNS = "id, building_id, number, floors"
HOUSEHOLD_COLUMNS = "floor, room, building_id, unit_id, neighbourhood_id"


def _ahead(items, *, depth: int):
    """Iterate `items` with a thread computing up to `depth` items ahead; re-raises its errors here."""
    done = object()
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            q.put(done)
        except BaseException as exc:  # handed to the consumer, which raises it
            q.put(exc)

    thread = threading.Thread(target=produce, name="demo-planner", daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not done:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


# Tables the generator fills, children first.
BULK_TABLES = [
    "territory_household",
    "territory_unit",
    "territory_building",
    "territory_areapart",
    "territory_area",
]

# Per-row triggers of the generated tables that a bulk load replaces by one set operation afterwards:
# the areapart rows come with the COPY (what territory_area_sync_parts would insert), and the history
# check of code versions runs once over the loaded areas (see _check_versions).
BULK_ROW_TRIGGERS = ("territory_area_sync_parts", "territory_area_versions_disjoint")


def _check_versions(cur) -> None:
    """What the area_code_versions_disjoint trigger checks per row, for the whole table at once: no two
    versions of a code whose validity overlaps. Two current versions are already refused by the unique
    index on current codes, so an overlap needs a closed version; the generator writes none, so this
    is one scan that finds nothing to probe."""
    cur.execute(
        """SELECT a.level, a.code FROM territory_area a
             JOIN territory_area b ON b.level = a.level AND b.code = a.code AND b.id <> a.id
                  AND tstzrange(a.valid_from, a.valid_to) && tstzrange(b.valid_from, b.valid_to)
            WHERE a.valid_to IS NOT NULL
            LIMIT 1"""
    )
    found = cur.fetchone()
    if found:
        raise IntegrityError(
            'conflicting key value violates exclusion constraint "area_code_versions_disjoint":'
            f" two versions of the {found[0]} {found[1]} overlap in time"
        )


@contextmanager
def _bulk_load():
    """Load an empty territory fast. Yields the first id of each generated table (the caller counts ids
    from there), or None when the territory is not empty (the per-row machinery then stays in charge).

    Drops the primary keys, unique constraints, secondary indexes and foreign keys of the generated
    tables (and the foreign keys of other tables that point at them), disables their per-row triggers
    (BULK_ROW_TRIGGERS) and, when auditing is off for this transaction (`linli.audit = 'off'`, as
    seed_all sets it), the audit triggers, whose transition tables would otherwise hold a copy of every
    row only to find auditing off. After the COPYs it rebuilds all of it in bulk: one sorted build per
    index and one validating join per foreign key instead of millions of per-row checks, then sets the
    id sequences past the ids used. Runs inside the caller's transaction: a failure leaves everything as
    it was (sequences aside, which may skip ids)."""
    with connection.cursor() as cur:
        # No writer may slip in between the emptiness check and the schema changes below.
        cur.execute(f"LOCK TABLE {', '.join(BULK_TABLES)} IN SHARE ROW EXCLUSIVE MODE")
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM territory_area) OR EXISTS (SELECT 1 FROM territory_building)"
        )
        if cur.fetchone()[0]:
            yield None
            return
        cur.execute(
            """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype
                 FROM pg_constraint
                WHERE ((conrelid = ANY(%s::regclass[]) AND contype IN ('p', 'u', 'f'))
                       OR (confrelid = ANY(%s::regclass[]) AND contype = 'f'))
                  AND conparentid = 0  -- a partitioned table's constraint, not its partitions' copies
                ORDER BY contype = 'f', conrelid::regclass::text, conname""",
            [BULK_TABLES, BULK_TABLES],
        )
        constraints = cur.fetchall()
        cur.execute(
            """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                 FROM pg_index i
                WHERE i.indrelid = ANY(%s::regclass[])
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                ORDER BY 1""",
            [BULK_TABLES],
        )
        indexes = cur.fetchall()
        cur.execute(
            """SELECT tgrelid::regclass::text, tgname
                 FROM pg_trigger
                WHERE tgrelid = ANY(%s::regclass[]) AND NOT tgisinternal AND tgenabled <> 'D'
                  AND (tgname = ANY(%s) OR tgname LIKE %s
                       OR (tgnewtable IS NOT NULL
                           AND COALESCE(current_setting('linli.audit', true), '') = 'off'))
                ORDER BY 1, 2""",
            [BULK_TABLES, list(BULK_ROW_TRIGGERS), derived.TRIGGER_PATTERN],
        )
        triggers = cur.fetchall()
        for table, name, _def, _type in reversed(constraints):  # foreign keys first
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _def in indexes:
            cur.execute(f"DROP INDEX {name}")  # already quoted as needed (regclass)
        for table, name in triggers:
            cur.execute(f'ALTER TABLE {table} DISABLE TRIGGER "{name}"')
        first_ids = {}
        for table in BULK_TABLES:
            cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [table])
            first_ids[table] = cur.fetchone()[0]
    yield first_ids
    with connection.cursor() as cur:
        for table, name in triggers:
            cur.execute(f'ALTER TABLE {table} ENABLE TRIGGER "{name}"')
        for table, name, definition, contype in constraints:  # keys before the foreign keys
            if contype != "f":
                cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for _name, definition in indexes:
            cur.execute(definition)
        for table, name, definition, contype in constraints:
            if contype == "f":
                cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        _check_versions(cur)
        # the derived tables' triggers were off (apps.common.derived)
        derived.rebuild(cur, [name for _table, name in triggers])
        for table in BULK_TABLES:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), max(id)) FROM {table}"  # noqa: S608
                " HAVING max(id) IS NOT NULL",
                [table],
            )


# Streets are planned, encoded and COPYed in batches of about this many buildings (~90k households).
BATCH_BUILDINGS = 2000


def seed_demo(*, seed: int = 7, scale: float = 1.0, progress=None) -> dict:
    """Generate the demo district. `progress` is an optional callable(n) for a progress bar (n streets
    done). Returns counts of what was created."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    n_comms = max(1, round(STREET_COMMS * scale))
    n_streets = math.ceil(n_comms / STREET_COMMS)
    street_w, street_h = STREET_COMMS * COMM_COLS * BLOCK, COMM_ROWS * BLOCK
    cols = max(1, math.ceil(math.sqrt(n_streets * street_h / street_w)))
    writer = DemoWriter(seed)
    ox, oy = writer.origin

    def streets():
        for s in range(n_streets):
            comms = min(STREET_COMMS, n_comms - s * STREET_COMMS)
            yield s, comms, ox + (s % cols) * (street_w + 60), oy + (s // cols) * (street_h + 60)

    with transaction.atomic(), _bulk_load() as first_ids:  # all or nothing
        if (
            first_ids is None
        ):  # other areas and buildings are there: street by street, all checks live
            for args in streets():
                writer.street(*args)
                if progress:
                    progress(1)
            area_counts_refresh()
        else:
            # Streets are planned and encoded in a thread while the previous batch is loaded: the
            # database's work (COPY) overlaps with Python's. Order, and so the output, stays the same.
            for plan, rows in _ahead(_encoded_batches(writer, streets(), first_ids), depth=2):
                writer._copy(rows, household_ids=True, areaparts=True)
                writer._count(plan, rows["counts"][3])
                if progress:
                    progress(plan.streets)
    with connection.cursor() as cur:
        cur.execute(
            "ANALYZE territory_area, territory_areapart, territory_building, territory_unit, territory_household"
        )
    return writer.stats


def _encoded_batches(writer: DemoWriter, streets, first_ids: dict):
    """(plan, COPY rows) of batches of about BATCH_BUILDINGS buildings, ids counted from first_ids."""
    next_area = first_ids["territory_area"]
    next_building = first_ids["territory_building"]
    next_unit = first_ids["territory_unit"]
    next_household = first_ids["territory_household"]
    plan = StreetPlan()
    for args in streets:
        writer.street_plan(*args, plan=plan)
        if len(plan.b_name) < BATCH_BUILDINGS:
            continue
        rows = writer.encode(
            plan,
            range(next_area, next_area + len(plan.a_level)),
            range(next_building, next_building + len(plan.b_name)),
            range(next_unit, next_unit + plan.units),
            next_household,
        )
        n_areas, n_buildings, n_units, n_households = rows["counts"]
        next_area += n_areas
        next_building += n_buildings
        next_unit += n_units
        next_household += n_households
        yield plan, rows
        plan = StreetPlan()
    if plan.streets:
        rows = writer.encode(
            plan,
            range(next_area, next_area + len(plan.a_level)),
            range(next_building, next_building + len(plan.b_name)),
            range(next_unit, next_unit + plan.units),
            next_household,
        )
        yield plan, rows
