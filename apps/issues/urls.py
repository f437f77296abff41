from functools import wraps

from django.urls import path, re_path
from django.utils import translation

from apps.issues import api, open311, views

FMT = r"(?P<fmt>json|xml)"


def english(view):
    """Open311 (GeoReport v2) speaks English to its machine clients, whatever the UI's language: the
    domain errors it passes on from the services come out in English."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        with translation.override("en"):
            response = view(request, *args, **kwargs)
        response["Content-Language"] = "en"
        return response

    return wrapper


urlpatterns = [
    # Staff JSON API (login required)
    path("api/issues", api.IssuesApi.as_view(), name="issues"),
    path("api/issues.geojson", api.IssuesGeoJsonApi.as_view(), name="issues-geojson"),
    path("api/issues/duplicates", api.DuplicatesApi.as_view(), name="issues-duplicates"),
    path("api/issues/indicators", api.IndicatorsApi.as_view(), name="issues-indicators"),
    path("api/issues/categories", api.CategoriesApi.as_view(), name="issues-categories"),
    path("api/issues/<int:issue_id>", api.IssueDetailApi.as_view(), name="issue-detail"),
    path(
        "api/issues/<int:issue_id>/actions/<str:action>",
        api.IssueActionApi.as_view(),
        name="issue-action",
    ),
    path(
        "api/meetings/<str:code>/<str:month>/decisions",
        api.MeetingDecisionApi.as_view(),
        name="meeting-decisions",
    ),
    # Joint meeting agenda (staff pages)
    path("meetings/<str:code>/<str:month>.xlsx", views.agenda_xlsx, name="meeting-agenda-xlsx"),
    path("meetings/<str:code>/<str:month>", views.agenda_page, name="meeting-agenda"),
    # Public resident pages (no login)
    path("report", views.report_form, name="issue-report"),
    path("track", views.track_page, name="issue-track"),
    # Open311 GeoReport v2
    re_path(
        rf"^open311/v2/services\.{FMT}$", english(open311.services_list), name="open311-services"
    ),
    re_path(
        rf"^open311/v2/services/(?P<code>[\w-]+)\.{FMT}$",
        english(open311.service_definition),
        name="open311-service",
    ),
    re_path(
        rf"^open311/v2/requests\.{FMT}$", english(open311.requests_view), name="open311-requests"
    ),
    re_path(
        rf"^open311/v2/requests/(?P<request_id>[\w-]+)\.{FMT}$",
        english(open311.request_detail),
        name="open311-request",
    ),
    re_path(
        rf"^open311/v2/tokens/(?P<token>[\w-]+)\.{FMT}$",
        english(open311.token_view),
        name="open311-token",
    ),
    re_path(
        rf"^open311/v2/servicerequestupdates\.{FMT}$",
        english(open311.updates_view),
        name="open311-updates",
    ),
]
