"""The console's own endpoint: does the issues layer fit in GeoJSON? HTTP only: parse, call, render."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.issues import selectors as issue_selectors
from apps.issues.api import FILTER_PARAMS
from apps.people.scope import ScopedStaff, request_scope
from apps.web import selectors
from apps.web.views import issues_geojson_max


class IssueCountApi(APIView):
    permission_classes = [ScopedStaff]

    @extend_schema(
        summary="How many issues the console's filters match, up to its GeoJSON limit",
        description="The same filters as /api/issues.geojson, in the user's scope. `count` is exact "
        "up to `limit` (LINLI_ISSUES_GEOJSON_MAX) and null above it, where `over` is true and the "
        "console draws the issues from the `issues` vector tiles.",
        parameters=FILTER_PARAMS,
        operation_id="console_issue_count",
        responses={200: OpenApiTypes.OBJECT, 400: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        filters = issue_selectors.parse_filter(
            request.query_params, scope=request_scope(request), user=request.user
        )
        limit = issues_geojson_max()
        n = selectors.issues_count_upto(filters=filters, at_most=limit + 1)
        over = n > limit
        return Response({"count": None if over else n, "over": over, "limit": limit})
