from django.urls import path

from apps.patrols import api, views

urlpatterns = [
    path("m/", views.phone_page, name="phone"),
    path("m/sw.js", views.service_worker, name="phone-sw"),
    path("api/patrols/my-map", api.MyMapApi.as_view(), name="patrols-my-map"),
    path("api/patrols", api.PatrolListApi.as_view(), name="patrols"),
    path("api/patrols/<int:patrol_id>", api.PatrolDetailApi.as_view(), name="patrol-detail"),
    path("api/patrols/<int:patrol_id>/points", api.PatrolPointsApi.as_view(), name="patrol-points"),
    path(
        "api/patrols/<int:patrol_id>/checkins",
        api.PatrolCheckinApi.as_view(),
        name="patrol-checkins",
    ),
    path("api/patrols/<int:patrol_id>/issues", api.PatrolIssuesApi.as_view(), name="patrol-issues"),
    path("api/patrols/<int:patrol_id>/stop", api.PatrolStopApi.as_view(), name="patrol-stop"),
    path(
        "api/patrols/compound-head-visits",
        api.CompoundHeadVisitsApi.as_view(),
        name="compound-head-visits",
    ),
]
