"""Turn whatever a file holds into valid MultiPolygons, or say why a row cannot be used.

Vectorised with shapely 2 (a million footprints check in seconds); only invalid rows are looked at one
by one. Repair is `shapely.make_valid` (GEOS MakeValid, "structure" method: rings are kept as holes
where the file meant holes), keeping only the polygonal parts (lines and points a self-touching ring
leaves behind are dropped) and reporting each repaired row with GEOS's reason.
"""

from dataclasses import dataclass, field

import numpy as np
import shapely

POLYGON, MULTIPOLYGON, COLLECTION = 3, 6, 7
TYPE_NAMES = {
    0: "Point",
    1: "LineString",
    2: "LinearRing",
    3: "Polygon",
    4: "MultiPoint",
    5: "MultiLineString",
    6: "MultiPolygon",
    7: "GeometryCollection",
}


@dataclass
class Cleaned:
    geoms: np.ndarray  # MultiPolygon or None per row
    repaired: dict[int, str] = field(default_factory=dict)  # row index -> what was wrong
    rejected: dict[int, str] = field(default_factory=dict)  # row index -> why it cannot be used


def _polygonal_part(geom):
    """The polygonal part of a geometry as a MultiPolygon, or None."""
    parts = shapely.get_parts(geom)
    polys = []
    for p in parts:
        tid = shapely.get_type_id(p)
        if tid == POLYGON:
            polys.append(p)
        elif tid == MULTIPOLYGON:
            polys.extend(shapely.get_parts(p))
        elif tid == COLLECTION:
            sub = _polygonal_part(p)
            if sub is not None:
                polys.extend(shapely.get_parts(sub))
    polys = [p for p in polys if not p.is_empty and p.area > 0]
    if not polys:
        return None
    return shapely.MultiPolygon(polys)


def clean_polygons(geoms, *, strict: bool, known: dict[int, str] | None = None) -> Cleaned:
    geoms = shapely.force_2d(np.asarray(geoms, dtype=object))
    out = np.full(len(geoms), None, dtype=object)
    result = Cleaned(geoms=out)
    rejected = result.rejected
    for i, reason in (known or {}).items():
        rejected[i] = reason

    missing = shapely.is_missing(geoms)
    empty = np.zeros(len(geoms), dtype=bool)
    empty[~missing] = shapely.is_empty(geoms[~missing])
    types = np.full(len(geoms), -1)
    types[~missing] = shapely.get_type_id(geoms[~missing])
    for i in np.flatnonzero(missing | empty):
        rejected.setdefault(int(i), "empty or unreadable geometry")
    for i in np.flatnonzero(
        ~(missing | empty) & ~np.isin(types, (POLYGON, MULTIPOLYGON, COLLECTION))
    ):
        rejected.setdefault(int(i), f"not a polygon ({TYPE_NAMES.get(int(types[i]), 'unknown')})")

    ok = np.ones(len(geoms), dtype=bool)
    if rejected:
        ok[list(rejected)] = False
    idx = np.flatnonzero(ok)
    valid = shapely.is_valid(geoms[idx])
    good = idx[valid & (types[idx] != COLLECTION)]
    polys = good[types[good] == POLYGON]
    out[good] = geoms[good]
    if len(polys):
        out[polys] = shapely.multipolygons(geoms[polys], indices=np.arange(len(polys)))

    for i in idx[~valid | (types[idx] == COLLECTION)]:
        i = int(i)
        g = geoms[i]
        is_valid = shapely.is_valid(g)
        reason = "a geometry collection" if is_valid else shapely.is_valid_reason(g)
        if strict and not is_valid:
            rejected[i] = f"invalid geometry: {reason} (--strict)"
            continue
        fixed = _polygonal_part(g if is_valid else shapely.make_valid(g))
        if fixed is None:
            rejected[i] = (
                f"no polygon left after repair ({reason})"
                if not is_valid
                else ("a geometry collection without polygons")
            )
            continue
        out[i] = fixed
        if not is_valid:
            result.repaired[i] = reason
    return result
