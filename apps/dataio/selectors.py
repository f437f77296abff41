"""Reads the importers need: parents under points, codes in use, existing versions and references."""

from django.db import connection

from apps.territory.models import Area

# Hand-written because the ORM cannot join an unnested array of points to the subdivided parts in one
# statement. The parent of an area is the current parent-level area covering its ST_PointOnSurface
# (mapit's find_parents rule: robust to shared edges); the GiST index on territory_areapart finds the
# candidates, and pieces of at most 64 vertices keep the exact test cheap. Lowest code wins on a tie.
PARENTS_SQL = """
SELECT t.i,
       (SELECT p.area_id FROM territory_areapart p JOIN territory_area a ON a.id = p.area_id
         WHERE p.level = %(level)s AND ST_Intersects(p.geom, t.g)
           AND p.valid_from <= now() AND (p.valid_to IS NULL OR p.valid_to > now())
         ORDER BY a.code LIMIT 1)
  FROM (SELECT i, ST_GeomFromText(w, 4326) AS g
          FROM unnest(%(idx)s::int[], %(wkt)s::text[]) AS u(i, w)) t
"""


# For re-imports without codes and for the overlap check: every (row, current area of the level) pair
# that meets (the GiST index on territory_area finds the candidates), with the geodesic m² of the row,
# of the area and of their intersection. Neighbours that only share an edge come back with 0 m².
# (Intersecting ST_Subdivide pieces instead was slower on SF's neighbourhoods and tracts, 1.1 s against
# 0.7 s, and box-clipped pieces can be invalid.)
INTERSECTIONS_SQL = """
WITH r AS MATERIALIZED (
    SELECT i, g, ST_Area(g::geography) AS m2
      FROM (SELECT i, ST_GeomFromWKB(w, 4326) AS g
              FROM unnest(%(idx)s::int[], %(wkb)s::bytea[]) AS u(i, w)) s
)
SELECT r.i, a.id, ST_Area(ST_Intersection(r.g, a.geom)::geography), r.m2, ST_Area(a.geom::geography)
  FROM r JOIN territory_area a
    ON a.level = %(level)s AND ST_Intersects(a.geom, r.g)
   AND a.valid_from <= now() AND (a.valid_to IS NULL OR a.valid_to > now())
"""


def db_now():
    """The database's now(): the start of the current transaction. Imported areas start then, so the
    statements of the same transaction (parent matching, buildings_attach) already see them as current."""
    with connection.cursor() as cur:
        cur.execute("SELECT now()")
        return cur.fetchone()[0]


def parents_by_point(*, level: str, points: dict[int, str]) -> dict[int, Area]:
    """{row index: WKT point} -> {row index: current `level` area covering it} (rows with none left out)."""
    if not points:
        return {}
    with connection.cursor() as cur:
        cur.execute(
            PARENTS_SQL, {"level": level, "idx": list(points), "wkt": list(points.values())}
        )
        found = {i: area_id for i, area_id in cur.fetchall() if area_id is not None}
    areas = Area.objects.in_bulk(set(found.values()))
    return {i: areas[a] for i, a in found.items()}


def current_by_keys(*, level: str, values: set[str]) -> dict[str, list[Area]]:
    """Current areas of `level` whose ext_code or code is one of `values`, keyed by each of both."""
    from apps.territory.selectors import current_areas

    out: dict[str, list[Area]] = {}
    if not values:
        return out
    qs = current_areas(level=level).filter(ext_code__in=values) | current_areas(level=level).filter(
        code__in=values
    )
    for area in qs.distinct():
        for key in {area.ext_code, area.code} & values:
            out.setdefault(key, []).append(area)
    return out


def intersections(
    *, level: str, geoms: dict[int, bytes]
) -> list[tuple[int, Area, float, float, float]]:
    """{row index: WKB (EPSG:4326)} -> [(row index, current `level` area it meets, m² of their
    intersection, m² of the row, m² of the area)], geodesic areas (0 m² shared for areas that only
    touch the row)."""
    if not geoms:
        return []
    params = {"level": level, "idx": list(geoms), "wkb": [memoryview(w) for w in geoms.values()]}
    with connection.cursor() as cur:
        cur.execute(INTERSECTIONS_SQL, params)
        found = cur.fetchall()
    areas = Area.objects.select_related("parent").in_bulk({a for _, a, *_ in found})
    return [(i, areas[a], inter, row_m2, area_m2) for i, a, inter, row_m2, area_m2 in found]


def current_named(*, level: str, names: set[str]) -> dict[str, list[Area]]:
    """Current areas of `level` whose name is one of `names`, by name."""
    from apps.territory.selectors import current_areas

    out: dict[str, list[Area]] = {}
    if names:
        for area in current_areas(level=level).filter(name__in=names).select_related("parent"):
            out.setdefault(area.name, []).append(area)
    return out


def current_under(*, level: str, parent_codes: set[str], prefixes: set[str]) -> list[Area]:
    """Current areas of `level` whose parent has one of `parent_codes`, or (streets, which have no
    parent) whose code starts with one of `prefixes`; ordered by code."""
    from django.db.models import Q

    from apps.territory.selectors import current_areas

    if not parent_codes and not prefixes:
        return []
    cond = Q(parent__code__in=parent_codes) if parent_codes else Q()
    for prefix in prefixes:
        cond |= Q(code__startswith=prefix)
    return list(current_areas(level=level).filter(cond).select_related("parent").order_by("code"))


def codes_in_use(*, level: str, prefixes: set[str]) -> dict[str, int]:
    """Highest 3-digit sequence used under each prefix by any version, past or current, so a retired
    code is never handed to a different area."""
    out = dict.fromkeys(prefixes, 0)
    if not prefixes:
        return out
    with connection.cursor() as cur:
        cur.execute(
            "SELECT code FROM territory_area WHERE level = %s AND left(code, length(code) - 3) = ANY(%s)",
            [level, list(prefixes)],
        )
        for (code,) in cur.fetchall():
            prefix, seq = code[:-3], code[-3:]
            if prefix in out and seq.isdigit():
                out[prefix] = max(out[prefix], int(seq))
    return out


def existing_building_refs(*, refs: list[str]) -> set[str]:
    if not refs:
        return set()
    with connection.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT ext_ref FROM territory_building WHERE ext_ref = ANY(%s)", [refs]
        )
        return {r for (r,) in cur.fetchall()}
