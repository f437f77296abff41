"""Patrols (巡查): a grid leader walks the grid with a phone that records a GPS track.

A patrol keeps every point the phone sent (PatrolPoint, idempotent by the client's id, with the reason a
point was left out of the track), the track built from the accepted points, the buildings visited (near the
track or checked in) and, once the issues app is there, the issues reported on the way."""

from django.conf import settings
from django.contrib.gis.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _

from apps.territory.models import Area, Building


class Patrol(models.Model):
    """One walk. Active while `ended_at` is empty; a user has at most one active patrol."""

    client_id = models.UUIDField(
        _("client id"),
        unique=True,
        help_text=_("Made by the phone, so a retried start is one patrol"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.PROTECT,
        related_name="patrols",
    )
    grid = models.ForeignKey(
        Area,
        verbose_name=_("grid"),
        on_delete=models.PROTECT,
        related_name="patrols",
        limit_choices_to={"level": "grid"},
        help_text=_("The grid version patrolled"),
    )
    started_at = models.DateTimeField(_("started at"))
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    track = models.LineStringField(_("track"), srid=4326, null=True, blank=True)
    length_m = models.FloatField(_("length (m)"), default=0)
    visit_distance_m = models.FloatField(
        _("visit distance (m)"), help_text=_("A building this close to the track was visited")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("patrol")
        verbose_name_plural = _("patrols")
        indexes = [
            # "my patrol history", newest first.
            models.Index(fields=["user", "-started_at"], name="patrol_user_started"),
            # compound heads' visits per month and grid reports filter by start time.
            models.Index(fields=["started_at"], name="patrol_started"),
        ]
        constraints = [
            # Two phones (or two taps) cannot start two patrols for one person.
            models.UniqueConstraint(
                fields=["user"], condition=Q(ended_at__isnull=True), name="patrol_one_active"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gte=F("started_at")),
                name="patrol_end_after_start",
            ),
        ]

    def __str__(self):
        return f"{self.user} {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def active(self) -> bool:
        return self.ended_at is None


class PointStatus(models.TextChoices):
    ACCEPTED = "accepted", _("In the track")
    JUMP = "jump", _("Implausible jump")
    INACCURATE = "inaccurate", _("Too inaccurate")
    OUT_OF_TIME = "out_of_time", _("Outside the patrol's time")


class PatrolPoint(models.Model):
    """A GPS fix as the phone sent it. Every fix is kept, the ones left out of the track with the reason."""

    client_id = models.UUIDField(_("client id"), unique=True)
    patrol = models.ForeignKey(Patrol, on_delete=models.CASCADE, related_name="points")
    recorded_at = models.DateTimeField(_("time"))
    point = models.PointField(_("position"), srid=4326)
    accuracy_m = models.FloatField(_("accuracy (m)"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=PointStatus.choices, default=PointStatus.ACCEPTED
    )
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("patrol point")
        verbose_name_plural = _("patrol points")
        indexes = [
            # the track: a patrol's points in time order
            models.Index(fields=["patrol", "recorded_at"], name="patrolpoint_patrol_time"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(accuracy_m__isnull=True) | Q(accuracy_m__gte=0),
                name="patrolpoint_accuracy_positive",
            ),
            models.CheckConstraint(
                condition=Q(status="accepted") | ~Q(reason=""), name="patrolpoint_reason"
            ),
        ]


class PatrolCheckin(models.Model):
    """An explicit check-in at a building (打卡), at a time and usually a position."""

    client_id = models.UUIDField(_("client id"), unique=True)
    patrol = models.ForeignKey(Patrol, on_delete=models.CASCADE, related_name="checkins")
    building = models.ForeignKey(
        Building, verbose_name=_("building"), on_delete=models.PROTECT, related_name="checkins"
    )
    at = models.DateTimeField(_("time"))
    point = models.PointField(_("position"), srid=4326, null=True, blank=True)
    distance_m = models.FloatField(_("distance to the building (m)"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("check-in")
        verbose_name_plural = _("check-ins")


class PatrolVisit(models.Model):
    """A building visited on a patrol: near the track (within the patrol's visit distance) and/or checked
    in. Rebuilt from the track and the check-ins by the services; one row per patrol and building."""

    patrol = models.ForeignKey(Patrol, on_delete=models.CASCADE, related_name="visits")
    building = models.ForeignKey(
        Building, verbose_name=_("building"), on_delete=models.PROTECT, related_name="visits"
    )
    first_at = models.DateTimeField(_("first seen"))
    distance_m = models.FloatField(_("closest distance (m)"), null=True, blank=True)
    near_track = models.BooleanField(_("near the track"), default=False)
    checked_in = models.BooleanField(_("checked in"), default=False)

    class Meta:
        verbose_name = _("building visit")
        verbose_name_plural = _("building visits")
        constraints = [
            models.UniqueConstraint(fields=["patrol", "building"], name="patrolvisit_unique"),
            models.CheckConstraint(
                condition=Q(near_track=True) | Q(checked_in=True), name="patrolvisit_has_reason"
            ),
        ]


class PatrolIssue(models.Model):
    """An issue reported on the way (source `patrol`), linked to the patrol it was found on."""

    client_id = models.UUIDField(
        _("client id"),
        unique=True,
        help_text=_("Made by the phone, so a retried report is one issue"),
    )
    patrol = models.ForeignKey(Patrol, on_delete=models.CASCADE, related_name="issue_links")
    issue = models.OneToOneField(
        "issues.Issue",
        verbose_name=_("issue"),
        on_delete=models.CASCADE,
        related_name="patrol_link",
        db_constraint=False,  # issues_issue is partitioned: a trigger checks the reference
    )
    reported_at = models.DateTimeField(_("reported at"))

    class Meta:
        verbose_name = _("issue found on patrol")
        verbose_name_plural = _("issues found on patrols")
