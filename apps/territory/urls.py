from django.urls import path

from apps.territory import api

urlpatterns = [
    path("locate", api.LocateApi.as_view(), name="locate"),
    path("areas.geojson", api.AreasGeoJsonApi.as_view(), name="areas-geojson"),
    path("buildings.geojson", api.BuildingsGeoJsonApi.as_view(), name="buildings-geojson"),
    path("search", api.SearchApi.as_view(), name="territory-search"),
    path("areas/<int:area_id>", api.AreaDetailApi.as_view(), name="area-detail"),
]
