"""Residents' issues: categories, the issue with its intake areas and responsible party, its photos and
its history, joint-meeting decisions and Open311 API keys.

The loop itself (which status may follow which) lives in services.TRANSITIONS; the database enforces
what it can say on its own: known statuses, rating range, description length, a reporter's fields."""

import h3
from django.conf import settings
from django.contrib.gis.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.common.labels import english
from apps.people.models import Department, PropertyCompany, StaffAssignment
from apps.territory.models import Area, Building, Household

DESCRIPTION_MAX = 4000
H3_RES = 15  # the resolution of Issue.h3_cell; any coarser cell is a bit operation away


def h3_cell_of(point) -> int | None:
    """The H3 cell (resolution 15, as a bigint) of a WGS84 point, or None without a point."""
    if point is None:
        return None
    return h3.api.basic_int.latlng_to_cell(point.y, point.x, H3_RES)


class ResponsibleType(models.TextChoices):
    """Who a category goes to by default (routing refines it at intake)."""

    PROPERTY = "property", _("Property company (else grid leader)")
    DEPARTMENT = "department", _("Government department")
    COMMUNITY = "community", _("Community")


class Category(models.Model):
    """An issue category (the four top-level ones from the seeds) or a subcategory (parent set).
    Loaded from fixtures/categories.json; editable in admin."""

    code = models.SlugField(
        _("code"), max_length=40, unique=True, help_text=_("Open311 service_code")
    )
    name = models.CharField(_("name"), max_length=100)
    name_en = models.CharField(_("English name"), max_length=100, blank=True)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    description = models.CharField(_("description"), max_length=300, blank=True)
    responsible_type = models.CharField(
        _("default responsible party"), max_length=16, choices=ResponsibleType.choices
    )
    department_kind = models.CharField(
        _("department kind"),
        max_length=16,
        blank=True,
        help_text=_(
            "For department categories: the kind of department (apps.people DepartmentKind)"
        ),
    )
    sla_hours = models.PositiveIntegerField(_("SLA (hours)"))
    duplicate_radius_m = models.PositiveIntegerField(_("duplicate radius (m)"), default=50)
    active = models.BooleanField(_("active"), default=True)
    sort = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("issue category")
        verbose_name_plural = _("issue categories")
        ordering = ["sort", "code"]
        constraints = [
            models.CheckConstraint(condition=Q(sla_hours__gt=0), name="category_sla_positive"),
        ]

    @property
    def label(self) -> str:
        """The name in the active language: the English name where English is chosen and there is
        one (the SQL lists pick the same way, apps.issues.selectors)."""
        return self.name_en if english() and self.name_en else self.name

    def __str__(self):
        return self.name

    @property
    def top(self) -> "Category":
        return self.parent or self


class Status(models.TextChoices):
    COLLECTED = "collected", _("Collected")  # 居民下单 / 意见收集
    CONSULTED = "consulted", _("Consulted")  # 民主协商
    DISPATCHED = "dispatched", _("Dispatched")  # 社区派单
    ACCEPTED = "accepted", _("Accepted")  # 物业/部门接单
    RETURNED = "returned", _("Returned by handler")  # 回退
    RESOLVED = "resolved", _("Resolved")  # 问题处置
    RATED = "rated", _("Rated")  # 居民评单
    CLOSED = "closed", _("Closed")  # 总结提升
    REJECTED = "rejected", _("Rejected")
    DUPLICATE = "duplicate", _("Duplicate")


# Statuses in which the handler has disposed of the issue (结案 for the indicators).
FINISHED = (Status.RESOLVED, Status.RATED, Status.CLOSED)
# Statuses that end the loop without a resolution.
DISMISSED = (Status.REJECTED, Status.DUPLICATE)
# Open311 "closed": finished or dismissed. Everything else is "open".
OPEN311_CLOSED = FINISHED + DISMISSED
OPEN = tuple(s for s in Status.values if s not in OPEN311_CLOSED)


class Source(models.TextChoices):
    RESIDENT = "resident", _("Resident")
    PATROL = "patrol", _("Grid patrol")
    HOTLINE = "hotline", _("12345 hotline")
    MEETING = "meeting", _("Joint meeting")
    ONLINE = "online", _("Online")


class Priority(models.TextChoices):
    LOW = "low", _("Low")
    NORMAL = "normal", _("Normal")
    HIGH = "high", _("High")
    URGENT = "urgent", _("Urgent")


class ResponsibleKind(models.TextChoices):
    PROPERTY_COMPANY = "property_company", _("Property company")
    GRID_LEADER = "grid_leader", _("Grid leader")
    DEPARTMENT = "department", _("Department")
    COMMUNITY = "community", _("Community")
    NONE = "none", _("Not routed")


class Issue(models.Model):
    """A resident's problem at a point. The areas it fell in at intake are stored as the exact Area
    versions of that moment, so redrawing grids never moves an old issue or its statistics."""

    # Unique, but not by a unique index: the table is partitioned by month on created_at and a unique
    # index there must include created_at. The trigger linli_issue_code_register keeps codes unique in
    # issues_trackingcode (migration 0003, docs/SCALING.md); a clash is an IntegrityError as before.
    tracking_code = models.CharField(_("tracking code"), max_length=16, db_index=True)
    point = models.PointField(_("location"), srid=4326)
    # The point's H3 cell at resolution 15, written with the point (h3_cell_of): hotspot counts from the
    # issues group this integer (its parent at any resolution is bit arithmetic in SQL) instead of
    # calling H3 once per point in Python. NULL (older rows, raw SQL writers) falls back to the point.
    h3_cell = models.BigIntegerField(_("H3 cell"), null=True, blank=True, editable=False)
    address = models.CharField(_("address"), max_length=300, blank=True)
    category = models.ForeignKey(
        Category, verbose_name=_("category"), on_delete=models.PROTECT, related_name="issues"
    )
    subcategory = models.ForeignKey(
        Category,
        verbose_name=_("subcategory"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sub_issues",
    )
    description = models.TextField(_("description"), max_length=DESCRIPTION_MAX)
    # Reporter: personal data, kept in its own fields so it can be masked or purged on its own.
    reporter_household = models.ForeignKey(
        Household,
        verbose_name=_("reporter household"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reporter_name = models.CharField(_("reporter name"), max_length=100, blank=True)
    reporter_phone = models.CharField(_("reporter phone"), max_length=32, blank=True)
    reporter_email = models.CharField(_("reporter email"), max_length=200, blank=True)

    source = models.CharField(_("source"), max_length=16, choices=Source.choices)
    priority = models.CharField(
        _("priority"), max_length=8, choices=Priority.choices, default=Priority.NORMAL
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.COLLECTED
    )
    created_at = models.DateTimeField(_("received at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    due_at = models.DateTimeField(_("due at"))
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    rework_count = models.PositiveSmallIntegerField(_("rework count"), default=0)
    rating = models.PositiveSmallIntegerField(_("rating"), null=True, blank=True)
    rating_comment = models.CharField(_("rating comment"), max_length=1000, blank=True)
    duplicate_of = models.ForeignKey(
        "self",
        verbose_name=_("duplicate of"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="duplicates",
        db_constraint=False,  # references to the partitioned table are checked by triggers
    )

    # The responsible party: a kind plus the one FK that kind uses.
    responsible_kind = models.CharField(
        _("responsible kind"),
        max_length=20,
        choices=ResponsibleKind.choices,
        default=ResponsibleKind.NONE,
    )
    responsible_company = models.ForeignKey(
        PropertyCompany, null=True, blank=True, on_delete=models.PROTECT, related_name="issues"
    )
    responsible_department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.PROTECT, related_name="issues"
    )
    responsible_staff = models.ForeignKey(
        StaffAssignment, null=True, blank=True, on_delete=models.PROTECT, related_name="issues"
    )
    responsible_area = models.ForeignKey(
        Area, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    # Where it fell at intake (the versions valid then). `outside`: no street covered the point;
    # such issues are accepted, flagged and left unrouted for staff to decide (docs/ISSUES.md).
    # street, community and grid have no index of their own: issue_street_created,
    # issue_community_created and issue_grid_created lead with them and serve every lookup by the
    # column alone (and the foreign keys' checks), so intake maintains three indexes fewer.
    street = models.ForeignKey(
        Area, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    community = models.ForeignKey(
        Area, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    grid = models.ForeignKey(
        Area, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    neighbourhood = models.ForeignKey(
        Area, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    compound = models.ForeignKey(
        Area, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    building = models.ForeignKey(
        Building, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    outside = models.BooleanField(_("outside the territory"), default=False)
    # The code of the deepest intake area (neighbourhood, else grid, community, street): "within CODE"
    # filters and per-area indicators are one prefix match on an indexed column.
    area_code = models.CharField(_("area code at intake"), max_length=24, blank=True)

    # Channel details: the record id in a hotline file, Open311 token/media/attributes.
    ext_ref = models.CharField(_("source record id"), max_length=64, blank=True)
    token = models.CharField(max_length=36, blank=True)
    media_url = models.URLField(_("media URL"), max_length=500, blank=True)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = _("issue")
        verbose_name_plural = _("issues")
        indexes = [
            # Lists, agenda and indicators: issues of a community / grid / street by intake time.
            models.Index(fields=["community", "created_at"], name="issue_community_created"),
            models.Index(fields=["grid", "created_at"], name="issue_grid_created"),
            models.Index(fields=["street", "created_at"], name="issue_street_created"),
            # Open311 GET requests and the map: by status and time.
            models.Index(fields=["status", "created_at"], name="issue_status_created"),
            # City-wide hotspot counts from the issues: an index-only scan of one period.
            models.Index(
                fields=["created_at"],
                include=["h3_cell", "category", "status", "area_code"],
                name="issue_created_cell",
            ),
            # Overdue lists: open issues by due time.
            models.Index(fields=["due_at"], name="issue_due"),
            models.Index(fields=["token"], name="issue_token"),
            # `area_code LIKE 'prefix%'` (within filters, indicators): needs the pattern opclass.
            models.Index(
                fields=["area_code"], name="issue_area_code", opclasses=["varchar_pattern_ops"]
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=Status.values), name="issue_status_known"
            ),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__gte=1, rating__lte=5),
                name="issue_rating_range",
            ),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("description"), DESCRIPTION_MAX),
                name="issue_description_length",
            ),
            models.CheckConstraint(
                condition=Q(due_at__gt=models.F("created_at")), name="issue_due_after_created"
            ),
        ]

    def __str__(self):
        return f"{self.tracking_code} {self.category}"

    @property
    def overdue(self) -> bool:
        """Open (not finished, not dismissed) and past its due time. Same rule as selectors.OVERDUE_SQL."""
        return self.status in OPEN and timezone.now() > self.due_at


def photo_path(instance, filename):
    return f"issues/{timezone.now():%Y/%m}/{filename}"


class IssuePhoto(models.Model):
    issue = models.ForeignKey(
        Issue, on_delete=models.CASCADE, related_name="photos", db_constraint=False
    )
    # The step of the loop it was taken at (a handler's photo of the work done, 处置照片); NULL for the
    # photos that came with the report.
    event = models.ForeignKey(
        "IssueEvent",
        verbose_name=_("step"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="photos",
    )
    image = models.ImageField(
        _("photo"), upload_to=photo_path, width_field="width", height_field="height"
    )
    width = models.PositiveIntegerField(null=True)
    height = models.PositiveIntegerField(null=True)
    size = models.PositiveIntegerField(_("bytes"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("issue photo")
        verbose_name_plural = _("issue photos")


class IssueEvent(models.Model):
    """One step of an issue's history: a transition (from → to), a routing decision, a note."""

    issue = models.ForeignKey(
        Issue, on_delete=models.CASCADE, related_name="events", db_constraint=False
    )
    action = models.CharField(_("action"), max_length=20)
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(_("actor"), max_length=100, blank=True)
    note = models.TextField(_("note"), blank=True)  # what a person wrote
    # what the system wrote, as steps shown in the reader's language (apps.issues.reasons)
    reason = models.JSONField(_("reason"), default=list, blank=True)
    at = models.DateTimeField(_("time"), default=timezone.now)

    class Meta:
        verbose_name = _("issue event")
        verbose_name_plural = _("issue events")
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["issue", "at"], name="issueevent_issue_at")]


class JointMeeting(models.Model):
    """A community's monthly joint meeting (联席会议, 一月一议)."""

    community = models.ForeignKey(Area, on_delete=models.PROTECT, related_name="+")
    month = models.DateField(_("month"), help_text=_("First day of the month"))
    held_at = models.DateTimeField(_("held at"), null=True, blank=True)
    notes = models.TextField(_("notes"), blank=True)

    class Meta:
        verbose_name = _("joint meeting")
        verbose_name_plural = _("joint meetings")
        constraints = [
            models.UniqueConstraint(fields=["community", "month"], name="meeting_community_month"),
            models.CheckConstraint(condition=Q(month__day=1), name="meeting_month_first_day"),
        ]


class MeetingDecision(models.Model):
    """What a joint meeting decided about one issue (一事一议)."""

    meeting = models.ForeignKey(JointMeeting, on_delete=models.CASCADE, related_name="decisions")
    issue = models.ForeignKey(
        Issue, on_delete=models.CASCADE, related_name="decisions", db_constraint=False
    )
    decision = models.TextField(_("decision"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("meeting decision")
        verbose_name_plural = _("meeting decisions")
        constraints = [
            models.UniqueConstraint(fields=["meeting", "issue"], name="decision_meeting_issue")
        ]


class ApiKey(models.Model):
    """An Open311 client allowed to POST requests (GeoReport v2 api_key)."""

    name = models.CharField(_("client"), max_length=100)
    key = models.CharField(_("key"), max_length=64, unique=True)
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("Open311 API key")
        verbose_name_plural = _("Open311 API keys")

    def __str__(self):
        return self.name
