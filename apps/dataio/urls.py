from django.urls import path

from apps.dataio import api, views

urlpatterns = [
    path("api/topology", api.TopologyApi.as_view(), name="topology"),
    path("api/dataio/uploads", api.UploadApi.as_view(), name="dataio-upload"),
    path(
        "api/dataio/uploads/<str:upload_id>/preview",
        api.PreviewApi.as_view(),
        name="dataio-preview",
    ),
    path(
        "api/dataio/uploads/<str:upload_id>/commit", api.CommitApi.as_view(), name="dataio-commit"
    ),
    path("dataio/import", views.import_page, name="dataio-import"),
]
