"""Who does the work: property companies, government departments, and staff roles attached to areas.

This is the shared core that issue routing and role scoping use. Residents, party members, party
organisations, owners' committees and center households build on it in this app."""

from django.conf import settings
from django.contrib.gis.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from apps.territory.models import Area, Building, Household


class PropertyCompany(models.Model):
    """A property management company (物业公司)."""

    name = models.CharField(_("name"), max_length=200)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    phone = models.CharField(_("service phone"), max_length=32, blank=True)
    has_party_org = models.BooleanField(_("has a party organisation"), default=False)
    party_members = models.PositiveIntegerField(_("party members"), default=0)
    party_org = models.ForeignKey(
        "PartyOrganization",
        verbose_name=_("party organisation"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="property_companies",
    )

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
    active = models.BooleanField(pgettext_lazy("staff on duty", "active"), default=True)
    since = models.DateField(_("since"), null=True, blank=True)
    until = models.DateField(_("until"), null=True, blank=True, help_text=_("when it ended"))

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


# --- Residents and party members -------------------------------------------------------------------


class Resident(models.Model):
    """A person living in a household. Name, phone and ID number are personal data: every list, export
    and API shows them masked unless apps.people.privacy allows the requesting user to see them.
    The ID number is stored encrypted (Fernet, key LINLI_PII_KEY) with an HMAC hash for lookups and
    duplicate detection, and its masked form for display."""

    household = models.ForeignKey(
        Household, verbose_name=_("household"), on_delete=models.CASCADE, related_name="residents"
    )
    name = models.CharField(_("name"), max_length=100)
    phone = models.CharField(_("phone"), max_length=20, blank=True)
    id_cipher = models.TextField(_("ID number (encrypted)"), blank=True)
    # HMAC-SHA256 of the normalised ID number: equality lookups and the duplicate constraint.
    id_hash = models.CharField(_("ID number hash"), max_length=64, null=True, blank=True)
    id_masked = models.CharField(_("ID number (masked)"), max_length=18, blank=True)
    is_head = models.BooleanField(_("head of household"), default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("resident")
        verbose_name_plural = _("residents")
        constraints = [
            models.UniqueConstraint(fields=["id_hash"], name="resident_unique_id_hash"),
        ]

    def __str__(self):
        from apps.people.privacy import mask_name

        return mask_name(self.name)


class PartyOrgKind(models.TextChoices):
    COMMITTEE = "committee", _("Community party committee")
    BRANCH = "branch", _("Grid party branch")
    ALLIANCE = "alliance", _("Red-property alliance branch")
    GROUP = "group", _("Building party group")


# The kinds a party organisation's parent may have (None: the root of a tree).
PARTY_ORG_PARENT = {
    PartyOrgKind.COMMITTEE: None,
    PartyOrgKind.BRANCH: PartyOrgKind.COMMITTEE,
    PartyOrgKind.ALLIANCE: PartyOrgKind.COMMITTEE,
    PartyOrgKind.GROUP: PartyOrgKind.BRANCH,
}


class PartyOrganization(models.Model):
    """A party organisation in the community tree: committee → grid branch / red-property alliance
    branch → building party group."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=PartyOrgKind.choices)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    area = models.ForeignKey(
        Area,
        verbose_name=_("area"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    building = models.ForeignKey(
        Building,
        verbose_name=_("building"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("party organisation")
        verbose_name_plural = _("party organisations")
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="committee", parent__isnull=True)
                | (~Q(kind="committee") & Q(parent__isnull=False)),
                name="partyorg_parent_by_kind",
            ),
        ]

    def __str__(self):
        return self.name


class PartyMemberKind(models.TextChoices):
    COMMUNITY = "community", _("Community resident member")
    IN_SERVICE = "in_service", _("In-service member reporting to the community")
    RETIRED = "retired", _("Retired member")


class PartyMember(models.Model):
    resident = models.OneToOneField(
        Resident, verbose_name=_("resident"), on_delete=models.CASCADE, related_name="party_member"
    )
    organization = models.ForeignKey(
        PartyOrganization,
        verbose_name=_("party organisation"),
        on_delete=models.PROTECT,
        related_name="members",
    )
    kind = models.CharField(_("kind"), max_length=16, choices=PartyMemberKind.choices)
    joined = models.DateField(_("date joined"), null=True, blank=True)
    workplace = models.CharField(_("workplace (in-service members)"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("party member")
        verbose_name_plural = _("party members")

    def __str__(self):
        return str(self.resident)


class CommitteeKind(models.TextChoices):
    OWNERS = "owners", _("Owners' committee")
    MANAGEMENT = "management", _("Property management committee")


class OwnersCommittee(models.Model):
    """An owners' committee (业委会) or property management committee (物管会) of one compound."""

    compound = models.OneToOneField(
        Area,
        verbose_name=_("compound"),
        on_delete=models.CASCADE,
        related_name="owners_committee",
        limit_choices_to={"level": "compound"},
    )
    kind = models.CharField(_("kind"), max_length=16, choices=CommitteeKind.choices)
    formed = models.DateField(_("date formed"))
    members = models.ManyToManyField(
        Resident, through="CommitteeMember", related_name="committees", verbose_name=_("members")
    )

    class Meta:
        verbose_name = _("owners' committee")
        verbose_name_plural = _("owners' committees")

    def __str__(self):
        return f"{self.compound.name} {self.get_kind_display()}"


class CommitteeMember(models.Model):
    committee = models.ForeignKey(OwnersCommittee, on_delete=models.CASCADE)
    resident = models.ForeignKey(Resident, on_delete=models.CASCADE)
    role = models.CharField(
        _("role"),
        max_length=16,
        choices=[("chair", _("Chair")), ("deputy", _("Deputy chair")), ("member", _("Member"))],
        default="member",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["committee", "resident"], name="committee_member_once")
        ]


# --- Center households (党员中心户) ----------------------------------------------------------------


class LinkRule(models.TextChoices):
    NEIGHBOURHOOD = "neighbourhood", _("Same neighbourhood grid")
    DISTANCE = "distance", _("Within a straight-line distance")


class CenterPolicy(models.Model):
    """Limits and linking rule for center households. One row per community; the row without a
    community is the default everywhere else. Without any row, the built-in defaults apply
    (selectors.center_policy)."""

    community = models.OneToOneField(
        Area,
        verbose_name=_("community"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="center_policy",
        limit_choices_to={"level": "community"},
    )
    min_links = models.PositiveSmallIntegerField(_("minimum linked households"), default=10)
    max_links = models.PositiveSmallIntegerField(_("maximum linked households"), default=30)
    rule = models.CharField(
        _("linking rule"), max_length=16, choices=LinkRule.choices, default=LinkRule.DISTANCE
    )
    max_distance_m = models.PositiveIntegerField(_("maximum distance (m)"), default=200)

    class Meta:
        verbose_name = _("center household policy")
        verbose_name_plural = _("center household policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(min_links__lte=models.F("max_links")), name="centerpolicy_limits"
            ),
            models.UniqueConstraint(
                fields=["community"],
                name="centerpolicy_one_per_community",
                nulls_distinct=False,
            ),
        ]


class CenterHousehold(models.Model):
    """A party member's household designated as center household (党员中心户)."""

    household = models.OneToOneField(
        Household, verbose_name=_("household"), on_delete=models.CASCADE, related_name="center"
    )
    party_member = models.ForeignKey(
        PartyMember,
        verbose_name=_("party member"),
        on_delete=models.PROTECT,
        related_name="centers",
    )
    designated_at = models.DateTimeField(_("designated at"), auto_now_add=True)

    class Meta:
        verbose_name = _("center household")
        verbose_name_plural = _("center households")


class CenterLink(models.Model):
    """A household looked after by a center household. A household has at most one center
    (unique household)."""

    center = models.ForeignKey(CenterHousehold, on_delete=models.CASCADE, related_name="links")
    household = models.OneToOneField(
        Household, verbose_name=_("household"), on_delete=models.CASCADE, related_name="center_link"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("center household link")
        verbose_name_plural = _("center household links")


class ProposalStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACCEPTED = "accepted", pgettext_lazy("proposal", "Accepted")
    DISCARDED = "discarded", _("Discarded")


class CenterProposal(models.Model):
    """An auto-suggested set of center households and links for a community or grid, which staff
    review and adjust on the map before accepting it (services.proposal_accept)."""

    area = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=16, choices=ProposalStatus.choices, default=ProposalStatus.DRAFT
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    policy = models.JSONField(default=dict)  # the limits and rule the solver used
    stats = models.JSONField(default=dict)  # coverage per grid, total distance, solver status

    class Meta:
        verbose_name = _("center household proposal")
        verbose_name_plural = _("center household proposals")


class ProposalCenter(models.Model):
    proposal = models.ForeignKey(CenterProposal, on_delete=models.CASCADE, related_name="centers")
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="+")
    party_member = models.ForeignKey(PartyMember, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["proposal", "household"], name="proposalcenter_once")
        ]


class ProposalLink(models.Model):
    proposal = models.ForeignKey(CenterProposal, on_delete=models.CASCADE, related_name="links")
    center = models.ForeignKey(ProposalCenter, on_delete=models.CASCADE, related_name="links")
    household = models.ForeignKey(Household, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["proposal", "household"], name="proposallink_once")
        ]
