"""Limits on every geometry that comes from outside (forms, APIs, uploads): type, SRID, validity,
vertex count, area and extent. A geometry over a limit is refused with a message naming the limit."""

from django.conf import settings
from django.contrib.gis.gdal.error import GDALException
from django.contrib.gis.geos import GEOSException, GEOSGeometry
from django.utils.translation import gettext as _

from apps.common.errors import DomainError

MAX_VERTICES = getattr(settings, "LINLI_MAX_VERTICES", 50_000)
MAX_AREA_KM2 = getattr(
    settings, "LINLI_MAX_AREA_KM2", 20_000.0
)  # larger than any Chinese prefecture's urban area


def parse_geometry(raw, *, field: str = "geometry") -> GEOSGeometry:
    """Parse GeoJSON/WKT/EWKT text (or a dict) into a GEOS geometry, with a message on failure."""
    import json

    if isinstance(raw, dict):
        raw = json.dumps(raw)
    if not isinstance(raw, str) or not raw.strip():
        raise DomainError(_("a geometry is required"), field=field)
    try:
        geom = GEOSGeometry(raw)
    except (GEOSException, GDALException, ValueError, TypeError) as exc:
        raise DomainError(
            _("the geometry cannot be read: %(error)s") % {"error": exc}, field=field
        ) from None
    if geom.srid is None:
        geom.srid = 4326  # GeoJSON is WGS84 by definition
    return geom


def check_geometry(
    geom: GEOSGeometry,
    *,
    field: str = "geometry",
    allowed=("Polygon", "MultiPolygon"),
    max_vertices: int = MAX_VERTICES,
    max_area_km2: float | None = MAX_AREA_KM2,
    check_valid: bool = True,
) -> GEOSGeometry:
    """Check an input geometry against the limits and return it in EPSG:4326."""
    if geom is None or geom.empty:
        raise DomainError(_("the geometry is empty"), field=field)
    if geom.geom_type not in allowed:
        raise DomainError(_expected(allowed, geom.geom_type), field=field)
    if geom.num_coords > max_vertices:
        raise DomainError(
            _("the geometry has %(n)s vertices; the limit is %(limit)s")
            % {"n": f"{geom.num_coords:,}", "limit": f"{max_vertices:,}"},
            field=field,
        )
    if geom.srid is None:
        raise DomainError(_("the geometry has no SRID"), field=field)
    if geom.srid != 4326:
        geom = geom.transform(4326, clone=True)
    minx, miny, maxx, maxy = geom.extent
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise DomainError(
            _("the geometry's coordinates are outside longitude/latitude range"), field=field
        )
    if check_valid and not geom.valid:
        raise DomainError(
            _("the geometry is invalid: %(reason)s") % {"reason": geom.valid_reason}, field=field
        )
    if geom.dims == 2 and max_area_km2 is not None:
        # Area in km² on the geographic coordinates: an equal-area projection centred on the geometry.
        c = geom.centroid
        proj = f"+proj=laea +lat_0={c.y} +lon_0={c.x} +datum=WGS84 +units=m"
        area_km2 = geom.transform(proj, clone=True).area / 1e6
        if area_km2 > max_area_km2:
            raise DomainError(
                _("the geometry covers %(area)s km²; the limit is %(limit)s km²")
                % {"area": f"{area_km2:,.0f}", "limit": f"{max_area_km2:,.0f}"},
                field=field,
            )
    return geom


def _expected(allowed, got: str) -> str:
    """'expected Polygon or MultiPolygon, got Point' as one whole message per number of types."""
    allowed = list(allowed)
    if len(allowed) == 1:
        return _("expected %(a)s, got %(got)s") % {"a": allowed[0], "got": got}
    if len(allowed) == 2:
        return _("expected %(a)s or %(b)s, got %(got)s") % {
            "a": allowed[0],
            "b": allowed[1],
            "got": got,
        }
    return _("expected one of %(types)s, got %(got)s") % {"types": ", ".join(allowed), "got": got}
