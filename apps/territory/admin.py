from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from apps.territory.models import Area, Building, Household, Unit


@admin.register(Area)
class AreaAdmin(LeafletGeoAdmin):
    list_display = ["code", "name", "level", "version", "valid_from", "valid_to", "households"]
    list_filter = ["level", "management_type"]
    search_fields = ["code", "name", "ext_code"]
    raw_id_fields = ["parent"]
    readonly_fields = ["households", "buildings", "created_at"]


@admin.register(Building)
class BuildingAdmin(LeafletGeoAdmin):
    list_display = [
        "name",
        "address",
        "floors",
        "units_count",
        "households",
        "households_source",
        "grid",
    ]
    list_filter = ["households_source"]
    search_fields = ["name", "address", "ext_ref"]
    raw_id_fields = ["community", "grid", "compound"]


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ["building", "number", "floors"]
    raw_id_fields = ["building"]


@admin.register(Household)
class HouseholdAdmin(admin.ModelAdmin):
    list_display = ["building", "unit", "floor", "room", "neighbourhood"]
    raw_id_fields = ["building", "unit", "neighbourhood"]
