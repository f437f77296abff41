"""Reads behind the tile endpoint: parse a tile request, build it with one SQL statement, cache it.

Tiles are assembled entirely inside PostGIS (ST_AsMVTGeom + ST_AsMVT over ST_TileEnvelope): Python never
sees a feature. The statement is composed from the constant fragments of `layers.LAYERS`; every value
(z, x, y, filter values, the cap) is a parameter.
"""

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.db import connections
from django.http import QueryDict
from django.utils.translation import gettext as _

from apps.common.errors import DomainError, NotFound
from apps.common.prepared import Prepared, placeholders
from apps.common.routers import read_alias
from apps.tiles.layers import BUFFER, EXTENT, LAYERS, MAX_ZOOM, TileLayer

WORLD_M = 2 * math.pi * 6378137  # width of the Web Mercator square, metres

# Why raw SQL: ST_AsMVT over a subquery is the whole point (the ORM cannot express it), and one
# statement per tile keeps it to a single round trip. `bounds.box` is the tile (with the MVT buffer as
# margin) in EPSG:4326, so the GiST indexes on the stored 4326 geometries are used; only the features
# found are transformed to 3857, simplified for the zoom and clipped/quantised by ST_AsMVTGeom. ST_AsMVT
# skips the features ST_AsMVTGeom clipped away (NULL); a `WHERE geom IS NOT NULL` there would make the
# planner compute ST_AsMVTGeom twice per feature (measured: 2.4x the raw query instead of ~1.1x).
#
# The cap: the statement takes at most %(limit)s features and counts them in the same pass as it encodes
# them. tile_render first asks for one more than the cap, in any order: when no more than the cap come
# back, that is every candidate and the tile is done. Only a capped tile (rare) is asked for again,
# sorted in the layer's order and limited to exactly the cap. On the megacity's z14 buildings tiles
# (bench_tiles) the old form, a sorted, materialised CTE read twice for the features and their count,
# cost ~2 ms more per 13 ms tile.
TILE_SQL = """
WITH bounds AS (
    SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS env,
           ST_Transform(ST_TileEnvelope(%(z)s, %(x)s, %(y)s, margin => %(margin)s), 4326) AS box
)
SELECT COALESCE(ST_AsMVT(mvt.*, %(layer)s, {extent}, 'geom', 'id'), ''::bytea), count(*)
  FROM (SELECT ST_AsMVTGeom({geom}, bounds.env, {extent}, {buffer}, true) AS geom,
               f.id{columns}
          FROM ({features}
     LIMIT %(limit)s) f, bounds) mvt
"""

# SQL types of the tile statement's own parameters (the filters' are on each Filter), for PREPARE.
TILE_PARAM_TYPES = {
    "z": "int4",
    "x": "int4",
    "y": "int4",
    "margin": "float8",
    "tolerance": "float8",
    "limit": "int4",
    "layer": "text",
}

# A table's version may be spread over rows named "<table>#<n>" (issues_issue: tiles migration 0004),
# so that concurrent writers do not queue on one row; the list of all of them is the version.
VERSIONS_SQL = """
SELECT COALESCE(string_agg("table" || ':' || version, ',' ORDER BY "table"), '')
  FROM tiles_dataversion WHERE split_part("table", '#', 1) = ANY(%(tables)s)
"""


@dataclass(frozen=True)
class TileRequest:
    layer: TileLayer
    z: int
    x: int
    y: int
    filters: dict  # filter name -> parsed value, only allowlisted names

    def cache_key(self, versions: str) -> str:
        raw = f"{self.layer.name}/{self.z}/{self.x}/{self.y}?{sorted(self.filters.items())}@{versions}"
        return hashlib.sha1(raw.encode()).hexdigest()


@dataclass(frozen=True)
class Tile:
    body: bytes
    capped: (
        bool  # more features matched than the layer's cap; the tile holds the first max_features
    )
    etag: str


def clock() -> float:
    """Seconds now (a function, so tests can hold it)."""
    return time.time()


def layer_get(name: str) -> TileLayer:
    try:
        return LAYERS[name]
    except KeyError:
        raise NotFound(
            _("no tile layer %(name)s; layers are %(layers)s")
            % {"name": repr(name), "layers": ", ".join(LAYERS)},
            field="layer",
        ) from None


def tile_request_parse(*, layer: str, z: str, x: str, y: str, query: QueryDict) -> TileRequest:
    """Strictly parse a tile address and its filters; DomainError names the bad part."""
    tile_layer = layer_get(layer)
    values = {}
    for name, raw in (("z", z), ("x", x), ("y", y)):
        if not raw.isascii() or not raw.isdigit():
            raise DomainError(
                _("%(name)s=%(value)s is not a whole number") % {"name": name, "value": repr(raw)},
                field=name,
            )
        values[name] = int(raw)
    if values["z"] > MAX_ZOOM:
        raise DomainError(
            _("z=%(z)s is above the maximum zoom %(max)s") % {"z": values["z"], "max": MAX_ZOOM},
            field="z",
        )
    size = 1 << values["z"]
    for name in ("x", "y"):
        if values[name] >= size:
            raise DomainError(
                _("%(name)s=%(value)s is outside zoom %(z)s (0 to %(max)s)")
                % {"name": name, "value": values[name], "z": values["z"], "max": size - 1},
                field=name,
            )
    allowed = {f.name: f for f in tile_layer.filters}
    filters = {}
    for name in query:
        if name not in allowed:
            if allowed:
                message = _("unknown filter %(name)s for layer %(layer)s; allowed: %(allowed)s")
            else:
                message = _("unknown filter %(name)s for layer %(layer)s; it takes no filters")
            raise DomainError(
                message
                % {"name": repr(name), "layer": tile_layer.name, "allowed": ", ".join(allowed)},
                field=name,
            )
        raw = query.getlist(name)
        if len(raw) != 1:
            raise DomainError(
                _("%(name)s is given %(n)s times") % {"name": name, "n": len(raw)}, field=name
            )
        filters[name] = allowed[name].parse(name, raw[0].strip())
    return TileRequest(tile_layer, values["z"], values["x"], values["y"], filters)


def scope_filter_value(scope) -> str | None:
    """The "scope" filter's value for a scoped layer (None: the user sees everything)."""
    import json

    if scope.everything:
        return None
    return json.dumps(
        {
            "p": [p + "%" for p in scope.area_prefixes],
            "c": list(scope.company_ids),
            "d": list(scope.department_ids),
            "b": list(scope.building_ids),
        },
        sort_keys=True,
    )


def tile_request_scope(req: TileRequest, scope) -> TileRequest:
    """The request narrowed to the user's scope when its layer is scoped (the one rule)."""
    import dataclasses

    if not req.layer.scoped:
        return req
    value = scope_filter_value(scope)
    if value is None:
        return req
    return dataclasses.replace(req, filters={**req.filters, "scope": value})


VERSIONS = Prepared("linli_tile_versions", VERSIONS_SQL, {"tables": "text[]"})


def data_versions(layer: TileLayer, *, using: str) -> str:
    return VERSIONS.fetchall({"tables": list(layer.tables)}, using=using)[0][0]


def tile_sql(req: TileRequest, *, limit: int, ordered: bool) -> tuple[str, dict]:
    """The one statement that builds the tile from at most `limit` features (the first ones in the
    layer's order when `ordered`, any ones otherwise), and its parameters."""
    layer = req.layer
    columns = "".join(f", f.{name}" for name in layer.attributes_at(req.z))
    sql = TILE_SQL.format(
        features=layer.feature_sql(req.z, sorted(req.filters), ordered=ordered),
        columns=columns,
        geom="ST_Simplify(ST_Transform(f.g, 3857), %(tolerance)s, true)"
        if layer.simplify_px
        else "ST_Transform(f.g, 3857)",
        extent=EXTENT,
        buffer=BUFFER,
    )
    tile_m = WORLD_M / (1 << req.z)
    params = {
        "z": req.z,
        "x": req.x,
        "y": req.y,
        "margin": BUFFER / EXTENT,
        "tolerance": tile_m / 256 * layer.simplify_px,
        "limit": limit,
        "layer": layer.name,
        **req.filters,
    }
    return sql, params


_PREPARED: dict[str, Prepared] = {}


def _prepared(sql: str) -> Prepared:
    """The prepared statement for an unfiltered tile statement (one per layer and attribute set).

    Only unfiltered tiles are prepared: their one plan does not depend on any value (the tile's box
    comes from a CTE, opaque to the planner either way), so the generic plan PostgreSQL switches to is
    the plan it would make each time. A filter value can matter to the plan (a code prefix for LIKE
    becomes an index range only when the planner sees it), so filtered tiles are planned per request.
    """
    statement = _PREPARED.get(sql)
    if statement is None:
        used = placeholders(sql)
        name = "linli_tile_" + hashlib.sha1(sql.encode()).hexdigest()[:16]
        statement = Prepared(name, sql, {k: v for k, v in TILE_PARAM_TYPES.items() if k in used})
        _PREPARED[sql] = statement
    return statement


def _tile_query(req: TileRequest, *, limit: int, ordered: bool, using: str) -> tuple[bytes, int]:
    sql, params = tile_sql(req, limit=limit, ordered=ordered)
    if req.filters:
        with connections[using].cursor() as cur:
            cur.execute(sql, params)
            body, count = cur.fetchone()
    else:
        body, count = _prepared(sql).fetchall(params, using=using)[0]
    return bytes(body), count


def tile_render(req: TileRequest, *, using: str) -> tuple[bytes, bool]:
    """(MVT bytes, capped): capped when more features matched than the layer's max_features, and the
    tile then holds the first max_features of them in the layer's order."""
    if req.z < req.layer.min_zoom:
        return b"", False  # below the layer's minimum zoom: an empty tile, without a query
    cap = req.layer.max_features
    body, count = _tile_query(req, limit=cap + 1, ordered=False, using=using)
    if count <= cap:
        return body, False
    body, _count = _tile_query(req, limit=cap, ordered=True, using=using)
    return body, True


def tile_etag(req: TileRequest, *, using: str | None = None) -> tuple[str, str]:
    """(ETag, cache key): both change whenever a source table of the layer changes."""
    using = using or read_alias()
    versions = data_versions(req.layer, using=using)
    if req.layer.clock_s:  # the layer's SQL reads now(): its tiles also expire with the clock
        versions += f",clock:{int(clock()) // req.layer.clock_s}"
    key = req.cache_key(versions)
    return f'"{req.layer.name}-{key[:20]}"', f"tile:{key}"


def tile_fetch(req: TileRequest, *, etag: str, key: str, using: str | None = None) -> Tile:
    """The tile under `key` (from tile_etag), from the cache or built and cached."""
    cache = caches[getattr(settings, "TILES_CACHE", "default")]
    hit = cache.get(key)
    if hit is None:
        hit = tile_render(req, using=using or read_alias())
        cache.set(key, hit, timeout=getattr(settings, "TILES_CACHE_SECONDS", 24 * 3600))
    body, capped = hit
    return Tile(body=body, capped=capped, etag=etag)


def tile_get(req: TileRequest, *, using: str | None = None) -> Tile:
    """The tile, from the cache when the layer's data has not changed since it was built."""
    using = using or read_alias()
    etag, key = tile_etag(req, using=using)
    return tile_fetch(req, etag=etag, key=key, using=using)
