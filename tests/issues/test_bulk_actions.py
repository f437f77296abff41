"""One action on many issues at once (`POST /api/issues/actions/<action>`): all or nothing, each issue
checked as the single-issue action checks it, errors naming the issue's tracking code."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from apps.issues import services
from apps.issues.models import Issue, IssueEvent, Status
from apps.people.models import StaffAssignment
from apps.territory.models import Area
from tests.issues.conftest import point_in


def client_of(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def community_client(demo):
    return client_of(get_user_model().objects.get(username="community"))


@pytest.fixture
def mine(demo):
    """Three new collected issues in the community user's community, routed at intake."""
    user = get_user_model().objects.get(username="community")
    community = StaffAssignment.objects.get(user=user).area
    grids = Area.objects.filter(level="grid", parent=community, valid_to=None).order_by("code")
    return [
        services.issue_create(
            point=point_in(g), category="dispute", description=f"楼道堆物 {n}", source="patrol"
        )
        for n, g in enumerate(grids[:3])
    ]


def _snapshot(ids):
    return (
        list(Issue.objects.filter(pk__in=ids).order_by("id").values_list("id", "status")),
        IssueEvent.objects.filter(issue_id__in=ids).count(),
    )


def test_a_coordinator_dispatches_several_issues_at_once(community_client, mine):
    ids = [i.id for i in mine]
    r = community_client.post(
        "/api/issues/actions/dispatch", {"ids": ids, "note": "请尽快处理"}, format="json"
    )
    assert r.status_code == 200, r.json()
    assert r.json() == {"action": "dispatch", "count": 3, "ids": ids}
    for issue in Issue.objects.filter(pk__in=ids):
        assert issue.status == Status.DISPATCHED
        event = IssueEvent.objects.filter(issue_id=issue.id, action="dispatch").get()
        assert event.note == "请尽快处理" and event.actor_name == "community"


def test_one_issue_that_cannot_take_the_action_undoes_all_and_is_named(community_client, mine):
    ids = [i.id for i in mine]
    services.issue_transition(issue_id=ids[1], action="dispatch", actor=None)  # already dispatched
    before = _snapshot(ids)
    r = community_client.post("/api/issues/actions/dispatch", {"ids": ids}, format="json")
    assert r.status_code == 400, r.json()
    assert r.json()["error"].startswith(mine[1].tracking_code + "：")
    assert "已派单" in r.json()["error"] and r.json()["field"] == "ids"
    assert _snapshot(ids) == before  # the first issue's dispatch was undone


def test_an_issue_the_user_may_not_see_is_not_found_and_nothing_changes(demo, mine):
    """The grid leader sees the issues of their grid only: another grid's is not found (404, the
    same answer as for an id that does not exist), and nothing changes."""
    from apps.people.scope import user_scope

    leader = get_user_model().objects.get(username="grid")
    scope = user_scope(leader)
    hidden = [i for i in mine if not Issue.objects.filter(scope.issues_q(), pk=i.id).exists()]
    assert hidden
    ids = [i.id for i in mine]
    before = _snapshot(ids)
    r = client_of(leader).post("/api/issues/actions/accept", {"ids": ids}, format="json")
    assert r.status_code == 404 and str(hidden[0].id) in r.json()["error"], r.json()
    assert _snapshot(ids) == before
    r = client_of(leader).post("/api/issues/actions/accept", {"ids": [999999999]}, format="json")
    assert r.status_code == 404


def test_a_handler_may_not_dispatch_and_an_auditor_may_not_write(demo, mine, django_user_model):
    issue = mine[0]
    auditor = django_user_model.objects.create_user("aud")
    StaffAssignment.objects.create(user=auditor, name="审计", role="auditor")
    r = client_of(auditor).post("/api/issues/actions/dispatch", {"ids": [issue.id]}, format="json")
    assert r.status_code == 403
    leader = django_user_model.objects.get(username="grid")
    r = client_of(leader).post("/api/issues/actions/close", {"ids": [issue.id]}, format="json")
    assert r.status_code in (400, 403, 404), r.json()
    assert Issue.objects.get(pk=issue.id).status == Status.COLLECTED


@pytest.mark.parametrize(
    ("action", "body", "field"),
    [
        ("dispatch", {}, "ids"),
        ("dispatch", {"ids": "1,2"}, "ids"),
        ("dispatch", {"ids": []}, "ids"),
        ("dispatch", {"ids": [1, "2"]}, "ids"),
        ("dispatch", {"ids": [0]}, "ids"),
        ("dispatch", {"ids": [True]}, "ids"),
        ("dispatch", {"ids": list(range(1, 202))}, "ids"),
        ("rate", {"ids": [1]}, "action"),
        ("nonsense", {"ids": [1]}, "action"),
    ],
)
def test_bad_requests_name_the_field(community_client, action, body, field):
    r = community_client.post(f"/api/issues/actions/{action}", body, format="json")
    assert r.status_code == 400 and r.json()["field"] == field, r.json()
