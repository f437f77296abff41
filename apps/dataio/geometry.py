"""Turn whatever a file holds into valid MultiPolygons, or say why a row cannot be used.

Vectorised with shapely 2 (a million footprints check in seconds); only invalid rows are looked at one
by one. Repair is `shapely.make_valid` (GEOS MakeValid, "structure" method: rings are kept as holes
where the file meant holes), keeping only the polygonal parts (lines and points a self-touching ring
leaves behind are dropped) and reporting each repaired row with GEOS's reason.

Limits (the same kind as apps/common/geometry.check_geometry applies to forms and APIs, but per level and
vectorised): a feature with more vertices than its level allows is rejected before any repair is tried
(MakeValid on a monstrous ring is the expensive part), and one whose area is absurd for its level (a
province-sized compound, a hemisphere from swapped axes) after it. The defaults below are generous: the
checks exist to stop absurd input, not to second-guess real boundaries; `LINLI_IMPORT_LIMITS` overrides
them per level, e.g. ``{"compound": {"max_area_km2": 20}, "building": {"max_vertices": 5000}}``.
"""

from dataclasses import dataclass, field

import numpy as np
import shapely
from django.conf import settings
from django.utils.translation import gettext as _

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


# Per level: the most vertices and the largest area (km²) one feature may have. The top level gets room
# for a province (Xinjiang is 1.66 million km²; DataV's province file is imported as one level in the
# tests); real communities and grids are a few km², rural ones a few hundred.
DEFAULT_LIMITS = {
    "street": {"max_vertices": 500_000, "max_area_km2": 5_000_000.0},
    "community": {"max_vertices": 200_000, "max_area_km2": 100_000.0},
    "grid": {"max_vertices": 100_000, "max_area_km2": 20_000.0},
    "neighbourhood": {"max_vertices": 50_000, "max_area_km2": 1_000.0},
    "compound": {"max_vertices": 50_000, "max_area_km2": 100.0},
    "building": {"max_vertices": 10_000, "max_area_km2": 2.0},  # the largest factories are ~1 km²
}
EARTH_M_PER_DEG = 111_319.49  # metres per degree along the equator (WGS84 semi-major axis)
EARTH_M2 = 510_065_621.7e6  # surface of the WGS84 ellipsoid


@dataclass(frozen=True)
class Limits:
    kind: str  # a level, or "building"
    max_vertices: int
    max_area_km2: float


def limits_for(kind: str) -> Limits:
    """The limits for one level (or "building"), defaults overridden by settings.LINLI_IMPORT_LIMITS."""
    if kind not in DEFAULT_LIMITS:
        raise ValueError(f"no geometry limits for {kind!r}")
    given = (getattr(settings, "LINLI_IMPORT_LIMITS", None) or {}).get(kind, {})
    merged = {**DEFAULT_LIMITS[kind], **given}
    return Limits(
        kind=kind,
        max_vertices=int(merged["max_vertices"]),
        max_area_km2=float(merged["max_area_km2"]),
    )


def geodesic_area_km2(geom) -> float:
    """Area on the WGS84 ellipsoid of a (Multi)Polygon in longitude/latitude, in km², of the ground it
    covers as drawn (edges straight in longitude/latitude, as PostGIS geometry and the map take them):
    edges are cut to at most 0.1° first, so a long edge is not read as a geodesic (the edge from
    170° E to 170° W along 80° N would otherwise be the 20° across the pole, not the 340° around it)."""
    from pyproj import Geod

    geod = Geod(ellps="WGS84")

    def ring_m2(ring) -> float:
        # counter-clockwise: the area to the left; over half the Earth it comes back as the complement
        # with a negative sign
        lon, lat = shapely.get_coordinates(ring).T
        signed = geod.polygon_area_perimeter(lon, lat)[0]
        return signed if signed >= 0 else signed + EARTH_M2

    total = 0.0
    dense = shapely.orient_polygons(
        shapely.segmentize(geom, max_segment_length=0.1), exterior_cw=False
    )
    for poly in shapely.get_parts(dense):
        if shapely.get_type_id(poly) != POLYGON:
            continue  # lines or points: no ground
        total += ring_m2(poly.exterior) - sum(
            EARTH_M2 - ring_m2(hole) for hole in poly.interiors
        )  # holes run clockwise: their complement comes back
    return total / 1e6


def approx_area_km2(geoms: np.ndarray) -> np.ndarray:
    """Vectorised area estimate in km² of lon/lat polygons: degrees² scaled at the latitude of each
    one's bounding-box centre (a tenth of the cost of centroids). Within a few per cent for anything up
    to a province, ~10 % for a band from the equator to 80°; used only to pick the features whose exact
    (geodesic) area must be computed (those over half a limit)."""
    bounds = shapely.bounds(geoms)
    lat = (bounds[:, 1] + bounds[:, 3]) / 2
    return shapely.area(geoms) * EARTH_M_PER_DEG**2 * np.cos(np.radians(lat)) / 1e6


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


def clean_polygons(
    geoms, *, strict: bool, known: dict[int, str] | None = None, limits: Limits | None = None
) -> Cleaned:
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
        rejected.setdefault(int(i), _("empty or unreadable geometry"))
    for i in np.flatnonzero(
        ~(missing | empty) & ~np.isin(types, (POLYGON, MULTIPOLYGON, COLLECTION))
    ):
        kind = TYPE_NAMES.get(int(types[i]), "unknown")
        rejected.setdefault(int(i), _("not a polygon (%(type)s)") % {"type": kind})

    ok = np.ones(len(geoms), dtype=bool)
    if rejected:
        ok[list(rejected)] = False
    if limits is not None:
        _check_vertices(geoms, ok, rejected, limits)
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
            rejected[i] = _("invalid geometry: %(reason)s (--strict)") % {"reason": reason}
            continue
        fixed = _polygonal_part(g if is_valid else shapely.make_valid(g))
        if fixed is None:
            rejected[i] = (
                _("no polygon left after repair (%(reason)s)") % {"reason": reason}
                if not is_valid
                else _("a geometry collection without polygons")
            )
            continue
        out[i] = fixed
        if not is_valid:
            result.repaired[i] = reason
    if limits is not None:
        _check_area(result, limits)
    return result


def _kind_label(kind: str) -> str:
    """A level's label, or "building", for a sentence in the active language."""
    from apps.common.labels import choice_label
    from apps.territory.models import Level

    return _("building") if kind == "building" else choice_label(Level, kind)


def _check_vertices(geoms, ok, rejected, limits: Limits) -> None:
    idx = np.flatnonzero(ok)
    counts = shapely.get_num_coordinates(geoms[idx])
    for i, n in zip(
        idx[counts > limits.max_vertices], counts[counts > limits.max_vertices], strict=True
    ):
        rejected[int(i)] = _(
            "%(n)s vertices; the limit for a %(kind)s is %(limit)s (setting LINLI_IMPORT_LIMITS)"
        ) % {
            "n": f"{int(n):,}",
            "kind": _kind_label(limits.kind),
            "limit": f"{limits.max_vertices:,}",
        }
        ok[i] = False


def _check_area(result: Cleaned, limits: Limits) -> None:
    have = np.flatnonzero(~shapely.is_missing(result.geoms))
    if not len(have):
        return
    rough = approx_area_km2(result.geoms[have])
    # only features near or over the limit are measured exactly
    for i in have[rough > 0.5 * limits.max_area_km2]:
        i = int(i)
        km2 = geodesic_area_km2(result.geoms[i])
        if km2 > limits.max_area_km2:
            shown = f"{km2:,.0f}" if km2 >= 100 else f"{km2:,.2f}"
            result.rejected[i] = _(
                "covers %(area)s km²; the limit for a %(kind)s is %(limit)s km² "
                "(setting LINLI_IMPORT_LIMITS)"
            ) % {
                "area": shown,
                "kind": _kind_label(limits.kind),
                "limit": f"{limits.max_area_km2:,.12g}",
            }
            result.repaired.pop(i, None)
            result.geoms[i] = None
