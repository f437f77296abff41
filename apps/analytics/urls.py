from django.urls import path

from apps.analytics import api, views

urlpatterns = [
    path("analytics/", views.dashboard_page, name="analytics-dashboard"),
    path("analytics/print", views.print_page, name="analytics-print"),
    path("analytics/map", views.map_page, name="analytics-map"),
    path("api/analytics/stations", api.StationsApi.as_view(), name="analytics-stations"),
    path("api/analytics/stations/coverage", api.CoverageApi.as_view(), name="analytics-coverage"),
    path("api/analytics/stations/suggest", api.SuggestApi.as_view(), name="analytics-suggest"),
    path("api/analytics/gaps", api.GapsApi.as_view(), name="analytics-gaps"),
    path("api/analytics/gaps.geojson", api.GapsGeoJsonApi.as_view(), name="analytics-gaps-geojson"),
    path("api/analytics/gaps.csv", api.GapsCsvApi.as_view(), name="analytics-gaps-csv"),
    path("api/analytics/gaps/counts", api.GapCountsApi.as_view(), name="analytics-gap-counts"),
    path(
        "api/analytics/hotspots/h3.geojson",
        api.HotspotsH3Api.as_view(),
        name="analytics-hotspots-h3",
    ),
    path(
        "api/analytics/hotspots/h3.csv",
        api.HotspotsH3CsvApi.as_view(),
        name="analytics-hotspots-h3-csv",
    ),
    path(
        "api/analytics/hotspots/grids.geojson",
        api.HotspotsGridsApi.as_view(),
        name="analytics-hotspots-grids",
    ),
    path(
        "api/analytics/hotspots/grids.csv",
        api.HotspotsGridsCsvApi.as_view(),
        name="analytics-hotspots-grids-csv",
    ),
    path("api/analytics/hotspots/repeats", api.RepeatsApi.as_view(), name="analytics-repeats"),
    path("api/analytics/heat", api.HeatApi.as_view(), name="analytics-heat"),
    path("api/analytics/indicators", api.IndicatorsApi.as_view(), name="analytics-indicators"),
    path(
        "api/analytics/indicators.xlsx",
        api.IndicatorsXlsxApi.as_view(),
        name="analytics-indicators-xlsx",
    ),
    path(
        "api/analytics/indicators.pdf",
        api.IndicatorsPdfApi.as_view(),
        name="analytics-indicators-pdf",
    ),
]
