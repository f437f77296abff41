"""Photos of the work done (处置照片): a handler sends them with a step of the loop or a note; they are
kept with that step, shown under it in the history to staff who may see the issue, and never served as
the report's public Open311 media. A bad photo refuses the whole step."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.issues import services
from apps.issues.models import Issue, IssueEvent, IssuePhoto
from apps.territory.models import Area
from tests.issues.conftest import point_in
from tests.issues.test_intake_errors import png_bytes
from tests.issues.test_permissions import act, user_with

pytestmark = pytest.mark.django_db


def png(name="after.png"):
    return SimpleUploadedFile(name, png_bytes(), content_type="image/png")


@pytest.fixture
def handled(managed_compound, django_user_model, settings, tmp_path):
    """A property issue dispatched to and accepted by its company: (issue, company client, community
    staff client)."""
    settings.MEDIA_ROOT = tmp_path
    issue = services.issue_create(
        point=point_in(managed_compound),
        category="property",
        description="楼道灯坏了",
        source="resident",
        photos=[png("before.png")],
    )
    community = Area.objects.get(pk=issue.community_id)
    _u, coordinator = user_with(django_user_model, "c1", role="community_staff", area=community)
    _u, handler = user_with(
        django_user_model, "p1", role="property_company", company=issue.responsible_company
    )
    assert act(coordinator, issue, "dispatch").status_code == 200
    assert act(handler, issue, "accept").status_code == 200
    return issue, handler, coordinator


def test_a_handler_resolves_with_photos_of_the_work_done(handled):
    issue, handler, coordinator = handled
    r = handler.post(
        f"/api/issues/{issue.id}/actions/resolve",
        {"note": "已更换灯泡", "photos": [png("a.png"), png("b.png")]},
        format="multipart",
    )
    assert r.status_code == 200, r.json()
    body = r.json()
    assert body["status"] == "resolved"
    assert len(body["photos"]) == 1  # the report's own photo stays apart
    step = body["history"][-1]
    assert step["action"] == "resolve" and step["note"] == "已更换灯泡"
    assert len(step["photos"]) == 2
    assert all(not e["photos"] for e in body["history"][:-1])
    event = IssueEvent.objects.get(issue_id=issue.id, action="resolve")
    assert IssuePhoto.objects.filter(issue_id=issue.id, event=event).count() == 2
    # staff who see the issue get the files; so does the coordinator reading the detail
    got = coordinator.get(step["photos"][0]["url"])
    assert got.status_code == 200 and got["Content-Type"] == "image/png"
    detail = coordinator.get(f"/api/issues/{issue.id}").json()
    assert [p["id"] for p in detail["history"][-1]["photos"]] == [p["id"] for p in step["photos"]]


def test_a_note_may_be_photos_alone(handled):
    issue, handler, _coordinator = handled
    r = handler.post(
        f"/api/issues/{issue.id}/actions/note", {"photos": [png()]}, format="multipart"
    )
    assert r.status_code == 200, r.json()
    step = r.json()["history"][-1]
    assert step["action"] == "note" and len(step["photos"]) == 1
    r = handler.post(f"/api/issues/{issue.id}/actions/note", {"note": ""}, format="multipart")
    assert r.status_code == 400 and r.json()["field"] == "note"


def test_a_bad_photo_refuses_the_whole_step(handled):
    issue, handler, _coordinator = handled
    before = (Issue.objects.get(pk=issue.pk).status, IssueEvent.objects.count())
    fake = SimpleUploadedFile("x.jpg", b"MZ\x90\x00 not an image", content_type="image/jpeg")
    r = handler.post(
        f"/api/issues/{issue.id}/actions/resolve",
        {"note": "修好了", "photos": [png(), fake]},
        format="multipart",
    )
    assert r.status_code == 400 and r.json()["field"] == "photos"
    assert "x.jpg" in r.json()["error"]
    too_many = [png(f"{i}.png") for i in range(services.PHOTO_MAX_COUNT + 1)]
    r = handler.post(
        f"/api/issues/{issue.id}/actions/resolve",
        {"note": "修好了", "photos": too_many},
        format="multipart",
    )
    assert r.status_code == 400 and r.json()["field"] == "photos"
    assert (Issue.objects.get(pk=issue.pk).status, IssueEvent.objects.count()) == before
    assert IssuePhoto.objects.filter(issue_id=issue.id).count() == 1  # the report's only


def test_open311_media_is_the_reports_photo_never_a_handlers(handled, client):
    issue, handler, _coordinator = handled
    r = handler.post(
        f"/api/issues/{issue.id}/actions/resolve",
        {"note": "已修", "photos": [png()]},
        format="multipart",
    )
    assert r.status_code == 200, r.json()
    report_photo = IssuePhoto.objects.get(issue_id=issue.id, event__isnull=True)
    step_photo = IssuePhoto.objects.get(issue_id=issue.id, event__isnull=False)
    code = issue.tracking_code
    listed = client.get(f"/open311/v2/requests/{code}.json").json()[0]
    assert listed["media_url"].endswith(f"/open311/v2/requests/{code}/media/{report_photo.id}")
    assert client.get(f"/open311/v2/requests/{code}/media/{report_photo.id}").status_code == 200
    assert client.get(f"/open311/v2/requests/{code}/media/{step_photo.id}").status_code == 404


def test_a_dispatch_sent_as_a_form_names_its_handler_in_json(
    managed_compound, django_user_model, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    issue = services.issue_create(
        point=point_in(managed_compound), category="dispute", description="噪音", source="patrol"
    )
    community = Area.objects.get(pk=issue.community_id)
    _u, coordinator = user_with(django_user_model, "c1", role="community_staff", area=community)
    url = f"/api/issues/{issue.id}/actions/dispatch"
    r = coordinator.post(url, {"responsible": "{kind", "photos": [png()]}, format="multipart")
    assert r.status_code == 400 and r.json()["field"] == "responsible"
    chosen = f'{{"kind": "community", "id": {community.id}}}'
    r = coordinator.post(url, {"responsible": chosen, "photos": [png()]}, format="multipart")
    assert r.status_code == 200, r.json()
    assert r.json()["responsible"]["kind"] == "community"
    assert len(r.json()["history"][-1]["photos"]) == 1
