from django.urls import path, re_path

from apps.issues import api, open311, views

FMT = r"(?P<fmt>json|xml)"

urlpatterns = [
    # Staff JSON API (login required)
    path("api/issues", api.IssuesApi.as_view(), name="issues"),
    path("api/issues.geojson", api.IssuesGeoJsonApi.as_view(), name="issues-geojson"),
    path("api/issues.xlsx", api.IssuesXlsxApi.as_view(), name="issues-xlsx"),
    path("api/issues/duplicates", api.DuplicatesApi.as_view(), name="issues-duplicates"),
    path("api/issues/place", api.IntakePlaceApi.as_view(), name="issues-place"),
    path(
        "api/issues/actions/<str:action>", api.IssuesActionApi.as_view(), name="issues-bulk-action"
    ),
    path("api/issues/indicators", api.IndicatorsApi.as_view(), name="issues-indicators"),
    path("api/issues/categories", api.CategoriesApi.as_view(), name="issues-categories"),
    path("api/issues/<int:issue_id>", api.IssueDetailApi.as_view(), name="issue-detail"),
    path(
        "api/issues/<int:issue_id>/handlers",
        api.IssueHandlersApi.as_view(),
        name="issue-handlers",
    ),
    path(
        "api/issues/<int:issue_id>/photos/<int:photo_id>",
        api.IssuePhotoApi.as_view(),
        name="issue-photo",
    ),
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
    path("report/done", views.report_done, name="issue-report-done"),
    path("track", views.track_page, name="issue-track"),
    # Open311 GeoReport v2
    re_path(rf"^open311/v2/services\.{FMT}$", open311.services_list, name="open311-services"),
    re_path(
        rf"^open311/v2/services/(?P<code>[\w-]+)\.{FMT}$",
        open311.service_definition,
        name="open311-service",
    ),
    re_path(rf"^open311/v2/requests\.{FMT}$", open311.requests_view, name="open311-requests"),
    re_path(
        rf"^open311/v2/requests/(?P<request_id>[\w-]+)\.{FMT}$",
        open311.request_detail,
        name="open311-request",
    ),
    path(
        "open311/v2/requests/<str:request_id>/media/<int:photo_id>",
        open311.request_media,
        name="open311-media",
    ),
    re_path(
        rf"^open311/v2/tokens/(?P<token>[\w-]+)\.{FMT}$", open311.token_view, name="open311-token"
    ),
    re_path(
        rf"^open311/v2/servicerequestupdates\.{FMT}$", open311.updates_view, name="open311-updates"
    ),
]
