from django.contrib import admin

from apps.people.models import Department, PropertyCompany, PropertyService, StaffAssignment


@admin.register(PropertyCompany)
class PropertyCompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "credit_code", "has_party_org", "party_members"]
    search_fields = ["name", "credit_code"]


@admin.register(PropertyService)
class PropertyServiceAdmin(admin.ModelAdmin):
    list_display = ["compound", "company", "since"]
    raw_id_fields = ["compound"]


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "street"]


@admin.register(StaffAssignment)
class StaffAssignmentAdmin(admin.ModelAdmin):
    list_display = ["name", "role", "area", "company", "department", "active"]
    list_filter = ["role", "active"]
    raw_id_fields = ["user", "area", "building"]
