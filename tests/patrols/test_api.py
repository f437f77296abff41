import uuid
from datetime import date, datetime, timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from apps.patrols.models import Patrol, PatrolPoint, PatrolVisit
from apps.patrols.selectors import compound_head_visits
from apps.patrols.services import patrol_start
from apps.people.models import StaffAssignment
from apps.territory.models import Area, Building
from tests.patrols.paths import fixes, grid_walk


@pytest.fixture
def phone(client, leader):
    user, grid = leader
    client.force_login(user)
    return client


def test_the_api_needs_a_login(client, demo):
    assert client.get("/api/patrols").status_code == 403
    assert client.post("/api/patrols", {}, content_type="application/json").status_code == 403
    page = client.get("/m/")
    assert page.status_code == 302 and page["Location"].startswith("/accounts/login/")


def test_a_patrol_through_the_api(phone, leader):
    user, grid = leader
    my_map = phone.get("/api/patrols/my-map").json()
    assert [f["properties"]["code"] for f in my_map["grids"]["features"]] == [grid.code]
    assert len(my_map["buildings"]["features"]) == Building.objects.filter(grid=grid).count()

    cid = str(uuid.uuid4())
    r = phone.post(
        "/api/patrols", {"client_id": cid, "grid_id": grid.id}, content_type="application/json"
    )
    assert r.status_code == 201, r.json()
    patrol_id = r.json()["id"]
    r = phone.post(
        "/api/patrols", {"client_id": cid, "grid_id": grid.id}, content_type="application/json"
    )
    assert r.status_code == 200 and r.json()["id"] == patrol_id
    r = phone.post(
        "/api/patrols",
        {"client_id": str(uuid.uuid4()), "grid_id": grid.id},
        content_type="application/json",
    )
    assert r.status_code == 409 and r.json()["code"] == "conflict"

    pts = fixes(grid_walk(grid, steps=5), start=timezone.now() - timedelta(seconds=60))
    r = phone.post(
        f"/api/patrols/{patrol_id}/points", {"points": pts}, content_type="application/json"
    )
    assert r.json() == {"received": 5, "accepted": 5, "duplicates": 0, "rejected": [], "points": 5}
    r = phone.post(
        f"/api/patrols/{patrol_id}/points", {"points": pts}, content_type="application/json"
    )
    assert r.json()["duplicates"] == 5
    bad = [dict(pts[0], id=str(uuid.uuid4()), lon="east")]
    r = phone.post(
        f"/api/patrols/{patrol_id}/points", {"points": bad}, content_type="application/json"
    )
    assert r.status_code == 400 and r.json()["field"] == "points[0].lon"

    listing = phone.get("/api/patrols").json()
    assert listing["active"]["id"] == patrol_id
    r = phone.post(f"/api/patrols/{patrol_id}/stop", {}, content_type="application/json")
    body = r.json()
    assert r.status_code == 200 and body["active"] is False
    assert body["track"]["type"] == "LineString" and len(body["track"]["coordinates"]) == 5
    assert [p["id"] for p in body["points"]] == [p["id"] for p in pts]
    assert body["visits"]
    history = phone.get("/api/patrols").json()
    assert history["active"] is None
    assert history["patrols"][0]["points"] == 5
    assert history["patrols"][0]["buildings_visited"] == len(body["visits"])


def test_another_users_patrol_is_not_found(client, leader):
    user, grid = leader
    patrol, _ = patrol_start(user=user, grid_id=grid.id, client_id=str(uuid.uuid4()))
    other = get_user_model().objects.create_user("other", password="x")
    client.force_login(other)
    assert client.get(f"/api/patrols/{patrol.id}").status_code == 403  # no role at all
    from apps.people.services import staff_assign

    staff_assign(name="同网格网格员", role="grid_worker", area=grid, user=other)
    assert client.get(f"/api/patrols/{patrol.id}").status_code == 404  # a role, not their patrol
    pts = fixes(grid_walk(grid, steps=2), start=timezone.now())
    r = client.post(
        f"/api/patrols/{patrol.id}/points", {"points": pts}, content_type="application/json"
    )
    assert r.status_code == 404 and r.json()["error"] == f"您没有编号为 {patrol.id} 的巡查"
    assert not PatrolPoint.objects.filter(patrol=patrol).exists()


def test_api_errors_speak_chinese_by_default_and_english_on_request(phone, leader):
    user, grid = leader
    start = {"client_id": str(uuid.uuid4()), "grid_id": "east"}
    r = phone.post("/api/patrols", start, content_type="application/json")
    assert r.status_code == 400 and r.json() == {
        "error": "grid_id='east' 不是网格",
        "code": "invalid",
        "field": "grid_id",
    }
    r = phone.post("/api/patrols?lang=en", start, content_type="application/json")
    assert r.status_code == 400 and r.json()["error"] == "grid_id='east' is not a grid"
    assert r.json()["field"] == "grid_id"

    patrol, _ = patrol_start(user=user, grid_id=grid.id, client_id=str(uuid.uuid4()))
    building = Building.objects.filter(grid=grid).first()
    checkin = {"client_id": str(uuid.uuid4()), "building_id": building.id, "note": "x" * 501}
    url = f"/api/patrols/{patrol.id}/checkins"
    r = phone.post(url + "?lang=zh-hans", checkin, content_type="application/json")
    assert r.status_code == 400 and r.json()["error"] == "备注有 501 个字符，最多 500 个"
    r = phone.post(url + "?lang=en", checkin, content_type="application/json")
    assert r.json()["error"] == "note is 501 characters; at most 500"


def _patrol_visiting(user, grid, building, day: datetime):
    patrol = Patrol.objects.create(
        client_id=uuid.uuid4(),
        user=user,
        grid=grid,
        started_at=day,
        ended_at=day + timedelta(hours=1),
        visit_distance_m=15,
    )
    PatrolVisit.objects.create(patrol=patrol, building=building, first_at=day, near_track=True)
    return patrol


def test_compound_heads_visits_per_month_count_days_and_show_missed_months(demo):
    User = get_user_model()
    compound = Area.objects.filter(level="compound", compound_buildings__isnull=False).first()
    building = Building.objects.filter(compound=compound).first()
    grid = building.grid
    other_building = Building.objects.exclude(compound=compound).first()
    busy, idle = User.objects.create_user("busy"), User.objects.create_user("idle")
    a = StaffAssignment.objects.create(name="张敏", role="compound_head", area=compound, user=busy)
    b = StaffAssignment.objects.create(name="李强", role="compound_head", area=compound, user=idle)
    tz = timezone.get_current_timezone()
    for d in (3, 10, 17, 24):
        _patrol_visiting(busy, grid, building, datetime(2026, 9, d, 9, tzinfo=tz))
    _patrol_visiting(
        busy, grid, building, datetime(2026, 9, 24, 15, tzinfo=tz)
    )  # same day: one visit
    _patrol_visiting(busy, grid, other_building, datetime(2026, 10, 2, 9, tzinfo=tz))  # not theirs
    # 00:30 on 1 October in Shanghai is still September in UTC: counted in October
    _patrol_visiting(idle, grid, building, datetime(2026, 10, 1, 0, 30, tzinfo=tz))
    rows = compound_head_visits(
        since=date(2026, 9, 1), until=date(2026, 10, 31), within=compound.code
    )
    got = {
        (r["assignment_id"], r["month"]): (r["visits"], r["meets_target"])
        for r in rows
        if r["assignment_id"] in (a.id, b.id)
    }
    assert got == {
        (a.id, "2026-09"): (4, True),
        (a.id, "2026-10"): (0, False),
        (b.id, "2026-09"): (0, False),
        (b.id, "2026-10"): (1, False),
    }


def test_compound_head_visits_api_is_for_staff_and_checks_months(client, demo):
    client.force_login(get_user_model().objects.get(username="community"))
    r = client.get("/api/patrols/compound-head-visits?since=2026-01&until=2026-03")
    assert r.status_code == 200 and "rows" in r.json()
    r = client.get("/api/patrols/compound-head-visits?since=2026-13")
    assert r.status_code == 400 and r.json()["field"] == "since"
    client.force_login(get_user_model().objects.create_user("nobody"))
    assert client.get("/api/patrols/compound-head-visits").status_code == 403


def test_my_map_gives_each_building_its_heads_to_call(phone, leader):
    """Building heads and the heads of the building's compound, masked as the people API masks them."""
    from apps.people.privacy import mask_name
    from apps.people.services import staff_assign

    user, grid = leader
    building = Building.objects.filter(grid=grid, compound__isnull=False).order_by("id").first()
    other = Building.objects.filter(grid=grid).exclude(compound=building.compound).first()
    staff_assign(name="楼长王", role="building_head", building=building, phone="13900006666")
    compound_heads = list(
        StaffAssignment.objects.filter(role="compound_head", area=building.compound, active=True)
    )
    heads = phone.get("/api/patrols/my-map").json()["heads"]
    got = heads[str(building.id)]
    assert got[0] == {
        "role": "building_head",
        "role_name": "楼栋长",
        "name": "楼长王",
        "phone": "13900006666",
        "masked": False,
    }
    assert [h["name"] for h in got[1:]] == [h.name for h in compound_heads]
    if other is not None:
        assert "楼长王" not in [h["name"] for h in heads.get(str(other.id), [])]
    # a compound head sees the grids of their compound, but no one's personal data there
    head_user = get_user_model().objects.create_user("yuanzhang", password="x")
    staff_assign(name="院长", role="compound_head", area=building.compound, user=head_user)
    phone.force_login(head_user)
    masked = phone.get("/api/patrols/my-map").json()["heads"][str(building.id)]
    assert masked[0]["masked"] is True and masked[0]["name"] == mask_name("楼长王")
    assert masked[0]["phone"] == "139****6666"
