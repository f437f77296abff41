"""Intake, routing and every path of the loop, with the race between two handlers."""

import threading

import pytest
from django.contrib.gis.geos import MultiPolygon, Point
from django.db import connection
from rest_framework.test import APIClient

from apps.common.errors import Conflict, DomainError
from apps.issues import selectors, services
from apps.issues.models import Issue, IssueEvent, ResponsibleKind, Status
from apps.issues.reasons import event_text
from apps.people.models import StaffAssignment
from apps.territory.models import Area
from apps.territory.services import area_replace
from tests.issues.conftest import ensure_seeded, point_in


def make(point, category="property", **kw):
    kw.setdefault("description", "电梯坏了")
    kw.setdefault("source", "resident")
    return services.issue_create(point=point, category=category, **kw)


def test_property_issue_goes_to_the_compounds_company_with_the_reason(managed_compound):
    issue = make(point_in(managed_compound), subcategory="property-repair")
    company = managed_compound.property_service.company
    assert issue.responsible_kind == ResponsibleKind.PROPERTY_COMPANY
    assert issue.responsible_company == company
    assert issue.compound_id == managed_compound.id
    assert issue.community_id == managed_compound.parent_id
    assert issue.grid is not None and issue.street is not None
    assert issue.area_code.startswith(managed_compound.parent.code)
    route = issue.events.get(action="route")
    assert event_text(route) == (
        f"compound {managed_compound.name} → property company {company.name}"
    )
    # SLA of the subcategory (48 h), not the category's 72 h
    assert (issue.due_at - issue.created_at).total_seconds() == 48 * 3600
    assert issue.status == Status.COLLECTED and len(issue.tracking_code) == 10


def test_property_issue_without_company_goes_to_the_grid_leader(unmanaged_compound):
    p = point_in(unmanaged_compound)
    issue = make(p)
    assert issue.responsible_kind == ResponsibleKind.GRID_LEADER
    leader = StaffAssignment.objects.get(role="grid_leader", area=issue.grid, active=True)
    assert issue.responsible_staff == leader
    assert (
        f"compound {unmanaged_compound.name} has no property company → grid leader {leader.name}"
        in event_text(issue.events.get(action="route"))
    )


def test_property_issue_falls_back_to_community_without_leader(unmanaged_compound):
    p = point_in(unmanaged_compound)
    grid_id = services.areas_at(p)["grid"].id
    StaffAssignment.objects.filter(area_id=grid_id).update(active=False)
    issue = make(p)
    assert issue.responsible_kind == ResponsibleKind.COMMUNITY
    assert issue.responsible_area_id == issue.community_id


def test_enforcement_goes_to_the_streets_department(a_grid):
    issue = make(point_in(a_grid), category="enforcement", subcategory="enforcement-vending")
    assert issue.responsible_kind == ResponsibleKind.DEPARTMENT
    assert issue.responsible_department.kind == "enforcement"
    assert issue.responsible_department.street_id == issue.street_id
    assert "department" in event_text(issue.events.get(action="route"))


def test_subcategory_department_kind_wins(a_grid):
    issue = make(point_in(a_grid), category="enforcement-rental")  # a subcategory code alone
    assert issue.category.code == "enforcement" and issue.subcategory.code == "enforcement-rental"
    assert issue.responsible_department.kind == "housing"


@pytest.mark.parametrize("category", ["dispute", "assistance"])
def test_disputes_and_assistance_go_to_the_community(a_grid, category):
    issue = make(point_in(a_grid), category=category)
    assert issue.responsible_kind == ResponsibleKind.COMMUNITY
    assert issue.responsible_area_id == issue.community_id == a_grid.parent_id
    assert event_text(issue.events.get(action="route")).startswith(
        f"category {issue.category.name} → community"
    )


def test_outside_point_is_accepted_flagged_and_not_routed(demo):
    issue = make(Point(100.0, 20.0, srid=4326))
    assert issue.outside is True
    assert issue.street is None and issue.responsible_kind == ResponsibleKind.NONE
    assert "outside the territory" in event_text(issue.events.get(action="route"))
    with pytest.raises(DomainError, match="no responsible party"):
        services.issue_transition(issue_id=issue.id, action="dispatch")


INTAKE_FIELDS = (
    "street_id",
    "community_id",
    "grid_id",
    "neighbourhood_id",
    "compound_id",
    "building_id",
    "area_code",
)


def intake_of(issue):
    return {f: getattr(issue, f) for f in INTAKE_FIELDS}


def detail_as(user, issue_id):
    client = APIClient()
    client.force_authenticate(user)
    response = client.get(f"/api/issues/{issue_id}")
    assert response.status_code == 200, response.content
    return response.json()


def test_intake_areas_survive_a_redraw(a_grid, staff_user):
    p = point_in(a_grid)
    issue = make(p, category="dispute")
    old = Area.objects.get(pk=issue.grid_id)
    assert old.id == a_grid.id and old.valid_to is None
    intake = intake_of(issue)
    assert intake["grid_id"] == old.id and intake["neighbourhood_id"] is not None
    before = detail_as(staff_user, issue.id)
    assert before["grid_now"]["id"] == old.id and before["grid_now"]["is_intake_grid"] is True

    # The grid is redrawn (a smaller polygon that still holds the point): a new version, same code.
    x0, y0, x1, y1 = old.geom.extent
    smaller = old.geom.intersection(p.buffer(min(x1 - x0, y1 - y0) / 4))
    new = area_replace(area=old, geom=smaller)
    assert (new.code, new.version, new.valid_to) == (old.code, old.version + 1, None)
    assert new.id != old.id and 0 < new.geom.area < old.geom.area * 0.9
    old.refresh_from_db()
    assert old.valid_to is not None  # closed, not overwritten

    issue.refresh_from_db()
    assert intake_of(issue) == intake  # every intake area still points at the version of intake
    body = detail_as(staff_user, issue.id)
    assert body["areas"]["grid"] == {
        "id": old.id,
        "code": old.code,
        "name": old.name,
        "version": old.version,
    }
    assert body["grid_now"] == {
        "level": "grid",
        "id": new.id,
        "code": new.code,
        "name": new.name,
        "version": old.version + 1,
        "is_intake_grid": False,
    }
    assert selectors.issue_grid_now(issue=issue)["id"] == new.id


def test_intake_areas_survive_a_published_grid_plan(a_grid, staff_user):
    """A planner moves a strip of grid 2 into grid 1 and publishes: an issue filed in the strip keeps
    grid 2's old version at intake, and the detail API says it lies in grid 1's new version now."""
    from apps.planning import services as planning

    plan = planning.plan_create_from_current(community=a_grid.parent, level="grid")
    areas = [
        {"id": a.id, "code": a.code, "name": a.name, "geom": a.geom}
        for a in plan.areas.order_by("code")
    ]
    g1, g2 = areas[0], areas[1]  # side by side in the demo
    assert g1["code"] == a_grid.code
    strip = g2["geom"].intersection(g1["geom"].buffer(0.0004))  # ~40 m of grid 2 go to grid 1
    assert strip.area > 0
    p = strip.point_on_surface
    issue = make(Point(p.x, p.y, srid=4326), category="dispute")
    old1 = Area.objects.get(level="grid", code=g1["code"], valid_to=None)
    old2 = Area.objects.get(level="grid", code=g2["code"], valid_to=None)
    assert issue.grid_id == old2.id
    intake = intake_of(issue)

    new1 = g1["geom"].union(strip)
    new2 = g2["geom"].difference(strip)
    g1["geom"] = new1 if new1.geom_type == "MultiPolygon" else MultiPolygon(new1, srid=4326)
    g2["geom"] = new2 if new2.geom_type == "MultiPolygon" else MultiPolygon(new2, srid=4326)
    plan = planning.plan_save(plan=plan, revision=1, areas=areas)
    check = planning.plan_check(plan=plan)
    assert check["valid"], [f["message"] for f in check["findings"]]
    diff = planning.plan_publish(plan=plan, revision=plan.revision)
    assert sorted(diff["changed"]) == sorted([g1["code"], g2["code"]])
    now1 = Area.objects.get(pk=diff["versions"][g1["code"]])
    assert now1.version == old1.version + 1 and now1.valid_to is None
    old2.refresh_from_db()
    assert old2.valid_to is not None

    issue.refresh_from_db()
    assert intake_of(issue) == intake
    body = detail_as(staff_user, issue.id)
    assert body["areas"]["grid"]["id"] == old2.id
    assert body["areas"]["grid"]["code"] == g2["code"]
    assert body["grid_now"]["id"] == now1.id
    assert body["grid_now"]["code"] == g1["code"]
    assert body["grid_now"]["version"] == old1.version + 1
    assert body["grid_now"]["is_intake_grid"] is False


def walk(issue, *steps, **kw):
    for step in steps:
        args = dict(kw)
        if step == "rate":
            args["rating"] = 5
        if step in ("return", "reject", "reopen"):
            args["note"] = "reason"
        issue = services.issue_transition(issue_id=issue.id, action=step, **args)
    return issue


def test_full_loop_with_consultation(a_grid, staff_user):
    issue = make(point_in(a_grid), category="dispute")
    issue = walk(issue, "consult", "dispatch", "accept", "resolve", actor=staff_user)
    assert issue.status == Status.RESOLVED and issue.resolved_at is not None
    issue = services.issue_transition(issue_id=issue.id, action="rate", rating=4, note="满意")
    assert (issue.rating, issue.rating_comment, issue.status) == (4, "满意", Status.RATED)
    issue = services.issue_transition(issue_id=issue.id, action="close", note="总结: 已处理")
    assert issue.status == Status.CLOSED and issue.closed_at is not None
    history = list(issue.events.values_list("action", "from_status", "to_status"))
    assert history == [
        ("create", "", "collected"),
        ("route", "collected", "collected"),
        ("consult", "collected", "consulted"),
        ("dispatch", "consulted", "dispatched"),
        ("accept", "dispatched", "accepted"),
        ("resolve", "accepted", "resolved"),
        ("rate", "resolved", "rated"),
        ("close", "rated", "closed"),
    ]
    assert issue.events.get(action="accept").actor == staff_user
    assert event_text(issue.events.get(action="rate")) == "rating 4; 满意"


def test_return_then_redispatch(a_grid):
    issue = walk(make(point_in(a_grid), category="dispute"), "dispatch", "accept", "return")
    assert issue.status == Status.RETURNED
    issue = walk(issue, "dispatch", "accept", "resolve", "close")
    assert issue.status == Status.CLOSED and issue.rating is None


def test_reject_and_duplicate(a_grid):
    p = point_in(a_grid)
    first = make(p, category="dispute")
    second = make(p, category="dispute")
    assert [d["id"] for d in services_dups(second)] == [first.id]
    dup = services.issue_transition(issue_id=second.id, action="duplicate", duplicate_of=first.id)
    assert dup.status == Status.DUPLICATE and dup.duplicate_of_id == first.id
    assert (
        services_dups(make(p, category="dispute"))[0]["id"] == first.id
    )  # duplicates are not offered
    rejected = walk(first, "reject")
    assert rejected.status == Status.REJECTED
    with pytest.raises(DomainError, match="tracking code") as err:
        services.issue_transition(issue_id=make(p, category="dispute").id, action="duplicate")
    assert err.value.field == "duplicate_of"
    # staff see tracking codes: one names the original as well as its id (any case); a code or id
    # of no other issue is refused by name, not a server error
    third = make(p, category="dispute")
    dup = services.issue_transition(
        issue_id=third.id, action="duplicate", duplicate_of=f" {first.tracking_code.lower()} "
    )
    assert dup.duplicate_of_id == first.id
    fourth = make(p, category="dispute")
    for ref in ("NOSUCHCODE", str(fourth.id)):
        with pytest.raises(DomainError, match="is not the tracking code or id of another issue"):
            services.issue_transition(issue_id=fourth.id, action="duplicate", duplicate_of=ref)


def services_dups(issue):
    from apps.issues.selectors import duplicates_nearby

    return duplicates_nearby(
        lon=issue.point.x, lat=issue.point.y, category=issue.category, exclude_id=issue.id
    )


def test_duplicates_only_same_category_within_radius(a_grid):
    p = point_in(a_grid)
    base = make(p, category="dispute")  # radius 30 m
    near = Point(p.x + 0.0002, p.y, srid=4326)  # ~19 m east at 31.8°N
    far = Point(p.x + 0.0005, p.y, srid=4326)  # ~47 m
    from apps.issues.models import Category
    from apps.issues.selectors import duplicates_nearby

    dispute = Category.objects.get(code="dispute")
    found = duplicates_nearby(lon=near.x, lat=near.y, category=dispute)
    assert [d["id"] for d in found] == [base.id] and 17 < found[0]["metres"] < 21
    assert duplicates_nearby(lon=far.x, lat=far.y, category=dispute) == []
    other = Category.objects.get(code="assistance")
    assert duplicates_nearby(lon=near.x, lat=near.y, category=other) == []


def test_reopen_counts_rework_and_resets_the_clock(a_grid):
    issue = walk(make(point_in(a_grid), category="dispute"), "dispatch", "accept", "resolve")
    issue = services.issue_transition(issue_id=issue.id, action="rate", rating=2)
    issue = walk(issue, "reopen")
    assert issue.status == Status.DISPATCHED and issue.rework_count == 1
    assert issue.rating is None and issue.resolved_at is None
    issue = walk(issue, "accept", "resolve", "close", "reopen")
    assert issue.rework_count == 2


@pytest.mark.parametrize(
    "status,action",
    [
        ("collected", "accept"),
        ("collected", "resolve"),
        ("dispatched", "rate"),
        ("closed", "dispatch"),
        ("rejected", "reopen"),
        ("resolved", "accept"),
    ],
)
def test_illegal_transitions_are_refused_and_change_nothing(a_grid, status, action):
    issue = make(point_in(a_grid), category="dispute")
    Issue.objects.filter(pk=issue.pk).update(status=status)
    events = IssueEvent.objects.filter(issue=issue).count()
    label = Status(status).label
    with pytest.raises(DomainError, match=f"cannot {action} an issue whose status is {label}"):
        services.issue_transition(issue_id=issue.id, action=action, note="x", rating=3)
    assert Issue.objects.get(pk=issue.pk).status == status
    assert IssueEvent.objects.filter(issue=issue).count() == events


def test_unknown_action_missing_note_bad_rating(a_grid):
    issue = make(point_in(a_grid), category="dispute")
    with pytest.raises(DomainError, match="unknown action"):
        services.issue_transition(issue_id=issue.id, action="teleport")
    issue = walk(issue, "dispatch")
    with pytest.raises(DomainError, match="a note is required to return"):
        services.issue_transition(issue_id=issue.id, action="return")
    issue = walk(issue, "accept", "resolve")
    for bad in (0, 6, "x", None):
        with pytest.raises(DomainError, match="rating"):
            services.issue_transition(issue_id=issue.id, action="rate", rating=bad)
    assert Issue.objects.get(pk=issue.pk).status == Status.RESOLVED


@pytest.mark.django_db(transaction=True)
def test_two_handlers_accepting_at_once_one_wins_the_other_is_told():
    ensure_seeded()
    grid = Area.objects.filter(level="grid").order_by("code").first()
    issue = walk(make(point_in(grid), category="dispute"), "dispatch")
    barrier = threading.Barrier(2)
    results = []

    def handler(name):
        try:
            barrier.wait()
            services.issue_transition(issue_id=issue.id, action="accept", actor_name=name)
            results.append(("ok", name))
        except Conflict as exc:
            results.append(("conflict", str(exc)))
        except DomainError as exc:  # read after the winner committed: plainly illegal now
            results.append(("refused", str(exc)))
        finally:
            connection.close()

    threads = [threading.Thread(target=handler, args=(n,)) for n in ("甲", "乙")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kinds = sorted(r[0] for r in results)
    assert kinds.count("ok") == 1 and len(kinds) == 2
    assert IssueEvent.objects.filter(issue_id=issue.id, action="accept").count() == 1
    assert Issue.objects.get(pk=issue.id).status == Status.ACCEPTED


@pytest.mark.django_db(transaction=True)
def test_conditional_update_loses_when_the_row_changed_under_it(monkeypatch):
    """Deterministic version of the race: the row changes between our read and our UPDATE."""
    ensure_seeded()
    grid = Area.objects.filter(level="grid").order_by("code").first()
    issue = walk(make(point_in(grid), category="dispute"), "dispatch")
    real_filter = Issue.objects.filter
    calls = {"n": 0}

    def filter_then_race(*args, **kwargs):
        # After the service has read the issue, another session accepts it and commits.
        if "status" in kwargs and calls["n"] == 0:
            calls["n"] += 1

            def other():
                Issue.objects.filter(pk=issue.id).update(status=Status.ACCEPTED)
                connection.close()

            t = threading.Thread(target=other)
            t.start()
            t.join()
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(Issue.objects, "filter", filter_then_race)
    with pytest.raises(Conflict, match="changed by someone else"):
        services.issue_transition(issue_id=issue.id, action="accept")
    monkeypatch.undo()
    assert IssueEvent.objects.filter(issue_id=issue.id, action="accept").count() == 0
