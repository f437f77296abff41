"""Writes about people and organisations. Each function is one transaction."""

from django.db import transaction

from apps.common.errors import DomainError
from apps.people.models import (
    ROLE_AREA_LEVEL,
    Department,
    PropertyCompany,
    StaffAssignment,
    StaffRole,
)
from apps.territory.models import Area, Building


@transaction.atomic
def staff_assign(
    *,
    name: str,
    role: str,
    area: Area | None = None,
    building: Building | None = None,
    company: PropertyCompany | None = None,
    department: Department | None = None,
    user=None,
    phone: str = "",
) -> StaffAssignment:
    """Attach a person to a role; the area must be of the level the role works at."""
    if role not in StaffRole.values:
        raise DomainError(f"unknown role {role!r}", field="role")
    expected = ROLE_AREA_LEVEL[role]
    if expected is None and area is not None:
        raise DomainError(f"a {role} is not attached to an area", field="area")
    if expected is not None:
        levels = expected if isinstance(expected, tuple) else (expected,)
        if area is None:
            raise DomainError(
                f"a {role} needs an area of level {' or '.join(levels)}", field="area"
            )
        if area.level not in levels:
            raise DomainError(
                f"a {role} is attached to a {' or '.join(levels)}, not to a {area.level} ({area.code})",
                field="area",
            )
    if role == StaffRole.BUILDING_HEAD and building is None:
        raise DomainError("a building head needs a building", field="building")
    if role == StaffRole.PROPERTY_COMPANY and company is None:
        raise DomainError("property company staff need a company", field="company")
    if role == StaffRole.DEPARTMENT and department is None:
        raise DomainError("department staff need a department", field="department")
    return StaffAssignment.objects.create(
        name=name,
        role=role,
        area=area,
        building=building,
        company=company,
        department=department,
        user=user,
        phone=phone,
    )
