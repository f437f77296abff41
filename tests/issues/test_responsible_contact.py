"""The issue detail says how to reach who handles it: a company's or department's service phone as it
is, a grid leader's phone in clear only for readers allowed personal data in the issue's area."""

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from apps.issues.models import ResponsibleKind
from apps.people.privacy import mask_phone
from tests.issues.conftest import point_in
from tests.issues.test_loop import make


def detail(username, issue) -> dict:
    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(username=username))
    res = client.get(f"/api/issues/{issue.id}")
    assert res.status_code == 200, res.content
    return res.json()["responsible"]


def test_a_property_company_is_given_with_its_service_phone(managed_compound):
    issue = make(point_in(managed_compound), subcategory="property-repair")
    company = managed_compound.property_service.company
    company.phone = "0551-63456789"
    company.save()
    for username in ("community", "planner"):
        assert detail(username, issue) == {
            "kind": ResponsibleKind.PROPERTY_COMPANY,
            "name": company.name,
            "phone": "0551-63456789",
            "masked": False,
        }


def test_a_grid_leaders_phone_is_masked_for_readers_not_allowed_personal_data(unmanaged_compound):
    issue = make(point_in(unmanaged_compound))
    leader = issue.responsible_staff
    assert issue.responsible_kind == ResponsibleKind.GRID_LEADER and leader.phone
    clear = detail("community", issue)
    assert (clear["phone"], clear["masked"]) == (leader.phone, False)
    assert clear["name"].startswith(leader.name)
    masked = detail("planner", issue)
    assert (masked["phone"], masked["masked"]) == (mask_phone(leader.phone), True)


def test_an_issue_with_the_community_has_no_phone(demo):
    from apps.territory.models import Area

    grid = Area.objects.filter(level="grid", valid_to=None).order_by("code").first()
    issue = make(point_in(grid), category="dispute")
    got = detail("community", issue)
    assert got["kind"] == ResponsibleKind.COMMUNITY and got["phone"] == "" and got["name"]
