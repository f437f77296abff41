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
999 streets the county code moves on to the next. Everything is written with COPY; the territory_area
trigger fills the subdivided parts.
"""

import bisect
import io
import math
import queue
import threading
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import shapely
from django.db import connection, transaction
from django.utils import timezone
from pyproj import Transformer
from shapely.geometry import box

from apps.common.db import copy_rows, reserve_ids
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


@dataclass
class Piece:
    """A run of households that goes into one neighbourhood grid: a whole building, a unit, or floors of a unit."""

    building: int  # index into the block's building list
    units: range  # unit numbers
    floors: range  # floor numbers (of each of those units)
    hpf: int  # households per floor: rooms <floor>01 .. <floor><hpf>
    share: tuple = (0.0, 1.0)  # x-range of the building's lot, as fractions

    @property
    def count(self) -> int:
        return len(self.units) * len(self.floors) * self.hpf

    def csv_lines(self, building_id: int, unit_ids: dict, nbh_id: int) -> str:
        """Household rows (building, unit, floor, room, neighbourhood) as COPY csv text, unit by unit,
        floor by floor, room by room."""
        return "".join(
            f"{building_id},{unit_ids[u]},{f},{f}{r:02d},{nbh_id}\n"
            for u in self.units
            for f in self.floors
            for r in range(1, self.hpf + 1)
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


def _pieces(b_index, floors, units, hpf):
    """Split a building into pieces of at most NBH_MAX households, whole units first, then floor ranges."""
    total = floors * units * hpf
    if total <= NBH_MAX:
        return [Piece(b_index, range(1, units + 1), range(1, floors + 1), hpf)]
    pieces = []
    for u in range(1, units + 1):
        unit_hh = floors * hpf
        k = 1 if unit_hh <= NBH_MAX else math.ceil(unit_hh / NBH_TARGET)
        bounds = np.linspace(0, floors, k + 1).round().astype(int)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            pieces.append(Piece(b_index, range(u, u + 1), range(a + 1, b + 1), hpf))
    # Strips of the lot in proportion to households, so neighbourhood polygons still tile the block.
    edges = np.cumsum([0] + [p.count for p in pieces]) / total
    for p, a, b in zip(pieces, edges[:-1], edges[1:], strict=True):
        p.share = (float(a), float(b))
    return pieces


def _pack(pieces):
    """Greedy packing of consecutive pieces into groups near NBH_TARGET, within [NBH_MIN, NBH_MAX]."""
    groups, cur, n = [], [], 0
    for p in pieces:
        k = p.count
        if cur and (
            n + k > NBH_MAX or (n >= NBH_MIN and abs(n + k - NBH_TARGET) > abs(n - NBH_TARGET))
        ):
            groups.append(cur)
            cur, n = [], 0
        cur.append(p)
        n += k
    if cur:
        if groups and n < NBH_MIN and n + sum(p.count for p in groups[-1]) <= NBH_MAX:
            groups[-1].extend(cur)
        else:
            groups.append(cur)
    return groups


class DemoWriter:
    """Generates street by street and COPYs rows; ids are reserved from the tables' sequences."""

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

    def _hex(self, geoms):
        """Local metric geometries -> EWKB hex MultiPolygons in EPSG:4326."""
        arr = np.asarray(geoms, dtype=object)
        arr = shapely.transform(
            arr, lambda xy: np.column_stack(self.to_wgs84.transform(xy[:, 0], xy[:, 1]))
        )
        arr = np.array(
            [g if g.geom_type == "MultiPolygon" else shapely.MultiPolygon([g]) for g in arr]
        )
        arr = shapely.set_srid(arr, 4326)
        return shapely.to_wkb(arr, hex=True, include_srid=True)

    def street(self, street_index: int, n_communities: int, x0: float, y0: float):
        self._write(*self.street_plan(street_index, n_communities, x0, y0))

    def street_plan(self, street_index: int, n_communities: int, x0: float, y0: float):
        """The areas and buildings of one street, in memory (no database access: safe in a thread)."""
        rng = self.rng
        county = f"{int(COUNTY) + street_index // 999:06d}"
        street_code = f"{county}{street_index % 999 + 1:03d}"
        street_name = STREET_NAMES[street_index % len(STREET_NAMES)]
        if street_index >= len(STREET_NAMES):
            street_name = f"{street_name[:-2]}{street_index // len(STREET_NAMES) + 1}街道"

        areas = []  # (level, code, name, parent_index, geom, mgmt)
        buildings = []
        areas.append(
            (
                "street",
                street_code,
                street_name,
                None,
                box(x0, y0, x0 + n_communities * COMM_COLS * BLOCK, y0 + COMM_ROWS * BLOCK),
                None,
            )
        )
        for c in range(n_communities):
            cx = x0 + c * COMM_COLS * BLOCK
            comm_code = f"{street_code}{c + 1:03d}"
            comm_name = COMMUNITY_NAMES[(street_index * STREET_COMMS + c) % len(COMMUNITY_NAMES)]
            comm_i = len(areas)
            areas.append(
                (
                    "community",
                    comm_code,
                    comm_name,
                    0,
                    box(cx, y0, cx + COMM_COLS * BLOCK, y0 + COMM_ROWS * BLOCK),
                    None,
                )
            )
            for g in range(COMM_COLS * COMM_ROWS):
                bx = cx + (g % COMM_COLS) * BLOCK
                by = y0 + (g // COMM_COLS) * BLOCK
                grid_code = f"{comm_code}{g + 1:03d}"
                grid_i = len(areas)
                areas.append(
                    (
                        "grid",
                        grid_code,
                        f"{comm_name[:-2]}第{g + 1}网格",
                        comm_i,
                        box(bx, by, bx + BLOCK, by + BLOCK),
                        None,
                    )
                )
                cpd_name = _choice(rng, COMPOUND_PREFIX) + _choice(rng, COMPOUND_SUFFIX)
                cpd_i = len(areas)
                areas.append(
                    (
                        "compound",
                        f"{comm_code}C{g + 1:03d}",
                        str(cpd_name),
                        comm_i,
                        box(
                            bx + COMPOUND_INSET,
                            by + COMPOUND_INSET,
                            bx + BLOCK - COMPOUND_INSET,
                            by + BLOCK - COMPOUND_INSET,
                        ),
                        _choice(rng, MGMT_TYPES, MGMT_CDF),
                    )
                )
                self._block(areas, buildings, grid_i, grid_code, comm_i, cpd_i, cpd_name, bx, by)
        return areas, buildings

    def _block(self, areas, buildings, grid_i, grid_code, comm_i, cpd_i, cpd_name, bx, by):
        rng = self.rng
        lots = []
        for r in range(int(BLOCK // LOT_H)):
            cols = range(int(BLOCK // LOT_W))
            for col in cols if r % 2 == 0 else reversed(cols):
                lots.append(
                    box(
                        bx + col * LOT_W,
                        by + r * LOT_H,
                        bx + (col + 1) * LOT_W,
                        by + (r + 1) * LOT_H,
                    )
                )
        pieces, lot_of_piece, block_buildings = [], [], []
        empty_lots = []
        for li, lot in enumerate(lots):
            if rng.random() < 0.12:
                empty_lots.append(li)
                continue
            floors, n_units, hpf = _building_spec(rng)
            tower = hpf > 2
            length = 30.0 if tower else min(n_units * 13.0, LOT_W - 12)
            depth = 18.0 if tower else 11.0
            minx, miny, maxx, maxy = lot.bounds
            mx, my = (minx + maxx) / 2, (miny + maxy) / 2
            footprint = box(mx - length / 2, my - depth / 2, mx + length / 2, my + depth / 2)
            number = len(block_buildings) + 1
            bi = len(buildings)
            block_buildings.append(bi)
            buildings.append(
                {
                    "name": f"{number}栋",
                    "address": f"{cpd_name}{number}栋",
                    "footprint": footprint,
                    "floors": floors,
                    "units": n_units,
                    "hpf": hpf,
                    "grid_i": grid_i,
                    "comm_i": comm_i,
                    "cpd_i": cpd_i,
                    "nbh": [],  # (piece, index of its neighbourhood area), in household order
                }
            )
            for p in _pieces(bi, floors, n_units, hpf):
                pieces.append(p)
                lot_of_piece.append(li)
        groups = _pack(pieces)
        # Polygons: each piece's strip of its lot; empty lots join the group of the lot before them.
        piece_geom = {}
        for p, li in zip(pieces, lot_of_piece, strict=True):
            minx, miny, maxx, maxy = lots[li].bounds
            a, b = p.share
            x1 = minx + a * (maxx - minx)
            x2 = maxx if b >= 1.0 else minx + b * (maxx - minx)
            piece_geom[id(p)] = box(x1, miny, x2, maxy)
        lot_groups = {}
        for gi, group in enumerate(groups):
            for p in group:
                lot_groups.setdefault(gi, []).append(piece_geom[id(p)])
        piece_lot = {id(p): li for p, li in zip(pieces, lot_of_piece, strict=True)}
        first_group_of_lot = {}
        for gi, group in enumerate(groups):
            for p in group:
                first_group_of_lot.setdefault(piece_lot[id(p)], gi)
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
        for gi, group in enumerate(groups):
            nbh_i = len(areas)
            geom = shapely.union_all(lot_groups[gi])
            areas.append(
                (
                    "neighbourhood",
                    f"{grid_code}{gi + 1:03d}",
                    f"{areas[grid_i][2]}{gi + 1}号邻里格",
                    grid_i,
                    geom,
                    None,
                )
            )
            for p in group:
                buildings[p.building]["nbh"].append((p, nbh_i))

    def _write(self, areas, buildings):
        area_ids = reserve_ids("territory_area", len(areas))
        geoms = self._hex([a[4] for a in areas])
        # Household and building counts per area, as services.area_counts_refresh would compute them:
        # known here, so the load needs no aggregate pass over millions of households afterwards.
        hh, bc = [0] * len(areas), [0] * len(areas)
        for b in buildings:
            n = b["floors"] * b["units"] * b["hpf"]
            for i in (0, b["comm_i"], b["grid_i"], b["cpd_i"]):  # areas[0] is the street
                hh[i] += n
                bc[i] += 1
            for nbh_i in {nbh_i for _p, nbh_i in b["nbh"]}:
                bc[nbh_i] += 1
            for p, nbh_i in b["nbh"]:
                hh[nbh_i] += p.count
        rows = []
        for (level, code, name, parent_i, _g, mgmt), aid, g, n_hh, n_b in zip(
            areas, area_ids, geoms, hh, bc, strict=True
        ):
            rows.append(
                (
                    aid,
                    level,
                    code,
                    name,
                    area_ids[parent_i] if parent_i is not None else None,
                    g,
                    self.now,
                    None,
                    1,
                    "",
                    mgmt,
                    n_hh,
                    n_b,
                    self.now,
                )
            )
            self.stats[
                {"neighbourhood": "neighbourhoods", "community": "communities"}.get(
                    level, level + "s"
                )
            ] += 1
        copy_rows(
            "territory_area",
            [
                "id",
                "level",
                "code",
                "name",
                "parent_id",
                "geom",
                "valid_from",
                "valid_to",
                "version",
                "ext_code",
                "management_type",
                "households",
                "buildings",
                "created_at",
            ],
            rows,
        )
        b_ids = reserve_ids("territory_building", len(buildings))
        footprints = self._hex([b["footprint"] for b in buildings])
        b_rows, u_rows, unit_keys = [], [], []
        for b, bid, fp in zip(buildings, b_ids, footprints, strict=True):
            b_rows.append(
                (
                    bid,
                    b["name"],
                    b["address"],
                    fp,
                    b["floors"],
                    b["units"],
                    b["floors"] * b["units"] * b["hpf"],
                    "surveyed",
                    area_ids[b["comm_i"]],
                    area_ids[b["grid_i"]],
                    area_ids[b["cpd_i"]],
                    "",
                )
            )
            for u in range(1, b["units"] + 1):
                unit_keys.append((bid, u))
        copy_rows(
            "territory_building",
            [
                "id",
                "name",
                "address",
                "footprint",
                "floors",
                "units_count",
                "households",
                "households_source",
                "community_id",
                "grid_id",
                "compound_id",
                "ext_ref",
            ],
            b_rows,
        )
        u_ids = reserve_ids("territory_unit", len(unit_keys))
        unit_id = dict(zip(unit_keys, u_ids, strict=True))
        for (bid, u), uid in unit_id.items():
            u_rows.append((uid, bid, u, None))
        copy_rows("territory_unit", ["id", "building_id", "number", "floors"], u_rows)

        # Households are most of the rows (~40 per building): their COPY text is written directly,
        # piece by piece, without a Python object per household.
        buf, n = io.StringIO(), 0
        for b, bid in zip(buildings, b_ids, strict=True):
            units = {u: unit_id[(bid, u)] for u in range(1, b["units"] + 1)}
            for p, nbh_i in b["nbh"]:
                buf.write(p.csv_lines(bid, units, area_ids[nbh_i]))
                n += p.count
        buf.seek(0)
        with connection.cursor() as cur:
            cur.cursor.copy_expert(
                "COPY territory_household (building_id, unit_id, floor, room, neighbourhood_id)"
                " FROM STDIN WITH (FORMAT csv)",
                buf,
            )
        self.stats["households"] += n
        self.stats["buildings"] += len(buildings)
        self.stats["units"] += len(u_rows)


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


@contextmanager
def _bulk_load():
    """Load an empty territory fast: drop the secondary indexes, foreign keys and unique constraints
    of the generated tables and the per-row areapart trigger, COPY, then rebuild all of it
    in bulk (one sorted index build and one validating join per constraint instead of millions of
    per-row checks). Runs inside the caller's transaction, so a failure leaves everything as it was.
    Does nothing when the territory is not empty (the per-row machinery then stays in charge).
    The exclusion constraint on area code versions stays: building its btree_gist index afterwards over
    hundreds of thousands of areas with one level and one validity range is far slower (minutes) than
    maintaining it row by row."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT EXISTS (SELECT 1 FROM territory_area) OR EXISTS (SELECT 1 FROM territory_building)"
        )
        if cur.fetchone()[0]:
            yield False
            return
        cur.execute(
            """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype
                 FROM pg_constraint
                WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('f', 'u')
                ORDER BY contype = 'f', conname""",
            [BULK_TABLES],
        )
        constraints = cur.fetchall()
        cur.execute(
            """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                 FROM pg_index i
                WHERE i.indrelid = ANY(%s::regclass[])
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)""",
            [BULK_TABLES],
        )
        indexes = cur.fetchall()
        for table, name, _def, _type in constraints:
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _def in indexes:
            cur.execute(f'DROP INDEX "{name}"')
        cur.execute("ALTER TABLE territory_area DISABLE TRIGGER territory_area_sync_parts")
    yield True
    with connection.cursor() as cur:
        # What the trigger would have done, row by row (migration 0002 of territory).
        cur.execute(
            """INSERT INTO territory_areapart (area_id, level, valid_from, valid_to, geom)
               SELECT id, level, valid_from, valid_to, ST_Subdivide(geom, 64) FROM territory_area"""
        )
        cur.execute("ALTER TABLE territory_area ENABLE TRIGGER territory_area_sync_parts")
        for _name, definition in indexes:
            cur.execute(definition)
        for table, name, definition, _type in constraints:
            cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def seed_demo(*, seed: int = 7, scale: float = 1.0, progress=None) -> dict:
    """Generate the demo district. `progress` is an optional callable(n) for a progress bar.
    Returns counts of what was created."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    n_comms = max(1, round(STREET_COMMS * scale))
    n_streets = math.ceil(n_comms / STREET_COMMS)
    street_w, street_h = STREET_COMMS * COMM_COLS * BLOCK, COMM_ROWS * BLOCK
    cols = max(1, math.ceil(math.sqrt(n_streets * street_h / street_w)))
    writer = DemoWriter(seed)
    ox, oy = writer.origin

    def plans():
        for s in range(n_streets):
            comms = min(STREET_COMMS, n_comms - s * STREET_COMMS)
            x0 = ox + (s % cols) * (street_w + 60)
            y0 = oy + (s // cols) * (street_h + 60)
            yield writer.street_plan(s, comms, x0, y0)

    with transaction.atomic(), _bulk_load() as bulk:  # all or nothing
        # Streets are planned in a thread while the previous ones are written: the database's work
        # (COPY, index upkeep) overlaps with Python's. Order, and so the output, stays the same.
        for areas, buildings in _ahead(plans(), depth=3):
            writer._write(areas, buildings)
            if progress:
                progress(1)
        if not bulk:  # other areas and buildings were there before: recount everything
            area_counts_refresh()
    with connection.cursor() as cur:
        cur.execute(
            "ANALYZE territory_area, territory_areapart, territory_building, territory_unit, territory_household"
        )
    return writer.stats
