"""The territory: street → community → grid → neighbourhood grid, compounds, buildings, units, households.

Storage is EPSG:4326 everywhere; metric work uses geography or a projected CRS. Validity, SRID and
geometry type are enforced by the database (typed geometry columns and CHECK constraints), not only here.
"""

from django.contrib.gis.db import models
from django.contrib.gis.db.models.functions import IsValid
from django.contrib.postgres.fields import DateTimeRangeField
from django.db.models import BooleanField, F, Func, Q
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.territory.codes import PATTERNS


class Level(models.TextChoices):
    STREET = "street", _("Street")
    COMMUNITY = "community", _("Community")
    GRID = "grid", _("Grid")
    NEIGHBOURHOOD = "neighbourhood", _("Neighbourhood grid")
    COMPOUND = "compound", _("Compound")


# The level an area's parent must have. Compounds sit in communities and may cross grid lines.
PARENT_LEVEL = {
    Level.STREET: None,
    Level.COMMUNITY: Level.STREET,
    Level.GRID: Level.COMMUNITY,
    Level.NEIGHBOURHOOD: Level.GRID,
    Level.COMPOUND: Level.COMMUNITY,
}
# Order of levels from the top, used to sort chains.
LEVEL_RANK = {
    Level.STREET: 1,
    Level.COMMUNITY: 2,
    Level.GRID: 3,
    Level.NEIGHBOURHOOD: 4,
    Level.COMPOUND: 5,
}


class ManagementType(models.TextChoices):
    COMMERCIAL = "commercial", _("Commercial property management")
    PROXY = "proxy", _("Proxy-managed")
    SELF = "self", _("Self-managed")
    NONE = "none", _("No property management")


class TsTzRange(Func):
    """tstzrange(valid_from, valid_to); referenced by migrations 0001 and 0003."""

    function = "TSTZRANGE"
    output_field = DateTimeRangeField()


class IsEmpty(Func):
    function = "ST_IsEmpty"
    output_field = BooleanField()


class Area(models.Model):
    """One version of an area at one level. A redraw closes the old version (valid_to) and adds a new one
    with the same code; records made earlier keep pointing at the version they were made in."""

    level = models.CharField(_("level"), max_length=16, choices=Level.choices)
    code = models.CharField(_("code"), max_length=24)
    name = models.CharField(_("name"), max_length=200)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    geom = models.MultiPolygonField(_("boundary"), srid=4326)
    valid_from = models.DateTimeField(_("valid from"), default=timezone.now)
    valid_to = models.DateTimeField(_("valid to"), null=True, blank=True)
    version = models.PositiveIntegerField(_("version"), default=1)
    ext_code = models.CharField(
        _("source code"), max_length=64, blank=True, help_text=_("Code in the imported file")
    )
    management_type = models.CharField(
        _("management type"), max_length=16, choices=ManagementType.choices, null=True, blank=True
    )
    # Cached counts, refreshed by services.area_counts_refresh() after loads and redraws.
    households = models.PositiveIntegerField(_("households"), default=0)
    buildings = models.PositiveIntegerField(_("buildings"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("area")
        verbose_name_plural = _("areas")
        indexes = [
            # Current areas of a level by code: locate's chain, export, search.
            models.Index(fields=["level", "code"], name="area_level_code"),
        ]
        constraints = [
            models.CheckConstraint(
                # level before code in each branch: the database then runs one regular expression
                # per row, not up to five (~3 µs an area on COPY).
                condition=(Q(level="street") & Q(code__regex=PATTERNS["street"]))
                | (Q(level="community") & Q(code__regex=PATTERNS["community"]))
                | (Q(level="grid") & Q(code__regex=PATTERNS["grid"]))
                | (Q(level="neighbourhood") & Q(code__regex=PATTERNS["neighbourhood"]))
                | (Q(level="compound") & Q(code__regex=PATTERNS["compound"])),
                name="area_code_format",
                violation_error_message=_("Code does not follow the scheme for its level."),
            ),
            models.CheckConstraint(
                condition=Q(level="street") | Q(parent__isnull=False), name="area_parent_required"
            ),
            models.CheckConstraint(condition=IsValid("geom"), name="area_geom_valid"),
            models.CheckConstraint(
                condition=Exact(IsEmpty("geom"), False), name="area_geom_not_empty"
            ),
            models.CheckConstraint(
                condition=Q(level="compound") | Q(management_type__isnull=True),
                name="area_mgmt_only_compound",
            ),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")),
                name="area_valid_range",
            ),
            # Two versions of one code may not be valid at the same time: one current version per
            # code is this unique index, and a trigger (migration 0004, territory_area_versions_disjoint)
            # refuses overlaps that involve a closed version, reporting the same name. Together they
            # replace a btree_gist exclusion constraint whose upkeep was most of the cost of loading
            # areas (~60 µs an area) and took ~40× as long as this index to rebuild after a bulk load.
            models.UniqueConstraint(
                fields=["level", "code"],
                condition=Q(valid_to__isnull=True),
                name="area_code_versions_disjoint",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def is_current(self) -> bool:
        now = timezone.now()
        return self.valid_from <= now and (self.valid_to is None or self.valid_to > now)


class AreaPart(models.Model):
    """ST_Subdivide pieces of Area.geom, for fast point lookups (small boxes, few vertices each).
    Written only by the database trigger on territory_area (see migration 0002), so bulk loads keep it
    in sync too. Level and validity are copied from the area so locate reads one table."""

    area = models.ForeignKey(
        Area, on_delete=models.CASCADE, related_name="parts", db_constraint=True
    )
    level = models.CharField(max_length=16)
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True)
    # geom gets its GiST index from GeoDjango (locate filters by it first), area its foreign-key index.
    geom = models.PolygonField(srid=4326)


class HouseholdSource(models.TextChoices):
    SURVEYED = "surveyed", _("Surveyed (household records)")
    FIELD = "field", _("From a households field")
    FLOORS_UNITS = "floors_units", _("Floors × units per floor")
    AREA_ESTIMATE = "area_estimate", _("Footprint × floors ÷ dwelling area")
    UNKNOWN = "unknown", _("Unknown")


class Building(models.Model):
    """A building (楼栋). Attached to the current grid, community and compound that cover its
    point-on-surface; services re-attach buildings when areas are redrawn."""

    name = models.CharField(_("name"), max_length=200)
    address = models.CharField(_("address"), max_length=300, blank=True)
    footprint = models.MultiPolygonField(_("footprint"), srid=4326)
    floors = models.PositiveSmallIntegerField(_("floors"), null=True, blank=True)
    units_count = models.PositiveSmallIntegerField(_("units"), null=True, blank=True)
    households = models.PositiveIntegerField(_("households"), default=0)
    households_source = models.CharField(
        _("household count source"),
        max_length=16,
        choices=HouseholdSource.choices,
        default=HouseholdSource.UNKNOWN,
    )
    community = models.ForeignKey(
        Area,
        verbose_name=_("community"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    grid = models.ForeignKey(
        Area,
        verbose_name=_("grid"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="grid_buildings",
    )
    compound = models.ForeignKey(
        Area,
        verbose_name=_("compound"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="compound_buildings",
    )
    ext_ref = models.CharField(_("source id"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        constraints = [
            models.CheckConstraint(condition=IsValid("footprint"), name="building_footprint_valid"),
        ]

    def __str__(self):
        return self.address or self.name


class Unit(models.Model):
    """A stairwell/entrance (单元) of a building."""

    building = models.ForeignKey(Building, on_delete=models.CASCADE, related_name="units")
    number = models.PositiveSmallIntegerField(_("number"))
    floors = models.PositiveSmallIntegerField(_("floors"), null=True, blank=True)

    class Meta:
        verbose_name = _("unit")
        verbose_name_plural = _("units")
        constraints = [
            models.UniqueConstraint(fields=["building", "number"], name="unit_unique_number")
        ]

    def __str__(self):
        return f"{self.building} {self.number}单元"


class Household(models.Model):
    """A dwelling: building + unit + floor + room. No personal data lives here (see apps.people)."""

    building = models.ForeignKey(Building, on_delete=models.CASCADE, related_name="household_set")
    unit = models.ForeignKey(
        Unit, null=True, blank=True, on_delete=models.CASCADE, related_name="households"
    )
    floor = models.SmallIntegerField(_("floor"))
    room = models.CharField(_("room"), max_length=16)
    neighbourhood = models.ForeignKey(
        Area,
        verbose_name=_("neighbourhood grid"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="neighbourhood_households",
    )

    class Meta:
        verbose_name = _("household")
        verbose_name_plural = _("households")
        constraints = [
            models.UniqueConstraint(
                fields=["building", "unit", "room"],
                name="household_unique_room",
                nulls_distinct=False,
            ),
        ]

    def __str__(self):
        return f"{self.building} {self.unit.number if self.unit else ''}-{self.room}"
