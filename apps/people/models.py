"""Who does the work: property companies, government departments, and staff roles attached to areas.

This is the shared core that issue routing and role scoping use. Residents, party members, party
organisations, owners' committees and center households build on it in this app."""

from django.conf import settings
from django.contrib.gis.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.territory.models import Area, Building


class PropertyCompany(models.Model):
    """A property management company (物业公司)."""

    name = models.CharField(_("name"), max_length=200)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    phone = models.CharField(_("service phone"), max_length=32, blank=True)
    has_party_org = models.BooleanField(_("has a party organisation"), default=False)
    party_members = models.PositiveIntegerField(_("party members"), default=0)

    class Meta:
        verbose_name = _("property company")
        verbose_name_plural = _("property companies")

    def __str__(self):
        return self.name


class PropertyService(models.Model):
    """A compound served by a property company. A compound has at most one company at a time."""

    company = models.ForeignKey(PropertyCompany, on_delete=models.CASCADE, related_name="services")
    compound = models.OneToOneField(
        Area,
        on_delete=models.CASCADE,
        related_name="property_service",
        limit_choices_to={"level": "compound"},
    )
    since = models.DateField(_("since"), null=True, blank=True)

    class Meta:
        verbose_name = _("property service")
        verbose_name_plural = _("property services")

    def __str__(self):
        return f"{self.company} → {self.compound}"


class DepartmentKind(models.TextChoices):
    ENFORCEMENT = "enforcement", _("Urban management and law enforcement")
    HOUSING = "housing", _("Housing and construction")
    MARKET = "market", _("Market supervision")
    ENVIRONMENT = "environment", _("Ecology and environment")
    CIVIL = "civil", _("Civil affairs")
    OTHER = "other", _("Other")


class Department(models.Model):
    """A government department or enforcement squad that handles issues (e.g. 城管执法中队)."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=DepartmentKind.choices)
    street = models.ForeignKey(
        Area,
        verbose_name=_("street"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    phone = models.CharField(_("phone"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")

    def __str__(self):
        return self.name


class StaffRole(models.TextChoices):
    CITY_ADMIN = "city_admin", _("City administrator")
    STREET_STAFF = "street_staff", _("Street staff")
    COMMUNITY_STAFF = "community_staff", _("Community staff")
    GRID_LEADER = "grid_leader", _("Grid leader")
    GRID_WORKER = "grid_worker", _("Grid worker")
    BUILDING_HEAD = "building_head", _("Building head")
    COMPOUND_HEAD = "compound_head", _("Compound head")
    PROPERTY_COMPANY = "property_company", _("Property company staff")
    DEPARTMENT = "department", _("Department staff")
    PLANNER = "planner", _("Planner")
    AUDITOR = "auditor", _("Auditor")


# The area level each role is attached to (None: no area).
ROLE_AREA_LEVEL = {
    StaffRole.CITY_ADMIN: None,
    StaffRole.STREET_STAFF: "street",
    StaffRole.COMMUNITY_STAFF: "community",
    StaffRole.GRID_LEADER: "grid",
    StaffRole.GRID_WORKER: "grid",
    StaffRole.BUILDING_HEAD: None,  # attached to a building
    StaffRole.COMPOUND_HEAD: "compound",
    StaffRole.PROPERTY_COMPANY: None,  # attached to a company
    StaffRole.DEPARTMENT: None,  # attached to a department
    StaffRole.PLANNER: ("street", "community"),
    StaffRole.AUDITOR: None,
}


class StaffAssignment(models.Model):
    """A person in a role, attached to an area (or a building, company or department). Staff with a login
    have a user; building and compound heads often are residents without one."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="assignments",
    )
    name = models.CharField(_("name"), max_length=100)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    role = models.CharField(_("role"), max_length=20, choices=StaffRole.choices)
    area = models.ForeignKey(
        Area, null=True, blank=True, on_delete=models.PROTECT, related_name="staff"
    )
    building = models.ForeignKey(
        Building, null=True, blank=True, on_delete=models.CASCADE, related_name="staff"
    )
    company = models.ForeignKey(
        PropertyCompany, null=True, blank=True, on_delete=models.CASCADE, related_name="staff"
    )
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.CASCADE, related_name="staff"
    )
    active = models.BooleanField(_("active"), default=True)
    since = models.DateField(_("since"), null=True, blank=True)

    class Meta:
        verbose_name = _("staff assignment")
        verbose_name_plural = _("staff assignments")
        indexes = [models.Index(fields=["role", "area"], name="staff_role_area")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(role="property_company") | Q(company__isnull=False),
                name="staff_company_role",
            ),
            models.CheckConstraint(
                condition=~Q(role="building_head") | Q(building__isnull=False),
                name="staff_building_role",
            ),
            models.CheckConstraint(
                condition=~Q(role="department") | Q(department__isnull=False),
                name="staff_department_role",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.get_role_display()})"
