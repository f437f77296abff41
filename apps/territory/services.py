"""Writes to the territory. Each function is one transaction and checks the rules the database cannot."""

from collections.abc import Iterable
from datetime import datetime

from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.common.errors import Conflict, DomainError
from apps.common.labels import choice_label
from apps.territory.codes import validate_code
from apps.territory.models import PARENT_LEVEL, Area, Level


def as_multipolygon(geom: GEOSGeometry, *, field: str = "geom") -> MultiPolygon:
    """Check an input geometry and return it as a MultiPolygon in EPSG:4326."""
    if geom is None or geom.empty:
        raise DomainError(_("the geometry is empty"), field=field)
    if geom.srid is None:
        raise DomainError(_("the geometry has no SRID"), field=field)
    if geom.srid != 4326:
        geom = geom.transform(4326, clone=True)
    if isinstance(geom, Polygon):
        geom = MultiPolygon(geom, srid=4326)
    if not isinstance(geom, MultiPolygon):
        raise DomainError(
            _("expected a Polygon or MultiPolygon, got a %(type)s") % {"type": geom.geom_type},
            field=field,
        )
    if not geom.valid:
        raise DomainError(
            _("the geometry is invalid: %(reason)s") % {"reason": geom.valid_reason}, field=field
        )
    return geom


@transaction.atomic
def area_create(
    *,
    level: str,
    code: str,
    name: str,
    geom: GEOSGeometry,
    parent: Area | None = None,
    valid_from: datetime | None = None,
    management_type: str | None = None,
    ext_code: str = "",
) -> Area:
    if level not in Level.values:
        raise DomainError(_("unknown level %(level)s") % {"level": repr(level)}, field="level")
    expected_parent = PARENT_LEVEL[level]
    if expected_parent is None and parent is not None:
        raise DomainError(_("a street has no parent area"), field="parent")
    if expected_parent is not None:
        if parent is None:
            raise DomainError(
                _("a %(level)s needs a parent %(parent)s")
                % {
                    "level": choice_label(Level, level),
                    "parent": choice_label(Level, expected_parent),
                },
                field="parent",
            )
        if parent.level != expected_parent:
            raise DomainError(
                _("the parent of a %(level)s must be a %(expected)s, not a %(got)s")
                % {
                    "level": choice_label(Level, level),
                    "expected": choice_label(Level, expected_parent),
                    "got": choice_label(Level, parent.level),
                },
                field="parent",
            )
    validate_code(level, code, parent.code if parent else None)
    if level != Level.COMPOUND and management_type is not None:
        raise DomainError(_("only compounds have a management type"), field="management_type")
    area = Area(
        level=level,
        code=code,
        name=name,
        parent=parent,
        geom=as_multipolygon(geom),
        valid_from=valid_from or timezone.now(),
        management_type=management_type,
        ext_code=ext_code,
    )
    try:
        with transaction.atomic():
            area.save()
    except IntegrityError as exc:
        if "area_code_versions_disjoint" in str(exc):
            raise Conflict(
                _("a %(level)s with code %(code)s already exists in that period")
                % {"level": choice_label(Level, level), "code": code},
                field="code",
            ) from None
        raise
    return area


@transaction.atomic
def area_replace(
    *,
    area: Area,
    geom: GEOSGeometry | None = None,
    name: str | None = None,
    parent: Area | None = None,
    at: datetime | None = None,
) -> Area:
    """Close `area` at `at` and open a new version with the same code. Records that point at the old
    version keep it; the old version stays queryable for its period."""
    at = at or timezone.now()
    if at <= area.valid_from:
        raise DomainError(_("a new version must start after the current one started"), field="at")
    # Race-safe: only one caller can close an open version.
    closed = Area.objects.filter(pk=area.pk, valid_to__isnull=True).update(valid_to=at)
    if closed != 1:
        raise Conflict(
            _("%(area)s was already replaced or closed; reload and try again") % {"area": area}
        )
    new = Area.objects.create(
        level=area.level,
        code=area.code,
        name=name if name is not None else area.name,
        parent=parent if parent is not None else area.parent,
        geom=as_multipolygon(geom) if geom is not None else area.geom,
        valid_from=at,
        version=area.version + 1,
        ext_code=area.ext_code,
        management_type=area.management_type,
    )
    area.valid_to = at
    return new


# Attach buildings to the current community, grid and compound that cover their point-on-surface
# (mapit's rule: robust to footprints that touch a boundary). Each building makes one GiST lookup in
# territory_areapart (small ST_Subdivide pieces keep the point-in-polygon test cheap) that returns the
# areas of every level under its point. Where current areas of a level overlap, the lowest code wins;
# territory_area is read only then (by primary key), so the common case touches the parts alone and the
# plan does not depend on territory_area's statistics (stale right after an area import, when a join
# to it was planned as a full index scan per building: 11 s instead of 0.5 s for 20,000 buildings).
# ATTACH_LATERAL needs a relation `b` with a point column `p` (materialise it, so the point is computed
# once, not once per use); ATTACH_COLUMNS then yields community_id, grid_id and compound_id.
# Used by buildings_attach (UPDATE); bulk imports use ATTACH_JOIN (INSERT ... SELECT, no UPDATE).
ATTACH_LEVELS = (("community", "community_id"), ("grid", "grid_id"), ("compound", "compound_id"))
_AGGREGATES = ", ".join(
    f"array_agg(DISTINCT p.area_id) FILTER (WHERE p.level = '{lvl}') AS {lvl}"
    for lvl, _ in ATTACH_LEVELS
)
ATTACH_LATERAL = f"""
LEFT JOIN LATERAL (
    SELECT {_AGGREGATES}
      FROM territory_areapart p
     WHERE ST_Intersects(p.geom, b.p) AND p.level IN ('community', 'grid', 'compound')
       AND p.valid_from <= %(at)s AND (p.valid_to IS NULL OR p.valid_to > %(at)s)
) x ON true"""  # noqa: S608 -- code constants; values are parameters
# ATTACH_LATERAL as a join, for bulk loads: `{points}` is a table with a unique key `k` and a
# GiST-indexed point column `p` (ANALYZEd), and %(xmin)s..%(ymax)s bound its points (a literal box, so
# the planner can estimate how many parts lie under them). The planner may then drive the join from
# the parts: each part under the load probes the points' index. For 50,000 new buildings in an area of
# 6,800 parts that is 0.5 s instead of 2.8 s for 50,000 probes of the city-wide parts index (a GiST
# probe costs ~40 us whatever the index's size); a few buildings scattered over a city still probe
# the parts per building. Yields the same `x` columns as ATTACH_LATERAL, for ATTACH_COLUMNS.
ATTACH_JOIN = f"""
LEFT JOIN (
    SELECT b.k, {_AGGREGATES}
      FROM {{points}} b
      JOIN territory_areapart p ON ST_Intersects(p.geom, b.p)
     WHERE p.level IN ('community', 'grid', 'compound')
       AND p.valid_from <= %(at)s AND (p.valid_to IS NULL OR p.valid_to > %(at)s)
       AND p.geom && ST_MakeEnvelope(%(xmin)s, %(ymin)s, %(xmax)s, %(ymax)s, 4326)
     GROUP BY b.k
) x ON x.k = b.k"""  # noqa: S608 -- code constants; values are parameters
ATTACH_COLUMNS = ", ".join(
    f"CASE WHEN cardinality(x.{lvl}) > 1 THEN (SELECT a.id FROM territory_area a "  # noqa: S608
    f"WHERE a.id = ANY(x.{lvl}) ORDER BY a.code LIMIT 1) ELSE x.{lvl}[1] END AS {col}"
    for lvl, col in ATTACH_LEVELS
)

# Only rows whose attachment changes are updated: a re-attach after a redraw touches (and audits) the
# buildings that moved, not every building. Each moved building returns the areas it left and joined.
ATTACH_SQL = f"""
WITH b AS MATERIALIZED (
    SELECT id, community_id, grid_id, compound_id, ST_PointOnSurface(footprint) AS p
      FROM territory_building {{where}}
),
n AS (SELECT b.id, b.community_id AS c0, b.grid_id AS g0, b.compound_id AS k0, {ATTACH_COLUMNS}
        FROM b {ATTACH_LATERAL})
UPDATE territory_building t
   SET community_id = n.community_id, grid_id = n.grid_id, compound_id = n.compound_id
  FROM n
 WHERE t.id = n.id AND (n.c0, n.g0, n.k0) IS DISTINCT FROM (n.community_id, n.grid_id, n.compound_id)
RETURNING n.c0, n.g0, n.k0, n.community_id, n.grid_id, n.compound_id
"""  # noqa: S608 -- code constants; values are parameters


def _attach(ids: list[int] | None) -> list[tuple]:
    if ids is not None and not ids:
        return []
    where = "" if ids is None else "WHERE id = ANY(%(ids)s)"
    with connection.cursor() as cur:
        cur.execute(ATTACH_SQL.format(where=where), {"ids": ids, "at": timezone.now()})
        return cur.fetchall()


def buildings_attach(*, ids: list[int] | None = None) -> int:
    """(Re-)attach the given buildings (all when ids is None) to the areas covering them now.
    Returns the number of buildings whose community, grid or compound changed."""
    return len(_attach(ids))


def buildings_reattach(*, ids: list[int]) -> set[int]:
    """buildings_attach for these buildings; returns the areas the moved ones left or joined (the
    areas whose counts changed: pass them to area_counts_refresh)."""
    changed = set()
    for row in _attach(ids):
        for before, after in zip(row[:3], row[3:], strict=True):  # community, grid, compound
            if before != after:
                changed.update(a for a in (before, after) if a is not None)
    return changed


# Household and building counts per current area. Buildings count for the grid, community and compound
# they are attached to; streets sum their communities; neighbourhood grids count their household records.
# {scope} narrows `cur` to some areas (area_counts_refresh(areas=...)); each source is then read only for
# the areas in `cur`, through the buildings' and households' foreign-key indexes.
COUNTS_SQL = """
WITH cur AS (
    SELECT id, level, parent_id FROM territory_area
     WHERE valid_from <= %(at)s AND (valid_to IS NULL OR valid_to > %(at)s){scope}
),
by_grid AS (SELECT grid_id AS id, sum(households) AS h, count(*) AS b FROM territory_building{grids} GROUP BY grid_id),
by_comm AS (SELECT community_id AS id, sum(households) AS h, count(*) AS b FROM territory_building{communities} GROUP BY community_id),
by_cpd AS (SELECT compound_id AS id, sum(households) AS h, count(*) AS b FROM territory_building{compounds} GROUP BY compound_id),
by_street AS (
    SELECT c.parent_id AS id, sum(x.h) AS h, sum(x.b) AS b FROM by_comm x JOIN cur c ON c.id = x.id GROUP BY c.parent_id
),
by_nbh AS (
    SELECT neighbourhood_id AS id, count(*) AS h, count(DISTINCT building_id) AS b
      FROM territory_household{neighbourhoods} GROUP BY neighbourhood_id
),
counts AS (
    SELECT cur.id,
           COALESCE(CASE cur.level WHEN 'grid' THEN g.h WHEN 'community' THEN c.h WHEN 'compound' THEN k.h
                                   WHEN 'street' THEN s.h ELSE n.h END, 0) AS h,
           COALESCE(CASE cur.level WHEN 'grid' THEN g.b WHEN 'community' THEN c.b WHEN 'compound' THEN k.b
                                   WHEN 'street' THEN s.b ELSE n.b END, 0) AS b
      FROM cur
      LEFT JOIN by_grid g ON g.id = cur.id
      LEFT JOIN by_comm c ON c.id = cur.id
      LEFT JOIN by_cpd k ON k.id = cur.id
      LEFT JOIN by_street s ON s.id = cur.id
      LEFT JOIN by_nbh n ON n.id = cur.id
)
UPDATE territory_area a SET households = counts.h, buildings = counts.b
  FROM counts WHERE a.id = counts.id AND (a.households, a.buildings) IS DISTINCT FROM (counts.h, counts.b)
"""

# The given areas, the streets of the given communities, and every community of those streets (a
# street's counts are the sum of its communities').
_COUNTS_SCOPE = """
       AND id IN (WITH s AS (SELECT id FROM territory_area WHERE id = ANY(%(areas)s) AND level = 'street'
                             UNION SELECT parent_id FROM territory_area
                                    WHERE id = ANY(%(areas)s) AND level = 'community')
                  SELECT unnest(%(areas)s::bigint[]) UNION SELECT id FROM s
                  UNION SELECT id FROM territory_area WHERE parent_id IN (SELECT id FROM s)
                                                        AND level = 'community')"""


def _counts_sql(scoped: bool) -> str:
    if not scoped:
        return COUNTS_SQL.format(
            scope="", grids="", communities="", compounds="", neighbourhoods=""
        )

    def where(column: str, level: str) -> str:
        return f" WHERE {column} IN (SELECT id FROM cur WHERE level = '{level}')"  # noqa: S608 - constants

    return COUNTS_SQL.format(
        scope=_COUNTS_SCOPE,
        grids=where("grid_id", "grid"),
        communities=where("community_id", "community"),
        compounds=where("compound_id", "compound"),
        neighbourhoods=where("neighbourhood_id", "neighbourhood"),
    )


def area_counts_refresh(*, areas: Iterable[int] | None = None) -> int:
    """Recompute the household and building counts of the current areas (all of them, or only those
    in `areas`, plus the streets of those communities), writing the ones that changed; returns how
    many changed. A full refresh reads every building and household (36 s for a megacity's 47M
    households); after a local change pass the areas it touched: those moved buildings left or joined
    (buildings_reattach), those of new buildings (areas_of_buildings_after) and the neighbourhood grids
    whose households moved."""
    params = {"at": timezone.now()}
    if areas is not None:
        params["areas"] = sorted({int(a) for a in areas if a is not None})
        if not params["areas"]:
            return 0
    with connection.cursor() as cur:
        # Validity is compared with Python's clock, like every other writer of valid_from (not with the
        # transaction's now(), which is older than areas created later in the same transaction).
        cur.execute(_counts_sql(areas is not None), params)
        return cur.rowcount


def areas_of_buildings_after(building_id: int) -> set[int]:
    """The areas (community, grid, compound) that the buildings with ids above `building_id` count for:
    those written since max_building_id() returned it."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT unnest(ARRAY[community_id, grid_id, compound_id])"
            " FROM territory_building WHERE id > %s",
            [building_id],
        )
        return {r[0] for r in cur.fetchall() if r[0] is not None}


def buildings_under(area_ids: Iterable[int]) -> list[int]:
    """The buildings whose footprint meets any of these areas (current or closed versions), through
    the areas' subdivided parts: every building an edit of them can re-attach."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT b.id FROM territory_areapart p"
            " JOIN territory_building b ON ST_Intersects(b.footprint, p.geom)"
            " WHERE p.area_id = ANY(%(ids)s) ORDER BY b.id",
            {"ids": list(area_ids)},
        )
        return [r[0] for r in cur.fetchall()]


def max_building_id() -> int:
    """The highest building id so far: areas_of_buildings_after() then finds the ones written after
    it (ids come from a sequence; a concurrent writer's buildings only widen the refresh)."""
    with connection.cursor() as cur:
        cur.execute("SELECT COALESCE(max(id), 0) FROM territory_building")
        return cur.fetchone()[0]
