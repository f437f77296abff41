"""Building import speed: apps.dataio's import_buildings against Django's LayerMapping on the same file.

A synthetic GeoPackage of N square footprints near Hefei (with name, levels and id fields) is imported
twice inside transactions that are rolled back, so the database is left as it was:

* floor: `django.contrib.gis.utils.LayerMapping` (one ORM INSERT per feature), the library call a
  GeoDataFrame-less GeoDjango project would use;
* ours: `buildings_import(commit=True)`: read with pyogrio, validate/repair with shapely, estimate
  households, COPY, attach to areas, refresh counts.

The ratio is ours ÷ LayerMapping in buildings per second. Target (issue 9): ≥ 20,000 buildings/s.

    .venv/bin/python -m bench.bench_import [--quick]
"""

import os
import sys
import tempfile
import time
from pathlib import Path


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geo.settings")
    os.environ.setdefault("DEBUG", "true")
    import django

    django.setup()


class _Rollback(Exception):
    pass


def _timed(fn) -> float:
    from django.db import transaction

    start = time.perf_counter()
    try:
        with transaction.atomic():
            fn()
            elapsed = time.perf_counter() - start
            raise _Rollback
    except _Rollback:
        pass
    return elapsed


def _make_file(n: int, folder: Path) -> Path:
    import geopandas as gpd
    import numpy as np
    import shapely

    rng = np.random.default_rng(9)
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    x0 = 600_000.0 + (i % side) * 40.0  # UTM 50N, east of the demo district
    y0 = 3_520_000.0 + (i // side) * 40.0
    w = rng.uniform(10, 25, n)
    boxes = shapely.box(x0, y0, x0 + w, y0 + rng.uniform(10, 25, n))
    frame = gpd.GeoDataFrame(
        {
            "name": [f"B{k}" for k in i],
            "levels": rng.integers(2, 30, n).astype(np.int32),
            "bid": [f"bench/{k}" for k in i],
        },
        geometry=boxes,
        crs=32650,
    ).to_crs(4326)
    frame["geometry"] = shapely.multipolygons(
        shapely.get_parts(frame.geometry.values), indices=np.arange(n)
    )
    path = folder / f"bench_buildings_{n}.gpkg"
    frame.to_file(path, layer="buildings", driver="GPKG")
    return path


def run(*, quick: bool) -> list[dict]:
    _django()
    from django.contrib.gis.utils import LayerMapping

    from apps.dataio.services import ReadOptions, buildings_import
    from apps.territory.models import Building

    n = 5_000 if quick else 50_000
    with tempfile.TemporaryDirectory() as tmp:
        path = _make_file(n, Path(tmp))

        def layermapping():
            mapping = {
                "name": "name",
                "floors": "levels",
                "ext_ref": "bid",
                "footprint": "MULTIPOLYGON",
            }
            LayerMapping(Building, str(path), mapping, layer="buildings", transform=False).save(
                silent=True
            )

        def ours(attach):
            report = buildings_import(
                path=path,
                read=ReadOptions(layer="buildings"),
                id_field="bid",
                floors_field="levels",
                commit=True,
                attach=attach,
            )
            assert report.written == n, report.summary()

        floor_s = _timed(layermapping)
        full_s = _timed(lambda: ours(True))
        load_s = _timed(lambda: ours(False))
    floor_rate = n / floor_s
    rows = []
    for label, secs in (
        ("read, repair, estimate, COPY, attach to areas, refresh counts", full_s),
        ("read, repair, estimate, COPY (attach left to the caller)", load_s),
    ):
        rate = n / secs
        rows.append(
            {
                "benchmark": f"import_buildings {n:,} footprints: {label}",
                "value": round(rate),
                "unit": "buildings/s",
                "floor": round(floor_rate),
                "ratio": round(rate / floor_rate, 1),
                "target": "≥ 20,000 buildings/s (issue 9); faster than LayerMapping",
                "note": f"ours {secs:.2f} s, LayerMapping {floor_s:.2f} s (same file, rolled back)",
            }
        )
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    for row in run(quick="--quick" in sys.argv):
        print(row)
