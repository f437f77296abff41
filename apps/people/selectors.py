"""Reads about who is responsible for what."""

from apps.people.models import Department, PropertyCompany, StaffAssignment, StaffRole


def compound_property_company(*, compound_id: int | None) -> PropertyCompany | None:
    """The company serving a compound, or None (无物业 or unknown compound)."""
    if compound_id is None:
        return None
    return PropertyCompany.objects.filter(services__compound_id=compound_id).first()


def grid_leader(*, grid_id: int | None) -> StaffAssignment | None:
    if grid_id is None:
        return None
    return (
        StaffAssignment.objects.filter(role=StaffRole.GRID_LEADER, area_id=grid_id, active=True)
        .order_by("id")
        .first()
    )


def department_for(*, kind: str, street_id: int | None = None) -> Department | None:
    """The department of a kind serving a street; one with no street serves everywhere."""
    qs = Department.objects.filter(kind=kind)
    if street_id is not None:
        local = qs.filter(street_id=street_id).order_by("id").first()
        if local:
            return local
    return qs.filter(street__isnull=True).order_by("id").first()
