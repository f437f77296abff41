"""Walks through the demo grid for patrol tests, made in metres (UTM 50N) and checked independently
with shapely: which buildings a walk passes within a distance of."""

import uuid
from datetime import datetime, timedelta

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString

from apps.territory.models import Area, Building

TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)
TO_LONLAT = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)


def grid_walk(grid: Area, *, steps: int = 12) -> list[tuple[float, float]]:
    """A walk across the grid along its middle row of lots, west to east, as (lon, lat) points
    about 150 / steps metres apart."""
    minx, miny, maxx, maxy = shapely.bounds(
        shapely.transform(shapely.from_wkb(bytes(grid.geom.wkb)), _utm)
    )
    y = miny + (maxy - miny) * 0.5
    xs = [minx + 5 + (maxx - minx - 10) * i / (steps - 1) for i in range(steps)]
    return [TO_LONLAT.transform(x, y) for x in xs]


def _utm(coords):
    x, y = TO_UTM.transform(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def buildings_near(lonlats, distance_m: float) -> set[int]:
    """Buildings whose footprint is within distance_m of the polyline through the points (planar UTM:
    an independent check of the geography ST_DWithin in the services)."""
    line = LineString([TO_UTM.transform(lon, lat) for lon, lat in lonlats])
    near = set()
    for b in Building.objects.all():
        fp = shapely.transform(shapely.from_wkb(bytes(b.footprint.wkb)), _utm)
        if fp.distance(line) <= distance_m:
            near.add(b.id)
    return near


def fixes(lonlats, *, start: datetime, every_s: float = 10.0, accuracy: float = 5.0) -> list[dict]:
    return [
        {
            "id": str(uuid.uuid4()),
            "t": (start + timedelta(seconds=every_s * i)).isoformat(),
            "lon": lon,
            "lat": lat,
            "accuracy": accuracy,
        }
        for i, (lon, lat) in enumerate(lonlats)
    ]
