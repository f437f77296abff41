"""The registry of vector tile layers: what each layer serves, from which zoom, which attributes at
which zoom, and which filters a client may pass. Everything here is a code constant: the tile SQL is
composed from these fragments only, and request values reach the database as parameters.

Adding a layer is one `TileLayer(...)` in `LAYERS` (its table also needs the data-version trigger, see
migrations/0001_initial.py). A layer whose features are not rows of one table (issues aggregated into
counts below zoom 14, say) subclasses TileLayer and overrides `feature_sql(z)` to return a different
SELECT per zoom; the envelope, simplification, cap, MVT encoding, cache and ETag stay the same.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.translation import gettext as _

from apps.common.errors import DomainError
from apps.common.parsers import parse_bool
from apps.territory.models import HouseholdSource, Level, ManagementType

EXTENT = 4096  # MVT coordinate units per tile side
BUFFER = 64  # units of geometry kept beyond the tile edge, so strokes do not break at tile seams
MAX_ZOOM = 24


# ---- filter value parsers: each returns the SQL parameter or raises DomainError naming the field ----


def parse_code_prefix(name: str, raw: str) -> str:
    if not re.fullmatch(r"[0-9]{6,18}(C[0-9]{0,3})?", raw):
        raise DomainError(
            _("%(name)s=%(value)s is not an area code (digits, compounds with C)")
            % {"name": name, "value": repr(raw)},
            field=name,
        )
    return raw + "%"


def parse_whole(name: str, raw: str, *, low: int = 0, high: int = 1_000_000) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise DomainError(
            _("%(name)s=%(value)s is not a whole number") % {"name": name, "value": repr(raw)},
            field=name,
        ) from None
    if not low <= value <= high:
        raise DomainError(
            _("%(name)s=%(value)s is out of range [%(low)s, %(high)s]")
            % {"name": name, "value": value, "low": low, "high": high},
            field=name,
        )
    return value


def choice(values: list[str]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        if raw not in values:
            raise DomainError(
                _("%(name)s=%(value)s is not one of %(values)s")
                % {"name": name, "value": repr(raw), "values": ", ".join(values)},
                field=name,
            )
        return raw

    return parse


@dataclass(frozen=True)
class Filter:
    """A query parameter a layer accepts: `sql` is a constant condition using %(<name>)s."""

    name: str
    sql: str
    parse: Callable[[str, str], object]
    description: str


@dataclass(frozen=True)
class Attribute:
    """A feature property, sent from `min_zoom` on (details only where a person can read them)."""

    name: str
    min_zoom: int = 0


@dataclass(frozen=True)
class TileLayer:
    name: str
    # SELECT id, g (geometry in EPSG:4326), <attributes> FROM ... , bounds WHERE <bbox test on bounds.box>
    # The WHERE clause must be open: filters are appended with AND.
    select: str
    min_zoom: int
    attributes: tuple[Attribute, ...]
    tables: tuple[str, ...]  # source tables, whose data versions key the cache and the ETag
    filters: tuple[Filter, ...] = ()
    # Which features survive the cap: deterministic, most useful first. Only a capped tile is sorted:
    # an uncapped one holds every candidate, in the order the index found them.
    order_by: str = "id"
    max_features: int = 10_000
    simplify_px: float = (
        0.5  # tolerance of ST_Simplify, in screen pixels (256 per tile side); 0: none
    )
    # Staff only, narrowed to the user's scope (apps.people.scope): the view refuses users without a
    # scope and adds the "scope" filter for everyone who does not see everything.
    scoped: bool = False
    # The SQL reads now() (issues: overdue): ETags and cached tiles also change every clock_s seconds,
    # so a tile cannot stay stale while no write bumps the data versions. 0: data versions only.
    clock_s: int = 0

    def attributes_at(self, z: int) -> list[str]:
        return [a.name for a in self.attributes if z >= a.min_zoom]

    def feature_sql(self, z: int, filter_names: list[str], *, ordered: bool = True) -> str:
        """The SELECT of candidate features for zoom z with the given filters applied, in the cap's
        order (`ordered`) or in any order."""
        by_name = {f.name: f for f in self.filters}
        conditions = "".join(f"\n       AND ({by_name[n].sql})" for n in filter_names)
        order = f"\n     ORDER BY {self.order_by}" if ordered else ""
        return f"{self.select}{conditions}{order}"


# ---- the layers ----

# Current versions only; the composite GiST index tiles_area_level_geom (migration 0002) finds the areas
# of one level in the tile's box without reading the other levels.
AREA_SELECT = """
    SELECT a.id, a.geom AS g, a.code, a.name, a.level, a.households, a.buildings{extra}
      FROM territory_area a, bounds
     WHERE a.level = '{level}' AND a.geom && bounds.box
       AND a.valid_from <= now() AND (a.valid_to IS NULL OR a.valid_to > now())"""

AREA_FILTERS = (
    Filter(
        "within",
        "a.code LIKE %(within)s",
        parse_code_prefix,
        "code prefix of an ancestor area (or the area itself)",
    ),
    Filter(
        "min_households",
        "a.households >= %(min_households)s",
        parse_whole,
        "only areas with at least this many households",
    ),
)


def area_layer(level: str, *, min_zoom: int, name_zoom: int, max_features: int = 10_000):
    extra = ", a.management_type" if level == Level.COMPOUND else ""
    attributes = [
        Attribute("code"),
        Attribute("level"),
        Attribute("households"),
        Attribute("buildings"),
        Attribute("name", name_zoom),
    ]
    filters = AREA_FILTERS
    if level == Level.COMPOUND:
        attributes.append(Attribute("management_type"))
        filters += (
            Filter(
                "management_type",
                "a.management_type = %(management_type)s",
                choice(ManagementType.values),
                "compounds with this kind of property management",
            ),
        )
    return TileLayer(
        name=str(level),
        select=AREA_SELECT.format(level=level, extra=extra),
        min_zoom=min_zoom,
        attributes=tuple(attributes),
        tables=("territory_area",),
        filters=filters,
        order_by="a.code, a.id",
        max_features=max_features,
    )


BUILDINGS = TileLayer(
    name="buildings",
    select="""
    SELECT b.id, b.footprint AS g, b.households, b.floors, b.name, b.address,
           b.units_count AS units, b.households_source
      FROM territory_building b, bounds
     WHERE b.footprint && bounds.box""",
    min_zoom=14,
    attributes=(
        Attribute("households"),
        Attribute("floors"),
        Attribute("name", 16),
        Attribute("address", 16),
        Attribute("units", 16),
        Attribute("households_source", 16),
    ),
    tables=("territory_building",),
    filters=(
        Filter(
            "within",
            "b.community_id IN (SELECT c.id FROM territory_area c"
            " WHERE c.level IN ('street', 'community') AND c.code LIKE %(within)s)",
            parse_code_prefix,
            "code prefix of the street or community the buildings belong to",
        ),
        Filter(
            "min_floors",
            "b.floors >= %(min_floors)s",
            lambda name, raw: parse_whole(name, raw, low=1, high=300),
            "only buildings with at least this many floors",
        ),
        Filter(
            "households_source",
            "b.households_source = %(households_source)s",
            choice(HouseholdSource.values),
            "where the household count comes from",
        ),
    ),
    order_by="b.id",
    max_features=10_000,
    simplify_px=0,  # footprints are a few vertices: ST_AsMVTGeom's snapping to the tile grid is enough
)

# ---- residents' issues: points from zoom 14, counts per screen cell below ----


def parse_statuses(name: str, raw: str) -> list[str]:
    from apps.issues.models import Status

    values = [v.strip() for v in raw.split(",") if v.strip()]
    unknown = [v for v in values if v not in Status.values]
    if not values or unknown:
        raise DomainError(
            _("%(name)s=%(value)s: use a comma list of %(values)s")
            % {"name": name, "value": repr(raw), "values": ", ".join(Status.values)},
            field=name,
        )
    return values


def parse_slug(name: str, raw: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,49}", raw):
        raise DomainError(
            _("%(name)s=%(value)s is not a category code") % {"name": name, "value": repr(raw)},
            field=name,
        )
    return raw


def parse_local_day(name: str, raw: str, *, end: bool = False):
    """A YYYY-MM-DD day in the site's time zone (Asia/Shanghai) as an aware datetime: its midnight, or
    with end=True the next midnight, so "until 2026-11-01" includes all of that local day."""
    from datetime import date, datetime, time, timedelta

    from django.utils import timezone

    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise DomainError(
            _("%(name)s=%(value)s is not a date (YYYY-MM-DD)") % {"name": name, "value": repr(raw)},
            field=name,
        ) from None
    try:
        if end:
            day += timedelta(days=1)
        return timezone.make_aware(datetime.combine(day, time()), timezone.get_default_timezone())
    except OverflowError:  # the day after 9999-12-31
        raise DomainError(
            _("%(name)s=%(value)s is out of range") % {"name": name, "value": repr(raw)},
            field=name,
        ) from None


OPEN_STATUSES = "('collected', 'consulted', 'dispatched', 'accepted', 'returned')"
OVERDUE_SQL = f"i.status IN {OPEN_STATUSES} AND i.due_at < now()"  # same rule as Issue.overdue
POINTS_FROM_ZOOM = 14
# Below POINTS_FROM_ZOOM, issues are counted per square of CELL_PX screen pixels. The squares tile each
# tile exactly (256 / CELL_PX per side), so every issue is counted in one cell of one tile, and a count
# sits at its issues' mean position kept COUNT_RADIUS_PX inside its square: a client that draws a count
# as a circle of at most that radius (apps/web/static/web/map.js) never has it cut at a tile seam or
# overlapping the next count.
CELL_PX = 64
COUNT_RADIUS_PX = 16


@dataclass(frozen=True)
class IssuesLayer(TileLayer):
    """Issues as points from zoom 14 (status, category, overdue; details at 16), and below it as counts
    per CELL_PX screen cell (count, open, overdue) placed near the cell's mean position, so a city-wide
    view carries a few thousand features however many issues there are."""

    def attributes_at(self, z: int) -> list[str]:
        if z < POINTS_FROM_ZOOM:
            return ["count", "open", "overdue"]
        return super().attributes_at(z)

    def feature_sql(self, z: int, filter_names: list[str], *, ordered: bool = True) -> str:
        if z >= POINTS_FROM_ZOOM:
            return super().feature_sql(z, filter_names, ordered=ordered)
        by_name = {f.name: f for f in self.filters}
        conditions = "".join(f"\n       AND ({by_name[n].sql})" for n in filter_names)
        cell_m = WORLD_M / (1 << z) / 256 * CELL_PX  # code constants of z, not user input
        slack_m = cell_m * (CELL_PX / 2 - COUNT_RADIUS_PX) / CELL_PX
        last = 256 // CELL_PX - 1
        # the cap keeps the largest counts
        order = "\n     ORDER BY count(*) DESC" if ordered else ""
        # Only the issues inside the tile itself (not its buffer), in squares counted from the tile's
        # corner: a square is never split between two tiles. Composed only of code constants (filters'
        # SQL, the sizes); values are parameters.
        return f"""
    SELECT min(i.id) AS id,
           ST_Transform(ST_SetSRID(ST_MakePoint(
               k.x0 + GREATEST(-{slack_m:.3f}, LEAST({slack_m:.3f}, avg(ST_X(m)) - k.x0)),
               k.y0 + GREATEST(-{slack_m:.3f}, LEAST({slack_m:.3f}, avg(ST_Y(m)) - k.y0))), 3857), 4326) AS g,
           count(*) AS count,
           count(*) FILTER (WHERE i.status IN {OPEN_STATUSES}) AS open,
           count(*) FILTER (WHERE {OVERDUE_SQL}) AS overdue
      FROM issues_issue i
      JOIN issues_category c ON c.id = i.category_id
      CROSS JOIN bounds
      CROSS JOIN LATERAL ST_Transform(i.point, 3857) AS m
      CROSS JOIN LATERAL (SELECT
           ST_XMin(bounds.env) + (LEAST(GREATEST(floor((ST_X(m) - ST_XMin(bounds.env)) / {cell_m:.3f}),
                                                 0), {last}) + 0.5) * {cell_m:.3f} AS x0,
           ST_YMin(bounds.env) + (LEAST(GREATEST(floor((ST_Y(m) - ST_YMin(bounds.env)) / {cell_m:.3f}),
                                                 0), {last}) + 0.5) * {cell_m:.3f} AS y0) AS k
     WHERE i.point && bounds.box
       AND ST_X(m) >= ST_XMin(bounds.env) AND ST_X(m) < ST_XMax(bounds.env)
       AND ST_Y(m) >= ST_YMin(bounds.env) AND ST_Y(m) < ST_YMax(bounds.env){conditions}
     GROUP BY k.x0, k.y0{order}"""  # noqa: S608


WORLD_M = 2 * 3.141592653589793 * 6378137


def _scope_set_by_login(name: str, raw: str):
    raise DomainError(_("scope is set from your login, not by a parameter"), field=name)


# The user's scope as one JSON parameter {"p": code prefixes + '%', "c": company ids, "d": department
# ids, "b": building ids} (apps.tiles.selectors.scope_filter_value): constant SQL, one value, and a
# cache key per scope. Same rule as apps.people.scope.Scope.issues_sql.
ISSUES_SCOPE_SQL = """i.area_code LIKE ANY(ARRAY(SELECT jsonb_array_elements_text(%(scope)s::jsonb->'p')))
        OR i.responsible_company_id IN (SELECT jsonb_array_elements_text(%(scope)s::jsonb->'c')::bigint)
        OR i.responsible_department_id IN
           (SELECT jsonb_array_elements_text(%(scope)s::jsonb->'d')::bigint)
        OR i.building_id IN (SELECT jsonb_array_elements_text(%(scope)s::jsonb->'b')::bigint)"""

ISSUES = IssuesLayer(
    name="issues",
    scoped=True,
    # OVERDUE_SQL is a code constant.
    select=f"""
    SELECT i.id, i.point AS g, i.status, c.code AS category,
           ({OVERDUE_SQL}) AS overdue,
           i.tracking_code, to_char(i.created_at, 'YYYY-MM-DD') AS received
      FROM issues_issue i
      JOIN issues_category c ON c.id = i.category_id, bounds
     WHERE i.point && bounds.box""",  # noqa: S608
    min_zoom=8,
    attributes=(
        Attribute("status"),
        Attribute("category"),
        Attribute("overdue"),
        Attribute("tracking_code", 16),
        Attribute("received", 16),
    ),
    tables=("issues_issue",),
    filters=(
        Filter(
            "within",
            "i.area_code LIKE %(within)s",
            parse_code_prefix,
            "code prefix of the area the issue was received in",
        ),
        Filter("status", "i.status = ANY(%(status)s)", parse_statuses, "comma list of statuses"),
        Filter(
            "scope",
            ISSUES_SCOPE_SQL,
            _scope_set_by_login,
            "set from your login (staff see the issues of their areas); not a parameter",
        ),
        Filter(
            "category",
            # an issue's category is a top-level one; a subcategory code matches its subcategory
            "(c.code = %(category)s OR i.subcategory_id IN"
            " (SELECT id FROM issues_category WHERE code = %(category)s))",
            parse_slug,
            "category or subcategory code",
        ),
        Filter(
            "since",
            "i.created_at >= %(since)s",
            parse_local_day,
            "received on or after this day (YYYY-MM-DD, local time)",
        ),
        Filter(
            "until",
            "i.created_at < %(until)s",
            lambda n, r: parse_local_day(n, r, end=True),
            "received on or before this day (YYYY-MM-DD, local time)",
        ),
        Filter(
            "overdue",
            f"({OVERDUE_SQL}) = %(overdue)s",
            parse_bool,
            "true: only overdue issues (open and past due); false: only the others",
        ),
    ),
    order_by="i.created_at DESC, i.id",
    max_features=10_000,
    simplify_px=0,
    clock_s=60,  # overdue turns true as time passes, without a write
)

LAYERS: dict[str, TileLayer] = {
    layer.name: layer
    for layer in [
        area_layer(Level.STREET, min_zoom=8, name_zoom=8),
        area_layer(Level.COMMUNITY, min_zoom=10, name_zoom=10),
        area_layer(Level.GRID, min_zoom=12, name_zoom=14),
        area_layer(Level.NEIGHBOURHOOD, min_zoom=14, name_zoom=16),
        area_layer(Level.COMPOUND, min_zoom=13, name_zoom=15),
        BUILDINGS,
        ISSUES,
    ]
}
