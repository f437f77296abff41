"""Demo organisations and staff: property companies for managed compounds, departments per street, a grid
leader for every grid, staff for every community and street, and demo logins (password `linli-demo`)."""

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password

from apps.people.models import (
    Department,
    DepartmentKind,
    PropertyCompany,
    PropertyService,
    StaffAssignment,
)
from apps.territory.models import Area

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
    return {
        "property_companies": len(companies),
        "departments": len(departments),
        "staff": len(staff),
    }
