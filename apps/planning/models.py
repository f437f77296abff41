"""Plans: draft sets of grid or neighbourhood-grid polygons for one community, published as new versions.

A plan is edited (planner's editor, API) or proposed automatically, validated, then published through
apps.territory.services; until then nothing in the territory changes. `revision` grows with every save
so a save based on a stale revision is refused (optimistic concurrency)."""

from django.conf import settings
from django.contrib.gis.db import models
from django.contrib.postgres.fields import ArrayField
from django.db.models import Case, Q, Value, When
from django.utils.translation import gettext_lazy as _

from apps.territory.models import Area


class PlanLevel(models.TextChoices):
    GRID = "grid", _("Grids")
    NEIGHBOURHOOD = "neighbourhood", _("Neighbourhood grids")


class PlanStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    DISCARDED = "discarded", _("Discarded")


class Plan(models.Model):
    community = models.ForeignKey(
        Area, verbose_name=_("community"), on_delete=models.PROTECT, related_name="plans"
    )
    level = models.CharField(_("level"), max_length=16, choices=PlanLevel.choices)
    name = models.CharField(_("name"), max_length=200)
    status = models.CharField(
        _("status"), max_length=16, choices=PlanStatus.choices, default=PlanStatus.DRAFT
    )
    revision = models.PositiveIntegerField(_("revision"), default=1)
    min_households = models.PositiveIntegerField(_("minimum households"), null=True, blank=True)
    max_households = models.PositiveIntegerField(_("maximum households"), null=True, blank=True)
    target_households = models.PositiveIntegerField(_("target households"), null=True, blank=True)
    # How the plan was made: "current" (copied), "proposal" (with its quality report), "editor".
    origin = models.CharField(_("origin"), max_length=16, default="current")
    report = models.JSONField(_("proposal report"), default=dict, blank=True)
    # Filled on publish: what changed (added/removed/changed codes, households moved).
    diff = models.JSONField(_("published changes"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        indexes = [
            # The planner's list: plans of one community, newest first.
            models.Index(fields=["community", "-created_at"], name="plan_community_created"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="published") | Q(published_at__isnull=True),
                name="plan_published_at_only_published",
            ),
        ]

    def __str__(self):
        return f"{self.name} (r{self.revision})"


# The editor's order of a plan's areas: those with a code by code, then the new ones in the order they
# were drawn (id). The findings name a new area "#n" by this position, so it keeps its number when
# the plan is saved and reloaded (PLAN_AREAS_SQL in api.py orders the same way).
PLAN_AREA_ORDER = (Case(When(code="", then=Value(1)), default=Value(0)), "code", "id")


class PlanArea(models.Model):
    """One polygon of a plan. `code` is the code it publishes under (blank: a new code is given on
    publish); `source` is the area version it was copied from, if any. For neighbourhood-grid plans
    `household_ids` lists the households it holds (they define a neighbourhood grid); grids hold the
    buildings whose point-on-surface they cover."""

    plan = models.ForeignKey(Plan, on_delete=models.CASCADE, related_name="areas")
    code = models.CharField(_("code"), max_length=24, blank=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    geom = models.MultiPolygonField(_("boundary"), srid=4326)
    source = models.ForeignKey(
        Area, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    household_ids = ArrayField(models.BigIntegerField(), null=True, blank=True)
    households = models.PositiveIntegerField(_("households"), default=0)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("plan area")
        verbose_name_plural = _("plan areas")

    def __str__(self):
        return self.code or self.name or f"#{self.pk}"
