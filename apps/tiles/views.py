"""HTTP for vector tiles: parse, get the tile (cache or PostGIS), answer with caching headers.

A plain Django view rather than a DRF APIView: the body is protobuf, so DRF's content negotiation would
only get in the way. Domain errors get the same JSON shape as the API's exception handler."""

from django.conf import settings
from django.http import HttpResponse, HttpResponseNotModified, JsonResponse
from django.utils.http import parse_etags
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from apps.common.errors import DomainError
from apps.people.scope import request_scope
from apps.tiles import selectors

MVT_TYPE = "application/vnd.mapbox-vector-tile"


@require_GET
def tile(request, layer: str, z: str, x: str, y: str):
    try:
        req = selectors.tile_request_parse(layer=layer, z=z, x=x, y=y, query=request.GET)
        cache_control = f"public, max-age={getattr(settings, 'TILES_MAX_AGE', 60)}"
        if req.layer.scoped:  # staff data: signed-in users with a scope, narrowed to it
            scope = request_scope(request)
            if scope.is_empty:
                status = 403 if request.user.is_authenticated else 401
                return JsonResponse(
                    {"error": _("sign in as staff to see this layer"), "code": "forbidden"},
                    status=status,
                )
            req = selectors.tile_request_scope(req, scope)
            # Staff see their own actions at once: the browser keeps the tile but asks again each
            # time (If-None-Match, answered 304 from one small query while nothing changed).
            cache_control = "private, no-cache"
        etag, key = selectors.tile_etag(req)  # one small query: the layer's data versions
        if etag in parse_etags(request.headers.get("If-None-Match", "")):
            response = HttpResponseNotModified()
        else:
            found = selectors.tile_fetch(req, etag=etag, key=key)
            response = HttpResponse(found.body, content_type=MVT_TYPE)
            response["X-Tile-Capped"] = "true" if found.capped else "false"
    except DomainError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    response["ETag"] = etag
    response["Cache-Control"] = cache_control
    return response


@require_GET
def layers_index(request):
    """What the tile layers are: min zoom, attributes by zoom, filters. Clients read it to set up."""
    base = request.build_absolute_uri("/tiles/")
    return JsonResponse(
        {
            "layers": [
                {
                    "name": layer.name,
                    "url": f"{base}{layer.name}/{{z}}/{{x}}/{{y}}.mvt",
                    "min_zoom": layer.min_zoom,
                    "staff_only": layer.scoped,
                    "max_features": layer.max_features,
                    "attributes": {a.name: {"min_zoom": a.min_zoom} for a in layer.attributes},
                    "filters": {f.name: f.description for f in layer.filters},
                }
                for layer in selectors.LAYERS.values()
            ]
        }
    )
