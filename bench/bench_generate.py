"""Generation speed of the demo generator (apps/territory/demo.py), against COPY of the same rows.

Floor: COPY of exactly the rows the generator produced (areas, parts, buildings, units, households) into
unindexed copies of the tables, measured in the same run: what loading alone costs, without generating
and without indexes/constraints. The run leaves the last dataset in the bench database for the others.
"""

import io
import time

from django.db import connection, transaction

from bench import common
from bench.common import SCALES, generate, row

TABLES = [
    "territory_area",
    "territory_areapart",
    "territory_building",
    "territory_unit",
    "territory_household",
]
MEGACITY = SCALES["megacity"]


def copy_floor() -> float:
    """Seconds to COPY the current territory rows into bare copies of the tables (rolled back)."""
    dumps = {}
    raw = connection.cursor().cursor
    for table in TABLES:
        buf = io.StringIO()
        raw.copy_expert(f"COPY {table} TO STDOUT", buf)
        buf.seek(0)
        dumps[table] = buf
    seconds = 0.0
    with transaction.atomic():
        with connection.cursor() as cur:
            for table in TABLES:
                cur.execute(f"CREATE TEMP TABLE floor_{table} (LIKE {table}) ON COMMIT DROP")
                start = time.perf_counter()
                cur.cursor.copy_expert(f"COPY floor_{table} FROM STDIN", dumps[table])
                seconds += time.perf_counter() - start
        transaction.set_rollback(True)
    return seconds


def run(*, quick: bool) -> list[dict]:
    rows = []
    names = ["demo", "small-city"] if quick else ["demo", "city", "megacity"]
    if common.DATASET_OVERRIDE:  # --dataset NAME: generate up to that one only
        names = ["demo", common.DATASET_OVERRIDE]
    for name in names:
        scale = float(SCALES.get(name, name))
        stats, seconds = generate(scale)
        floor = copy_floor()
        rate = stats["buildings"] / seconds
        note = (
            f"{stats['buildings']:,} buildings, {stats['households']:,} households,"
            f" {stats['neighbourhoods']:,} neighbourhood grids"
        )
        target = ""
        if name == "megacity":
            target = "≤ 900 s"
        elif scale >= 30:
            target = f"megacity extrapolated {seconds * MEGACITY / scale:,.0f} s (≤ 900)"
        rows.append(
            row(
                f"generate {name} (scale {scale:g})",
                seconds,
                "s",
                floor=floor,
                target=target,
                note=note,
            )
        )
        rows.append(
            row(
                f"generate {name}: buildings/s",
                rate,
                "buildings/s",
                note="generate + load + indexes",
            )
        )
    return rows


if __name__ == "__main__":
    print("run through the framework: python -m bench generate")
