"""HTTP API of data in/out: topology findings (public, like the area GeoJSON) and the staff upload →
preview → commit steps behind the import page. Parse, call a service, render."""

import json

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.parsers import MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.errors import DomainError
from apps.common.parsers import ObjectJSONParser
from apps.dataio import services, uploads
from apps.dataio.topology import findings_geojson, topology_check
from apps.people.scope import CityWide
from apps.territory.models import Level


class TopologyApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Topology findings (gaps, overlaps, crossings, buildings in no grid or two, empty areas)",
        parameters=[
            OpenApiParameter("within", OpenApiTypes.STR, description="code of an area"),
            OpenApiParameter("level", OpenApiTypes.STR, enum=Level.values),
            OpenApiParameter("min_area", OpenApiTypes.DOUBLE, description="m², default 1"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        raw = request.query_params.get("min_area", "1")
        try:
            min_area = float(raw)
        except ValueError:
            raise DomainError(
                _("min_area=%(value)s is not a number") % {"value": repr(raw)}, field="min_area"
            ) from None
        findings = topology_check(
            level=request.query_params.get("level") or None,
            within=request.query_params.get("within") or None,
            min_area=min_area,
        )
        body = json.dumps(findings_geojson(findings), ensure_ascii=False)
        return HttpResponse(body, content_type="application/geo+json")


class UploadApi(APIView):
    permission_classes = [CityWide]  # territory imports: city administrators
    parser_classes = [MultiPartParser]

    @extend_schema(
        summary="Upload a GIS file to import (staff)", responses={201: OpenApiTypes.OBJECT}
    )
    def post(self, request):
        f = request.FILES.get("file")
        if f is None:
            raise DomainError(_("no file uploaded (form field 'file')"), field="file")
        return Response(
            uploads.upload_save(name=f.name, chunks=f.chunks(), size=f.size), status=201
        )


def _str(body: dict, key: str) -> str | None:
    v = body.get(key)
    if v in (None, ""):
        return None
    return str(v)


def _num(body: dict, key: str, cast=float):
    v = body.get(key)
    if v in (None, ""):
        return None
    try:
        return cast(v)
    except (TypeError, ValueError):
        raise DomainError(
            _("%(name)s=%(value)s is not a number") % {"name": key, "value": repr(v)}, field=key
        ) from None


def _run(upload_id: str, body: dict, *, commit: bool):
    path = uploads.upload_path(upload_id)
    read = services.ReadOptions(
        layer=_str(body, "layer"),
        srid=_num(body, "srid", int),
        datum=_str(body, "datum") or "wgs84",
        where=None,
        wkt_field=_str(body, "wkt_field"),
        lon_field=_str(body, "lon_field"),
        lat_field=_str(body, "lat_field"),
    )
    common = {
        "path": path,
        "read": read,
        "name_field": _str(body, "name_field"),
        "strict": bool(body.get("strict")),
        "skip_bad": bool(body.get("skip_bad")),
        "commit": commit,
        "with_geojson": not commit,
    }
    kind = body.get("kind", "areas")
    if kind == "areas":
        level = _str(body, "level")
        if not level:
            raise DomainError(_("choose a level"), field="level")
        return services.areas_import(
            level=level,
            code_field=_str(body, "code_field"),
            parent_field=_str(body, "parent_field"),
            county=_str(body, "county"),
            keep_codes=bool(body.get("keep_codes")),
            **common,
        )
    if kind == "buildings":
        return services.buildings_import(
            address_field=_str(body, "address_field"),
            id_field=_str(body, "id_field"),
            households_field=_str(body, "households_field"),
            floors_field=_str(body, "floors_field"),
            height_field=_str(body, "height_field"),
            units_per_floor=_num(body, "units_per_floor"),
            dwelling_area=_num(body, "dwelling_area") or services.DEFAULT_DWELLING_AREA,
            storey_height=_num(body, "storey_height") or services.DEFAULT_STOREY_HEIGHT,
            default_floors=_num(body, "default_floors", int),
            **common,
        )
    raise DomainError(
        _("unknown kind %(kind)s; use areas or buildings") % {"kind": repr(kind)}, field="kind"
    )


class PreviewApi(APIView):
    permission_classes = [CityWide]  # territory imports: city administrators
    parser_classes = [ObjectJSONParser]

    @extend_schema(
        summary="Dry run of an uploaded file: the report and features by status (staff)",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request, upload_id: str):
        report = _run(upload_id, request.data, commit=False)
        return Response({**report.as_dict(), "geojson": report.geojson})


class CommitApi(APIView):
    permission_classes = [CityWide]  # territory imports: city administrators
    parser_classes = [ObjectJSONParser]

    @extend_schema(
        summary="Write an uploaded file, all or nothing (staff)",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request, upload_id: str):
        try:
            report = _run(upload_id, request.data, commit=True)
        except services.ImportRejected as exc:
            return Response({**exc.as_dict(), "report": exc.report.as_dict()}, status=400)
        return Response(report.as_dict(with_rows=False))
