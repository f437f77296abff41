"""HTTP API of analytics: parse, check the user's scope, call a selector, render. Staff only; every
request is limited to the part of the territory the user may see (apps.people.scope).

Read endpoints (coverage, suggestions, gaps, hotspots, heat, indicators) run their selector inside
`replica_reads()`: with REPLICA_DATABASE_URL set they read the replica (apps/common/routers.py). The
user's scope is checked before, on the primary. The station list stays on the primary: the map reloads
it right after a station is added, and a lagging replica would hide the new one."""

import json
from datetime import datetime, time, timedelta

import orjson
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.analytics import gaps, hotspots, indicators, indicators_pdf, stations
from apps.analytics.models import ServiceStation, StationKind
from apps.analytics.services import station_create
from apps.common.errors import DomainError
from apps.common.exports import csv_bytes
from apps.common.routers import replica_reads

# the issues API's period rule, so every period parameter reads the same
from apps.issues.selectors import parse_when
from apps.people.scope import user_scope
from apps.territory.models import Area

GEOJSON = "application/geo+json"
CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def geojson_bytes(data) -> bytes:
    """UTF-8 JSON of a FeatureCollection (orjson: a city's gaps are ~180k features, which the standard
    library took ~8 s to write). numpy scalars and arrays (esda's results) are written as numbers; what
    else it cannot write natively (Decimal, lazy translations) as its str."""
    return orjson.dumps(
        data, default=str, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    )


def _geojson(data) -> HttpResponse:
    return HttpResponse(geojson_bytes(data), content_type=GEOJSON)


def _download(body: bytes, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def scoped_within(request, within: str | None) -> str | None:
    """The area-code prefix a request may read: `within` if the user's scope covers it; without one,
    the user's only area (or everything for city-wide roles)."""
    within = (within or "").strip() or None
    scope = user_scope(request.user)
    if scope.everything:
        return within
    if not scope.area_prefixes:
        raise PermissionDenied(_("your role covers no part of the territory"))
    if within:
        if not scope.covers_code(within):
            raise PermissionDenied(_("area %(code)s is outside your scope") % {"code": within})
        return within
    if len(scope.area_prefixes) == 1:
        return scope.area_prefixes[0]
    raise DomainError(
        _("you cover several areas (%(areas)s); choose one with within=")
        % {"areas": ", ".join(scope.area_prefixes)},
        field="within",
    )


def parse_int(raw, name: str, default: int, lo: int, hi: int) -> int:
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise DomainError(
            _("%(name)s=%(value)s is not a whole number") % {"name": name, "value": repr(raw)},
            field=name,
        ) from None
    if not lo <= value <= hi:
        raise DomainError(
            _("%(name)s=%(value)s is out of range [%(low)s, %(high)s]")
            % {"name": name, "value": value, "low": lo, "high": hi},
            field=name,
        )
    return value


def hotspot_query(request) -> hotspots.Query:
    p = request.query_params
    end = parse_when(p.get("end"), "end", end=True) or timezone.make_aware(
        datetime.combine(timezone.localdate() + timedelta(days=1), time.min)
    )
    start = parse_when(p.get("start"), "start") or end - timedelta(days=90)
    cats = tuple(c.strip() for c in (p.get("category") or "").split(",") if c.strip()) or None
    return hotspots.Query(
        source=p.get("source") or "issues",
        start=start,
        end=end,
        categories=cats,
        within=scoped_within(request, p.get("within")),
    )


def hotspot_res(request) -> int:
    p = request.query_params
    if p.get("res"):
        return parse_int(p.get("res"), "res", 9, 5, 12)
    return hotspots.res_for_zoom(p.get("zoom", 14))


WITHIN = OpenApiParameter(
    "within", OpenApiTypes.STR, description="code prefix of a street, community or grid"
)
TIER = OpenApiParameter(
    "tier",
    OpenApiTypes.INT,
    enum=[5, 10, 15],
    description="living-circle tier in minutes (300/500/1,000 m walking)",
)
HOTSPOT_PARAMS = [
    OpenApiParameter("source", OpenApiTypes.STR, description="point source (default: issues)"),
    OpenApiParameter(
        "start", OpenApiTypes.STR, description="ISO date/time (default: end - 90 days)"
    ),
    OpenApiParameter(
        "end", OpenApiTypes.STR, description="ISO date/time, exclusive (default: end of today)"
    ),
    OpenApiParameter("category", OpenApiTypes.STR, description="category codes, comma-separated"),
    WITHIN,
]
RES_PARAMS = [
    OpenApiParameter("zoom", OpenApiTypes.INT, description="map zoom; picks the H3 resolution"),
    OpenApiParameter("res", OpenApiTypes.INT, description="H3 resolution 5-12 (overrides zoom)"),
]


class StaffApi(APIView):
    permission_classes = [IsAuthenticated]


# ---- stations -------------------------------------------------------------------------------------


class StationInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    lon = serializers.FloatField(min_value=-180, max_value=180)
    lat = serializers.FloatField(min_value=-90, max_value=90)
    kind = serializers.ChoiceField(choices=StationKind.choices, default=StationKind.STATION)
    address = serializers.CharField(max_length=300, required=False, default="")


class StationsApi(StaffApi):
    @extend_schema(
        summary="Party-mass service stations as GeoJSON",
        parameters=[WITHIN],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        within = scoped_within(request, request.query_params.get("within"))
        qs = ServiceStation.objects.select_related("community").order_by("id")
        if within:
            qs = qs.filter(community__code__startswith=within[:12])
        return _geojson(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [s.point.x, s.point.y]},
                        "properties": {
                            "id": s.id,
                            "name": s.name,
                            "kind": s.kind,
                            "kind_label": s.get_kind_display(),
                            "community": s.community.name if s.community else None,
                        },
                    }
                    for s in qs
                ],
            }
        )

    @extend_schema(
        summary="Add a service station (its community is found from the point)",
        request=StationInput,
        responses={201: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        data = StationInput(data=request.data)
        if not data.is_valid():
            field, errors = next(iter(data.errors.items()))
            raise DomainError(f"{field}: {errors[0]}", field=field)
        scope = user_scope(request.user)
        with transaction.atomic():  # refused after the insert: rolled back with it
            station = station_create(**data.validated_data)
            code = station.community.code if station.community else None
            if not (scope.everything or scope.covers_code(code)):
                raise PermissionDenied(_("the point is outside your scope"))
        return Response(
            {"id": station.id, "name": station.name, "community": station.community_id}, status=201
        )


class CoverageApi(StaffApi):
    @extend_schema(
        summary="Households and buildings by the nearest station's walking tier (GB 50180-2018)",
        description="Walking distance = straight-line (geodesic) distance × detour factor 1.3; no street "
        "network is loaded. Tiers: 5 min ≤ 300 m, 10 min ≤ 500 m, 15 min ≤ 1,000 m.",
        parameters=[WITHIN],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        within = scoped_within(request, request.query_params.get("within"))
        with replica_reads():
            return Response(stations.coverage(within=within))


class SuggestApi(StaffApi):
    @extend_schema(
        summary="Where new stations would reach the most households not reached today (MCLP)",
        parameters=[
            WITHIN,
            TIER,
            OpenApiParameter(
                "count", OpenApiTypes.INT, description="new stations, 1-50 (default 3)"
            ),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        p = request.query_params
        within = scoped_within(request, p.get("within"))
        count = parse_int(p.get("count"), "count", 3, 1, 50)
        with replica_reads():
            result = stations.suggest_stations(within=within, count=count, tier=p.get("tier", 15))
        return Response(result | {"geojson": stations.suggestion_geojson(result)})


# ---- gaps -------------------------------------------------------------------------------------


def _gap_args(request):
    p = request.query_params
    kinds = [k.strip() for k in (p.get("kind") or "").split(",") if k.strip()] or None
    return {
        "kinds": kinds,
        "within": scoped_within(request, p.get("within")),
        "tier": p.get("tier", 15),
        "patrol_days": parse_int(p.get("patrol_days"), "patrol_days", 30, 1, 366),
    }


GAP_PARAMS = [
    OpenApiParameter(
        "kind", OpenApiTypes.STR, description="gap kinds, comma-separated (default: all)"
    ),
    WITHIN,
    TIER,
    OpenApiParameter(
        "patrol_days",
        OpenApiTypes.INT,
        description="buildings not patrolled in N days (default 30)",
    ),
]


class GapsApi(StaffApi):
    @extend_schema(
        summary="Coverage gaps, each with a sentence explaining it",
        parameters=GAP_PARAMS,
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        args = _gap_args(request)
        with replica_reads():
            items = gaps.gap_items(**args, geometry=False)
        return Response({"count": len(items), "items": items})


class GapsGeoJsonApi(StaffApi):
    @extend_schema(
        summary="Coverage gaps as GeoJSON (for the map)",
        parameters=GAP_PARAMS,
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        args = _gap_args(request)
        with replica_reads():
            return _geojson(gaps.gaps_geojson(**args))


class GapCountsApi(StaffApi):
    @extend_schema(
        summary="Counts of each gap kind per street, community or grid",
        parameters=[
            *GAP_PARAMS,
            OpenApiParameter("by", OpenApiTypes.STR, enum=["street", "community", "grid"]),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        args = _gap_args(request)
        with replica_reads():
            return Response(gaps.gap_counts(by=request.query_params.get("by", "community"), **args))


class GapsCsvApi(StaffApi):
    @extend_schema(
        summary="Coverage gaps as CSV",
        parameters=GAP_PARAMS,
        responses={(200, CSV): OpenApiTypes.BINARY},
    )
    def get(self, request):
        args = _gap_args(request)
        with replica_reads():
            items = gaps.gap_items(**args, geometry=False)
        body = csv_bytes(
            ["kind", "object_type", "object_id", "name", "area_code", "explanation"],
            (
                [
                    i["kind"],
                    i["object_type"],
                    i["object_id"],
                    i["name"],
                    i["area_code"],
                    i["explanation"],
                ]
                for i in items
            ),
        )
        return _download(body, "gaps.csv", CSV + "; charset=utf-8")


# ---- hotspots -----------------------------------------------------------------------------------


class HotspotsH3Api(StaffApi):
    @extend_schema(
        summary="Counts and Getis-Ord Gi* hot/cold classes on H3 hexagons (GeoJSON)",
        description="class: -3..3 = cold 99/95/90 %, not significant, hot 90/95/99 % (FDR-controlled). "
        "emerging=1 adds `emerging` (hot now, not in the previous window of the same length).",
        parameters=[*HOTSPOT_PARAMS, *RES_PARAMS, OpenApiParameter("emerging", OpenApiTypes.BOOL)],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        q, res = hotspot_query(request), hotspot_res(request)
        with replica_reads():
            if request.query_params.get("emerging") in ("1", "true"):
                result = hotspots.emerging_hotspots(q, res)
            else:
                result = hotspots.h3_hotspots(q, res)
        return _geojson(hotspots.h3_geojson(result, only_nonzero=True))


class HotspotsH3CsvApi(StaffApi):
    @extend_schema(
        summary="H3 hotspot table as CSV",
        parameters=[*HOTSPOT_PARAMS, *RES_PARAMS],
        responses={(200, CSV): OpenApiTypes.BINARY},
    )
    def get(self, request):
        import h3

        q, res = hotspot_query(request), hotspot_res(request)
        with replica_reads():
            result = hotspots.h3_hotspots(q, res)
        rows = []
        for u in result["units"]:
            lat, lon = h3.cell_to_latlng(u["h3"])
            rows.append(
                [
                    u["h3"],
                    u["cell"],
                    result["res"],
                    u["count"],
                    u["z"],
                    u["p"],
                    u["class"],
                    round(lon, 6),
                    round(lat, 6),
                ]
            )
        body = csv_bytes(["h3", "cell", "res", "count", "z", "p", "class", "lon", "lat"], rows)
        return _download(body, "hotspots_h3.csv", CSV + "; charset=utf-8")


class HotspotsGridsApi(StaffApi):
    @extend_schema(
        summary="Counts and Gi* classes per grid (GeoJSON; queen contiguity)",
        parameters=HOTSPOT_PARAMS,
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        q = hotspot_query(request)
        with replica_reads():
            result = hotspots.grid_hotspots(q)
        geoms = result.pop("geoms")
        import shapely

        return _geojson(
            {
                "type": "FeatureCollection",
                "properties": {"method": result["method"], "total": result["total"]},
                "features": [
                    {
                        "type": "Feature",
                        "geometry": json.loads(shapely.to_geojson(g)),
                        "properties": u,
                    }
                    for u, g in zip(result["units"], geoms, strict=True)
                ],
            }
        )


class HotspotsGridsCsvApi(StaffApi):
    @extend_schema(
        summary="Grid hotspot table as CSV",
        parameters=HOTSPOT_PARAMS,
        responses={(200, CSV): OpenApiTypes.BINARY},
    )
    def get(self, request):
        q = hotspot_query(request)
        with replica_reads():
            result = hotspots.grid_hotspots(q)
        cols = ["code", "name", "households", "count", "per_1000_households", "z", "p", "class"]
        body = csv_bytes(cols, ([u[c] for c in cols] for u in result["units"]))
        return _download(body, "hotspots_grids.csv", CSV + "; charset=utf-8")


class RepeatsApi(StaffApi):
    @extend_schema(
        summary="Repeat locations: buildings with at least min_count points in the last `days` days",
        parameters=[
            *HOTSPOT_PARAMS,
            OpenApiParameter("min_count", OpenApiTypes.INT, description="default 3"),
            OpenApiParameter("days", OpenApiTypes.INT, description="default 30"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        p = request.query_params
        q = hotspot_query(request)
        min_count = parse_int(p.get("min_count"), "min_count", 3, 2, 10_000)
        days = parse_int(p.get("days"), "days", 30, 1, 366)
        with replica_reads():
            rows = hotspots.repeat_locations(q, min_count=min_count, days=days)
        return Response({"count": len(rows), "items": rows})


class HeatApi(StaffApi):
    @extend_schema(
        summary="Heatmap points: [lat, lon, count] at the centres of H3 cells (for Leaflet.heat)",
        parameters=[*HOTSPOT_PARAMS, *RES_PARAMS],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        q, res = hotspot_query(request), hotspot_res(request)
        with replica_reads():
            counts, how = hotspots.cell_counts(q, res)
        h3i = hotspots.h3i
        points = [
            [*map(lambda v: round(v, 6), h3i.cell_to_latlng(c)), n] for c, n in counts.items()
        ]
        return Response(
            {"counts_from": how, "max": max(counts.values(), default=0), "points": points}
        )


# ---- indicators ---------------------------------------------------------------------------------

INDICATOR_PARAMS = [
    OpenApiParameter(
        "code", OpenApiTypes.STR, required=True, description="street or community code"
    ),
    OpenApiParameter(
        "month", OpenApiTypes.STR, description="last month, YYYY-MM (default: this month)"
    ),
    OpenApiParameter("months", OpenApiTypes.INT, description="months of trend, 1-36 (default 12)"),
]


def _indicators(request) -> dict:
    p = request.query_params
    code = scoped_within(request, p.get("code"))
    if not code:
        raise DomainError(_("code is required (a street or community code)"), field="code")
    months = parse_int(p.get("months"), "months", 12, 1, 36)
    with replica_reads():
        return indicators.dashboard(code=code, month=p.get("month"), months=months)


class IndicatorsApi(StaffApi):
    @extend_schema(
        summary="Indicators of a street or community with monthly trend (formulas in docs/ANALYTICS.md)",
        parameters=INDICATOR_PARAMS,
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        return Response(_indicators(request))


class IndicatorsXlsxApi(StaffApi):
    @extend_schema(
        summary="Indicators as an .xlsx workbook",
        parameters=INDICATOR_PARAMS,
        responses={(200, XLSX): OpenApiTypes.BINARY},
    )
    def get(self, request):
        data = _indicators(request)
        return _download(
            indicators.dashboard_xlsx(data),
            f"indicators_{data['area']['code']}_{data['month']}.xlsx",
            XLSX,
        )


def _street_of(area: dict) -> dict | None:
    """The current street of a community (for the PDF's header); None for a street."""
    if area["level"] != "community":
        return None
    now = timezone.now()
    street = (
        Area.objects.filter(level="street", code=area["code"][:9], valid_from__lte=now)
        .exclude(valid_to__lte=now)
        .values("code", "name")
        .first()
    )
    return street


class IndicatorsPdfApi(StaffApi):
    @extend_schema(
        summary="Indicators as a PDF (the printable page's content: values per area, monthly values, "
        "charts)",
        parameters=INDICATOR_PARAMS,
        responses={(200, "application/pdf"): OpenApiTypes.BINARY},
    )
    def get(self, request):
        data = _indicators(request)  # the .xlsx export's data and scope rules
        with replica_reads():
            street = _street_of(data["area"])
        return _download(
            indicators_pdf.dashboard_pdf(data, street=street),
            f"indicators_{data['area']['code']}_{data['month']}.pdf",
            "application/pdf",
        )
