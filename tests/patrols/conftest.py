import pytest
from django.contrib.auth import get_user_model

from apps.people.models import StaffAssignment


@pytest.fixture
def leader(demo):
    """The demo grid leader (login `grid`) and the grid they lead."""
    assignment = StaffAssignment.objects.select_related("area", "user").get(
        user__username="grid", role="grid_leader"
    )
    return assignment.user, assignment.area


@pytest.fixture
def stranger(demo):
    return get_user_model().objects.create_user("stranger", password="x")
