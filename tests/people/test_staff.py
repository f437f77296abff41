import pytest

from apps.common.errors import DomainError
from apps.people.models import PropertyService, StaffAssignment
from apps.people.selectors import compound_property_company, department_for, grid_leader
from apps.people.services import staff_assign
from apps.territory.models import Area


def test_every_grid_has_a_leader_and_managed_compounds_a_company(demo):
    for grid in Area.objects.filter(level="grid"):
        assert grid_leader(grid_id=grid.id) is not None
    for compound in Area.objects.filter(level="compound"):
        company = compound_property_company(compound_id=compound.id)
        assert (company is not None) == (compound.management_type in ("commercial", "proxy"))
    assert PropertyService.objects.count() > 0


def test_a_role_attached_to_an_area_of_the_wrong_level_is_refused(demo):
    community = Area.objects.filter(level="community").first()
    before = StaffAssignment.objects.count()
    # the role and the levels are named by their labels (Chinese in a Chinese request)
    with pytest.raises(
        DomainError, match="a grid leader is attached to a grid, not to a community"
    ):
        staff_assign(name="王伟", role="grid_leader", area=community)
    with pytest.raises(DomainError, match="needs a building"):
        staff_assign(name="王伟", role="building_head")
    assert StaffAssignment.objects.count() == before


def test_enforcement_department_of_a_street(demo):
    street = Area.objects.get(level="street")
    dept = department_for(kind="enforcement", street_id=street.id)
    assert dept.street_id == street.id and "城管" in dept.name
    assert department_for(kind="housing", street_id=street.id).street_id is None
