"""Shared helpers for benchmark modules: the benchmark database, datasets, timing, rows.

Benchmarks never touch the dev database: `python -m bench` points Django at BENCH_DATABASE_URL (default:
the `linli_bench` database on the local cluster), creating and migrating it first. A module asks for a
territory of a given size with `dataset(scale)`; it is generated only when the bench database does not
already hold exactly that (the scale and seed are remembered in the bench_meta table).
"""

import statistics
import time
from collections.abc import Callable

from django.db import connection

SEED = 7
# Named sizes of the generated territory (apps/territory/demo.py --scale): buildings ≈ 150 × scale.
SCALES = {"demo": 1.0, "small-city": 30.0, "city": 670.0, "megacity": 6700.0}
QUICK_DATASET = "small-city"
FULL_DATASET = "megacity"


def row(benchmark, value, unit, *, floor=None, target="", note="") -> dict:
    """One result row. ratio = value / floor (for times: how much slower than the floor)."""
    ratio = value / floor if floor not in (None, 0) else None
    return {
        "benchmark": benchmark,
        "value": float(value),
        "unit": unit,
        "floor": float(floor) if floor is not None else None,
        "ratio": ratio,
        "target": target,
        "note": note,
    }


def _meta(key: str) -> str | None:
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value text)")
        cur.execute("SELECT value FROM bench_meta WHERE key = %s", [key])
        found = cur.fetchone()
    return found[0] if found else None


def _set_meta(key: str, value: str) -> None:
    with connection.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value text)")
        cur.execute(
            "INSERT INTO bench_meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [key, value],
        )


def territory_clear() -> None:
    """Empty every table that hangs off the territory (TRUNCATE ... CASCADE follows the foreign keys)."""
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE territory_household, territory_unit, territory_building, territory_areapart,"
            " territory_area CASCADE"
        )


def generate(scale: float, *, seed: int = SEED, progress: bool = True) -> tuple[dict, float]:
    """Clear the bench database and generate a territory of `scale`; returns (counts, seconds)."""
    from apps.common.demo import seed_all, settle

    territory_clear()
    _set_meta("dataset", "")
    bar = None
    if progress:
        from tqdm import tqdm

        n_streets = -(-max(1, round(5 * scale)) // 5)
        bar = tqdm(total=n_streets, unit="street", desc=f"generate scale {scale:g}", leave=False)
    start = time.perf_counter()
    stats = seed_all(seed=seed, scale=scale, progress=bar.update if bar else None)
    seconds = time.perf_counter() - start
    if bar:
        bar.close()
    # Measured on a settled database: the big tables vacuumed (not part of the generation's time).
    stats["settle_s"] = settle(scale)
    _set_meta("dataset", f"{scale}:{seed}")
    return stats, seconds


def dataset(name_or_scale, *, seed: int = SEED) -> float:
    """Make sure the bench database holds the territory of this size; returns the scale."""
    scale = SCALES.get(name_or_scale, name_or_scale)
    scale = float(scale)
    if _meta("dataset") != f"{scale}:{seed}":
        generate(scale, seed=seed)
    return scale


def timed(fn: Callable, repeat: int) -> list[float]:
    """Wall-clock milliseconds of `repeat` calls."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def percentile(values: list[float], p: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


# Which dataset the measuring modules use; `python -m bench ... --dataset city` overrides it.
DATASET_OVERRIDE: str | None = None


def measure_dataset(quick: bool) -> str:
    """The named dataset (or scale) a module should measure on in this run."""
    if DATASET_OVERRIDE:
        return DATASET_OVERRIDE
    return QUICK_DATASET if quick else FULL_DATASET


def timed_each(fn: Callable, items) -> list[float]:
    """Wall-clock milliseconds of fn(item) for each item."""
    out = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - start) * 1000)
    return out
