from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from apps.people.models import (
    CenterPolicy,
    Department,
    OwnersCommittee,
    PartyMember,
    PartyOrganization,
    PropertyCompany,
    PropertyService,
    Resident,
    StaffAssignment,
)
from apps.people.privacy import access_for


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
    list_display = ["name", "role", "area", "company", "department", "active", "since", "until"]
    list_filter = ["role", "active"]
    raw_id_fields = ["user", "area", "building"]


@admin.register(Resident)
class ResidentAdmin(admin.ModelAdmin):
    """Lists go through the privacy rule like every API: masked unless the user may see them."""

    list_display = ["person_name", "person_phone", "id_masked", "household", "is_head"]
    raw_id_fields = ["household"]
    exclude = ["id_cipher", "id_hash"]
    readonly_fields = ["id_masked"]
    search_fields = ["id_masked"]

    def get_queryset(self, request):
        self._access = access_for(request.user)
        return super().get_queryset(request).select_related("household__building")

    def _render(self, obj):
        b = obj.household.building
        return self._access.render_person(obj, grid_id=b.grid_id, community_id=b.community_id)

    @admin.display(description=_("name"))
    def person_name(self, obj):
        return self._render(obj)["name"]

    @admin.display(description=_("phone"))
    def person_phone(self, obj):
        return self._render(obj)["phone"]


@admin.register(PartyOrganization)
class PartyOrganizationAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "parent"]
    list_filter = ["kind"]
    raw_id_fields = ["parent", "area", "building"]


@admin.register(PartyMember)
class PartyMemberAdmin(admin.ModelAdmin):
    list_display = ["__str__", "organization", "kind", "joined"]  # __str__ is the masked name
    list_filter = ["kind"]
    raw_id_fields = ["resident", "organization"]


@admin.register(OwnersCommittee)
class OwnersCommitteeAdmin(admin.ModelAdmin):
    list_display = ["compound", "kind", "formed"]
    raw_id_fields = ["compound"]


@admin.register(CenterPolicy)
class CenterPolicyAdmin(admin.ModelAdmin):
    list_display = ["community", "min_links", "max_links", "rule", "max_distance_m"]
    raw_id_fields = ["community"]
