from django.urls import path

from apps.tiles import views

urlpatterns = [
    path("tiles/layers.json", views.layers_index, name="tile-layers"),
    path("tiles/<str:layer>/<str:z>/<str:x>/<str:y>.mvt", views.tile, name="tile"),
]
