"""HTTP API of planning: parse, call a service or selector, render. Login required (session or basic)."""

import json

import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView
from shapely.ops import split as shapely_split

from apps.common.errors import DomainError
from apps.common.geometry import check_geometry
from apps.people.scope import ScopedStaff, request_scope
from apps.planning import selectors, services
from apps.planning.models import Plan


def _int(data, key, default=None, *, required=False) -> int | None:
    raw = data.get(key, default)
    if raw is None or raw == "":
        if required:
            raise DomainError(_("%(field)s is required") % {"field": key}, field=key)
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise DomainError(
            _("%(field)s=%(value)s is not a whole number") % {"field": key, "value": repr(raw)},
            field=key,
        ) from None


# Plan areas as one GeoJSON FeatureCollection built by PostGIS (see territory.selectors for why).
PLAN_AREAS_SQL = """
SELECT COALESCE(json_agg(json_build_object(
    'type', 'Feature', 'id', a.id,
    'geometry', ST_AsGeoJSON(a.geom, 7)::json,
    'properties', json_build_object('id', a.id, 'code', a.code, 'name', a.name,
                                    'households', a.households, 'note', a.note)
) ORDER BY a.code = '', a.code, a.id), '[]'::json)::text  -- models.PLAN_AREA_ORDER
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
    permission_classes = [ScopedStaff]

    @extend_schema(
        summary="Plans of a community, newest first",
        responses={200: OpenApiTypes.OBJECT},
        operation_id="planning_plans_list",
    )
    def get(self, request):
        community = selectors.community_get(
            code=request.query_params.get("community", ""), scope=request_scope(request)
        )
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
        community = selectors.community_get(
            code=str(request.data.get("community", "")), scope=request_scope(request)
        )
        plan = services.plan_create_from_current(
            community=community,
            level=str(request.data.get("level", "neighbourhood")),
            name=str(request.data.get("name", "")),
            user=request.user,
        )
        return Response(plan_json(plan), status=201)


class ProposalsApi(APIView):
    permission_classes = [ScopedStaff]

    @extend_schema(
        summary="Propose neighbourhood grids of about `target` households (a new draft plan)",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        community = selectors.community_get(
            code=str(request.data.get("community", "")), scope=request_scope(request)
        )
        plan = services.plan_propose(
            community=community,
            target=_int(request.data, "target", 30),
            min_hh=_int(request.data, "min", 20),
            max_hh=_int(request.data, "max", 40),
            user=request.user,
        )
        return Response(plan_json(plan), status=201)


class PlanApi(APIView):
    permission_classes = [ScopedStaff]

    @extend_schema(summary="A plan with its polygons", responses={200: OpenApiTypes.OBJECT})
    def get(self, request, plan_id: int):
        with_areas = request.query_params.get("meta") != "1"  # ?meta=1: revision and status only
        return Response(
            plan_json(
                selectors.plan_get(plan_id=plan_id, scope=request_scope(request)),
                with_areas=with_areas,
            )
        )

    @extend_schema(
        summary="Save the plan's polygons; 409 if someone saved since `revision`",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def put(self, request, plan_id: int):
        plan = selectors.plan_get(plan_id=plan_id, scope=request_scope(request))
        plan = services.plan_save(
            plan=plan,
            revision=_int(request.data, "revision", required=True),
            areas=request.data.get("areas"),
            user=request.user,
        )
        return Response(plan_json(plan))


class PlanRangeApi(APIView):
    permission_classes = [ScopedStaff]

    @extend_schema(
        summary="Set a draft's target households and the range the checks hold its areas to",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
    )
    def put(self, request, plan_id: int):
        plan = selectors.plan_get(plan_id=plan_id, scope=request_scope(request))
        plan = services.plan_range_set(
            plan=plan,
            target=_int(request.data, "target"),
            min_hh=_int(request.data, "min"),
            max_hh=_int(request.data, "max"),
            user=request.user,
        )
        return Response(plan_json(plan, with_areas=False))


class PlanCheckApi(APIView):
    permission_classes = [ScopedStaff]

    @extend_schema(
        summary="Validation findings and household counts, for the saved plan or unsaved `areas`",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request, plan_id: int):
        plan = selectors.plan_get(plan_id=plan_id, scope=request_scope(request))
        return Response(services.plan_check(plan=plan, areas=request.data.get("areas")))


class PlanDiffApi(APIView):
    permission_classes = [ScopedStaff]

    @extend_schema(
        summary="What publishing changes (or changed), with the polygons of the changed areas",
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, plan_id: int):
        return Response(
            services.plan_diff(
                plan=selectors.plan_get(plan_id=plan_id, scope=request_scope(request)),
                geometry=True,
            )
        )

    @extend_schema(
        summary="What publishing unsaved `areas` would change (the editor's diff view)",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request, plan_id: int):
        return Response(
            services.plan_diff(
                plan=selectors.plan_get(plan_id=plan_id, scope=request_scope(request)),
                areas=request.data.get("areas"),
                geometry=True,
            )
        )


class PlanPublishApi(APIView):
    permission_classes = [ScopedStaff]

    @extend_schema(
        summary="Publish a valid draft as new versions of the areas",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def post(self, request, plan_id: int):
        plan = selectors.plan_get(plan_id=plan_id, scope=request_scope(request))
        if not selectors.can_publish(user=request.user, community=plan.community):
            raise PermissionDenied(
                _("only a planner of community %(code)s (or of its street) may publish")
                % {"code": plan.community.code}
            )
        diff = services.plan_publish(
            plan=plan, revision=_int(request.data, "revision", required=True), user=request.user
        )
        return Response({"plan": plan_json(plan, with_areas=False), "diff": diff})


def _read_geom(raw, field: str, *, allowed=("Polygon", "MultiPolygon")):
    if not isinstance(raw, dict):
        raise DomainError(_("a GeoJSON geometry is required"), field=field)
    try:
        g = GEOSGeometry(json.dumps(raw), srid=4326)
    except Exception as exc:  # GEOS raises several kinds for bad input
        raise DomainError(
            _("the geometry cannot be read (%(error)s)") % {"error": exc}, field=field
        ) from None
    # Limits on what the editor sends (vertex count, coordinates in range); validity and area are the
    # plan check's and the save's business, these helpers only cut and join.
    check_geometry(g, field=field, allowed=allowed, max_area_km2=None, check_valid=False)
    return shapely.from_wkb(bytes(g.wkb))


MAX_CANDIDATES = 200  # polygons the editor may offer a split to choose from


class SplitApi(APIView):
    """Geoman's free edition has no split tool: the editor draws a line and the server cuts.

    `polygon`: the polygon to cut; or `polygons`: the candidates (those near the line), of which the
    one the line cuts is chosen (the longest stretch of line inside it, if it cuts several), so the
    editor asks once instead of trying each polygon in turn."""

    permission_classes = [ScopedStaff]

    @extend_schema(
        summary="Cut a polygon by a line: the pieces as GeoJSON geometries (and which candidate)",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        line = _read_geom(
            request.data.get("line"), "line", allowed=("LineString", "MultiLineString")
        )
        if not line.geom_type.endswith("LineString"):
            raise DomainError(
                _("expected a line, got a %(type)s") % {"type": line.geom_type}, field="line"
            )
        raw = request.data.get("polygons")
        if raw is None:
            polys = [_read_geom(request.data.get("polygon"), "polygon")]
        elif isinstance(raw, list) and raw:
            if len(raw) > MAX_CANDIDATES:
                raise DomainError(
                    _("at most %(n)s candidate polygons") % {"n": MAX_CANDIDATES}, field="polygons"
                )
            polys = [_read_geom(g, f"polygons[{i}]") for i, g in enumerate(raw)]
        else:
            raise DomainError(_("polygons must be a non-empty list of polygons"), field="polygons")
        best = None
        for i, poly in enumerate(polys):
            if not poly.geom_type.endswith("Polygon"):
                field = "polygon" if raw is None else f"polygons[{i}]"
                raise DomainError(
                    _("expected a polygon, got a %(type)s") % {"type": poly.geom_type}, field=field
                )
            parts = [
                p
                for p in shapely.get_parts(shapely_split(poly, line))
                if p.geom_type == "Polygon" and p.area > 0
            ]
            if len(parts) < 2:
                continue
            inside = line.intersection(poly).length
            if best is None or inside > best[0]:
                best = (inside, i, parts)
        if best is None:
            raise DomainError(
                _(
                    "the line does not cut the polygon in two: draw it across, from outside to "
                    "outside"
                ),
                field="line",
            )
        _inside, index, parts = best
        return Response(
            {"index": index, "pieces": [json.loads(shapely.to_geojson(p)) for p in parts]}
        )


class MergeApi(APIView):
    permission_classes = [ScopedStaff]

    @extend_schema(
        summary="Union of polygons (merge grids)",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        raw = request.data.get("polygons")
        if not isinstance(raw, list) or len(raw) < 2:
            raise DomainError(_("give at least two polygons to merge"), field="polygons")
        geoms = [_read_geom(g, f"polygons[{i}]") for i, g in enumerate(raw)]
        merged = shapely.union_all(geoms)
        return Response({"geometry": json.loads(shapely.to_geojson(merged))})
