"""Patrol JSON API for the phone: session login required; a patrol is written only by its own user.
HTTP only: parse, call a service or selector, render. Errors come back as {"error", "code", "field"}."""

from datetime import date

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.common.errors import DomainError
from apps.common.parsers import ObjectJSONParser
from apps.patrols import selectors, services
from apps.people.scope import ScopedStaff, user_scope


class PatrolApiView(APIView):
    authentication_classes = [SessionAuthentication]
    permission_classes = [ScopedStaff]  # staff with a role; auditors read only

    def body(self, request) -> dict:
        if not isinstance(request.data, dict):
            raise DomainError(_("the body must be a JSON object"))
        return request.data


class MyMapApi(PatrolApiView):
    """The signed-in user's grids and their buildings, as two GeoJSON FeatureCollections."""

    @extend_schema(responses={200: dict})
    def get(self, request):
        return HttpResponse(
            selectors.my_map_geojson(user=request.user), content_type="application/json"
        )


class PatrolListApi(PatrolApiView):
    """GET: my patrols, newest first. POST {client_id, grid_id, started_at?}: start a patrol (201; 200 for
    a retried start with the same client id; 409 when another patrol is active)."""

    @extend_schema(operation_id="patrols_list", responses={200: dict})
    def get(self, request):
        active = selectors.patrol_active(user=request.user)
        return Response(
            {
                "active": selectors.patrol_summary(active) if active else None,
                "patrols": selectors.patrol_history(user=request.user),
            }
        )

    @extend_schema(request=dict, responses={201: dict})
    def post(self, request):
        data = self.body(request)
        patrol, created = services.patrol_start(
            user=request.user,
            grid_id=data.get("grid_id"),
            client_id=data.get("client_id"),
            started_at=data.get("started_at"),
        )
        return Response(selectors.patrol_summary(patrol), status=201 if created else 200)


class PatrolDetailApi(PatrolApiView):
    """One patrol: track (GeoJSON), every point with its status, buildings visited, check-ins."""

    @extend_schema(operation_id="patrols_detail", responses={200: dict})
    def get(self, request, patrol_id: int):
        patrol = selectors.patrol_get(patrol_id=patrol_id, user=request.user)
        return Response(selectors.patrol_detail(patrol))


class PatrolPointsApi(PatrolApiView):
    """POST {points: [{id, t, lon, lat, accuracy?}, ...]}: add a batch of GPS fixes (idempotent)."""

    @extend_schema(request=dict, responses={200: dict})
    def post(self, request, patrol_id: int):
        data = self.body(request)
        return Response(
            services.patrol_add_points(
                patrol_id=patrol_id, user=request.user, points=data.get("points")
            )
        )


class PatrolCheckinApi(PatrolApiView):
    """POST {client_id, building_id, lon?, lat?, at?, note?}: check in at a building."""

    @extend_schema(request=dict, responses={201: dict})
    def post(self, request, patrol_id: int):
        data = self.body(request)
        checkin, created = services.patrol_checkin(
            patrol_id=patrol_id,
            user=request.user,
            building_id=data.get("building_id"),
            client_id=data.get("client_id"),
            at=data.get("at"),
            lon=data.get("lon"),
            lat=data.get("lat"),
            note=str(data.get("note") or ""),
        )
        return Response(
            {
                "id": str(checkin.client_id),
                "building_id": checkin.building_id,
                "building": str(checkin.building),
                "at": checkin.at.isoformat(),
                "distance_m": None if checkin.distance_m is None else round(checkin.distance_m, 1),
            },
            status=201 if created else 200,
        )


class PatrolIssuesApi(PatrolApiView):
    """POST (multipart or JSON) {client_id, lon, lat, category, subcategory?, description, address?,
    photos?}: report an issue found on the patrol; it is taken in by the issues app (source `patrol`)."""

    parser_classes = [ObjectJSONParser, MultiPartParser, FormParser]

    @extend_schema(request=dict, responses={201: dict})
    def post(self, request, patrol_id: int):
        from apps.issues import selectors as issues_selectors

        data = request.data
        issue, created = services.patrol_issue_report(
            patrol_id=patrol_id,
            user=request.user,
            client_id=data.get("client_id"),
            lon=data.get("lon"),
            lat=data.get("lat"),
            category=data.get("category"),
            subcategory=data.get("subcategory") or None,
            description=data.get("description"),
            address=str(data.get("address") or ""),
            photos=request.FILES.getlist("photos"),
        )
        body = issues_selectors.issue_detail(issues_selectors.issue_get(issue_id=issue.id))
        return Response(body, status=201 if created else 200)


class PatrolStopApi(PatrolApiView):
    """POST {ended_at?}: stop the patrol; the answer is the patrol with its track and visits."""

    @extend_schema(request=dict, responses={200: dict})
    def post(self, request, patrol_id: int):
        data = self.body(request) if request.data else {}
        patrol = services.patrol_stop(
            patrol_id=patrol_id, user=request.user, ended_at=data.get("ended_at")
        )
        return Response(selectors.patrol_detail(patrol))


MAX_MONTHS = 36  # the longest span of compound heads' visits asked for at once


def _month(value: str | None, *, field: str, default: date) -> date:
    if not value:
        return default
    try:
        year, month = value.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise DomainError(
            _("%(field)s=%(value)s is not a month (YYYY-MM)")
            % {"field": field, "value": repr(value)},
            field=field,
        ) from None


class CompoundHeadVisitsApi(PatrolApiView):
    """GET ?since=YYYY-MM&until=YYYY-MM&within=CODE: visits per compound head per month, for the\n    compounds in the user's scope."""

    @extend_schema(responses={200: dict})
    def get(self, request):
        scope = user_scope(request.user)
        if scope.is_empty:
            raise PermissionDenied(_("you have no area to see compound heads' visits in"))
        today = timezone.localdate()
        until = _month(request.query_params.get("until"), field="until", default=today)
        since = _month(request.query_params.get("since"), field="since", default=until)
        if since > until:
            raise DomainError(_("since is after until"), field="since")
        if (until.year - since.year) * 12 + until.month - since.month > MAX_MONTHS:
            raise DomainError(_("ask for at most %(n)s months") % {"n": MAX_MONTHS}, field="since")
        within = request.query_params.get("within") or None
        if within and not within.replace("C", "").isdigit():
            raise DomainError(
                _("within=%(value)s is not an area code") % {"value": repr(within)}, field="within"
            )
        rows = selectors.compound_head_visits(since=since, until=until, within=within)
        return Response({"rows": [r for r in rows if scope.covers_code(r["compound_code"])]})
