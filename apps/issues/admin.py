from django.contrib import admin
from leaflet.admin import LeafletGeoAdmin

from apps.issues.models import (
    ApiKey,
    Category,
    Issue,
    IssueEvent,
    IssuePhoto,
    JointMeeting,
    MeetingDecision,
)


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "parent",
        "responsible_type",
        "sla_hours",
        "duplicate_radius_m",
        "active",
    ]
    list_filter = ["responsible_type", "active"]
    search_fields = ["code", "name", "name_en"]


class EventInline(admin.TabularInline):
    model = IssueEvent
    extra = 0
    readonly_fields = ["action", "from_status", "to_status", "actor", "actor_name", "note", "at"]
    can_delete = False


class PhotoInline(admin.TabularInline):
    model = IssuePhoto
    extra = 0


@admin.register(Issue)
class IssueAdmin(LeafletGeoAdmin):
    list_display = [
        "tracking_code",
        "category",
        "status",
        "source",
        "created_at",
        "due_at",
        "area_code",
    ]
    list_filter = ["status", "source", "category", "outside"]
    search_fields = ["tracking_code", "address", "description", "ext_ref"]
    raw_id_fields = [
        "street",
        "community",
        "grid",
        "neighbourhood",
        "compound",
        "building",
        "reporter_household",
        "responsible_area",
        "responsible_staff",
        "duplicate_of",
        "created_by",
    ]
    # The loop is changed through services only (history, race guard); admin shows it.
    readonly_fields = ["status", "rework_count", "resolved_at", "closed_at", "rating"]
    inlines = [PhotoInline, EventInline]


@admin.register(JointMeeting)
class JointMeetingAdmin(admin.ModelAdmin):
    list_display = ["community", "month", "held_at"]
    raw_id_fields = ["community"]


@admin.register(MeetingDecision)
class MeetingDecisionAdmin(admin.ModelAdmin):
    list_display = ["meeting", "issue", "created_at"]
    raw_id_fields = ["issue"]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "active", "created_at", "last_used_at"]
