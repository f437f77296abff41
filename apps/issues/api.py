"""Staff JSON API for issues (session login required): intake, list, GeoJSON for the map, detail,
loop actions, nearby duplicates, indicators, joint-meeting decisions. HTTP only: parse, call, render."""

import json
import mimetypes

from django.db import transaction
from django.http import FileResponse, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.errors import DomainError, NotFound
from apps.common.exports import xlsx_bytes
from apps.common.parsers import ObjectJSONParser
from apps.issues import selectors, services
from apps.issues.labels import words_join
from apps.issues.models import Category, Issue, IssuePhoto
from apps.people.scope import ScopedStaff, request_scope
from apps.territory.selectors import area_current

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

FILTER_PARAMS = [
    OpenApiParameter("category", OpenApiTypes.STR, description="category or subcategory code"),
    OpenApiParameter(
        "status", OpenApiTypes.STR, description="comma list of statuses, or open/closed"
    ),
    OpenApiParameter("start", OpenApiTypes.DATE, description="received on or after"),
    OpenApiParameter("end", OpenApiTypes.DATE, description="received on or before"),
    OpenApiParameter("overdue", OpenApiTypes.BOOL),
    OpenApiParameter("within", OpenApiTypes.STR, description="code of an area (intake areas)"),
    OpenApiParameter("compound", OpenApiTypes.STR, description="code of a compound"),
    OpenApiParameter("building", OpenApiTypes.INT, description="id of a building"),
    OpenApiParameter(
        "awaiting",
        OpenApiTypes.BOOL,
        description="only what waits for the signed-in user (to dispatch, close, accept, resolve…)",
    ),
]


def _int(raw, name: str, *, default: int, low: int, high: int) -> int:
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise DomainError(
            _("%(name)s=%(value)s is not a whole number") % {"name": name, "value": repr(raw)},
            field=name,
        ) from None
    if not low <= value <= high:
        raise DomainError(
            _("%(name)s=%(value)s is out of range %(low)s-%(high)s")
            % {"name": name, "value": value, "low": low, "high": high},
            field=name,
        )
    return value


class StaffApi(APIView):
    """Signed-in staff with a role; every read is narrowed to the user's scope (apps.people.scope)."""

    permission_classes = [ScopedStaff]


class IssuesApi(StaffApi):
    parser_classes = [ObjectJSONParser, MultiPartParser, FormParser]

    @extend_schema(
        summary="Issues, newest first (or soonest due first), filtered",
        parameters=[
            *FILTER_PARAMS,
            OpenApiParameter(
                "order",
                OpenApiTypes.STR,
                enum=list(selectors.LIST_ORDERS),
                description="newest first (default), or due: soonest due first, overdue on top",
            ),
            OpenApiParameter("page", OpenApiTypes.INT),
            OpenApiParameter("page_size", OpenApiTypes.INT, description="1-500, default 50"),
        ],
        operation_id="issues_list",
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        filters = selectors.parse_filter(
            request.query_params, scope=request_scope(request), user=request.user
        )
        page = _int(request.query_params.get("page"), "page", default=1, low=1, high=100000)
        size = _int(request.query_params.get("page_size"), "page_size", default=50, low=1, high=500)
        order = request.query_params.get("order") or "newest"
        if order not in selectors.LIST_ORDERS:
            raise DomainError(
                _("order=%(value)s: use %(known)s")
                % {"value": repr(order), "known": words_join(list(selectors.LIST_ORDERS))},
                field="order",
            )
        total, rows = selectors.issues_list(
            filters=filters, offset=(page - 1) * size, limit=size, order=order
        )
        return Response({"count": total, "page": page, "page_size": size, "results": rows})

    @extend_schema(
        summary="Take in an issue (staff form on the map: click to pin)",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        data = request.data
        point = services.point_parse(data.get("lon"), data.get("lat"))
        scope = request_scope(request)
        with transaction.atomic():
            issue = self._create(request, data, point)
            # Staff file issues where they work: one they could not see afterwards is refused, and the
            # transaction leaves nothing behind.
            if not Issue.objects.filter(pk=issue.pk).filter(scope.issues_q()).exists():
                where = issue.grid or issue.community or issue.street
                raise DomainError(_outside_message(where), field="point")
        body = _detail(request, selectors.issue_get(issue_id=issue.id))
        body["duplicates"] = selectors.duplicates_nearby(
            lon=point.x,
            lat=point.y,
            category=issue.category,
            exclude_id=issue.id,
            scope=scope,
        )
        return Response(body, status=201)

    @staticmethod
    def _create(request, data, point):
        return services.issue_create(
            point=point,
            category=data.get("category"),
            subcategory=data.get("subcategory") or None,
            description=data.get("description"),
            address=data.get("address", ""),
            source=data.get("source") or "patrol",
            priority=data.get("priority") or "normal",
            reporter_name=data.get("reporter_name", ""),
            reporter_phone=data.get("reporter_phone", ""),
            photos=request.FILES.getlist("photos") if hasattr(request, "FILES") else (),
            actor=request.user,
        )


def _outside_message(where) -> str:
    """Why staff may not file at a point that lies in `where` (an Area, or None: no street)."""
    if where is None:
        return _(
            "this point lies in no street of the district, outside your areas; use the public "
            "report form"
        )
    return _(
        "this point lies in %(name)s (%(code)s), outside your areas; pass it to that area's staff "
        "or use the public report form"
    ) % {"name": where.name, "code": where.code}


class IntakePlaceApi(StaffApi):
    @extend_schema(
        summary="Before filing: where a point lies, and whether the user may file there",
        parameters=[
            OpenApiParameter("lon", OpenApiTypes.DOUBLE, required=True),
            OpenApiParameter("lat", OpenApiTypes.DOUBLE, required=True),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        """`yours`: true or false by where the point lies (the user's areas, compounds, buildings), or
        null when only the issue's routing can tell (a property company or department sees what is
        dispatched to it); with false, `error` is the message filing there would get."""
        q = request.query_params
        point = services.point_parse(q.get("lon"), q.get("lat"))
        areas = services.areas_at(point)
        compound = areas["compound"]
        yours = request_scope(request).covers_place(
            area_code=services.area_code_of(areas),
            compound_code=compound.code if compound else None,
            building_id=areas["building_id"],
        )
        where = areas["grid"] or areas["community"] or areas["street"]
        return Response(
            {
                "area": None
                if where is None
                else {"level": where.level, "code": where.code, "name": where.name},
                "building_id": areas["building_id"],
                "yours": yours,
                "error": _outside_message(where) if yours is False else None,
            }
        )


class IssuesGeoJsonApi(StaffApi):
    @extend_schema(
        summary="Issues as GeoJSON points for the map",
        parameters=FILTER_PARAMS,
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        filters = selectors.parse_filter(
            request.query_params, scope=request_scope(request), user=request.user
        )
        limit = _int(request.query_params.get("limit"), "limit", default=20000, low=1, high=100000)
        body = selectors.issues_geojson(filters=filters, limit=limit)
        return HttpResponse(body, content_type="application/geo+json")


# The most rows one export holds, the newest first (as the map's pins); a bigger selection says so in
# its last row.
EXPORT_MAX = 20_000


class IssuesXlsxApi(StaffApi):
    @extend_schema(
        summary="The filtered issues as an Excel workbook (the console's export)",
        parameters=FILTER_PARAMS,
        responses={(200, XLSX): OpenApiTypes.BINARY},
    )
    def get(self, request):
        filters = selectors.parse_filter(
            request.query_params, scope=request_scope(request), user=request.user
        )
        total, rows = selectors.issues_list(filters=filters, limit=EXPORT_MAX)
        lines = selectors.export_rows(rows)
        if total > len(rows):
            lines.append(
                [
                    _("the newest %(n)s of %(total)s issues; narrow the filters")
                    % {"n": len(rows), "total": total}
                ]
            )
        body = xlsx_bytes({str(_("Issues")): (selectors.export_header(), lines)})
        response = HttpResponse(body, content_type=XLSX)
        name = f"issues-{timezone.localdate():%Y%m%d}.xlsx"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response


def _detail(request, issue: Issue) -> dict:
    """The staff view of an issue for this request's user, and whether they may add a note (anyone
    who sees it, but read-only roles)."""
    body = selectors.issue_detail(issue, user=request.user)
    body["can_note"] = not request_scope(request).read_only
    return body


class IssueDetailApi(StaffApi):
    @extend_schema(
        summary="One issue with its history and the actions allowed now",
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, issue_id: int):
        issue = selectors.issue_get(issue_id=issue_id, scope=request_scope(request))
        body = _detail(request, issue)
        body["grid_now"] = selectors.issue_grid_now(issue=issue)
        return Response(body)


class IssueHandlersApi(StaffApi):
    @extend_schema(
        summary="Whom the issue may be dispatched to by hand (dispatch with `responsible`)",
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, issue_id: int):
        issue = selectors.issue_get(issue_id=issue_id, scope=request_scope(request))  # 404 outside
        return Response({"results": selectors.handlers_for(issue)})


class IssuePhotoApi(StaffApi):
    @extend_schema(
        summary="A photo of an issue, for staff who may see the issue",
        responses={(200, "image/*"): OpenApiTypes.BINARY},
    )
    def get(self, request, issue_id: int, photo_id: int):
        issue = selectors.issue_get(issue_id=issue_id, scope=request_scope(request))  # 404 outside
        photo = IssuePhoto.objects.filter(issue_id=issue.id, pk=photo_id).first()
        if photo is None:
            raise NotFound(
                _("issue %(code)s has no photo %(id)s")
                % {"code": issue.tracking_code, "id": photo_id}
            )
        try:
            # a person's photo: no shared caches
            return photo_response(photo, cache_control="private, max-age=86400")
        except FileNotFoundError:
            raise NotFound(
                _("the file of photo %(id)s is missing from storage") % {"id": photo_id}
            ) from None


def photo_response(photo: IssuePhoto, *, cache_control: str) -> FileResponse:
    """An issue's photo file as a response (staff here, Open311's media_url in open311.py); raises
    FileNotFoundError when storage has lost the file."""
    handle = photo.image.open("rb")
    kind = mimetypes.guess_type(photo.image.name)[0] or "application/octet-stream"
    response = FileResponse(handle, content_type=kind)
    response["Cache-Control"] = cache_control
    return response


class IssueActionApi(StaffApi):
    @extend_schema(
        summary="Move an issue along the loop",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def post(self, request, issue_id: int, action: str):
        data = request.data
        selectors.issue_get(issue_id=issue_id, scope=request_scope(request))  # 404 outside scope
        # a multipart body may carry photos of the work done (处置照片), kept with the step
        photos = request.FILES.getlist("photos")
        if action == "note":
            services.issue_note_add(
                issue_id=issue_id, note=data.get("note"), actor=request.user, photos=photos
            )
        else:
            services.issue_act(
                issue_id=issue_id,
                action=action,
                user=request.user,
                note=data.get("note", ""),
                rating=data.get("rating"),
                duplicate_of=data.get("duplicate_of"),
                responsible=_responsible_of(data.get("responsible")),
                photos=photos,
            )
        return Response(_detail(request, selectors.issue_get(issue_id=issue_id)))


def _responsible_of(value):
    """The chosen handler: an object in JSON, its JSON text in a form (a step sent with photos)."""
    if not isinstance(value, str) or not value.strip():
        return value or None
    try:
        return json.loads(value)
    except ValueError:
        raise DomainError(
            _("responsible=%(value)s is not a JSON object") % {"value": repr(value[:80])},
            field="responsible",
        ) from None


class IssuesActionApi(StaffApi):
    @extend_schema(
        summary="One action on many issues at once (dispatch, accept, close), all or nothing",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT},
    )
    def post(self, request, action: str):
        data = request.data
        ids = services.issues_act_many(
            issue_ids=data.get("ids"),
            action=action,
            user=request.user,
            scope=request_scope(request),
            note=data.get("note", ""),
        )
        return Response({"action": action, "count": len(ids), "ids": ids})


class DuplicatesApi(StaffApi):
    @extend_schema(
        summary="Open issues of the same category near a point (the category's radius)",
        parameters=[
            OpenApiParameter("lon", OpenApiTypes.DOUBLE, required=True),
            OpenApiParameter("lat", OpenApiTypes.DOUBLE, required=True),
            OpenApiParameter("category", OpenApiTypes.STR, required=True),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        q = request.query_params
        point = services.point_parse(q.get("lon"), q.get("lat"))
        cat, _sub = services.category_resolve(q.get("category"))
        return Response(
            {
                "results": selectors.duplicates_nearby(
                    lon=point.x, lat=point.y, category=cat, scope=request_scope(request)
                )
            }
        )


class IndicatorsApi(StaffApi):
    @extend_schema(
        summary="Indicators of an area over a period (formulas in docs/ISSUES.md)",
        parameters=[
            OpenApiParameter(
                "area", OpenApiTypes.STR, description="area code; omitted: everywhere"
            ),
            OpenApiParameter("start", OpenApiTypes.DATE, required=True),
            OpenApiParameter("end", OpenApiTypes.DATE, required=True, description="inclusive day"),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        q = request.query_params
        start = selectors.parse_when(q.get("start"), "start")
        end = selectors.parse_when(q.get("end"), "end", end=True)
        if start is None or end is None:
            raise DomainError(
                _("start and end are required"), field="start" if start is None else "end"
            )
        area = q.get("area", "")
        if area and not area.isdigit():
            raise DomainError(
                _("area=%(value)s is not an area code") % {"value": repr(area)}, field="area"
            )
        return Response(
            selectors.indicators(area_code=area, start=start, end=end, scope=request_scope(request))
        )


class CategoriesApi(StaffApi):
    @extend_schema(summary="Categories and subcategories", responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        rows = [
            {
                "code": c.code,
                "name": c.name,
                "name_en": c.name_en,
                "parent": c.parent.code if c.parent else None,
                "responsible_type": c.responsible_type,
                "sla_hours": c.sla_hours,
                "duplicate_radius_m": c.duplicate_radius_m,
            }
            for c in Category.objects.filter(active=True).select_related("parent")
        ]
        return Response({"results": rows})


class MeetingDecisionApi(StaffApi):
    @extend_schema(
        summary="Record a joint meeting's decision on one issue",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request, code: str, month: str):
        community = area_current(level="community", code=code)
        if not request_scope(request).covers_code(community.code):
            raise NotFound(
                _("no community with code %(code)s in your scope") % {"code": repr(code)},
                field="code",
            )
        record = services.meeting_decision_record(
            community=community,
            month=selectors.parse_month(month),
            issue_id=_int(request.data.get("issue"), "issue", default=0, low=1, high=2**62),
            decision=request.data.get("decision"),
            actor=request.user,
        )
        return Response({"issue": record.issue_id, "decision": record.decision}, status=201)
