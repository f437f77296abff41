"""Who to call about a place (GET /api/people/contacts): the staff and heads attached to an area or a
building and to what holds it, nearest first, the compound's property company, masked by role."""

import pytest
from django.contrib.auth import get_user_model

from apps.audit.models import PiiAccess
from apps.people.models import StaffAssignment
from apps.people.privacy import mask_name, mask_phone
from apps.people.scope import user_scope
from apps.people.selectors import compound_property_company, grid_leader
from apps.people.services import staff_assign
from apps.territory.models import Area, Building
from tests.people.test_api import client_for, grids

URL = "/api/people/contacts"


def managed_building() -> Building:
    """A building in the community user's scope whose compound has a property company."""
    scope = user_scope(get_user_model().objects.get(username="community"))
    for b in Building.objects.filter(scope.buildings_q()).order_by("id"):
        if compound_property_company(compound_id=b.compound_id):
            return b
    raise AssertionError("the demo has managed compounds")


def test_a_building_lists_its_head_compound_head_grid_leader_and_community_staff_nearest_first(
    demo,
):
    building = managed_building()
    grid = building.grid
    head = staff_assign(name="楼长王", role="building_head", building=building, phone="13900001111")
    compound_head = staff_assign(name="院长李", role="compound_head", area=building.compound)
    gone = staff_assign(name="离任张", role="grid_worker", area=grid, phone="13900002222")
    StaffAssignment.objects.filter(pk=gone.pk).update(active=False)
    staff_assign(name="规划员", role="planner", area=building.community)

    res = client_for("community").get(f"{URL}?building={building.id}")
    assert res.status_code == 200, res.content
    data = res.json()
    roles = [(c["role"], c["place"]["level"]) for c in data["results"]]
    # nearest first: the building, its compound, its grid, its community; no planner, no one inactive
    levels = [level for _role, level in roles]
    order = ["building", "compound", "grid", "community"]
    assert levels == sorted(levels, key=order.index), roles
    ids = [c["id"] for c in data["results"]]
    assert ids[0] == head.id and compound_head.id in ids and gone.id not in ids
    assert grid_leader(grid_id=grid.id).id in ids
    expected = StaffAssignment.objects.filter(
        active=True,
        role__in=[
            "building_head",
            "compound_head",
            "grid_leader",
            "grid_worker",
            "community_staff",
        ],
    ).filter(
        building=building,
    ) | StaffAssignment.objects.filter(
        active=True,
        role__in=["compound_head", "grid_leader", "grid_worker", "community_staff"],
        area_id__in=[building.compound_id, building.grid_id, building.community_id],
    )
    assert sorted(ids) == sorted(expected.values_list("id", flat=True))
    first = data["results"][0]
    assert first["name"] == "楼长王" and first["phone"] == "13900001111"
    assert first["masked"] is False and first["role_name"]
    assert first["place"] == {
        "level": "building",
        "id": building.id,
        "name": building.address or building.name,
    }
    company = compound_property_company(compound_id=building.compound_id)
    assert data["company"] == {"id": company.id, "name": company.name, "phone": company.phone}
    # the community staff saw them unmasked: recorded
    log = PiiAccess.objects.filter(what="contacts").latest("at")
    assert log.subject == f"building {building.id}"
    assert log.people == len(data["results"]) and log.actor.endswith("community")


def test_a_neighbourhood_grid_lists_the_grid_above_it_and_masks_for_a_planner(demo):
    neighbourhood = Area.objects.filter(level="neighbourhood").order_by("code").first()
    grid = neighbourhood.parent
    leader = grid_leader(grid_id=grid.id)
    before = PiiAccess.objects.count()
    data = client_for("planner").get(f"{URL}?area={neighbourhood.id}").json()
    assert data["results"][0]["id"] == leader.id
    assert data["results"][0]["place"] == {"level": "grid", "id": grid.id, "name": grid.name}
    assert {c["place"]["level"] for c in data["results"]} == {"grid", "community"}
    for c in data["results"]:
        row = StaffAssignment.objects.get(pk=c["id"])
        assert c["masked"] is True
        assert c["name"] == mask_name(row.name) and c["phone"] == mask_phone(row.phone)
    assert data["company"] is None
    assert PiiAccess.objects.count() == before  # nothing shown in clear, nothing logged


def test_a_grid_leader_sees_contacts_of_their_grid_only(demo):
    own, other = grids()[0], grids()[1]
    client = client_for("grid")
    mine = client.get(f"{URL}?area={own.id}").json()["results"]
    assert mine and all(c["masked"] is False for c in mine)
    assert client.get(f"{URL}?area={other.id}").status_code == 404
    outside = Building.objects.filter(grid=other).exclude(compound__in=own.children.all()).first()
    res = client.get(f"{URL}?building={outside.id}")
    assert res.status_code == 404 and res.json()["field"] == "building"


def test_a_street_lists_its_street_staff(demo):
    street = Area.objects.get(level="street")
    data = client_for("street").get(f"{URL}?area={street.id}").json()
    assert {c["role"] for c in data["results"]} == {"street_staff"}
    assert all(c["masked"] is False for c in data["results"])


@pytest.mark.parametrize(
    "query,status,field",
    [
        ("", 400, "area"),
        ("?area=x", 400, "area"),
        ("?building=1.5", 400, "building"),
        ("?area=999999999", 404, "area"),
        ("?building=999999999", 404, "building"),
    ],
)
def test_bad_requests_name_the_parameter(demo, query, status, field):
    res = client_for("community").get(URL + query)
    assert res.status_code == status, res.content
    assert res.json()["field"] == field


def test_contacts_need_a_role(demo):
    get_user_model().objects.create_user("nobody", password="x")
    assert client_for("nobody").get(f"{URL}?area={grids()[0].id}").status_code == 403


# --- assigning and ending (street and community staff in their area) -------------------------------


def community_grid() -> Area:
    """A grid of the community user's community."""
    scope = user_scope(get_user_model().objects.get(username="community"))
    return Area.objects.filter(scope.q("code"), level="grid").order_by("code").first()


def test_community_staff_assign_a_grid_worker_with_a_login_who_then_works_there(demo):
    grid = community_grid()
    user = get_user_model().objects.create_user("xiaowang", password="x")
    assert user_scope(user).is_empty
    res = client_for("community").post(
        URL,
        {
            "area": grid.id,
            "role": "grid_worker",
            "name": " 王小明 ",
            "phone": "139-0000-3333",
            "username": "xiaowang",
        },
        format="json",
    )
    assert res.status_code == 201, res.content
    data = res.json()
    created = StaffAssignment.objects.get(pk=data["created"])
    assert (created.role, created.area_id, created.user_id) == ("grid_worker", grid.id, user.id)
    assert (created.name, created.phone, created.active) == ("王小明", "13900003333", True)
    assert created.since is not None and created.until is None and data["replaced"] == []
    shown = next(c for c in data["results"] if c["id"] == created.id)
    assert shown["can_end"] is True and shown["since"] == created.since.isoformat()
    assert [r["role"] for r in data["assignable"]] == ["grid_leader", "grid_worker"]
    # the login now works in that grid
    scope = user_scope(user)
    assert scope.covers_code(grid.code) and not scope.covers_code(grids()[-1].code)


def test_a_new_grid_leader_replaces_the_one_before(demo):
    grid = community_grid()
    before = grid_leader(grid_id=grid.id)
    res = client_for("community").post(
        URL, {"area": grid.id, "role": "grid_leader", "name": "新网格长"}, format="json"
    )
    assert res.status_code == 201, res.content
    assert res.json()["replaced"] == [before.id]
    before.refresh_from_db()
    assert before.active is False and before.until is not None
    assert grid_leader(grid_id=grid.id).name == "新网格长"
    assert StaffAssignment.objects.filter(role="grid_leader", area=grid, active=True).count() == 1


def test_a_building_head_is_assigned_at_a_building_and_ended(demo):
    building = Building.objects.filter(grid=community_grid()).order_by("id").first()
    client = client_for("community")
    res = client.post(
        URL, {"building": building.id, "role": "building_head", "name": "楼长"}, format="json"
    )
    assert res.status_code == 201, res.content
    head = res.json()["results"][0]
    assert (head["role"], head["place"]["level"], head["can_end"]) == (
        "building_head",
        "building",
        True,
    )
    end = client.post(f"{URL}/{head['id']}/end")
    assert end.status_code == 200, end.content
    assert end.json()["active"] is False and end.json()["until"]
    assert head["id"] not in [
        c["id"] for c in client.get(f"{URL}?building={building.id}").json()["results"]
    ]
    again = client.post(f"{URL}/{head['id']}/end")
    assert again.status_code == 409 and "楼长" in again.json()["error"]


@pytest.mark.parametrize(
    "body,field,message",
    [
        ({"role": "compound_head", "name": "张三"}, "role", "可配备：网格长, 网格员"),
        ({"role": "community_staff", "name": "张三"}, "role", "网格不能配备社区工作人员"),
        ({"role": "grid_worker", "name": "  "}, "name", "请填写姓名"),
        ({"role": "grid_worker", "name": "张三", "phone": "12345"}, "phone", "不是手机号码"),
        (
            {"role": "grid_worker", "name": "张三", "username": "nobody"},
            "username",
            "没有名为 'nobody' 的有效账号",
        ),
    ],
)
def test_bad_assignments_name_the_field_and_change_nothing(demo, body, field, message):
    """(Messages in Chinese: the default language of requests.)"""
    grid = community_grid()
    before = list(StaffAssignment.objects.values_list("id", "active"))
    res = client_for("community").post(URL, {"area": grid.id, **body}, format="json")
    assert res.status_code == 400, res.content
    assert res.json()["field"] == field and message in res.json()["error"]
    assert list(StaffAssignment.objects.values_list("id", "active")) == before


def test_only_street_and_community_staff_and_administrators_assign(demo):
    grid = community_grid()
    body = {"area": grid.id, "role": "grid_worker", "name": "张三"}
    # a grid leader sees the grid but does not appoint; a planner neither
    for username in ("grid", "planner"):
        res = client_for(username).post(URL, body, format="json")
        assert res.status_code == 403, (username, res.content)
        contacts = client_for(username).get(f"{URL}?area={grid.id}").json()
        assert contacts["assignable"] == [] and not any(c["can_end"] for c in contacts["results"])
    leader = grid_leader(grid_id=grid.id)
    assert client_for("grid").post(f"{URL}/{leader.id}/end").status_code == 403
    for username in ("street", "admin"):
        assert client_for(username).post(URL, body, format="json").status_code == 201
    # outside one's scope: not found, as if it did not exist (a grid leader and another grid)
    other = grids()[1]
    assert not user_scope(get_user_model().objects.get(username="grid")).covers_code(other.code)
    res = client_for("grid").post(URL, {**body, "area": other.id}, format="json")
    assert res.status_code == 404 and res.json()["field"] == "area"
    other_leader = grid_leader(grid_id=other.id)
    assert client_for("grid").post(f"{URL}/{other_leader.id}/end").status_code == 404
    # community staff are set up by administrators, not ended from here
    staff = StaffAssignment.objects.filter(role="community_staff", area=grid.parent).first()
    res = client_for("community").post(f"{URL}/{staff.id}/end")
    assert res.status_code == 400 and res.json()["field"] == "assignment"
    staff.refresh_from_db()
    assert staff.active


def test_a_community_lists_each_grid_with_its_leader_and_workers(demo):
    community = community_grid().parent
    grids_here = list(
        Area.objects.filter(level="grid", valid_to=None, code__startswith=community.code).order_by(
            "code"
        )
    )
    bare = grids_here[-1]
    StaffAssignment.objects.filter(area=bare).update(active=False)
    worker = staff_assign(
        name="网格员甲", role="grid_worker", area=grids_here[0], phone="13900005555"
    )
    data = client_for("community").get(f"{URL}?area={community.id}").json()
    assert [g["code"] for g in data["grids"]] == [g.code for g in grids_here]
    first = data["grids"][0]
    assert [c["role"] for c in first["staff"]] == ["grid_leader", "grid_worker"]
    assert first["staff"][0]["id"] == grid_leader(grid_id=grids_here[0].id).id
    assert first["staff"][1] == {
        "id": worker.id,
        "role": "grid_worker",
        "role_name": "网格员",
        "name": "网格员甲",
        "phone": "13900005555",
        "masked": False,
    }
    assert data["grids"][-1]["staff"] == []
    # counted in the log of personal data shown in clear
    log = PiiAccess.objects.filter(what="contacts").latest("at")
    shown = len(data["results"]) + sum(len(g["staff"]) for g in data["grids"])
    assert log.people == shown
    # masked for a planner; a grid has no such list
    masked = client_for("planner").get(f"{URL}?area={community.id}").json()
    assert all(c["masked"] for g in masked["grids"] for c in g["staff"])
    assert "grids" not in client_for("community").get(f"{URL}?area={bare.id}").json()
