"""Writes for patrols. Each function is one transaction and locks the patrol row (SELECT ... FOR UPDATE),
so a phone retrying a batch while another batch, a check-in or the stop arrives cannot interleave.

Everything a phone sends carries an id the phone made (a UUID): a retried start, batch or check-in is
recognised and changes nothing, so an unreliable network never duplicates a patrol, a point or a check-in.
"""

import bisect
import math
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.gis.geos import Point
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from apps.common.db import copy_rows
from apps.common.errors import Conflict, DomainError, NotFound
from apps.patrols import conf
from apps.patrols.models import (
    Patrol,
    PatrolCheckin,
    PatrolIssue,
    PatrolPoint,
    PatrolVisit,
    PointStatus,
)
from apps.patrols.selectors import can_patrol
from apps.territory.models import Area, Building

EARTH_RADIUS_M = 6_371_008.8
NOTE_MAX = 500  # characters of a check-in's note (PatrolCheckin.note)


# ---------------------------------------------------------------------------------------------- parsing


def parse_uuid(value, *, field: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise DomainError(
            _("%(field)s=%(value)s is not a UUID") % {"field": field, "value": repr(value)},
            field=field,
        ) from None


def parse_time(value, *, field: str) -> datetime:
    """An ISO 8601 time with an offset, or epoch milliseconds (what JavaScript's Date.now() gives)."""
    given = {"field": field, "value": repr(value)}
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise DomainError(_("%(field)s=%(value)s is not a time") % given, field=field)
        try:
            parsed = datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise DomainError(_("%(field)s=%(value)s is not a time") % given, field=field) from None
    elif isinstance(value, str):
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise DomainError(_("%(field)s=%(value)s is not an ISO 8601 time") % given, field=field)
    else:
        raise DomainError(_("%(field)s=%(value)s is not a time") % given, field=field)
    if timezone.is_naive(parsed):
        raise DomainError(_("%(field)s=%(value)s has no time zone offset") % given, field=field)
    return parsed


def parse_coord(value, *, field: str, low: float, high: float) -> float:
    given = {"field": field, "value": repr(value)}
    if isinstance(value, bool):
        raise DomainError(_("%(field)s=%(value)s is not a number") % given, field=field)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DomainError(_("%(field)s=%(value)s is not a number") % given, field=field) from None
    if not (math.isfinite(number) and low <= number <= high):
        raise DomainError(
            _("%(field)s=%(value)s is out of range [%(low)s, %(high)s]")
            % (given | {"low": low, "high": high}),
            field=field,
        )
    return number


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine). Within 0.5 % of the geodesic, plenty for telling walking from
    a GPS jump; PostGIS geography does the exact work (track length, buildings visited)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


@dataclass
class Fix:
    client_id: uuid.UUID
    t: datetime
    lon: float
    lat: float
    accuracy: float | None
    status: str = PointStatus.ACCEPTED
    reason: str = ""


def parse_points(raw) -> list[Fix]:
    """Validate a whole batch before anything is written: a malformed point refuses the batch, naming it."""
    if not isinstance(raw, list):
        raise DomainError(_("points must be a list"), field="points")
    if len(raw) > conf.batch_max():
        raise DomainError(
            _("%(n)s points in one batch; send at most %(max)s")
            % {"n": len(raw), "max": conf.batch_max()},
            field="points",
        )
    fixes = []
    for i, item in enumerate(raw):
        where = f"points[{i}]"
        if not isinstance(item, dict):
            raise DomainError(_("%(field)s must be an object") % {"field": where}, field=where)
        for key in ("id", "t", "lon", "lat"):
            if item.get(key) is None:
                raise DomainError(
                    _("%(field)s is missing") % {"field": f"{where}.{key}"}, field=f"{where}.{key}"
                )
        accuracy = item.get("accuracy")
        if accuracy is not None:
            accuracy = parse_coord(accuracy, field=f"{where}.accuracy", low=0, high=1e6)
        fixes.append(
            Fix(
                client_id=parse_uuid(item["id"], field=f"{where}.id"),
                t=parse_time(item["t"], field=f"{where}.t"),
                lon=parse_coord(item["lon"], field=f"{where}.lon", low=-180, high=180),
                lat=parse_coord(item["lat"], field=f"{where}.lat", low=-90, high=90),
                accuracy=accuracy,
            )
        )
    return fixes


# ---------------------------------------------------------------------------------------------- helpers


def _lock_own(*, patrol_id: int, user) -> Patrol:
    """The patrol row, locked for this transaction; only its own user may write to it."""
    patrol = Patrol.objects.select_for_update().filter(id=patrol_id).first()
    if patrol is None or patrol.user_id != user.id:
        raise NotFound(_("no patrol %(id)s of yours") % {"id": patrol_id}, field="patrol_id")
    return patrol


def _ended(patrol: Patrol) -> Conflict:
    return Conflict(
        _("patrol #%(id)s ended at %(time)s")
        % {"id": patrol.id, "time": f"{timezone.localtime(patrol.ended_at):%H:%M}"},
        field="patrol_id",
    )


def _now_limit() -> datetime:
    return timezone.now() + timedelta(seconds=conf.clock_skew_s())


# Track and visits from the accepted points, in PostGIS: ST_MakeLine in time order, the length and the
# buildings near it on the geography (metres on the spheroid, no projection to pick). The bbox test
# `&&` against the track expanded by the distance in degrees (at the track's highest latitude, so never
# too small) lets the GiST index on footprints find candidates before the exact geography ST_DWithin.
TRACK_SQL = """
WITH pts AS (
  SELECT point, recorded_at, id FROM patrols_patrolpoint
  WHERE patrol_id = %(patrol)s AND status = 'accepted'
), line AS (
  SELECT CASE WHEN count(*) >= 2 THEN ST_MakeLine(point ORDER BY recorded_at, id) END AS track
  FROM pts
)
UPDATE patrols_patrol p
SET track = line.track,
    length_m = COALESCE(ST_Length(line.track::geography), 0)
FROM line WHERE p.id = %(patrol)s
"""

VISITS_SQL = """
WITH g AS (
  SELECT geom, %(d)s / 111000.0 / cos(radians(greatest(abs(ST_YMin(geom)), abs(ST_YMax(geom))))) AS deg
  FROM (
    SELECT COALESCE(p.track, (SELECT ST_Collect(point) FROM patrols_patrolpoint
                              WHERE patrol_id = p.id AND status = 'accepted')) AS geom
    FROM patrols_patrol p WHERE p.id = %(patrol)s
  ) t WHERE geom IS NOT NULL
), near AS (
  SELECT b.id AS building_id, b.footprint, g.deg,
         ST_Distance(b.footprint::geography, g.geom::geography) AS distance_m
  FROM g JOIN territory_building b
    ON b.footprint && ST_Expand(g.geom, g.deg)
   AND ST_DWithin(b.footprint::geography, g.geom::geography, %(d)s)
)
INSERT INTO patrols_patrolvisit (patrol_id, building_id, first_at, distance_m, near_track, checked_in)
SELECT %(patrol)s, near.building_id,
       COALESCE(
         -- the first fix within the distance (bbox first, then the exact geography test) ...
         (SELECT min(pp.recorded_at) FROM patrols_patrolpoint pp
          WHERE pp.patrol_id = %(patrol)s AND pp.status = 'accepted'
            AND pp.point && ST_Expand(near.footprint, near.deg)
            AND ST_DWithin(pp.point::geography, near.footprint::geography, %(d)s)),
         -- ... or, when the line passes between two fixes, the fix nearest the building
         (SELECT pp.recorded_at FROM patrols_patrolpoint pp
          WHERE pp.patrol_id = %(patrol)s AND pp.status = 'accepted'
          ORDER BY pp.point <-> near.footprint LIMIT 1)),
       near.distance_m, true, false
FROM near
"""

CHECKIN_VISITS_SQL = """
INSERT INTO patrols_patrolvisit (patrol_id, building_id, first_at, distance_m, near_track, checked_in)
SELECT patrol_id, building_id, min(at), min(distance_m), false, true
FROM patrols_patrolcheckin WHERE patrol_id = %(patrol)s
GROUP BY patrol_id, building_id
ON CONFLICT (patrol_id, building_id) DO UPDATE
SET checked_in = true,
    first_at = LEAST(patrols_patrolvisit.first_at, EXCLUDED.first_at),
    distance_m = LEAST(patrols_patrolvisit.distance_m, EXCLUDED.distance_m)
"""


def _rebuild(patrol: Patrol) -> None:
    """Track, length and visits from scratch: the result depends only on the stored points and
    check-ins, never on the order they arrived in."""
    params = {"patrol": patrol.id, "d": patrol.visit_distance_m}
    with connection.cursor() as cur:
        cur.execute(TRACK_SQL, params)
        PatrolVisit.objects.filter(patrol=patrol).delete()
        cur.execute(VISITS_SQL, params)
        cur.execute(CHECKIN_VISITS_SQL, params)
    patrol.refresh_from_db(fields=["track", "length_m"])


# --------------------------------------------------------------------------------------------- services


@transaction.atomic
def patrol_start(*, user, grid_id: int, client_id, started_at=None) -> tuple[Patrol, bool]:
    """Start a patrol of a grid. Returns (patrol, created); a retried start with the same client id
    returns the same patrol. A second active patrol for one user is refused (also under a race: the
    partial unique index decides)."""
    cid = parse_uuid(client_id, field="client_id")
    existing = Patrol.objects.filter(client_id=cid).first()
    if existing is not None:
        if existing.user_id != user.id:
            raise Conflict(_("this client id belongs to another patrol"), field="client_id")
        return existing, False
    grid = Area.objects.filter(id=grid_id, level="grid").first() if str(grid_id).isdigit() else None
    if grid is None:
        raise DomainError(
            _("grid_id=%(value)s is not a grid") % {"value": repr(grid_id)}, field="grid_id"
        )
    if not grid.is_current:
        raise DomainError(
            _("grid %(code)s (version %(version)s) has been redrawn; reload your grids")
            % {"code": grid.code, "version": grid.version},
            field="grid_id",
        )
    if not can_patrol(user=user, grid=grid):
        raise DomainError(
            _("you are not assigned to grid %(code)s %(name)s")
            % {"code": grid.code, "name": grid.name},
            field="grid_id",
        )
    now = timezone.now()
    started = now if started_at in (None, "") else parse_time(started_at, field="started_at")
    if started > _now_limit():
        raise DomainError(
            _("%(field)s=%(time)s is in the future")
            % {"field": "started_at", "time": started.isoformat()},
            field="started_at",
        )
    if started < now - timedelta(days=1):
        raise DomainError(
            _("started_at=%(time)s is more than a day ago") % {"time": started.isoformat()},
            field="started_at",
        )
    active = Patrol.objects.filter(user=user, ended_at__isnull=True).first()
    if active is not None:
        raise Conflict(
            _("you already have an active patrol (#%(id)s, started %(time)s); stop it first")
            % {"id": active.id, "time": f"{timezone.localtime(active.started_at):%H:%M}"},
            field="grid_id",
        )
    try:
        with transaction.atomic():
            patrol = Patrol.objects.create(
                client_id=cid,
                user=user,
                grid=grid,
                started_at=started,
                visit_distance_m=conf.visit_distance_m(),
            )
    except IntegrityError:
        # A concurrent start won: the same tap retried (same client id) or another phone.
        again = Patrol.objects.filter(client_id=cid, user=user).first()
        if again is not None:
            return again, False
        raise Conflict(
            _("you already have an active patrol; stop it first"), field="grid_id"
        ) from None
    return patrol, True


@transaction.atomic
def patrol_add_points(*, patrol_id: int, user, points) -> dict:
    """Store a batch of GPS fixes. Idempotent (a fix already stored, by its id, is skipped), tolerant of
    order (fixes may arrive late or shuffled: the track is ordered by time), and wary of GPS: a fix that is
    too inaccurate, outside the patrol's time, or an implausible jump from its neighbour in time is kept
    with its reason but left out of the track. A batch for a patrol that has ended rebuilds its track."""
    fixes = parse_points(points)
    patrol = _lock_own(patrol_id=patrol_id, user=user)
    ids = [f.client_id for f in fixes]
    stored = dict(
        PatrolPoint.objects.filter(client_id__in=ids).values_list("client_id", "patrol_id")
    )
    foreign = [str(cid) for cid, pid in stored.items() if pid != patrol.id]
    if foreign:
        raise Conflict(
            _("point %(id)s belongs to another patrol") % {"id": foreign[0]}, field="points"
        )

    seen = set(stored)
    new: list[Fix] = []
    duplicates = 0
    for fix in fixes:
        if fix.client_id in seen:
            duplicates += 1
            continue
        seen.add(fix.client_id)
        new.append(fix)

    # Neighbours in time among the accepted fixes (stored and from this batch).
    accepted = sorted(
        (p["recorded_at"], p["point"].x, p["point"].y, p["accuracy_m"])
        for p in PatrolPoint.objects.filter(patrol=patrol, status=PointStatus.ACCEPTED).values(
            "recorded_at", "point", "accuracy_m"
        )
    )
    times = [a[0] for a in accepted]
    earliest = patrol.started_at - timedelta(seconds=conf.clock_skew_s())
    latest = (
        patrol.ended_at + timedelta(seconds=conf.clock_skew_s())
        if patrol.ended_at
        else _now_limit()
    )
    max_speed, max_acc = conf.max_speed_mps(), conf.max_accuracy_m()
    for fix in sorted(new, key=lambda f: f.t):
        if fix.t < earliest or fix.t > latest:
            fix.status = PointStatus.OUT_OF_TIME
            fix.reason = (
                f"time {fix.t.isoformat()} is outside the patrol "
                f"({patrol.started_at.isoformat()} – "
                f"{patrol.ended_at.isoformat() if patrol.ended_at else 'now'})"
            )
            continue
        if fix.accuracy is not None and fix.accuracy > max_acc:
            fix.status = PointStatus.INACCURATE
            fix.reason = f"accuracy {fix.accuracy:.0f} m is worse than {max_acc:.0f} m"
            continue
        i = bisect.bisect_left(times, fix.t)
        # the neighbour before in time; the one after when this is the earliest fix so far
        neighbour = accepted[i - 1] if i > 0 else (accepted[i] if i < len(accepted) else None)
        if neighbour is not None:
            d = distance_m(neighbour[1], neighbour[2], fix.lon, fix.lat)
            slack = (neighbour[3] or 0) + (fix.accuracy or 0)  # the fixes' own uncertainty
            dt = max(abs((fix.t - neighbour[0]).total_seconds()), 1.0)
            speed = max(d - slack, 0) / dt
            if speed > max_speed:
                fix.status = PointStatus.JUMP
                fix.reason = (
                    f"jump of {d:.0f} m in {dt:.0f} s from the fix at "
                    f"{neighbour[0].isoformat()}: {speed:.0f} m/s, faster than {max_speed:.0f} m/s"
                )
                continue
        accepted.insert(i, (fix.t, fix.lon, fix.lat, fix.accuracy))
        times.insert(i, fix.t)

    # COPY: a phone back from a long offline period sends hundreds of fixes at once (5x bulk_create).
    received = timezone.now().isoformat()
    copy_rows(
        PatrolPoint._meta.db_table,
        [
            "client_id",
            "patrol_id",
            "recorded_at",
            "point",
            "accuracy_m",
            "status",
            "reason",
            "received_at",
        ],
        (
            (
                str(f.client_id),
                patrol.id,
                f.t.isoformat(),
                f"SRID=4326;POINT({f.lon!r} {f.lat!r})",
                f.accuracy,
                f.status,
                f.reason,
                received,
            )
            for f in new
        ),
    )
    if patrol.ended_at is not None and new:
        _rebuild(patrol)
    rejected = [
        {"id": str(f.client_id), "status": f.status, "reason": f.reason}
        for f in new
        if f.status != PointStatus.ACCEPTED
    ]
    return {
        "received": len(fixes),
        "accepted": len(new) - len(rejected),
        "duplicates": duplicates,
        "rejected": rejected,
        "points": len(accepted),
    }


@transaction.atomic
def patrol_checkin(
    *,
    patrol_id: int,
    user,
    building_id,
    client_id,
    at=None,
    lon=None,
    lat=None,
    note: str = "",
) -> tuple[PatrolCheckin, bool]:
    """Check in at a building on an active patrol. With a position, it must be near the building."""
    cid = parse_uuid(client_id, field="client_id")
    patrol = _lock_own(patrol_id=patrol_id, user=user)
    existing = PatrolCheckin.objects.filter(client_id=cid).first()
    if existing is not None:
        if existing.patrol_id != patrol.id:
            raise Conflict(_("this client id belongs to another check-in"), field="client_id")
        return existing, False
    if patrol.ended_at is not None:
        raise _ended(patrol)
    building = (
        Building.objects.filter(id=building_id).first() if str(building_id).isdigit() else None
    )
    if building is None:
        raise DomainError(
            _("building_id=%(value)s is not a building") % {"value": repr(building_id)},
            field="building_id",
        )
    when = timezone.now() if at in (None, "") else parse_time(at, field="at")
    if when > _now_limit() or when < patrol.started_at - timedelta(seconds=conf.clock_skew_s()):
        raise DomainError(
            _("at=%(time)s is outside the patrol") % {"time": when.isoformat()}, field="at"
        )
    if len(note) > NOTE_MAX:
        raise DomainError(
            _("note is %(n)s characters; at most %(max)s") % {"n": len(note), "max": NOTE_MAX},
            field="note",
        )
    if "\x00" in note:
        raise DomainError(_("note contains a NUL character"), field="note")
    point = distance = None
    if lon is not None or lat is not None:
        point = Point(
            parse_coord(lon, field="lon", low=-180, high=180),
            parse_coord(lat, field="lat", low=-90, high=90),
            srid=4326,
        )
        with connection.cursor() as cur:
            cur.execute(
                "SELECT ST_Distance(footprint::geography, ST_GeomFromEWKT(%s)::geography) "
                "FROM territory_building WHERE id = %s",
                [point.ewkt, building.id],
            )
            distance = cur.fetchone()[0]
        limit = conf.checkin_max_distance_m()
        if distance > limit:
            raise DomainError(
                _("you are %(distance).0f m from %(building)s; check in within %(limit).0f m")
                % {"distance": distance, "building": building, "limit": limit},
                field="building_id",
            )
    checkin = PatrolCheckin.objects.create(
        client_id=cid,
        patrol=patrol,
        building=building,
        at=when,
        point=point,
        distance_m=distance,
        note=note,
    )
    with connection.cursor() as cur:
        cur.execute(CHECKIN_VISITS_SQL, {"patrol": patrol.id})
    return checkin, True


@transaction.atomic
def patrol_stop(*, patrol_id: int, user, ended_at=None) -> Patrol:
    """End a patrol: build the track from its accepted fixes and find the buildings visited. Stopping a
    stopped patrol returns it unchanged (a retried stop)."""
    patrol = _lock_own(patrol_id=patrol_id, user=user)
    if patrol.ended_at is not None:
        return patrol
    ended = timezone.now() if ended_at in (None, "") else parse_time(ended_at, field="ended_at")
    if ended > _now_limit():
        raise DomainError(
            _("%(field)s=%(time)s is in the future")
            % {"field": "ended_at", "time": ended.isoformat()},
            field="ended_at",
        )
    last = (
        PatrolPoint.objects.filter(patrol=patrol, status=PointStatus.ACCEPTED)
        .order_by("-recorded_at")
        .values_list("recorded_at", flat=True)
        .first()
    )
    # A stop never cuts off fixes already taken (a phone clock a little behind the server's).
    patrol.ended_at = max(d for d in (ended, last, patrol.started_at) if d is not None)
    patrol.save(update_fields=["ended_at"])
    _rebuild(patrol)
    return patrol


@transaction.atomic
def patrol_issue_report(
    *,
    patrol_id: int,
    user,
    client_id,
    lon,
    lat,
    category,
    description,
    subcategory=None,
    address: str = "",
    photos=(),
):
    """Report an issue found on an active patrol: taken in by the issues app (source `patrol`, located,
    routed, with its photos) and linked to the patrol. A retried report (same client id) returns the
    issue made the first time."""
    from apps.issues import services as issues_services

    cid = parse_uuid(client_id, field="client_id")
    patrol = _lock_own(patrol_id=patrol_id, user=user)
    link = PatrolIssue.objects.select_related("issue").filter(client_id=cid).first()
    if link is not None:
        if link.patrol_id != patrol.id:
            raise Conflict(_("this client id belongs to another report"), field="client_id")
        return link.issue, False
    if patrol.ended_at is not None:
        raise _ended(patrol)
    issue = issues_services.issue_create(
        point=issues_services.point_parse(lon, lat),
        category=category,
        subcategory=subcategory or None,
        description=description,
        address=address,
        source="patrol",
        photos=photos,
        actor=user,
    )
    PatrolIssue.objects.create(
        client_id=cid, patrol=patrol, issue=issue, reported_at=issue.created_at
    )
    return issue, True
