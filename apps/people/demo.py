"""Demo organisations and staff: property companies for managed compounds, departments per street, a grid
leader for every grid, staff for every community and street, and demo logins (password `linli-demo`);
residents (2-3 per household, valid GB 11643 ID numbers, encrypted), party members (about 4 % of
residents), the party organisation tree, owners' committees, and an accepted center-household plan.

From BULK_MIN_SCALE (apps.common.demo) on, `seed_bulk` generates the same kinds of rows set-based,
with a greedy rule for center households instead of the MIP and residents only where they are needed;
see the comment above it."""

import base64
import hashlib
import hmac
import os
import struct
import time
from datetime import date, timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection
from django.utils import timezone

from apps.common.db import copy_rows, reserve_ids
from apps.common.demo import bulk_loading, bulk_mode, demo_sql_functions, progress_bar, salt
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
    if bulk_mode(scale):
        return seed_bulk(seed=seed, scale=scale)
    rng = np.random.default_rng(seed + 101)
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

    _demo_logins(rng, password)
    stats = {
        "property_companies": len(companies),
        "departments": len(departments),
        "staff": len(staff),
    }
    stats.update(_seed_people(rng, companies))
    return stats


def _demo_logins(rng, password: str) -> None:
    """Demo logins. `admin` may do everything; the others hold one role each on the first area of its
    level."""
    User = get_user_model()
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


# ---------------------------------------------------------------- bulk path (large scales)
#
# The same kinds of rows as above, for a city: companies, services, departments, staff and the party
# tree are INSERT ... SELECTs over the territory; names and phones come from hashes of the row's area.
# What differs, and why (docs/BENCHMARKS.md, "Generating the whole demo"):
#
# * Center households: one per neighbourhood grid, a household of it drawn by hash, instead of the MIP
#   per grid (6-26 s per community; days for a megacity). It looks after the other households of its
#   neighbourhood grid, at most the policy's max_links of them (the first by id: its own building and
#   unit first, as households are numbered), so households of large grids stay unlinked.
# * Residents: every household of the first FULL_COMMUNITIES communities (the demo district, where the
#   demo logins work) as in the small demo; elsewhere only the head of each center household, who is
#   its party member. 2.3 residents for each of ~47M households would be ~100M encrypted rows.
# * ID numbers are encrypted in batches (`encrypt_many`: the same Fernet tokens, AES for a whole batch
#   in two calls), ~4x faster than one Fernet call per number.
# * Planted gaps: BULK_LEADERLESS of the grids have no grid leader, BULK_UNSERVED of the compounds
#   recorded as commercially managed have no company, BULK_NO_CENTER of the neighbourhood grids have
#   no center household (and so none of their households is linked); the first grid and first
#   neighbourhood grid always have theirs (the `grid` login works there).

FULL_COMMUNITIES = 5
BULK_TABLES = (
    "people_resident",
    "people_partymember",
    "people_centerhousehold",
    "people_centerlink",
)
BULK_LEADERLESS = 0.04
BULK_UNSERVED = 0.03
BULK_NO_CENTER = 0.08
S_COMPANY, S_UNSERVED, S_LEADER, S_NAME, S_PHONE, S_CENTER, S_NO_CENTER, S_COMMITTEE = range(
    201, 209
)


def encrypt_many(fernet, values: list[bytes]) -> list[str]:
    """Fernet tokens of many values, as fernet.encrypt would make them (version, time, random IV,
    AES-128-CBC with PKCS7, HMAC-SHA256): the CBC chain of a whole batch runs as one ECB call per
    block column. Every value must pad to the same number of blocks. The first token is checked
    against fernet.decrypt; on any doubt the values are encrypted one by one."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    n = len(values)
    if n == 0:
        return []
    signing, encryption = (
        getattr(fernet, "_signing_key", None),
        getattr(fernet, "_encryption_key", None),
    )
    length = len(values[0])
    if signing is None or encryption is None or any(len(v) != length for v in values):
        return [fernet.encrypt(v).decode() for v in values]
    pad = 16 - length % 16
    blocks = (length + pad) // 16
    plain = np.frombuffer(b"".join(values), dtype=np.uint8).reshape(n, length)
    plain = np.concatenate([plain, np.full((n, pad), pad, dtype=np.uint8)], axis=1)
    iv = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16)
    encryptor = Cipher(algorithms.AES(encryption), modes.ECB()).encryptor()
    cipher = np.empty((n, 16 * blocks), dtype=np.uint8)
    previous = iv
    for b in range(blocks):
        block = plain[:, 16 * b : 16 * (b + 1)] ^ previous
        previous = np.frombuffer(encryptor.update(block.tobytes()), dtype=np.uint8).reshape(n, 16)
        cipher[:, 16 * b : 16 * (b + 1)] = previous
    head = np.empty((n, 25), dtype=np.uint8)
    head[:, 0] = 0x80
    head[:, 1:9] = np.frombuffer(struct.pack(">Q", int(time.time())), dtype=np.uint8)
    head[:, 9:25] = iv
    body = np.concatenate([head, cipher], axis=1).tobytes()
    size = 25 + 16 * blocks
    digest, b64 = hmac.digest, base64.urlsafe_b64encode
    out = []
    for i in range(n):
        message = body[size * i : size * (i + 1)]
        out.append(b64(message + digest(signing, message, "sha256")).decode())
    if fernet.decrypt(out[0].encode()) != values[0]:  # pragma: no cover - a changed library
        return [fernet.encrypt(v).decode() for v in values]
    return out


def _sql_name(key: str, s: int) -> str:
    """SQL for a person's name drawn by hash of `key` (a bigint expression): a surname and one or two
    given characters, like _name. For a statement with parameters (its % are doubled)."""
    sur = "(ARRAY[" + ",".join(f"'{c}'" for c in SURNAMES) + "])"
    giv = "(ARRAY[" + ",".join(f"'{c}'" for c in GIVEN) + "])"
    pick = "(hashint8extended({k}, {s}) & 2147483647) %% {n}"
    return (
        f"{sur}[1 + {pick.format(k=key, s=s, n=len(SURNAMES))}]"
        f" || {giv}[1 + {pick.format(k=key, s=s + 1, n=len(GIVEN))}]"
        f" || CASE WHEN pg_temp.demo_u({key}, {s + 2}) < 0.5"
        f" THEN {giv}[1 + {pick.format(k=key, s=s + 3, n=len(GIVEN))}] ELSE '' END"
    )


def _sql_phone(key: str, s: int) -> str:
    prefixes = "(ARRAY['138','139','158','159','186','187'])"
    return (
        f"{prefixes}[1 + (hashint8extended({key}, {s}) & 2147483647) %% 6]"
        f" || lpad(((hashint8extended({key}, {s + 1}) & 2147483647) %% 100000000)::text, 8, '0')"
    )


def seed_bulk(*, seed: int, scale: float) -> dict:
    """People for a large demo, set-based (see the comment above FULL_COMMUNITIES)."""
    rng = np.random.default_rng(seed + 101)
    demo_sql_functions()
    password = make_password(DEMO_PASSWORD)
    n_companies = max(len(COMPANY_NAMES), round(scale))
    companies = PropertyCompany.objects.bulk_create(
        PropertyCompany(
            name=COMPANY_NAMES[i % len(COMPANY_NAMES)]
            + (f"第{i // len(COMPANY_NAMES) + 1}分公司" if i >= len(COMPANY_NAMES) else ""),
            credit_code=f"91340100MA{i:07d}X"[:18],
            phone=_phone(rng),
            has_party_org=bool(rng.random() < 0.6),
            party_members=int(rng.integers(0, 12)),
        )
        for i in range(n_companies)
    )
    company_ids = [c.id for c in companies]
    stats = {"property_companies": len(companies)}
    # Planted gaps are drawn by the area's code, not its id: the same territory plants the same gaps
    # whatever ids its sequence handed out.
    with connection.cursor() as cur:
        cur.execute(
            """INSERT INTO people_propertyservice (company_id, compound_id)
               SELECT (%(ids)s::bigint[])[1 + (hashint8extended(a.id, %(s1)s) & 2147483647) %% %(n)s],
                      a.id
                 FROM territory_area a
                WHERE a.level = 'compound' AND a.valid_to IS NULL
                  AND a.management_type IN ('commercial', 'proxy')
                  AND pg_temp.demo_u(hashtext(a.code), %(s2)s) >= %(unserved)s
                ORDER BY a.code""",
            {
                "ids": company_ids,
                "n": len(company_ids),
                "s1": salt(seed, S_COMPANY),
                "s2": salt(seed, S_UNSERVED),
                "unserved": BULK_UNSERVED,
            },
        )
        stats["property_services"] = cur.rowcount
    streets = list(Area.objects.filter(level="street", valid_to__isnull=True).order_by("code"))
    departments = [
        Department(name=f"{s.name}城管执法中队", kind=DepartmentKind.ENFORCEMENT, street=s)
        for s in streets
    ] + [
        Department(name="包河区住房和城乡建设局", kind=DepartmentKind.HOUSING),
        Department(name="包河区市场监督管理局", kind=DepartmentKind.MARKET),
        Department(name="包河区民政局", kind=DepartmentKind.CIVIL),
    ]
    Department.objects.bulk_create(departments)
    stats["departments"] = len(departments)
    with connection.cursor() as cur:
        cur.execute(
            f"""INSERT INTO people_staffassignment (name, phone, role, active, area_id)
                SELECT {_sql_name("a.id", salt(seed, S_NAME))}, {_sql_phone("a.id", salt(seed, S_PHONE))},
                       CASE a.level WHEN 'street' THEN 'street_staff'
                                    WHEN 'community' THEN 'community_staff' ELSE 'grid_leader' END,
                       true, a.id
                  FROM territory_area a
                 WHERE a.level IN ('street', 'community', 'grid') AND a.valid_to IS NULL
                   AND (a.level <> 'grid' OR pg_temp.demo_u(hashtext(a.code), %(s)s) >= %(leaderless)s
                        OR a.code = (SELECT min(code) FROM territory_area
                                      WHERE level = 'grid' AND valid_to IS NULL))
                 ORDER BY CASE a.level WHEN 'street' THEN 1 WHEN 'community' THEN 2 ELSE 3 END, a.code""",  # noqa: S608 - code constants
            {"s": salt(seed, S_LEADER), "leaderless": BULK_LEADERLESS},
        )
        stats["staff"] = cur.rowcount
    _demo_logins(rng, password)
    stats.update(_bulk_party_tree())
    # The big tables (~1.7M residents, party members and centers, ~43M links for a megacity) are
    # loaded with their keys, indexes and foreign keys rebuilt afterwards.
    with bulk_loading(*BULK_TABLES):
        stats.update(_bulk_people(rng, seed))
    with connection.cursor() as cur:
        cur.execute(
            "ANALYZE people_staffassignment, people_propertyservice, people_partyorganization,"
            " people_resident, people_partymember, people_ownerscommittee, people_committeemember,"
            " people_centerhousehold, people_centerlink"
        )
    return stats


PARTY_TREE_SQL = """
INSERT INTO people_partyorganization (name, kind, area_id)
SELECT c.name || '党委', 'committee', c.id FROM territory_area c
 WHERE c.level = 'community' AND c.valid_to IS NULL ORDER BY c.code;
INSERT INTO people_partyorganization (name, kind, area_id, parent_id)
SELECT g.name || '党支部', 'branch', g.id, po.id
  FROM territory_area g JOIN people_partyorganization po ON po.area_id = g.parent_id AND po.kind = 'committee'
 WHERE g.level = 'grid' AND g.valid_to IS NULL ORDER BY g.code;
INSERT INTO people_partyorganization (name, kind, area_id, parent_id)
SELECT c.name || '红色物业联盟党支部', 'alliance', c.id, po.id
  FROM territory_area c JOIN people_partyorganization po ON po.area_id = c.id AND po.kind = 'committee'
 WHERE c.level = 'community' AND c.valid_to IS NULL ORDER BY c.code;
INSERT INTO people_partyorganization (name, kind, building_id, parent_id)
SELECT b.name || '党小组', 'group', b.id, po.id
  FROM territory_building b JOIN people_partyorganization po ON po.area_id = b.grid_id AND po.kind = 'branch'
 WHERE b.floors >= 18 ORDER BY b.id;
-- A company with a party organisation: the alliance branch of the first community it serves in.
UPDATE people_propertycompany co SET party_org_id = al.id
  FROM (SELECT DISTINCT ON (s.company_id) s.company_id, a.parent_id AS community_id
          FROM people_propertyservice s JOIN territory_area a ON a.id = s.compound_id
         ORDER BY s.company_id, a.code) f
  JOIN people_partyorganization al ON al.area_id = f.community_id AND al.kind = 'alliance'
 WHERE co.id = f.company_id AND co.has_party_org;
"""


def _bulk_party_tree() -> dict:
    with connection.cursor() as cur:
        cur.execute(PARTY_TREE_SQL)
        cur.execute("SELECT count(*) FROM people_partyorganization")
        return {"party_organisations": cur.fetchone()[0]}


# Center households: per neighbourhood grid (but BULK_NO_CENTER of them, never the first), the
# household at a hashed position among its households.
CENTERS_SQL = """
CREATE TEMP TABLE _demo_center ON COMMIT DROP AS
SELECT (row_number() OVER (ORDER BY a.id))::int AS rn, a.id AS neighbourhood_id,
       h.id AS household_id, h.building_id, b.grid_id, b.compound_id, b.community_id
  FROM territory_area a
 CROSS JOIN LATERAL (
    SELECT x.id, x.building_id FROM territory_household x WHERE x.neighbourhood_id = a.id
     ORDER BY x.id OFFSET (hashint8extended(a.id, %(s_center)s) & 2147483647) %% GREATEST(a.households, 1)
     LIMIT 1
 ) h
  JOIN territory_building b ON b.id = h.building_id
 WHERE a.level = 'neighbourhood' AND a.valid_to IS NULL
   AND (pg_temp.demo_u(hashtext(a.code), %(s_no_center)s) >= %(no_center)s
        OR a.code = (SELECT min(code) FROM territory_area WHERE level = 'neighbourhood' AND valid_to IS NULL))
 ORDER BY a.id
"""

CENTER_ROWS_SQL = """
INSERT INTO people_centerhousehold (household_id, party_member_id, designated_at)
SELECT c.household_id, pm.id, %(now)s
  FROM _demo_center c
  JOIN people_resident r ON r.household_id = c.household_id AND r.is_head
  JOIN people_partymember pm ON pm.resident_id = r.id
 ORDER BY c.neighbourhood_id;
ALTER TABLE _demo_center ADD COLUMN center_id bigint;
UPDATE _demo_center c SET center_id = ch.id FROM people_centerhousehold ch
 WHERE ch.household_id = c.household_id;
"""

# The households a center looks after: the first max_links others of its neighbourhood grid.
LINKS_SQL = """
INSERT INTO people_centerlink (center_id, household_id, created_at)
SELECT c.center_id, h.id, %(now)s
  FROM _demo_center c
 CROSS JOIN LATERAL (
    SELECT x.id FROM territory_household x
     WHERE x.neighbourhood_id = c.neighbourhood_id AND x.id <> c.household_id
     ORDER BY x.id LIMIT %(max_links)s
 ) h
 WHERE c.rn BETWEEN %(lo)s AND %(hi)s AND c.center_id IS NOT NULL
"""

# Owners' committees (most managed compounds, fewer others) with at least one resident, and their
# members: the compound's residents heading a center household (party members), 5-7 of them.
COMMITTEES_SQL = """
INSERT INTO people_ownerscommittee (compound_id, kind, formed)
SELECT a.id, CASE WHEN a.management_type IN ('commercial', 'proxy') THEN 'owners' ELSE 'management' END,
       date '2015-01-01' + ((hashint8extended(a.id, %(s)s) & 2147483647) %% 3000)::int
  FROM territory_area a
 WHERE a.level = 'compound' AND a.valid_to IS NULL
   AND pg_temp.demo_u(a.id, %(s)s + 1) < CASE WHEN a.management_type IN ('commercial', 'proxy')
                                                THEN 0.7 ELSE 0.4 END
   AND EXISTS (SELECT 1 FROM _demo_resident_compound rc WHERE rc.compound_id = a.id)
 ORDER BY a.code;
INSERT INTO people_committeemember (committee_id, resident_id, role)
SELECT oc.id, m.resident_id,
       CASE m.rn WHEN 1 THEN 'chair' WHEN 2 THEN 'deputy' ELSE 'member' END
  FROM people_ownerscommittee oc
  JOIN (SELECT rc.compound_id, rc.resident_id,
               row_number() OVER (PARTITION BY rc.compound_id ORDER BY rc.resident_id) AS rn
          FROM _demo_resident_compound rc) m ON m.compound_id = oc.compound_id
 WHERE m.rn <= 5 + (hashint8extended(oc.compound_id, %(s)s + 2) & 2147483647) %% 3
"""


def _bulk_people(rng, seed: int) -> dict:
    """Residents (the demo district in full, elsewhere the heads of center households), party members,
    owners' committees, center households and their links."""
    from apps.people.models import PartyOrganization
    from apps.people.selectors import center_policy

    now = timezone.now()
    with connection.cursor() as cur:
        cur.execute(
            CENTERS_SQL,
            {
                "s_center": salt(seed, S_CENTER),
                "s_no_center": salt(seed, S_NO_CENTER),
                "no_center": BULK_NO_CENTER,
            },
        )
        cur.execute("ANALYZE _demo_center")
        cur.execute(
            "SELECT id FROM territory_area WHERE level = 'community' AND valid_to IS NULL"
            " ORDER BY code LIMIT %s",
            [FULL_COMMUNITIES],
        )
        full = [r[0] for r in cur.fetchall()]
        # (household, building, grid, compound, is a center, in the demo district) of every
        # household that gets residents.
        cur.execute(
            """SELECT h.id, b.id, b.grid_id, b.compound_id, c.household_id IS NOT NULL, true
                 FROM territory_household h JOIN territory_building b ON b.id = h.building_id
                 LEFT JOIN _demo_center c ON c.household_id = h.id
                WHERE b.community_id = ANY(%s)
               UNION ALL
               SELECT c.household_id, c.building_id, c.grid_id, c.compound_id, true, false
                 FROM _demo_center c WHERE NOT c.community_id = ANY(%s)
                ORDER BY 1""",
            [full, full],
        )
        households = cur.fetchall()
    if not households:
        return {"residents": 0, "party_members": 0}
    # 1-4 residents per household of the demo district, elsewhere only the center household's head.
    sizes = rng.choice([1, 2, 3, 4], size=len(households), p=[0.1, 0.45, 0.35, 0.1])
    sizes = np.where([h[5] for h in households], sizes, 1)
    n = int(sizes.sum())
    ids = _reserve("people_resident", n)
    idnums = _id_numbers(rng, n)
    fernet, hkey = pii.keys()
    ciphers: list[str] = []
    with progress_bar(n, "residents", "resident") as update:
        for k in range(0, n, 100_000):
            chunk = [idnum.encode() for idnum, _born in idnums[k : k + 100_000]]
            ciphers.extend(encrypt_many(fernet, chunk))
            update(len(chunk))
    sur = rng.integers(0, len(SURNAMES), size=n)
    given = rng.integers(0, len(GIVEN), size=(n, 2))
    two = rng.random(n) < 0.5
    phones = rng.choice(10**8, size=n, replace=False)
    prefixes = rng.choice(["138", "139", "158", "159", "186", "187", "135", "177"], size=n)
    digest = hmac.digest
    rows, heads = [], []  # heads: (resident id, household row, birth) of center households
    k = 0
    for hh, size in zip(households, sizes, strict=True):
        for j in range(int(size)):
            idnum, born = idnums[k]
            name = SURNAMES[sur[k]] + GIVEN[given[k, 0]] + (GIVEN[given[k, 1]] if two[k] else "")
            rows.append(
                (
                    ids[k],
                    hh[0],
                    name,
                    f"{prefixes[k]}{int(phones[k]):08d}",
                    ciphers[k],
                    digest(hkey, idnum.encode(), hashlib.sha256).hex(),
                    mask_id(idnum),
                    j == 0,
                    now,
                )
            )
            if j == 0 and hh[4]:
                heads.append((ids[k], hh, born))
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
    del rows, ciphers
    # Party members: the head of every center household, in the building's party group or else the
    # grid's branch.
    orgs = PartyOrganization.objects.filter(kind__in=["branch", "group"]).values_list(
        "id", "kind", "area_id", "building_id"
    )
    branch_of = {a: i for i, kind, a, _b in orgs if kind == "branch"}
    group_of = {b: i for i, kind, _a, b in orgs if kind == "group"}
    members = []
    for rid, hh, born in heads:  # _id_numbers draws births up to 2004: all adults
        kind = (
            "retired"
            if born < date(1962, 1, 1)
            else ("community", "in_service")[int(rng.integers(0, 2))]
        )
        org = group_of.get(hh[1]) or branch_of.get(hh[2])
        if org is None:
            continue
        joined = min(born + timedelta(days=int(rng.integers(18 * 365, 40 * 365))), date(2024, 7, 1))
        members.append((rid, org, kind, joined, "包河区某单位" if kind == "in_service" else ""))
    copy_rows(
        "people_partymember",
        ["resident_id", "organization_id", "kind", "joined", "workplace"],
        members,
    )
    policy = center_policy(community_id=None)
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE _demo_resident_compound ON COMMIT DROP AS"
            " SELECT c.compound_id, r.id AS resident_id FROM _demo_center c"
            " JOIN people_resident r ON r.household_id = c.household_id AND r.is_head"
            " WHERE c.compound_id IS NOT NULL"
        )
        cur.execute(COMMITTEES_SQL, {"s": salt(seed, S_COMMITTEE)})
        cur.execute("SELECT count(*) FROM people_ownerscommittee")
        committees = cur.fetchone()[0]
        cur.execute(CENTER_ROWS_SQL, {"now": now})
        cur.execute("SELECT count(center_id) FROM _demo_center")
        centers = cur.fetchone()[0]
        cur.execute("CREATE INDEX ON _demo_center (rn)")
        cur.execute("SELECT count(*) FROM _demo_center")
        n_centers = cur.fetchone()[0]
        links = 0
        step = max(1000, n_centers // 20)
        with progress_bar(n_centers, "center links", "center") as update:
            for lo in range(1, n_centers + 1, step):
                hi = min(lo + step - 1, n_centers)
                cur.execute(
                    LINKS_SQL, {"now": now, "max_links": policy.max_links, "lo": lo, "hi": hi}
                )
                links += cur.rowcount
                update(hi - lo + 1)
    return {
        "residents": n,
        "party_members": len(members),
        "owners_committees": committees,
        "center_households": centers,
        "center_links": links,
    }


def _reserve(table: str, count: int) -> range:
    """`count` consecutive ids of the table's sequence; the table is locked against other writers
    until the seeding transaction ends, so nobody else draws from it in between."""
    with connection.cursor() as cur:
        cur.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")  # noqa: S608 - code constant
        cur.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id'))", [table])
        first = cur.fetchone()[0]
        cur.execute(
            "SELECT setval(pg_get_serial_sequence(%s, 'id'), %s)", [table, first + count - 1]
        )
    return range(first, first + count)
