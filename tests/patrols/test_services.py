import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.common.errors import Conflict, DomainError, NotFound
from apps.patrols.models import Patrol, PatrolPoint, PointStatus
from apps.patrols.services import (
    patrol_add_points,
    patrol_checkin,
    patrol_start,
    patrol_stop,
)
from apps.territory.models import Area, Building
from tests.patrols.paths import buildings_near, fixes, grid_walk


def start(user, grid, **kw):
    patrol, _ = patrol_start(user=user, grid_id=grid.id, client_id=str(uuid.uuid4()), **kw)
    return patrol


def test_a_retried_start_is_one_patrol_and_a_second_active_patrol_is_refused(leader):
    user, grid = leader
    cid = str(uuid.uuid4())
    first, created = patrol_start(user=user, grid_id=grid.id, client_id=cid)
    again, created_again = patrol_start(user=user, grid_id=grid.id, client_id=cid)
    assert created and not created_again and first.id == again.id
    with pytest.raises(Conflict, match=f"active patrol \\(#{first.id}"):
        patrol_start(user=user, grid_id=grid.id, client_id=str(uuid.uuid4()))
    assert Patrol.objects.filter(user=user, ended_at__isnull=True).count() == 1


def test_only_an_assigned_user_may_patrol_a_current_grid(leader, stranger):
    user, grid = leader
    before = Patrol.objects.count()
    with pytest.raises(DomainError, match=f"not assigned to grid {grid.code}"):
        start(stranger, grid)
    other = Area.objects.filter(level="grid").exclude(id=grid.id).first()
    with pytest.raises(DomainError, match="not assigned"):
        start(user, other)
    with pytest.raises(DomainError, match="is not a grid") as err:
        patrol_start(user=user, grid_id=grid.parent_id, client_id=str(uuid.uuid4()))
    assert err.value.field == "grid_id"
    with pytest.raises(DomainError, match="is not a UUID"):
        patrol_start(user=user, grid_id=grid.id, client_id="abc")
    assert Patrol.objects.count() == before


def test_points_are_idempotent_and_ordered_by_time_whatever_order_they_arrive_in(leader):
    user, grid = leader
    patrol = start(user, grid, started_at=timezone.now() - timedelta(minutes=30))
    walk = grid_walk(grid)
    pts = fixes(walk, start=patrol.started_at + timedelta(seconds=5))
    shuffled = pts[6:] + pts[:3] + pts[3:6][::-1]
    first = patrol_add_points(patrol_id=patrol.id, user=user, points=shuffled[:7])
    assert first["accepted"] == 7 and first["duplicates"] == 0 and first["rejected"] == []
    # a retried batch overlapping the first: the stored ones are recognised
    second = patrol_add_points(patrol_id=patrol.id, user=user, points=shuffled[4:] + shuffled[4:5])
    assert second["accepted"] == len(pts) - 7 and second["duplicates"] == 4
    stored = list(
        PatrolPoint.objects.filter(patrol=patrol)
        .order_by("recorded_at")
        .values_list("client_id", flat=True)
    )
    assert [str(c) for c in stored] == [p["id"] for p in pts]

    patrol = patrol_stop(patrol_id=patrol.id, user=user)
    assert [tuple(round(c, 7) for c in xy) for xy in patrol.track.coords] == [
        (round(lon, 7), round(lat, 7)) for lon, lat in walk
    ]
    assert 125 < patrol.length_m < 150  # the walk is 140 m across the grid
    visited = set(patrol.visits.values_list("building_id", flat=True))
    expected = buildings_near(walk, patrol.visit_distance_m)
    assert visited == expected and expected  # the walk passes the middle row of buildings
    assert all(v.near_track and not v.checked_in for v in patrol.visits.all())


def test_implausible_jumps_inaccurate_and_untimely_fixes_are_kept_out_of_the_track(leader):
    user, grid = leader
    patrol = start(user, grid, started_at=timezone.now() - timedelta(minutes=10))
    walk = grid_walk(grid, steps=4)
    pts = fixes(walk, start=patrol.started_at + timedelta(seconds=60), every_s=30)
    far = dict(pts[1], id=str(uuid.uuid4()), lon=walk[1][0] + 0.02)  # 1.9 km away, 1 s later
    far["t"] = (patrol.started_at + timedelta(seconds=91)).isoformat()
    blurred = dict(pts[2], id=str(uuid.uuid4()), accuracy=500)
    early = dict(
        pts[0], id=str(uuid.uuid4()), t=(patrol.started_at - timedelta(hours=2)).isoformat()
    )
    result = patrol_add_points(patrol_id=patrol.id, user=user, points=pts + [far, blurred, early])
    reasons = {r["id"]: r for r in result["rejected"]}
    assert result["accepted"] == 4 and len(reasons) == 3
    assert reasons[far["id"]]["status"] == PointStatus.JUMP
    assert (
        "jump of 1" in reasons[far["id"]]["reason"]
        and "faster than 15 m/s" in reasons[far["id"]]["reason"]
    )
    assert reasons[blurred["id"]]["reason"] == "accuracy 500 m is worse than 100 m"
    assert reasons[early["id"]]["status"] == PointStatus.OUT_OF_TIME
    patrol = patrol_stop(patrol_id=patrol.id, user=user)
    assert len(patrol.track.coords) == 4  # the kept-out fixes are stored but not in the track
    assert PatrolPoint.objects.filter(patrol=patrol).count() == 7


def test_a_malformed_batch_changes_nothing_and_names_the_point(leader):
    user, grid = leader
    patrol = start(user, grid)
    pts = fixes(grid_walk(grid, steps=5), start=timezone.now())
    pts[3]["lat"] = 123
    with pytest.raises(DomainError, match=r"points\[3\].lat=123 is out of range") as err:
        patrol_add_points(patrol_id=patrol.id, user=user, points=pts)
    assert err.value.field == "points[3].lat"
    pts[3]["lat"] = 31.86
    pts[1]["t"] = "2026-11-22 10:00"
    with pytest.raises(DomainError, match=r"points\[1\].t=.* has no time zone"):
        patrol_add_points(patrol_id=patrol.id, user=user, points=pts)
    del pts[0]["id"]
    with pytest.raises(DomainError, match=r"points\[0\].id is missing"):
        patrol_add_points(patrol_id=patrol.id, user=user, points=pts)
    with pytest.raises(DomainError, match="points must be a list"):
        patrol_add_points(patrol_id=patrol.id, user=user, points={"a": 1})
    assert not PatrolPoint.objects.filter(patrol=patrol).exists()


def test_only_the_patrols_own_user_may_add_to_it(leader, stranger):
    user, grid = leader
    patrol = start(user, grid)
    pts = fixes(grid_walk(grid, steps=3), start=timezone.now())
    with pytest.raises(NotFound):
        patrol_add_points(patrol_id=patrol.id, user=stranger, points=pts)
    with pytest.raises(NotFound):
        patrol_stop(patrol_id=patrol.id, user=stranger)
    with pytest.raises(NotFound):
        patrol_checkin(
            patrol_id=patrol.id, user=stranger, building_id=1, client_id=str(uuid.uuid4())
        )
    assert not PatrolPoint.objects.filter(patrol=patrol).exists()
    assert Patrol.objects.get(id=patrol.id).ended_at is None


def test_checkin_near_a_building_counts_as_a_visit_and_far_away_is_refused(leader):
    user, grid = leader
    patrol = start(user, grid)
    building = Building.objects.filter(grid=grid).order_by("id").first()
    c = building.footprint.point_on_surface
    cid = str(uuid.uuid4())
    checkin, created = patrol_checkin(
        patrol_id=patrol.id, user=user, building_id=building.id, client_id=cid, lon=c.x, lat=c.y
    )
    again, created_again = patrol_checkin(
        patrol_id=patrol.id, user=user, building_id=building.id, client_id=cid, lon=c.x, lat=c.y
    )
    assert created and not created_again and again.id == checkin.id and checkin.distance_m == 0
    with pytest.raises(
        DomainError, match=f"you are 1\\d\\d m from {building}; check in within 60 m"
    ):
        patrol_checkin(
            patrol_id=patrol.id,
            user=user,
            building_id=building.id,
            client_id=str(uuid.uuid4()),
            lon=c.x + 0.0015,
            lat=c.y,
        )
    with pytest.raises(DomainError, match="NUL"):
        patrol_checkin(
            patrol_id=patrol.id,
            user=user,
            building_id=building.id,
            client_id=str(uuid.uuid4()),
            note="a\x00b",
        )
    patrol = patrol_stop(patrol_id=patrol.id, user=user)
    visit = patrol.visits.get()
    assert visit.building_id == building.id and visit.checked_in and not visit.near_track
    with pytest.raises(Conflict, match="ended at"):
        patrol_checkin(
            patrol_id=patrol.id, user=user, building_id=building.id, client_id=str(uuid.uuid4())
        )


def test_points_arriving_after_the_stop_rebuild_the_track(leader):
    user, grid = leader
    patrol = start(user, grid, started_at=timezone.now() - timedelta(minutes=20))
    walk = grid_walk(grid, steps=6)
    pts = fixes(walk, start=patrol.started_at + timedelta(seconds=10))
    patrol_add_points(patrol_id=patrol.id, user=user, points=pts[:3])
    patrol = patrol_stop(patrol_id=patrol.id, user=user, ended_at=timezone.now().isoformat())
    assert len(patrol.track.coords) == 3
    assert patrol_stop(patrol_id=patrol.id, user=user).ended_at == patrol.ended_at  # a retried stop
    patrol_add_points(patrol_id=patrol.id, user=user, points=pts[3:])
    patrol.refresh_from_db()
    assert len(patrol.track.coords) == 6
    assert set(patrol.visits.values_list("building_id", flat=True)) == buildings_near(
        walk, patrol.visit_distance_m
    )
