"""Who may move an issue: coordinators (street/community staff) in their area, handlers (the property
company, department, grid leader or community responsible for it); everyone else is refused (403)."""

import pytest
from rest_framework.test import APIClient

from apps.issues import services
from apps.issues.models import Issue, IssueEvent, ResponsibleKind
from apps.people.models import StaffAssignment
from apps.territory.models import Area
from tests.issues.conftest import point_in


def user_with(django_user_model, name, **assignment):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    StaffAssignment.objects.create(user=user, name=name, **assignment)
    client = APIClient()
    client.force_authenticate(user)
    return user, client


def act(client, issue, action, **data):
    return client.post(f"/api/issues/{issue.id}/actions/{action}", data, format="json")


def test_property_company_handles_only_its_own(managed_compound, django_user_model):
    issue = services.issue_create(
        point=point_in(managed_compound), category="property", description="漏水", source="resident"
    )
    company = issue.responsible_company
    community = Area.objects.get(pk=issue.community_id)
    _u, coordinator = user_with(django_user_model, "c1", role="community_staff", area=community)
    _u, handler = user_with(django_user_model, "p1", role="property_company", company=company)
    other_company = type(company).objects.exclude(pk=company.pk).first()
    _u, stranger = user_with(
        django_user_model, "p2", role="property_company", company=other_company
    )
    _u, planner = user_with(django_user_model, "pl", role="planner", area=community)

    r = act(handler, issue, "dispatch")
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert act(planner, issue, "dispatch").status_code == 403
    r = act(coordinator, issue, "dispatch")
    assert r.status_code == 200 and r.json()["actions"] == []  # accepting is the company's job
    assert act(stranger, issue, "accept").status_code == 404  # not theirs: outside their scope
    r = act(handler, issue, "accept")
    assert r.status_code == 200 and r.json()["actions"] == ["return", "resolve"]
    assert act(handler, issue, "resolve").status_code == 200
    assert act(handler, issue, "close").status_code == 403  # closing is the community's
    r = act(coordinator, issue, "close", note="回访满意")
    assert r.status_code == 200 and r.json()["status"] == "closed"


def test_coordinator_outside_their_area_is_refused(a_grid, django_user_model):
    issue = services.issue_create(
        point=point_in(a_grid), category="dispute", description="x", source="resident"
    )
    street = Area.objects.get(pk=issue.street_id)
    far = Area.objects.create(
        level="community",
        code=street.code + "998",
        name="远处社区",
        parent=street,
        geom=Area.objects.get(pk=issue.community_id).geom,
    )
    _u, outsider = user_with(django_user_model, "o1", role="community_staff", area=far)
    assert act(outsider, issue, "dispatch").status_code == 404  # outside their scope: not found
    _u, street_staff = user_with(django_user_model, "s1", role="street_staff", area=street)
    assert act(street_staff, issue, "dispatch").status_code == 200


def test_grid_leader_handles_what_was_routed_to_them(unmanaged_compound, django_user_model):
    issue = services.issue_create(
        point=point_in(unmanaged_compound), category="property", description="x", source="patrol"
    )
    assert issue.responsible_kind == ResponsibleKind.GRID_LEADER
    leader = issue.responsible_staff
    user = django_user_model.objects.create_user("gl", password="pw")
    StaffAssignment.objects.filter(pk=leader.pk).update(user=user)
    client = APIClient()
    client.force_authenticate(user)
    assert act(client, issue, "consult").status_code == 200  # in their grid
    assert act(client, issue, "dispatch").status_code == 403
    services.issue_transition(issue_id=issue.id, action="dispatch")
    assert act(client, issue, "accept").status_code == 200


@pytest.mark.parametrize("who", ["nobody"])
def test_staff_without_assignment_may_neither_read_nor_act(a_grid, django_user_model, who):
    issue = services.issue_create(
        point=point_in(a_grid), category="dispute", description="x", source="resident"
    )
    user = django_user_model.objects.create_user(who, password="pw", is_staff=True)
    client = APIClient()
    client.force_authenticate(user)
    assert client.get(f"/api/issues/{issue.id}").status_code == 403  # no role: no scope
    assert act(client, issue, "dispatch").status_code == 403


def test_a_planner_in_the_area_may_read_but_not_act(a_grid, django_user_model):
    issue = services.issue_create(
        point=point_in(a_grid), category="dispute", description="x", source="resident"
    )
    _u, client = user_with(
        django_user_model, "pl2", role="planner", area=Area.objects.get(pk=issue.community_id)
    )
    detail = client.get(f"/api/issues/{issue.id}").json()
    assert detail["actions"] == [] and detail["loop_actions"] == [
        "consult",
        "dispatch",
        "reject",
        "duplicate",
    ]
    assert act(client, issue, "dispatch").status_code == 403


def test_staff_file_issues_only_inside_their_areas(demo, django_user_model):
    """A grid leader takes in issues in their grid; a point in another grid is refused with the grid's
    name and code, and nothing is written (not even the history)."""
    mine, other = Area.objects.filter(level="grid", valid_to=None).order_by("code")[:2]
    _u, leader = user_with(django_user_model, "gl", role="grid_leader", area=mine)
    before = Issue.objects.count(), IssueEvent.objects.count()

    def file_at(area):
        p = point_in(area)
        body = {"lon": p.x, "lat": p.y, "category": "property", "description": "楼道灯坏了"}
        return leader.post("/api/issues", body, format="json")

    r = file_at(other)
    assert r.status_code == 400
    assert r.json()["field"] == "point"
    assert other.code in r.json()["error"] and "不在您负责的区域内" in r.json()["error"]
    assert (Issue.objects.count(), IssueEvent.objects.count()) == before
    r = file_at(mine)
    assert r.status_code == 201 and r.json()["areas"]["grid"]["code"] == mine.code


def test_before_filing_the_place_says_whether_the_point_is_theirs(
    demo, managed_compound, django_user_model
):
    """/api/issues/place answers what filing would: a grid leader's own grid yes, another grid no
    (with the message filing would get); a property company cannot tell before routing."""
    mine, other = Area.objects.filter(level="grid", valid_to=None).order_by("code")[:2]
    _u, leader = user_with(django_user_model, "gl", role="grid_leader", area=mine)

    def place(client, area):
        p = point_in(area)
        r = client.get("/api/issues/place", {"lon": p.x, "lat": p.y})
        assert r.status_code == 200, r.json()
        return r.json()

    here = place(leader, mine)
    assert (here["yours"], here["error"], here["area"]["code"]) == (True, None, mine.code)
    there = place(leader, other)
    assert there["yours"] is False and there["area"]["code"] == other.code
    p = point_in(other)
    filed = leader.post(
        "/api/issues",
        {"lon": p.x, "lat": p.y, "category": "property", "description": "楼道灯坏了"},
        format="json",
    )
    assert filed.status_code == 400 and filed.json()["error"] == there["error"]

    company = managed_compound.property_service.company
    _u, property_staff = user_with(
        django_user_model, "p1", role="property_company", company=company
    )
    assert place(property_staff, other)["yours"] is None  # only the routing can tell
    r = leader.get("/api/issues/place", {"lon": "x", "lat": p.y})
    assert r.status_code == 400 and r.json()["field"] == "lon"


def test_awaiting_lists_exactly_what_waits_for_each_user(demo, managed_compound, django_user_model):
    """?awaiting=true: the issues where the loop gives this user something to do now (dispatch,
    reject, duplicate, rate, close in their area; accept, return, resolve on what they handle),
    the same rules as the action buttons (actions_for), checked issue by issue on the demo."""
    from apps.issues.services import actions_for
    from apps.people.models import Department
    from apps.people.scope import user_scope

    company = managed_compound.property_service.company
    for text in ("漏水", "电梯坏了"):  # dispatched to the compound's property company
        issue = services.issue_create(
            point=point_in(managed_compound), category="property", description=text, source="patrol"
        )
        assert issue.responsible_company == company
        services.issue_transition(issue_id=issue.id, action="dispatch", actor=None)
    property_user, _c = user_with(django_user_model, "p1", role="property_company", company=company)
    department_user, _c = user_with(
        django_user_model, "d1", role="department", department=Department.objects.first()
    )
    users = [
        django_user_model.objects.get(username=name)
        for name in ("community", "street", "grid", "planner")
    ] + [property_user, department_user]
    for user in users:
        scope = user_scope(user)
        expected = {
            i.id
            for i in Issue.objects.filter(scope.issues_q())
            if set(actions_for(issue=i, user=user)) - {"consult", "reopen"}
        }
        client = APIClient()
        client.force_authenticate(user)
        r = client.get("/api/issues", {"awaiting": "true", "page_size": 500})
        assert r.status_code == 200, r.json()
        assert r.json()["count"] <= 500
        assert {i["id"] for i in r.json()["results"]} == expected, user.username
        if user.username in ("community", "street", "p1"):
            assert expected, user.username  # something to do in the demo
        features = client.get("/api/issues.geojson", {"awaiting": "1"}).json()["features"]
        assert {f["id"] for f in features} == expected
    r = client.get("/api/issues", {"awaiting": "soon"})
    assert r.status_code == 400 and r.json()["field"] == "awaiting"


def test_an_issues_photo_is_shown_only_to_who_may_see_the_issue(
    demo, django_user_model, settings, tmp_path
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.issues.test_intake_errors import png_bytes

    settings.MEDIA_ROOT = tmp_path
    mine, other = Area.objects.filter(level="grid", valid_to=None).order_by("code")[:2]
    issue = services.issue_create(
        point=point_in(other),
        category="dispute",
        description="楼道堆物",
        source="patrol",
        photos=[SimpleUploadedFile("p.png", png_bytes(), content_type="image/png")],
    )
    url = f"/api/issues/{issue.id}/photos/{issue.photos.get().id}"
    _u, insider = user_with(django_user_model, "g2", role="grid_leader", area=other)
    _u, outsider = user_with(django_user_model, "g1", role="grid_leader", area=mine)
    assert insider.get(url).status_code == 200
    r = outsider.get(url)
    assert r.status_code == 404 and "楼道堆物" not in r.content.decode()


def test_a_coordinator_dispatches_to_a_party_chosen_from_the_issues_handlers(
    demo, managed_compound, django_user_model
):
    """/api/issues/<id>/handlers lists whom an issue may go to by hand (the community's property
    companies and grid leaders, the street's departments, the community); dispatching with one of
    them routes it there. An issue outside every community gets the nearest communities'."""
    from django.contrib.gis.geos import Point

    issue = services.issue_create(
        point=point_in(managed_compound), category="dispute", description="噪音", source="patrol"
    )
    community = Area.objects.get(pk=issue.community_id)
    _u, coordinator = user_with(django_user_model, "c1", role="community_staff", area=community)
    r = coordinator.get(f"/api/issues/{issue.id}/handlers")
    assert r.status_code == 200, r.json()
    handlers = r.json()["results"]
    kinds = {h["kind"] for h in handlers}
    assert {"property_company", "grid_leader", "community"} <= kinds
    company = managed_compound.property_service.company
    assert {"kind": "property_company", "id": company.id, "name": company.name} in handlers
    assert {"kind": "community", "id": community.id, "name": community.name} in handlers
    leaders = [h for h in handlers if h["kind"] == "grid_leader"]
    assert all(
        StaffAssignment.objects.get(pk=h["id"]).area.code.startswith(community.code)
        for h in leaders
    )
    r = act(
        coordinator, issue, "dispatch", responsible={"kind": "property_company", "id": company.id}
    )
    assert r.status_code == 200, r.json()
    issue.refresh_from_db()
    assert (issue.status, issue.responsible_company_id) == ("dispatched", company.id)
    assert issue.responsible_kind == "property_company"

    # outside the territory: the handlers of the nearest communities
    far = Point(community.geom.extent[2] + 0.01, community.geom.extent[3] + 0.01, srid=4326)
    outside = services.issue_create(point=far, category="dispute", description="x", source="patrol")
    assert outside.outside and outside.community_id is None
    _u, admin = user_with(django_user_model, "ca", role="city_admin")
    nearest = admin.get(f"/api/issues/{outside.id}/handlers").json()["results"]
    assert community.id in {h["id"] for h in nearest if h["kind"] == "community"}
    assert coordinator.get(f"/api/issues/{outside.id}/handlers").status_code == 404  # not theirs
