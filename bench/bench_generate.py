"""Generation speed of the demo generator (apps/territory/demo.py), against COPY of the same rows.

For each size two measurements, in this order:

* the territory alone: `apps.territory.demo.seed_demo` in an empty territory, as `seed_all` runs it
  (auditing off), committed: areas, parts, buildings, units, households, with every index, key and
  constraint rebuilt. Floor: COPY of exactly those rows into unindexed copies of the tables, measured
  in the same run (what loading alone costs, without generating and without indexes/constraints).
* the whole demo (`apps.common.demo.seed_all`: the territory, then every app's demo data), with the
  time of each part in the note. It leaves the dataset in the bench database for the other modules.

BENCH_GENERATE_TERRITORY_ONLY=1 skips the whole-demo runs (the other apps' demo data take far longer
than the territory at city size; see docs/BENCHMARKS.md).
"""

import io
import os
import time
from contextlib import contextmanager
from unittest import mock

from django.db import connection, transaction

from bench import common
from bench.common import SCALES, SEED, generate, row, territory_clear

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
        buf = io.BytesIO()
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


def generate_territory(scale: float, *, seed: int = SEED) -> tuple[dict, float]:
    """Empty the bench database and generate the territory alone; returns (counts, seconds)."""
    from tqdm import tqdm

    from apps.territory import demo

    territory_clear()
    common._set_meta("dataset", "")
    n_streets = -(-max(1, round(5 * scale)) // 5)
    with tqdm(total=n_streets, unit="street", desc=f"territory {scale:g}", leave=False) as bar:
        start = time.perf_counter()
        with transaction.atomic():
            with connection.cursor() as cur:
                cur.execute("SELECT set_config('linli.audit', 'off', true)")  # as seed_all
            stats = demo.seed_demo(seed=seed, scale=scale, progress=bar.update)
        seconds = time.perf_counter() - start
    return stats, seconds


def timed_sum(label, fn, parts: dict):
    """fn, adding the seconds of every call to parts[label] (positional arguments)."""

    def run(*args):
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            parts[label] = parts.get(label, 0.0) + time.perf_counter() - start

    return run


@contextmanager
def timed_parts(parts: dict):
    """Record the seconds of each part of seed_all (the territory, then each app's seeder) in `parts`."""
    from apps.common import demo as common_demo
    from apps.common import derived
    from apps.territory import demo as territory_demo

    def timed(label, fn):
        def run(**kwargs):
            start = time.perf_counter()
            try:
                return fn(**kwargs)
            finally:
                parts[label] = time.perf_counter() - start

        return run

    seeders = common_demo.app_seeders

    def app_seeders():
        for label, seeder in seeders():
            yield label, timed(label, seeder)

    with (
        mock.patch.object(
            territory_demo, "seed_demo", timed("territory", territory_demo.seed_demo)
        ),
        mock.patch.object(
            derived, "_rebuild_sets", timed_sum("derived rebuilds", derived._rebuild_sets, parts)
        ),
        mock.patch.object(common_demo, "app_seeders", app_seeders),
    ):
        yield parts


def run(*, quick: bool) -> list[dict]:
    rows = []
    names = ["demo", "small-city"] if quick else ["demo", "city", "megacity"]
    if common.DATASET_OVERRIDE:  # --dataset NAME: generate up to that one only
        names = ["demo", common.DATASET_OVERRIDE]
    territory_only = os.environ.get("BENCH_GENERATE_TERRITORY_ONLY", "") not in ("", "0")
    # BENCH_GENERATE_WHOLE_ONLY=1: only the whole demo (seed_all) at each size, not the territory alone
    # first (at megacity size that saves generating the territory twice).
    whole_only = os.environ.get("BENCH_GENERATE_WHOLE_ONLY", "") not in ("", "0")
    for name in names:
        scale = float(SCALES.get(name, name))
        if not whole_only:
            stats, seconds = generate_territory(scale)
            floor = copy_floor()
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
                    f"generate {name} (scale {scale:g}): territory",
                    seconds,
                    "s",
                    floor=floor,
                    target=target,
                    note=note,
                )
            )
            rows.append(
                row(
                    f"generate {name}: territory buildings/s",
                    stats["buildings"] / seconds,
                    "buildings/s",
                    note="generate + load + indexes, keys and constraints rebuilt",
                )
            )
        if territory_only:
            continue
        parts: dict = {}
        with timed_parts(parts):
            stats, seconds = generate(scale)
        rows.append(
            row(
                f"generate {name}: whole demo (seed_all)",
                seconds,
                "s",
                target=(
                    f"megacity extrapolated {seconds * MEGACITY / scale:,.0f} s (≤ 900)"
                    if scale >= 30 and name != "megacity"
                    else "≤ 900 s"
                    if name == "megacity"
                    else ""
                ),
                note=", ".join(f"{label} {s:,.1f} s" for label, s in parts.items())
                # the rest is seed_all's commit: the deferred foreign-key checks of the rows not
                # bulk-loaded (the derived sets are rebuilt after the seeders, not inside them)
                + f", commit {seconds - sum(parts.values()):,.1f} s"
                + (
                    f"; then VACUUM of the issues {stats['settle_s']:,.1f} s"
                    if stats.get("settle_s")
                    else ""
                ),
            )
        )
    return rows


if __name__ == "__main__":
    print("run through the framework: python -m bench generate")
