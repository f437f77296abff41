"""Masking of personal data for EVERY role, in every API that returns people: residents (all pages),
the residents CSV export, party members, owners' committees, center households (live and a proposal)
and the reporter of an issue.

For each role the people it may see and those it may see unmasked are written down here from the data
(areas, buildings, companies), following the rule in apps/people/privacy.py and apps/people/scope.py,
not computed by those modules. Every list is compared as an exact set, so a role that should see
someone cannot pass with an empty answer, and every person is compared field by field with the
masks computed here: 张*三, 138****5678, 3401**********1234."""

import csv
import io
from collections import Counter
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Q
from rest_framework.test import APIClient

from apps.issues import services as issue_services
from apps.people import services as people_services
from apps.people.models import (
    CenterHousehold,
    Department,
    OwnersCommittee,
    PartyMember,
    PropertyService,
    ProposalCenter,
    Resident,
)
from apps.people.pii import decrypt
from apps.territory.models import Area, Building

# The demo logins (apps/people/demo.py) and the roles this file makes users for.
DEMO_LOGINS = ("admin", "street", "community", "grid", "planner")
ROLES = [
    "admin",  # superuser
    "street",  # street staff of the demo street
    "community",  # community staff of the demo community
    "grid",  # grid leader of grid A
    "planner",  # planner of the demo community
    "wuye",  # property company staff
    "grid_worker",  # grid worker of grid A
    "building_head",  # building head of building X (in grid A)
    "compound_head",  # compound head of compound K (outside grid A)
    "department",  # staff of the street's enforcement department
    "auditor",
    "norole",  # signed in, no role at all
]
CLEAR_EVERYWHERE = {"admin"}
CLEAR_IN_STREET = {"street"}
CLEAR_IN_COMMUNITY = {"community"}
CLEAR_IN_GRID_A = {"grid", "grid_worker"}
REASON = "入户走访核对"


# ---------------------------------------------------------------- masks, written out from the spec


def masked_name(name: str) -> str:
    """张*三; two characters: 张*; one character stays."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def masked_phone(phone: str) -> str:
    """138****5678 for an 11-digit mobile number."""
    if not phone:
        return ""
    assert len(phone) == 11, phone
    return phone[:3] + "****" + phone[-4:]


def masked_id(id_number: str) -> str:
    """3401**********1234 for an 18-character ID number."""
    assert len(id_number) == 18, id_number
    return id_number[:4] + "*" * 10 + id_number[-4:]


def shown(resident: Resident, clear: bool) -> tuple[str, str, str]:
    full_id = decrypt(resident.id_cipher)
    if clear:
        return resident.name, resident.phone, full_id
    return masked_name(resident.name), masked_phone(resident.phone), masked_id(full_id)


def check_person(person: dict, resident: Resident, clear: bool):
    assert person["masked"] is (not clear), person
    assert (person["name"], person["phone"], person["id_number"]) == shown(resident, clear)
    if not clear:  # the mask really hides something
        assert person["name"] != resident.name
        assert not resident.phone or person["phone"] != resident.phone


# ---------------------------------------------------------------- the demo world and its users


@dataclass
class World:
    street: Area
    community: Area
    grid_a: Area
    grid_b: Area
    building_x: Building  # in grid A, with a party member
    compound_k: Area  # has an owners' committee and a party member, no building in grid A
    department: Department
    company_compounds: set  # codes of the compounds the property company serves
    company: object


@pytest.fixture
def world(demo) -> World:
    grid_a, grid_b = Area.objects.filter(level="grid", valid_to=None).order_by("code")[:2]
    community = grid_a.parent
    street = community.parent
    members_in = set(PartyMember.objects.values_list("resident__household__building_id", flat=True))
    building_x = Building.objects.filter(grid=grid_a, id__in=members_in).order_by("id").first()
    compound_k = None
    for oc in OwnersCommittee.objects.select_related("compound").order_by("compound__code"):
        buildings = Building.objects.filter(compound__code=oc.compound.code)
        if (
            oc.committeemember_set.exists()
            and not buildings.filter(grid=grid_a).exists()
            and buildings.filter(id__in=members_in).exists()
        ):
            compound_k = oc.compound
            break
    assert building_x is not None and compound_k is not None, "the demo lacks the subjects"
    service = (
        PropertyService.objects.filter(compound__valid_to=None)
        .select_related("company")
        .order_by("compound__code")
        .first()
    )
    company = service.company
    return World(
        street=street,
        community=community,
        grid_a=grid_a,
        grid_b=grid_b,
        building_x=building_x,
        compound_k=compound_k,
        department=Department.objects.get(kind="enforcement", street=street),
        company_compounds=set(
            PropertyService.objects.filter(company=company).values_list("compound__code", flat=True)
        ),
        company=company,
    )


def user_for(role: str, w: World):
    User = get_user_model()
    if role in DEMO_LOGINS:
        return User.objects.get(username=role)
    user = User.objects.create_user(f"mask-{role}", password="x")
    assignment = {
        "wuye": {"role": "property_company", "company": w.company},
        "grid_worker": {"role": "grid_worker", "area": w.grid_a},
        "building_head": {"role": "building_head", "building": w.building_x},
        "compound_head": {"role": "compound_head", "area": w.compound_k},
        "department": {"role": "department", "department": w.department},
        "auditor": {"role": "auditor"},
        "norole": None,
    }[role]
    if assignment is not None:
        people_services.staff_assign(name=f"测试{role}", user=user, **assignment)
    return user


def client_for(role: str, w: World) -> APIClient:
    client = APIClient()
    client.force_authenticate(user_for(role, w))
    return client


# ---------------------------------------------------------------- what each role may see


def visible_buildings(role: str, w: World) -> set[int]:
    """Buildings whose residents the role may list (the scope table in apps/people/scope.py)."""

    def under(code):
        return (
            Q(grid__code__startswith=code)
            | Q(community__code__startswith=code)
            | Q(compound__code__startswith=code)
        )

    q = {
        "admin": Q(),
        "auditor": Q(),
        "street": under(w.street.code),
        "community": under(w.community.code),
        "planner": under(w.community.code),
        "grid": under(w.grid_a.code),
        "grid_worker": under(w.grid_a.code),
        "wuye": Q(compound__code__in=w.company_compounds),
        "building_head": Q(id=w.building_x.id),
        "compound_head": Q(compound__code=w.compound_k.code),
        "department": None,
        "norole": None,
    }[role]
    return set() if q is None else set(Building.objects.filter(q).values_list("id", flat=True))


def clear_buildings(role: str, w: World) -> set[int]:
    """Buildings whose residents the role sees unmasked (apps/people/privacy.py)."""
    qs = Building.objects.all()
    if role in CLEAR_EVERYWHERE:
        pass
    elif role in CLEAR_IN_STREET:
        qs = qs.filter(community__parent=w.street)
    elif role in CLEAR_IN_COMMUNITY:
        qs = qs.filter(community=w.community)
    elif role in CLEAR_IN_GRID_A:
        qs = qs.filter(grid=w.grid_a)
    else:
        return set()
    return set(qs.values_list("id", flat=True))


def visible_committees(role: str, w: World) -> set[int]:
    """Owners' committees of the compounds in the role's areas and of those with a building in them."""
    qs = OwnersCommittee.objects.all()
    if role in ("admin", "auditor", "street", "community", "planner"):
        return set(qs.values_list("id", flat=True))
    if role == "wuye":
        return set(qs.filter(compound__code__in=w.company_compounds).values_list("id", flat=True))
    if role == "compound_head":
        return set(qs.filter(compound__code=w.compound_k.code).values_list("id", flat=True))
    if role in ("grid", "grid_worker"):
        touching = Building.objects.filter(grid=w.grid_a).values("compound_id")
        return set(qs.filter(compound_id__in=touching).values_list("id", flat=True))
    if role == "building_head":
        return set(qs.filter(compound_id=w.building_x.compound_id).values_list("id", flat=True))
    return set()  # departments: no compound in their scope


def query_grids(w: World) -> list[Area]:
    """Grid A, grid B and the grids of compound K (so each role's own people are asked for)."""
    out = [w.grid_a, w.grid_b]
    for gid in Building.objects.filter(compound__code=w.compound_k.code).values_list(
        "grid_id", flat=True
    ):
        grid = Area.objects.get(pk=gid)
        if grid not in out:
            out.append(grid)
    return out


def refused(response):
    assert response.status_code == 403, response.content
    body = response.content.decode()
    assert "results" not in body and "centers" not in body


# ---------------------------------------------------------------- the APIs


def all_residents(client, **params) -> list[dict]:
    """Every page of /api/people/residents."""
    out, offset = [], 0
    while True:
        response = client.get("/api/people/residents", {**params, "offset": offset})
        assert response.status_code == 200, response.content
        body = response.json()
        out += body["results"]
        if body["next_offset"] is None:
            return out
        offset = body["next_offset"]


@pytest.mark.parametrize("role", ROLES)
def test_residents_api(world, role):
    client = client_for(role, world)
    if role == "norole":
        refused(client.get("/api/people/residents", {"grid": world.grid_a.id}))
        return
    visible, clear = visible_buildings(role, world), clear_buildings(role, world)
    seen = Counter()
    queries = [{"grid": g.id} for g in query_grids(world)] + [{"building": world.building_x.id}]
    for params in queries:
        results = all_residents(client, **params)
        field = "household__building__grid_id" if "grid" in params else "household__building_id"
        expected = Resident.objects.filter(
            **{field: next(iter(params.values()))}, household__building_id__in=visible
        ).select_related("household")
        assert sorted(p["id"] for p in results) == sorted(r.id for r in expected), params
        by_id = {r.id: r for r in expected}
        for person in results:
            resident = by_id[person["id"]]
            is_clear = resident.household.building_id in clear
            check_person(person, resident, is_clear)
            seen["clear" if is_clear else "masked"] += 1
    if role == "department":
        assert seen == Counter()  # departments see issues dispatched to them, not residents
    else:
        assert sum(seen.values()) > 0, "the role should see someone"
    assert (seen["clear"] > 0) is bool(clear & visible)
    if not clear:
        assert seen["clear"] == 0


@pytest.mark.parametrize("role", ROLES)
def test_residents_csv_export(world, role):
    client = client_for(role, world)
    k_building = Building.objects.filter(compound__code=world.compound_k.code).order_by("id")[0]
    b_building = Building.objects.filter(grid=world.grid_b).order_by("id")[0]
    if role == "norole":
        refused(
            client.get("/api/people/residents.csv", {"building": k_building.id, "reason": REASON})
        )
        return
    visible, clear = visible_buildings(role, world), clear_buildings(role, world)
    rows_seen = 0
    for building in (world.building_x, k_building, b_building):
        response = client.get(
            "/api/people/residents.csv", {"building": building.id, "reason": REASON}
        )
        assert response.status_code == 200, response.content
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        assert rows[0][3:6] == ["姓名", "手机号", "身份证号"]
        got = sorted(tuple(r[3:6]) for r in rows[1:])
        expected = sorted(
            shown(r, building.id in clear)
            for r in Resident.objects.filter(household__building=building)
            if building.id in visible
        )
        assert got == expected, building.id
        rows_seen += len(got)
    assert (rows_seen > 0) is (role != "department")


@pytest.mark.parametrize("role", ROLES)
def test_party_members_api(world, role):
    client = client_for(role, world)
    if role == "norole":
        refused(client.get("/api/people/party-members", {"grid": world.grid_a.id}))
        return
    visible, clear = visible_buildings(role, world), clear_buildings(role, world)
    seen = 0
    for grid in query_grids(world):
        response = client.get("/api/people/party-members", {"grid": grid.id})
        assert response.status_code == 200, response.content
        results = response.json()["results"]
        expected = {
            m.id: m
            for m in PartyMember.objects.filter(
                resident__household__building__grid=grid,
                resident__household__building_id__in=visible,
            ).select_related("resident__household")
        }
        assert sorted(p["id"] for p in results) == sorted(expected), grid.code
        for person in results:
            member = expected[person["id"]]
            assert person["resident"] == member.resident_id
            check_person(person, member.resident, member.resident.household.building_id in clear)
        seen += len(results)
    assert (seen > 0) is (role != "department")


@pytest.mark.parametrize("role", ROLES)
def test_committees_api(world, role):
    client = client_for(role, world)
    if role == "norole":
        refused(client.get("/api/people/committees"))
        return
    response = client.get("/api/people/committees")
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    expected = visible_committees(role, world)
    assert {c["id"] for c in results} == expected
    if role in (
        "admin",
        "auditor",
        "street",
        "community",
        "planner",
        "wuye",
        "compound_head",
        "grid",
    ):
        assert expected, "the role should see a committee"
    clear = clear_buildings(role, world)
    party = set(PartyMember.objects.values_list("resident_id", flat=True))
    members = 0
    for committee in results:
        oc = OwnersCommittee.objects.get(pk=committee["id"])
        assert committee["compound"]["id"] == oc.compound_id
        residents = {
            cm.resident_id: cm.resident
            for cm in oc.committeemember_set.select_related("resident__household")
        }
        assert sorted(m["id"] for m in committee["members"]) == sorted(residents)
        for m in committee["members"]:
            resident = residents[m["id"]]
            check_person(m, resident, resident.household.building_id in clear)
            assert m["party_member"] is (m["id"] in party)
            members += 1
    assert (members > 0) is bool(expected)


def _center_names(queryset) -> dict[int, Resident]:
    return {c.household_id: c.party_member.resident for c in queryset}


# (role) -> the area it asks for centers in, and the expected status: the community for the roles
# that cover it, grid A for grid staff; the others have no community or grid in their scope.
CENTER_AREA = {
    "admin": ("community", 200),
    "auditor": ("community", 200),
    "street": ("community", 200),
    "community": ("community", 200),
    "planner": ("community", 200),
    "grid": ("grid_a", 200),
    "grid_worker": ("grid_a", 200),
    "wuye": ("grid_a", 404),
    "building_head": ("grid_a", 404),
    "compound_head": ("grid_a", 404),
    "department": ("grid_a", 404),
}


@pytest.mark.parametrize("role", ROLES)
def test_centers_api(world, role):
    client = client_for(role, world)
    if role == "norole":
        refused(client.get("/api/people/centers", {"area": world.community.id}))
        return
    which, status = CENTER_AREA[role]
    area = getattr(world, which)
    response = client.get("/api/people/centers", {"area": area.id})
    assert response.status_code == status, response.content
    if role in ("grid", "grid_worker", "wuye", "building_head", "compound_head", "department"):
        # the community is wider than their scope: not found, as if it did not exist
        assert client.get("/api/people/centers", {"area": world.community.id}).status_code == 404
    if role == "compound_head":
        # their own compound is in scope, but centers are planned per community or grid
        own = client.get("/api/people/centers", {"area": world.compound_k.id})
        assert own.status_code == 400 and "不能按小区规划" in own.json()["error"]
    if status != 200:
        assert "centers" not in response.json()
        return
    grids = (
        [area]
        if area.level == "grid"
        else list(Area.objects.filter(parent=area, level="grid", valid_to=None))
    )
    residents = _center_names(
        CenterHousehold.objects.filter(household__building__grid__in=grids).select_related(
            "party_member__resident", "household"
        )
    )
    centers = response.json()["centers"]
    assert residents and sorted(c["household"] for c in centers) == sorted(residents)
    clear = clear_buildings(role, world)
    buildings = dict(
        CenterHousehold.objects.filter(household_id__in=residents).values_list(
            "household_id", "household__building_id"
        )
    )
    for c in centers:
        name = residents[c["household"]].name
        is_clear = buildings[c["household"]] in clear
        assert c["member"] == (name if is_clear else masked_name(name)), (c, is_clear)


# Roles whose scope covers grid A, where the proposal is made.
PROPOSAL_VISIBLE = {"admin", "auditor", "street", "community", "planner", "grid", "grid_worker"}


@pytest.mark.parametrize("role", ROLES)
def test_centers_proposal_api(world, role):
    proposal = people_services.proposal_create(area=world.grid_a)
    expected = _center_names(
        ProposalCenter.objects.filter(proposal=proposal).select_related(
            "party_member__resident", "household"
        )
    )
    assert expected, "the proposal names center households"
    client = client_for(role, world)
    params = {"area": world.grid_a.id, "proposal": proposal.id}
    response = client.get("/api/people/centers", params)
    if role == "norole":
        refused(response)
        return
    if role not in PROPOSAL_VISIBLE:
        assert response.status_code == 404, response.content
        assert "centers" not in response.json()
        return
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["proposal"] == proposal.id
    centers = data["centers"]
    assert sorted(c["household"] for c in centers) == sorted(expected)
    clear = role in CLEAR_EVERYWHERE | CLEAR_IN_STREET | CLEAR_IN_COMMUNITY | CLEAR_IN_GRID_A
    for c in centers:
        name = expected[c["household"]].name
        assert c["member"] == (name if clear else masked_name(name))


# Who may open the issue (filed in building X of grid A, dispatched to the street's enforcement
# department), and who sees its reporter unmasked.
ISSUE_VISIBLE = {
    "admin",
    "auditor",
    "street",
    "community",
    "planner",
    "grid",
    "grid_worker",
    "building_head",  # in their building
    "department",  # dispatched to them
}
REPORTER_CLEAR = {"admin", "street", "community", "grid", "grid_worker"}


@pytest.mark.parametrize("role", ROLES)
def test_issue_reporter(world, role):
    p = world.building_x.footprint.point_on_surface
    issue = issue_services.issue_create(
        point=p,
        category="enforcement",
        description="占道经营",
        source="hotline",
        reporter_name="张小三",
        reporter_phone="13812345678",
    )
    assert issue.building_id == world.building_x.id and issue.grid_id == world.grid_a.id
    assert issue.responsible_department_id == world.department.id
    client = client_for(role, world)
    response = client.get(f"/api/issues/{issue.id}")
    if role == "norole":
        assert response.status_code == 403
        assert "张小三" not in response.content.decode()
        return
    if role not in ISSUE_VISIBLE:
        # compound K and the company's compounds do not hold the issue
        assert response.status_code == 404, response.content
        assert "张小三" not in response.content.decode()
        return
    assert response.status_code == 200, response.content
    reporter = response.json()["reporter"]
    if role in REPORTER_CLEAR:
        assert reporter == {"name": "张小三", "phone": "13812345678", "masked": False}
    else:
        assert reporter == {"name": "张*三", "phone": "138****5678", "masked": True}
        assert "13812345678" not in response.content.decode()
