"""Keeping the register of residents (住户登记) from the console: registering someone in a household and
moving them out, by the staff who may see personal data there; bad input names its field and writes
nothing; party members and committee members are not moved out by accident."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.audit.models import AuditEntry, PiiAccess
from apps.people.models import CommitteeMember, PartyMember, Resident
from apps.people.scope import user_scope
from apps.territory.models import Building, Household
from tests.people.helpers import bad_id, valid_id
from tests.people.test_api import client_for, grids, own_grid_of

pytestmark = pytest.mark.django_db

URL = "/api/people/residents"


def household_of(username: str) -> Household:
    """A household in a building of the user's grid (or community)."""
    scope = user_scope(get_user_model().objects.get(username=username))
    building = Building.objects.filter(scope.buildings_q(), household_set__isnull=False).first()
    return building.household_set.order_by("id").first()


def test_community_staff_register_a_head_of_household_and_list_the_building(demo):
    household = household_of("grid")  # the community holds the grid leader's grid
    client = client_for("community")
    first = client.post(
        URL,
        {"household": household.id, "name": "陈晓梅", "phone": "139 1234 5678", "is_head": True},
        format="json",
    )
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["name"] == "陈晓梅" and body["phone"] == "13912345678" and body["is_head"]
    assert body["masked"] is False and body["household"] == household.id
    second = client.post(
        URL,
        {"household": household.id, "name": "陈建国", "id_number": valid_id(), "is_head": True},
        format="json",
    )
    assert second.status_code == 201, second.content
    heads = Resident.objects.filter(household=household, is_head=True)
    assert list(heads.values_list("name", flat=True)) == ["陈建国"]  # one head per household
    stored = Resident.objects.get(pk=second.json()["id"])
    assert stored.id_masked.startswith("3401") and valid_id() not in stored.id_cipher
    listed = client.get(f"{URL}?building={household.building_id}").json()
    assert listed["can_edit"] is True
    assert {"陈晓梅", "陈建国"} <= {r["name"] for r in listed["results"]}
    assert PiiAccess.objects.filter(what="residents", subject=f"household {household.id}").exists()
    # the grid leader keeps the register of their own grid too
    res = client_for("grid").post(URL, {"household": household.id, "name": "林芳"}, format="json")
    assert res.status_code == 201, res.content


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "  "}, "name", "姓名"),
        ({"name": "张" * 101}, "name", "过长"),
        ({"name": "张三", "phone": "12345"}, "phone", "手机号"),
        ({"name": "张三", "id_number": bad_id()}, "id_number", "校验码"),
        ({"name": "张三", "household": 999999999}, "household", "999999999"),
        ({"name": "张三", "household": "x"}, "household", "整数"),
    ],
)
def test_bad_registrations_name_the_field_and_write_nothing(demo, body, field, message):
    household = household_of("community")
    before = Resident.objects.count()
    res = client_for("community").post(URL, {"household": household.id, **body}, format="json")
    assert res.status_code in (400, 404), res.content
    assert res.json()["field"] == field and message in res.json()["error"], res.json()
    assert Resident.objects.count() == before


def test_an_id_number_is_registered_once(demo):
    household = household_of("community")
    client = client_for("community")
    body = {"household": household.id, "name": "王五", "id_number": valid_id()}
    assert client.post(URL, body, format="json").status_code == 201
    res = client.post(URL, {**body, "name": "王六"}, format="json")
    assert res.status_code == 400 and res.json()["field"] == "id_number"
    assert not Resident.objects.filter(name="王六").exists()


def test_who_keeps_the_register(demo):
    household = household_of("grid")
    body = {"household": household.id, "name": "赵六"}
    # a planner sees the building masked: no form, and a POST is refused
    listed = client_for("planner").get(f"{URL}?building={household.building_id}")
    assert listed.status_code == 200 and listed.json()["can_edit"] is False
    assert client_for("planner").post(URL, body, format="json").status_code == 403
    # another grid's household does not exist for this grid leader
    other = next(g for g in grids() if g.code != own_grid_of("grid").code)
    elsewhere = Household.objects.filter(building__grid=other).first()
    res = client_for("grid").post(URL, {**body, "household": elsewhere.id}, format="json")
    assert res.status_code == 404 and res.json()["field"] == "household"
    assert not Resident.objects.filter(name="赵六").exists()


def test_moving_out_takes_a_resident_off_the_register_and_the_audit_keeps_them(demo):
    household = household_of("grid")
    client = client_for("community")
    rid = client.post(URL, {"household": household.id, "name": "孙七"}, format="json").json()["id"]
    assert client_for("planner").post(f"{URL}/{rid}/move-out").status_code == 403
    session = Client()  # a signed-in session, as the console: the audit names the user
    session.force_login(get_user_model().objects.get(username="community"))
    res = session.post(f"{URL}/{rid}/move-out")
    assert res.status_code == 200 and res.json() == {
        "id": rid,
        "household": household.id,
        "moved_out": True,
    }
    assert not Resident.objects.filter(pk=rid).exists()
    entry = AuditEntry.objects.get(table_name="people_resident", op="DELETE", row_pk=str(rid))
    assert entry.before["name"] == "孙七" and entry.actor.endswith(":community")
    assert client.post(f"{URL}/{rid}/move-out").status_code == 404  # gone


def test_party_and_committee_members_are_not_moved_out_by_accident(demo):
    member = PartyMember.objects.filter(
        resident__household__building__in=Building.objects.filter(
            user_scope(get_user_model().objects.get(username="community")).buildings_q()
        )
    ).first()
    res = client_for("community").post(f"{URL}/{member.resident_id}/move-out")
    assert res.status_code == 409 and "党员" in res.json()["error"], res.content
    assert Resident.objects.filter(pk=member.resident_id).exists()
    seat = CommitteeMember.objects.filter(resident__party_member__isnull=True).first()
    res = client_for("admin").post(f"{URL}/{seat.resident_id}/move-out")
    assert res.status_code == 409 and "业主委员会" in res.json()["error"], res.content
    assert Resident.objects.filter(pk=seat.resident_id).exists()
    assert PartyMember.objects.filter(pk=member.pk).exists()
