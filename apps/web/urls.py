from django.urls import path

from apps.web import api, views

urlpatterns = [
    path("", views.map_page, name="map"),
    path("api/console/issue-count", api.IssueCountApi.as_view(), name="console-issue-count"),
]
