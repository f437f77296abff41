"""HTTP API of planning: parse, call a service or selector, render. Login required (session or basic)."""

import json

import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from shapely.ops import split as shapely_split

from apps.common.errors import DomainError
from apps.planning import selectors, services
from apps.planning.models import Plan


def _int(data, key, default=None, *, required=False) -> int | None:
    raw = data.get(key, default)
    if raw is None or raw == "":
        if required:
            raise DomainError(f"{key} is required", field=key)
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise DomainError(f"{key}={raw!r} is not a whole number", field=key) from None


# Plan areas as one GeoJSON FeatureCollection built by PostGIS (see territory.selectors for why).
PLAN_AREAS_SQL = """
SELECT COALESCE(json_agg(json_build_object(
    'type', 'Feature', 'id', a.id,
    'geometry', ST_AsGeoJSON(a.geom, 7)::json,
    'properties', json_build_object('id', a.id, 'code', a.code, 'name', a.name,
                                    'households', a.households, 'note', a.note)
) ORDER BY a.code, a.id), '[]'::json)::text
FROM planning_planarea a WHERE a.plan_id = %s
"""


def plan_json(plan: Plan, *, with_areas: bool = True) -> dict:
    body = {
        "id": plan.id,
        "name": plan.name,
        "community": {
            "id": plan.community_id,
            "code": plan.community.code,
            "name": plan.community.name,
        },
        "level": plan.level,
        "status": plan.status,
        "revision": plan.revision,
        "origin": plan.origin,
        "target": plan.target_households,
        "min": plan.min_households,
        "max": plan.max_households,
        "report": plan.report,
        "created_at": plan.created_at.isoformat(),
        "updated_at": plan.updated_at.isoformat(),
        "published_at": plan.published_at.isoformat() if plan.published_at else None,
    }
    if with_areas:
        with connection.cursor() as cur:
            cur.execute(PLAN_AREAS_SQL, [plan.id])
            body["areas"] = {"type": "FeatureCollection", "features": json.loads(cur.fetchone()[0])}
    return body


class PlansApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Plans of a community, newest first", responses={200: OpenApiTypes.OBJECT}
    )
    def get(self, request):
        community = selectors.community_get(code=request.query_params.get("community", ""))
        plans = Plan.objects.filter(community=community).select_related("community")
        return Response(
            {"plans": [plan_json(p, with_areas=False) for p in plans.order_by("-created_at")]}
        )

    @extend_schema(
        summary="New draft plan copied from the community's current grids or neighbourhood grids",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        community = selectors.community_get(code=str(request.data.get("community", "")))
        plan = services.plan_create_from_current(
            community=community,
            level=str(request.data.get("level", "neighbourhood")),
            name=str(request.data.get("name", "")),
            user=request.user,
        )
        return Response(plan_json(plan), status=201)


class ProposalsApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Propose neighbourhood grids of about `target` households (a new draft plan)",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        community = selectors.community_get(code=str(request.data.get("community", "")))
        plan = services.plan_propose(
            community=community,
            target=_int(request.data, "target", 30),
            min_hh=_int(request.data, "min", 20),
            max_hh=_int(request.data, "max", 40),
            user=request.user,
        )
        return Response(plan_json(plan), status=201)


class PlanApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(summary="A plan with its polygons", responses={200: OpenApiTypes.OBJECT})
    def get(self, request, plan_id: int):
        with_areas = request.query_params.get("meta") != "1"  # ?meta=1: revision and status only
        return Response(plan_json(selectors.plan_get(plan_id=plan_id), with_areas=with_areas))

    @extend_schema(
        summary="Save the plan's polygons; 409 if someone saved since `revision`",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def put(self, request, plan_id: int):
        plan = selectors.plan_get(plan_id=plan_id)
        plan = services.plan_save(
            plan=plan,
            revision=_int(request.data, "revision", required=True),
            areas=request.data.get("areas"),
            user=request.user,
        )
        return Response(plan_json(plan))


class PlanCheckApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Validation findings and household counts, for the saved plan or unsaved `areas`",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request, plan_id: int):
        plan = selectors.plan_get(plan_id=plan_id)
        return Response(services.plan_check(plan=plan, areas=request.data.get("areas")))


class PlanDiffApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="What publishing changes (or changed)", responses={200: OpenApiTypes.OBJECT}
    )
    def get(self, request, plan_id: int):
        return Response(services.plan_diff(plan=selectors.plan_get(plan_id=plan_id)))


class PlanPublishApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Publish a valid draft as new versions of the areas",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def post(self, request, plan_id: int):
        plan = selectors.plan_get(plan_id=plan_id)
        if not selectors.can_publish(user=request.user, community=plan.community):
            raise PermissionDenied(
                f"only a planner of community {plan.community.code} (or of its street) may publish"
            )
        diff = services.plan_publish(
            plan=plan, revision=_int(request.data, "revision", required=True), user=request.user
        )
        return Response({"plan": plan_json(plan, with_areas=False), "diff": diff})


def _read_geom(raw, field: str):
    if not isinstance(raw, dict):
        raise DomainError("a GeoJSON geometry is required", field=field)
    try:
        g = GEOSGeometry(json.dumps(raw), srid=4326)
    except Exception as exc:  # GEOS raises several kinds for bad input
        raise DomainError(f"the geometry cannot be read ({exc})", field=field) from None
    return shapely.from_wkb(bytes(g.wkb))


class SplitApi(APIView):
    """Geoman's free edition has no split tool: the editor draws a line and the server cuts."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Cut a polygon by a line: the pieces as GeoJSON geometries",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        poly = _read_geom(request.data.get("polygon"), "polygon")
        line = _read_geom(request.data.get("line"), "line")
        if not poly.geom_type.endswith("Polygon"):
            raise DomainError(f"expected a polygon, got a {poly.geom_type}", field="polygon")
        if not line.geom_type.endswith("LineString"):
            raise DomainError(f"expected a line, got a {line.geom_type}", field="line")
        parts = [
            p
            for p in shapely.get_parts(shapely_split(poly, line))
            if p.geom_type == "Polygon" and p.area > 0
        ]
        if len(parts) < 2:
            raise DomainError(
                "the line does not cut the polygon in two: draw it across, from outside to outside",
                field="line",
            )
        return Response({"pieces": [json.loads(shapely.to_geojson(p)) for p in parts]})


class MergeApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="Union of polygons (merge grids)",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        raw = request.data.get("polygons")
        if not isinstance(raw, list) or len(raw) < 2:
            raise DomainError("give at least two polygons to merge", field="polygons")
        geoms = [_read_geom(g, f"polygons[{i}]") for i, g in enumerate(raw)]
        merged = shapely.union_all(geoms)
        return Response({"geometry": json.loads(shapely.to_geojson(merged))})
