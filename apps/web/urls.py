from django.urls import path

from apps.web import views

urlpatterns = [
    path("", views.map_page, name="map"),
]
