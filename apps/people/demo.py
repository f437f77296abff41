"""Demo organisations and staff: property companies for managed compounds, departments per street, a grid
leader for every grid, staff for every community and street, and demo logins (password `linli-demo`);
residents (2-3 per household, valid GB 11643 ID numbers, encrypted), party members (about 4 % of
residents), the party organisation tree, owners' committees, and an accepted center-household plan."""

from datetime import date, timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.utils import timezone

from apps.common.db import copy_rows, reserve_ids
from apps.people import pii
from apps.people.models import (
    Department,
    DepartmentKind,
    PropertyCompany,
    PropertyService,
    StaffAssignment,
)
from apps.people.privacy import mask_id
from apps.territory.models import Area, Building

DEMO_PASSWORD = "linli-demo"
SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈"
)
GIVEN = list("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红建国志文斌鹏辉")
COMPANY_NAMES = [
    "万科物业",
    "保利物业",
    "绿城服务",
    "碧桂园服务",
    "中海物业",
    "华润万象",
    "安徽新地物业",
    "合肥滨湖物业",
    "包河区城投物业",
    "徽商物业",
]


def _name(rng):
    return str(rng.choice(SURNAMES)) + "".join(rng.choice(GIVEN, size=int(rng.integers(1, 3))))


def _phone(rng):
    return (
        "1"
        + str(rng.choice(["38", "39", "58", "59", "86", "87"]))
        + f"{int(rng.integers(0, 10**8)):08d}"
    )


def seed_demo(*, seed: int, scale: float) -> dict:
    rng = np.random.default_rng(seed + 101)
    User = get_user_model()
    password = make_password(
        DEMO_PASSWORD
    )  # hashed once: hashing per user would dominate seeding time

    companies = PropertyCompany.objects.bulk_create(
        PropertyCompany(
            name=name,
            credit_code=f"91340100MA{i:07d}X"[:18],
            phone=_phone(rng),
            has_party_org=bool(rng.random() < 0.6),
            party_members=int(rng.integers(0, 12)),
        )
        for i, name in enumerate(COMPANY_NAMES)
    )
    compounds = list(
        Area.objects.filter(level="compound", management_type__in=["commercial", "proxy"]).order_by(
            "id"
        )
    )
    PropertyService.objects.bulk_create(
        PropertyService(company=companies[int(rng.integers(0, len(companies)))], compound=c)
        for c in compounds
    )

    streets = list(Area.objects.filter(level="street").order_by("code"))
    departments = []
    for s in streets:
        departments.append(
            Department(name=f"{s.name}城管执法中队", kind=DepartmentKind.ENFORCEMENT, street=s)
        )
    departments += [
        Department(name="包河区住房和城乡建设局", kind=DepartmentKind.HOUSING),
        Department(name="包河区市场监督管理局", kind=DepartmentKind.MARKET),
        Department(name="包河区民政局", kind=DepartmentKind.CIVIL),
    ]
    Department.objects.bulk_create(departments)

    staff = []
    for level, role in [
        ("street", "street_staff"),
        ("community", "community_staff"),
        ("grid", "grid_leader"),
    ]:
        for area in Area.objects.filter(level=level).order_by("code").only("id"):
            staff.append(StaffAssignment(name=_name(rng), phone=_phone(rng), role=role, area=area))
    StaffAssignment.objects.bulk_create(staff)

    # Demo logins. `admin` may do everything; the others hold one role each on the first area of its level.
    logins = {
        "admin": None,
        "street": "street_staff",
        "community": "community_staff",
        "grid": "grid_leader",
        "planner": "planner",
    }
    for username, role in logins.items():
        user, _created = User.objects.get_or_create(
            username=username,
            defaults={"password": password, "is_staff": True, "is_superuser": role is None},
        )
        if role is None:
            continue
        assignment = (
            StaffAssignment.objects.filter(role=role, user__isnull=True).order_by("id").first()
        )
        if assignment is None:  # planner: attach to the first community
            assignment = StaffAssignment.objects.create(
                name=_name(rng),
                role=role,
                area=Area.objects.filter(level="community").order_by("code").first(),
            )
        assignment.user = user
        assignment.save(update_fields=["user"])
    stats = {
        "property_companies": len(companies),
        "departments": len(departments),
        "staff": len(staff),
    }
    stats.update(_seed_people(rng, companies))
    return stats


# Anhui county codes for birthplaces (Hefei districts and counties first).
COUNTIES = ["340111", "340102", "340103", "340104", "340121", "340122", "341202", "340302"]
PARTY_SHARE = 0.04


def _id_numbers(rng, n):
    """n distinct valid 18-digit ID numbers: county + birth date + sequence + GB 11643 check digit."""
    births = date(1940, 1, 1) + np.array(
        [timedelta(days=int(d)) for d in rng.integers(0, 365 * 65, size=n)]
    )
    counties = rng.choice(COUNTIES, size=n)
    seqs = rng.integers(0, 1000, size=n)
    out, seen = [], set()
    for county, born, seq in zip(counties, births, seqs, strict=True):
        seq = int(seq)
        while True:
            first = f"{county}{born:%Y%m%d}{seq:03d}"
            if first not in seen:
                break
            seq = (seq + 1) % 1000
        seen.add(first)
        out.append((first + pii.id_check_char(first), born))
    return out


def _seed_people(rng, companies) -> dict:
    from apps.people import services
    from apps.people.models import (
        CommitteeMember,
        OwnersCommittee,
        PartyMember,
        PartyOrganization,
        Resident,
    )

    with connection.cursor() as cur:
        cur.execute(
            "SELECT h.id, b.id, b.grid_id, b.community_id, b.compound_id FROM territory_household h"
            " JOIN territory_building b ON b.id = h.building_id ORDER BY h.id"
        )
        households = cur.fetchall()
    if not households:
        return {"residents": 0, "party_members": 0}
    sizes = rng.choice([1, 2, 3, 4], size=len(households), p=[0.1, 0.45, 0.35, 0.1])
    n = int(sizes.sum())
    ids = reserve_ids("people_resident", n)
    idnums = _id_numbers(rng, n)
    fernet, hkey = pii.keys()
    now = timezone.now()
    rows, residents = [], []  # residents: (resident id, household row, birth)
    k = 0
    phones = rng.choice(10**8, size=n, replace=False)
    prefixes = rng.choice(["138", "139", "158", "159", "186", "187", "135", "177"], size=n)
    for hh, size in zip(households, sizes, strict=True):
        for j in range(int(size)):
            idnum, born = idnums[k]
            rows.append(
                (
                    ids[k],
                    hh[0],
                    _name(rng),
                    f"{prefixes[k]}{int(phones[k]):08d}",
                    fernet.encrypt(idnum.encode()).decode(),
                    pii.hmac.new(hkey, idnum.encode(), pii.hashlib.sha256).hexdigest(),
                    mask_id(idnum),
                    j == 0,
                    now,
                )
            )
            residents.append((ids[k], hh, born))
            k += 1
    copy_rows(
        "people_resident",
        [
            "id",
            "household_id",
            "name",
            "phone",
            "id_cipher",
            "id_hash",
            "id_masked",
            "is_head",
            "created_at",
        ],
        rows,
    )

    # Party organisations: a committee per community, a branch per grid, a red-property alliance branch
    # per community (its property companies' party organisation), groups in the biggest buildings.
    communities = list(Area.objects.filter(level="community").order_by("code"))
    committees = PartyOrganization.objects.bulk_create(
        PartyOrganization(name=f"{c.name}党委", kind="committee", area=c) for c in communities
    )
    committee_of = {c.id: po for c, po in zip(communities, committees, strict=True)}
    grids = list(Area.objects.filter(level="grid").order_by("code"))
    branches = PartyOrganization.objects.bulk_create(
        PartyOrganization(
            name=f"{g.name}党支部", kind="branch", area=g, parent=committee_of[g.parent_id]
        )
        for g in grids
    )
    branch_of = {g.id: po for g, po in zip(grids, branches, strict=True)}
    alliances = PartyOrganization.objects.bulk_create(
        PartyOrganization(
            name=f"{c.name}红色物业联盟党支部", kind="alliance", area=c, parent=committee_of[c.id]
        )
        for c in communities
    )
    alliance_of = {c.id: po for c, po in zip(communities, alliances, strict=True)}
    big = list(
        Building.objects.filter(floors__gte=18).order_by("id").values_list("id", "grid_id", "name")
    )
    groups = PartyOrganization.objects.bulk_create(
        PartyOrganization(
            name=f"{name}党小组", kind="group", building_id=bid, parent=branch_of[gid]
        )
        for bid, gid, name in big
        if gid in branch_of
    )
    group_of = {g.building_id: g for g in groups}
    for company in companies:
        if company.has_party_org:
            first = Area.objects.filter(property_service__company=company).order_by("code").first()
            if first is not None:
                company.party_org = alliance_of[first.parent_id]
                company.save(update_fields=["party_org"])

    # Party members: adults, about PARTY_SHARE of residents.
    adults = [r for r in residents if r[2] <= date(2005, 1, 1)]
    n_members = round(PARTY_SHARE * len(residents))
    chosen = rng.choice(len(adults), size=min(n_members, len(adults)), replace=False)
    members = []
    for i in sorted(int(c) for c in chosen):
        rid, hh, born = adults[i]
        kind = (
            "retired" if born < date(1962, 1, 1) else str(rng.choice(["community", "in_service"]))
        )
        org = group_of.get(hh[1]) or branch_of.get(hh[2])
        if org is None:
            continue
        members.append(
            PartyMember(
                resident_id=rid,
                organization=org,
                kind=kind,
                joined=born + timedelta(days=int(rng.integers(18 * 365, 40 * 365))),
                workplace="包河区某单位" if kind == "in_service" else "",
            )
        )
    for m in members:
        m.joined = min(m.joined, date(2024, 7, 1))
    PartyMember.objects.bulk_create(members)

    # Owners' committees for most managed compounds, management committees for some others.
    member_residents = {m.resident_id for m in members}
    by_compound: dict[int, list] = {}
    for rid, hh, _born in residents:
        by_compound.setdefault(hh[4], []).append(rid)
    committees_made, committee_members = [], []
    for cpd in Area.objects.filter(level="compound").order_by("code"):
        kind = "owners" if cpd.management_type in ("commercial", "proxy") else "management"
        if rng.random() > (0.7 if kind == "owners" else 0.4) or cpd.id not in by_compound:
            continue
        committees_made.append(
            OwnersCommittee(
                compound=cpd,
                kind=kind,
                formed=date(2015, 1, 1) + timedelta(days=int(rng.integers(0, 3000))),
            )
        )
    OwnersCommittee.objects.bulk_create(committees_made)
    for oc in committees_made:
        pool = by_compound[oc.compound_id]
        party = [r for r in pool if r in member_residents]
        others = [r for r in pool if r not in member_residents]
        size = int(rng.integers(5, 8))
        picked = party[: min(len(party), size // 2 + 1)]
        picked += [int(r) for r in rng.choice(others, size=size - len(picked), replace=False)]
        for j, rid in enumerate(picked):
            role = "chair" if j == 0 else ("deputy" if j == 1 else "member")
            committee_members.append(CommitteeMember(committee=oc, resident_id=rid, role=role))
    CommitteeMember.objects.bulk_create(committee_members)

    # The accepted center-household plan of every community.
    centers = links = 0
    for community in communities:
        proposal = services.proposal_create(area=community)
        done = services.proposal_accept(proposal=proposal)
        centers += done["centers"]
        links += done["links"]
    return {
        "residents": Resident.objects.count(),
        "party_members": len(members),
        "party_organisations": len(committees) + len(branches) + len(alliances) + len(groups),
        "owners_committees": len(committees_made),
        "center_households": centers,
        "center_links": links,
    }
