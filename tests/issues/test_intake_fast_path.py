"""Intake's prepared statements answer as the code they replaced (docs/BENCHMARKS.md, "Issue intake
over HTTP"): the routing lookups pick the objects apps.people.selectors picks, the Open311 api-key
statement counts the key's and the address's hits only for a valid key and carries the categories'
version, and the issue INSERT still writes a geometry in another SRID through its placeholder."""

import json

import pytest
from django.test import Client

from apps.common.models import RateBucket
from apps.issues import services
from apps.issues.models import ApiKey, Category, Issue, IssueEvent, Source, Status
from apps.people import selectors as people
from apps.people.models import Department, PropertyService, StaffAssignment
from apps.territory.models import Area

from .conftest import point_in

pytestmark = pytest.mark.django_db


def _fields(obj) -> dict | None:
    if obj is None:
        return None
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def _areas(**ids) -> dict:
    return {level: Area.objects.get(pk=pk) if pk else None for level, pk in ids.items()}


def test_the_property_lookups_pick_what_the_people_selectors_pick(demo):
    compounds = list(Area.objects.filter(level="compound").values_list("id", flat=True))
    grids = list(Area.objects.filter(level="grid").values_list("id", flat=True))
    assert PropertyService.objects.exists() and len(compounds) > len(
        set(PropertyService.objects.values_list("compound_id", flat=True))
    )  # managed and unmanaged compounds both
    # a grid with two leaders (the lowest id wins), one with an inactive leader only
    two, inactive = grids[0], grids[1]
    StaffAssignment.objects.create(name="第二组长", role="grid_leader", area_id=two)
    StaffAssignment.objects.filter(area_id=inactive, role="grid_leader").update(active=False)
    pairs = [(c, g) for c in compounds[:40] + [None] for g in (two, inactive, grids[2], None)]
    for compound_id, grid_id in pairs:
        lookups = services.IntakeLookups(_areas(compound=compound_id, grid=grid_id))
        assert _fields(lookups.compound_property_company(compound_id=compound_id)) == _fields(
            people.compound_property_company(compound_id=compound_id)
        )
        assert _fields(lookups.grid_leader(grid_id=grid_id)) == _fields(
            people.grid_leader(grid_id=grid_id)
        )
    assert services.IntakeLookups(_areas(grid=inactive)).grid_leader(grid_id=inactive) is None


def test_the_department_lookup_prefers_the_streets_own(demo):
    street = Area.objects.filter(level="street").order_by("id").first()
    everywhere = Department.objects.get(kind="housing", street=None)
    # a newer (higher id) department of the street itself: chosen before the one serving everywhere
    own = Department.objects.create(name="本街道住房办", kind="housing", street=street)
    assert own.pk > everywhere.pk
    kinds = set(Department.objects.values_list("kind", flat=True)) | {"no-such-kind"}
    lookups = services.IntakeLookups(_areas(street=street.id))
    for kind in kinds:
        for street_id in (street.id, None):
            assert _fields(lookups.department_for(kind=kind, street_id=street_id)) == _fields(
                people.department_for(kind=kind, street_id=street_id)
            )
    assert lookups.department_for(kind="housing", street_id=street.id).pk == own.pk
    assert lookups.department_for(kind="housing", street_id=None).pk == everywhere.pk


def test_routes_at_intake_are_those_of_route_for(demo, managed_compound, unmanaged_compound):
    subs = list(Category.objects.filter(active=True, parent__isnull=False).select_related("parent"))
    for area in (managed_compound, unmanaged_compound):
        here = point_in(area)
        areas = services.areas_at(here)
        for sub in subs:
            expected = services.route_for(category=sub.parent, subcategory=sub, areas=areas)
            issue = services.issue_create(
                point=here, category=sub, description="测试", source=Source.PATROL
            )
            assert (issue.responsible_kind, issue.responsible_company_id) == (
                expected.kind,
                expected.company.id if expected.company else None,
            )
            assert (issue.responsible_staff_id, issue.responsible_department_id) == (
                expected.staff.id if expected.staff else None,
                expected.department.id if expected.department else None,
            )
            route = IssueEvent.objects.get(issue_id=issue.id, action="route")
            assert route.reason == expected.reason and route.note == ""


def _post(client, key, here, code="property-repair", ip="10.3.3.3"):
    return client.post(
        "/open311/v2/requests.json",
        {"api_key": key, "service_code": code, "lat": here.y, "long": here.x, "description": "x"},
        REMOTE_ADDR=ip,
    )


def test_only_a_valid_key_counts_its_hits(a_grid):
    here = point_in(a_grid)
    client = Client()
    inactive = ApiKey.objects.create(name="off", key="k-fast-off", active=False)
    for key in ("k-fast-unknown", inactive.key):
        r = _post(client, key, here)
        assert r.status_code == 403
        assert json.loads(r.content)[0]["description"] == "api_key is not valid"
    assert not RateBucket.objects.filter(key__startswith="open311:").exists()
    key = ApiKey.objects.create(name="on", key="k-fast-on")
    assert _post(client, key.key, here).status_code == 201
    assert _post(client, key.key, here).status_code == 201
    hits = dict(RateBucket.objects.filter(key__startswith="open311:").values_list("key", "hits"))
    assert hits == {f"open311:key:{key.pk}": 2, "open311:ip:10.3.3.3": 2}
    # an invalid service is refused after counting, as before (the limits come first)
    assert _post(client, key.key, here, code="no-such-service").status_code == 400
    assert RateBucket.objects.get(key=f"open311:key:{key.pk}").hits == 3


def test_the_key_statement_sees_a_category_change(a_grid, settings):
    here = point_in(a_grid)
    client = Client()
    key = ApiKey.objects.create(name="cats", key="k-fast-cats").key
    assert _post(client, key, here).status_code == 201  # the cache holds the categories now
    Category.objects.filter(code="property-repair").update(active=False)
    r = _post(client, key, here)
    assert r.status_code == 400 and "not a known service" in json.loads(r.content)[0]["description"]
    Category.objects.filter(code="property-repair").update(active=True)
    assert _post(client, key, here).status_code == 201


def test_a_point_in_another_srid_is_written_through_its_placeholder(a_grid):
    here = point_in(a_grid)
    first = services.issue_create(
        point=here, category="property-repair", description="测试", source=Source.PATROL
    )
    copy = Issue.objects.get(pk=first.pk)
    copy.pk, copy.tracking_code, copy.token = None, services.tracking_code_new(), "t-srid"
    copy.point = here.transform(3857, clone=True)
    copy._state.adding = True
    event = IssueEvent(action="create", to_status=Status.COLLECTED, note="copy", at=copy.created_at)
    services._issue_insert(copy, [event])
    stored = Issue.objects.get(pk=copy.pk)
    assert stored.point.srid == 4326
    assert stored.point.distance(here) < 1e-9
    assert IssueEvent.objects.get(pk=event.pk).issue_id == copy.pk
