"""HTTP API of the territory: parse, call a selector, render. No business rules here."""

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.errors import DomainError
from apps.territory import selectors


def _geojson(body: str, request=None, next_after=None) -> HttpResponse:
    response = HttpResponse(body, content_type="application/geo+json")
    if next_after is not None:
        # The next page, as an RFC 8288 link (the body stays a plain FeatureCollection for GIS tools).
        params = request.query_params.copy()
        params["after"] = str(next_after)
        response["Link"] = (
            f'<{request.build_absolute_uri(request.path)}?{params.urlencode()}>; rel="next"'
        )
    return response


def _int_param(request, name: str) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise DomainError(
            _("%(name)s=%(value)s is not an integer") % {"name": name, "value": repr(raw)},
            field=name,
        ) from None


PAGE_PARAMS = [
    OpenApiParameter(
        "limit",
        OpenApiTypes.INT,
        description="page size (1-10000); the next page's URL is in the Link header (rel=next)",
    ),
    OpenApiParameter("after", OpenApiTypes.STR, description="continue after this code / id"),
]


class LocateApi(APIView):
    # Public, read-only and hot (the map asks on every click): it reads no user, so it runs no
    # authentication (a session lookup for logged-in callers).
    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(
        summary="The street, community, grid, neighbourhood grid, compound and building covering a point",
        parameters=[
            OpenApiParameter(
                "lon", OpenApiTypes.DOUBLE, required=True, description="WGS84 longitude"
            ),
            OpenApiParameter(
                "lat", OpenApiTypes.DOUBLE, required=True, description="WGS84 latitude"
            ),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        lon, lat = selectors.parse_lonlat(
            request.query_params.get("lon"), request.query_params.get("lat")
        )
        return Response({"lon": lon, "lat": lat, **selectors.locate(lon=lon, lat=lat)})


class AreasGeoJsonApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Current areas of one level as GeoJSON",
        parameters=[
            OpenApiParameter(
                "level",
                OpenApiTypes.STR,
                required=True,
                enum=["street", "community", "grid", "neighbourhood", "compound"],
            ),
            OpenApiParameter(
                "within", OpenApiTypes.STR, description="code prefix of an ancestor area"
            ),
            *PAGE_PARAMS,
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        level = request.query_params.get("level")
        if not level:
            raise DomainError(_("level is required"), field="level")
        body, next_after = selectors.areas_geojson_page(
            level=level,
            within=request.query_params.get("within"),
            after=request.query_params.get("after"),
            limit=_int_param(request, "limit"),
        )
        return _geojson(body, request, next_after)


class BuildingsGeoJsonApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Buildings as GeoJSON",
        parameters=[
            OpenApiParameter(
                "within", OpenApiTypes.STR, description="code prefix of a community or street"
            ),
            *PAGE_PARAMS,
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        body, next_after = selectors.buildings_geojson_page(
            within=request.query_params.get("within"),
            after=_int_param(request, "after"),
            limit=_int_param(request, "limit"),
        )
        return _geojson(body, request, next_after)


class AreaDetailApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="One area version with its parent chain and counts",
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, area_id: int):
        return Response(selectors.area_summary(selectors.area_get(area_id=area_id)))


class SearchApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Find current areas by code prefix or name, and buildings by address or name",
        parameters=[
            OpenApiParameter("q", OpenApiTypes.STR, required=True),
            OpenApiParameter("limit", OpenApiTypes.INT, description="1-50, default 20"),
        ],
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        raw = request.query_params.get("limit") or "20"
        if not raw.isdigit() or not 1 <= int(raw) <= 50:
            raise DomainError(
                _("limit=%(value)s must be a whole number from 1 to 50") % {"value": repr(raw)},
                field="limit",
            )
        results = selectors.search(q=request.query_params.get("q", ""), limit=int(raw))
        return Response({"results": results})
