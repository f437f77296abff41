"""Masking of personal data for each role in every API that returns people."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Q
from rest_framework.test import APIClient

from apps.people.models import (
    CenterHousehold,
    OwnersCommittee,
    PartyMember,
    PropertyCompany,
    Resident,
    StaffAssignment,
)
from apps.people.privacy import mask_name
from apps.people.scope import user_scope
from apps.people.services import staff_assign
from apps.territory.models import Area, Building, Household

MASKED_NAME = re.compile(r"^.\*+.?$")
MASKED_PHONE = re.compile(r"^\d{3}\*{4}\d{4}$")
MASKED_ID = re.compile(r"^\d{4}\*{10}[\dX]{4}$")
FULL_ID = re.compile(r"^\d{17}[\dX]$")


def client_for(username):
    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(username=username))
    return client


def grids():
    return list(Area.objects.filter(level="grid").order_by("code"))


def own_grid_of(username):
    return StaffAssignment.objects.get(user__username=username).area


def company_user():
    user = get_user_model().objects.create_user("wuye", password="x")
    staff_assign(
        name="物业", role="property_company", company=PropertyCompany.objects.first(), user=user
    )
    return "wuye"


def assert_masked(person):
    assert person["masked"] is True
    assert MASKED_NAME.match(person["name"]), person
    assert not person["phone"] or MASKED_PHONE.match(person["phone"]), person
    assert MASKED_ID.match(person["id_number"]), person


def assert_clear(person, resident):
    assert person["masked"] is False
    assert person["name"] == resident.name and person["phone"] == resident.phone
    assert FULL_ID.match(person["id_number"])


# (username, sees in own grid, sees in another grid)
ROLES = [
    ("admin", True, True),
    ("street", True, True),
    ("community", True, True),
    ("grid", True, False),
    ("planner", False, False),
    ("wuye", False, False),
]


def in_scope(username, qs, path):
    """The rows of `qs` the user's scope covers (apps.people.scope, the one rule)."""
    scope = user_scope(get_user_model().objects.get(username=username))
    return qs.filter(scope.buildings_q(path))


@pytest.mark.parametrize("username,own,other", ROLES)
def test_residents_api_masks_by_role_and_area(demo, username, own, other):
    if username == "wuye":
        company_user()
    client = client_for(username)
    first, second = grids()[0], grids()[1]
    assert own_grid_of("grid") == first
    for grid, clear in ((first, own), (second, other)):
        res = client.get(f"/api/people/residents?grid={grid.id}")
        assert res.status_code == 200, res.content
        results = res.json()["results"]
        visible = in_scope(
            username,
            Resident.objects.filter(household__building__grid=grid),
            "household__building__",
        )
        assert {p["id"] for p in results} <= set(visible.values_list("id", flat=True))
        assert len(results) == min(200, visible.count())
        if username == "grid" and grid == second:
            assert results == []  # another grid: nothing, not even masked
        by_id = {r.id: r for r in Resident.objects.filter(id__in=[p["id"] for p in results])}
        for person in results[:20]:
            if clear:
                assert_clear(person, by_id[person["id"]])
            else:
                assert_masked(person)


@pytest.mark.parametrize("username,own,other", ROLES)
def test_party_members_api_masks_by_role(demo, username, own, other):
    if username == "wuye":
        company_user()
    client = client_for(username)
    for grid, clear in ((grids()[0], own), (grids()[1], other)):
        results = client.get(f"/api/people/party-members?grid={grid.id}").json()["results"]
        visible = in_scope(
            username,
            PartyMember.objects.filter(resident__household__building__grid=grid),
            "resident__household__building__",
        )
        assert sorted(p["id"] for p in results) == sorted(visible.values_list("id", flat=True))
        for person in results:
            if clear:
                assert_clear(person, Resident.objects.get(id=person["resident"]))
            else:
                assert_masked(person)
            assert person["kind"] in ("community", "in_service", "retired")


@pytest.mark.parametrize("username,own,other", ROLES)
def test_committees_api_masks_by_role_and_flags_party_members(demo, username, own, other):
    if username == "wuye":
        company_user()
    results = client_for(username).get("/api/people/committees").json()["results"]
    scope = user_scope(get_user_model().objects.get(username=username))
    # the compounds in the scope, and those with a building in it
    touching = Building.objects.filter(scope.buildings_q()).values("compound_id")
    expected = OwnersCommittee.objects.filter(
        scope.q("compound__code") | Q(compound_id__in=touching)
    )
    assert len(results) == expected.count()
    if username in ("admin", "street", "community"):
        assert len(results) == OwnersCommittee.objects.count() > 0
    party = set(PartyMember.objects.values_list("resident_id", flat=True))
    first_grid = grids()[0]
    seen_party = False
    for oc in results:
        grid_id = Area.objects.get(id=oc["compound"]["id"]).compound_buildings.first().grid_id
        clear = own if grid_id == first_grid.id else other
        for m in oc["members"]:
            seen_party |= m["party_member"]
            assert m["party_member"] == (m["id"] in party)
            assert m["masked"] is (not clear)
    assert seen_party or len(results) < OwnersCommittee.objects.count()


@pytest.mark.parametrize("username,own,other", ROLES)
def test_centers_api_masks_member_names(demo, username, own, other):
    if username == "wuye":
        company_user()
    community = Area.objects.get(level="community")
    res = client_for(username).get(f"/api/people/centers?area={community.id}")
    if username in ("grid", "wuye"):  # the community is wider than their scope: not found
        assert res.status_code == 404
        res = client_for(username).get(f"/api/people/centers?area={grids()[0].id}")
        if username == "wuye":
            assert res.status_code == 404
            return
    data = res.json()
    assert data["centers"] and data["coverage"]
    names = {
        c.household_id: c.party_member.resident.name
        for c in CenterHousehold.objects.select_related("party_member__resident")
    }
    first_grid = grids()[0].id
    for c in data["centers"]:
        clear = own if c["grid_id"] == first_grid else other
        if clear:
            assert c["member"] == names[c["household"]]
        else:
            assert c["member"] == mask_name(names[c["household"]])


def test_people_apis_need_a_login(demo):
    client = APIClient()
    for url in [
        "/api/people/residents?grid=1",
        "/api/people/party-members?grid=1",
        "/api/people/committees",
        "/api/people/centers?area=1",
        "/api/people/party-orgs",
    ]:
        assert client.get(url).status_code in (401, 403), url


def test_party_org_tree(demo):
    roots = client_for("planner").get("/api/people/party-orgs").json()["results"]
    assert [r["kind"] for r in roots] == ["committee"]
    kinds = {c["kind"] for c in roots[0]["children"]}
    assert kinds == {"branch", "alliance"}
    total = sum(c["members"] for c in roots[0]["children"]) + sum(
        g["members"] for c in roots[0]["children"] for g in c["children"]
    )
    assert total == PartyMember.objects.count()


def test_link_errors_come_back_as_400_json_and_change_nothing(demo):
    client = client_for("community")
    center = CenterHousehold.objects.prefetch_related("links").first()
    linked = center.links.first().household_id
    other = CenterHousehold.objects.exclude(id=center.id).first()
    res = client.post(
        "/api/people/center-links",
        {"household": linked, "center_household": other.household_id},
        format="json",
    )
    assert res.status_code == 400
    assert "已由其他党员中心户联系" in res.json()["error"]
    assert res.json()["field"] == "household"
    assert center.links.filter(household_id=linked).exists()


def test_api_errors_speak_chinese_unless_english_is_asked_for(demo):
    client = client_for("community")
    center = CenterHousehold.objects.prefetch_related("links").first()
    linked = center.links.first().household_id
    other = CenterHousehold.objects.exclude(id=center.id).first()
    body = {"household": linked, "center_household": other.household_id}
    household = Household.objects.get(pk=linked)

    res = client.post("/api/people/center-links", body, format="json")
    assert res.status_code == 400 and res["Content-Language"] == "zh-hans"
    assert res.json() == {
        "error": f"住户 {household} 已由其他党员中心户联系",
        "code": "invalid",
        "field": "household",
    }

    res = client.post("/api/people/center-links?lang=en", body, format="json")
    assert res.status_code == 400 and res["Content-Language"] == "en"
    assert res.json() == {
        "error": f"household {household} is already linked to another center household",
        "code": "invalid",
        "field": "household",
    }
    # a message with a label: the area level is named in the request's language too
    scope = user_scope(get_user_model().objects.get(username="community"))
    compound = Area.objects.filter(level="compound").filter(scope.q("code")).first()
    res = client.get("/api/people/centers", {"area": compound.id, "lang": "zh-hans"})
    assert res.json()["error"] == "党员中心户按社区或网格规划，不能按小区规划"
    res = client.get("/api/people/centers", {"area": compound.id, "lang": "en"})
    assert res.json()["error"] == (
        "center households are planned for a community or a grid, not a compound"
    )


@pytest.mark.parametrize("username,own,other", ROLES)
def test_csv_export_masks_by_role(demo, username, own, other):
    import csv
    import io

    if username == "wuye":
        company_user()
    client = client_for(username)
    for grid, clear in ((grids()[0], own), (grids()[1], other)):
        assert client.get(f"/api/people/residents.csv?grid={grid.id}").status_code == 400
        res = client.get(f"/api/people/residents.csv?grid={grid.id}&reason=入户走访核对")
        assert res.status_code == 200 and res["Content-Type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(res.content.decode("utf-8-sig"))))
        assert rows[0][3:6] == ["姓名", "手机号", "身份证号"]
        visible = in_scope(
            username,
            Resident.objects.filter(household__building__grid=grid),
            "household__building__",
        )
        assert len(rows) - 1 == visible.count()
        for row in rows[1:30]:
            assert bool(MASKED_ID.match(row[5])) is (not clear)
            assert bool(FULL_ID.match(row[5])) is clear
            assert bool(MASKED_PHONE.match(row[4])) is (not clear)


def test_admin_resident_list_is_masked_for_a_staff_user_without_the_right(demo):
    from django.test import Client

    user = get_user_model().objects.get(username="planner")
    user.user_permissions.add(
        *__import__(
            "django.contrib.auth.models", fromlist=["Permission"]
        ).Permission.objects.filter(codename="view_resident")
    )
    client = Client()
    client.force_login(user)
    page = client.get("/admin/people/resident/").content.decode()
    resident = Resident.objects.order_by("-id").first()
    assert resident.phone not in page
    assert mask_name(resident.name) in page
