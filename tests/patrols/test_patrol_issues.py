import io
import uuid

import pytest
from PIL import Image

from apps.common.errors import Conflict, DomainError, NotFound
from apps.issues.models import Issue
from apps.patrols.models import PatrolIssue
from apps.patrols.services import patrol_issue_report, patrol_start, patrol_stop
from apps.territory.models import Building


def png_bytes() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


def test_an_issue_found_on_patrol_is_taken_in_and_linked(leader, stranger):
    user, grid = leader
    patrol, _ = patrol_start(user=user, grid_id=grid.id, client_id=str(uuid.uuid4()))
    c = Building.objects.filter(grid=grid).first().footprint.point_on_surface
    cid = str(uuid.uuid4())
    kw = dict(
        lon=c.x,
        lat=c.y,
        category="property",
        subcategory="property-repair",
        description="3单元楼道灯不亮",
    )
    issue, created = patrol_issue_report(patrol_id=patrol.id, user=user, client_id=cid, **kw)
    again, created_again = patrol_issue_report(patrol_id=patrol.id, user=user, client_id=cid, **kw)
    assert created and not created_again and again.id == issue.id
    assert issue.source == "patrol" and issue.grid_id == grid.id
    assert PatrolIssue.objects.get(client_id=cid).patrol_id == patrol.id
    with pytest.raises(NotFound):
        patrol_issue_report(patrol_id=patrol.id, user=stranger, client_id=str(uuid.uuid4()), **kw)
    before = Issue.objects.count()
    with pytest.raises(DomainError, match="category"):
        patrol_issue_report(
            patrol_id=patrol.id,
            user=user,
            client_id=str(uuid.uuid4()),
            **(kw | {"category": "nope"}),
        )
    assert Issue.objects.count() == before
    patrol_stop(patrol_id=patrol.id, user=user)
    with pytest.raises(Conflict, match="ended"):
        patrol_issue_report(patrol_id=patrol.id, user=user, client_id=str(uuid.uuid4()), **kw)


def test_report_with_a_photo_through_the_api(client, leader, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    user, grid = leader
    client.force_login(user)
    patrol, _ = patrol_start(user=user, grid_id=grid.id, client_id=str(uuid.uuid4()))
    c = Building.objects.filter(grid=grid).first().footprint.point_on_surface
    photo = io.BytesIO(png_bytes())
    photo.name = "lamp.png"
    r = client.post(
        f"/api/patrols/{patrol.id}/issues",
        {
            "client_id": str(uuid.uuid4()),
            "lon": f"{c.x:.7f}",
            "lat": f"{c.y:.7f}",
            "category": "property",
            "subcategory": "property-repair",
            "description": "楼道灯不亮",
            "photos": photo,
        },
    )
    assert r.status_code == 201, r.json()
    issue = Issue.objects.get(tracking_code=r.json()["tracking_code"])
    assert issue.photos.count() == 1
    detail = client.get(f"/api/patrols/{patrol.id}").json()
    assert [i["tracking_code"] for i in detail["issues"]] == [issue.tracking_code]
    assert client.get("/api/patrols").json()["patrols"][0]["issues"] == 1
