"""Analytics data: party-mass service stations (党群服务站), the pedestrian street network their walking
distances are measured on, and the precomputed hotspot counts.

Everything else analytics shows (gaps, indicators, hotspots) is read from the other apps' tables."""

from django.contrib.gis.db import models
from django.contrib.gis.db.models.functions import IsValid
from django.db.models import Q
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.territory.models import Area, IsEmpty


class StationKind(models.TextChoices):
    CENTER = "center", _("Street party-mass service center")  # 街道党群服务中心
    STATION = "station", _("Community party-mass service station")  # 社区党群服务站
    POINT = "point", _("Compound party-mass service point")  # 小区党群服务点


class ServiceStation(models.Model):
    """A party-mass service station (党群服务站): where residents walk in for services. Coverage is
    measured from its point by the walking tiers of GB 50180-2018 (see apps.analytics.stations)."""

    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(
        _("kind"), max_length=16, choices=StationKind.choices, default=StationKind.STATION
    )
    point = models.PointField(_("location"), srid=4326)
    community = models.ForeignKey(
        Area,
        verbose_name=_("community"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    address = models.CharField(_("address"), max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("party-mass service station")
        verbose_name_plural = _("party-mass service stations")
        # point gets its GiST index from GeoDjango: the nearest-station (KNN) query needs it.

    def __str__(self):
        return self.name


class StreetSegment(models.Model):
    """One piece of the pedestrian street network: a line between two nodes of the walking graph.

    `manage.py import_streets` splits every line of a file at each vertex (so lines that share a
    vertex meet there) and where the end of another line lies on it (T-junctions drawn without a
    shared vertex), so imported segments are straight two-point pieces; a segment drawn by hand may
    have more vertices and then meets others only at its two ends. apps.analytics.stations builds the
    graph from the segments around the buildings being checked (ends snapped together within 0.5 m)
    and measures walking distances to the stations on it."""

    geom = models.LineStringField(_("geometry"), srid=4326)  # GiST index from GeoDjango (KNN, &&)
    name = models.CharField(_("name"), max_length=200, blank=True)
    source_id = models.CharField(
        _("source id"),
        max_length=64,
        blank=True,
        help_text=_("Id of the feature in the imported file"),
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("street segment")
        verbose_name_plural = _("street segments")
        constraints = [
            # valid: at least two distinct points (a zero-length piece is not a street)
            models.CheckConstraint(condition=IsValid("geom"), name="street_geom_valid"),
            models.CheckConstraint(
                condition=Exact(IsEmpty("geom"), False), name="street_geom_not_empty"
            ),
        ]

    def __str__(self):
        return self.name or f"#{self.pk}"


class HotspotCellCount(models.Model):
    """Point counts of a source by H3 cell × category × week, at resolutions 6-8
    (apps.analytics.hotspots.PRECOMPUTED_RES).

    Filled and kept up to date by services.hotspot_counts_refresh (incremental, by id watermark) so
    city-wide hotspot requests read a few thousand rows instead of millions of points. Requests
    limited to an area count from the points (the area-code index keeps those small)."""

    source = models.CharField(max_length=32)
    res = models.PositiveSmallIntegerField()
    cell = models.BigIntegerField()  # the H3 index as a 64-bit integer
    category = models.CharField(max_length=64)
    week = models.DateField()  # Monday of the ISO week, local time (Asia/Shanghai)
    n = models.PositiveIntegerField()

    class Meta:
        # Derived data: the audit log skips this table (apps/audit/triggers.py EXCLUDED).
        db_table = "analytics_cellcount"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "res", "cell", "category", "week"],
                name="hotspot_count_key",
            ),
            models.CheckConstraint(condition=Q(res__gte=0, res__lte=15), name="hotspot_res"),
        ]
        # Hotspot reads: one source and resolution over a range of weeks.
        indexes = [models.Index(fields=["source", "res", "week"], name="hotspot_src_res_week")]


class HotspotRefreshState(models.Model):
    """How far the precomputed counts of a source go: every point with id <= last_id is counted."""

    source = models.CharField(max_length=32, primary_key=True)
    last_id = models.BigIntegerField(default=0)
    refreshed_at = models.DateTimeField(null=True)
