"""Indicators against hand-computed numbers; the joint meeting agenda (page, xlsx, decisions)."""

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from apps.issues import services
from apps.issues.models import MeetingDecision
from apps.issues.selectors import indicators
from tests.issues.conftest import point_in

TZ = ZoneInfo("Asia/Shanghai")


def d(month, day, hour=0):
    return datetime(2021, month, day, hour, tzinfo=TZ)


def issue(point, created, *steps):
    """Create at `created`, then run (action, time, extra) steps."""
    it = services.issue_create(
        point=point, category="dispute", description="x", source="resident", created_at=created
    )
    for action, at, *extra in steps:
        kw = extra[0] if extra else {}
        if action in ("reject", "reopen", "return") and "note" not in kw:
            kw["note"] = "why"
        it = services.issue_transition(issue_id=it.id, action=action, at=at, **kw)
    return it


@pytest.fixture
def march(a_grid):
    """Seven issues in grid a_grid; A-F received in March 2021, G in February (see docs/ISSUES.md)."""
    p = point_in(a_grid)
    A = issue(
        p,
        d(3, 1),
        ("dispatch", d(3, 1, 1)),
        ("accept", d(3, 1, 2)),
        ("resolve", d(3, 3)),
        ("rate", d(3, 4), {"rating": 5}),
        ("close", d(3, 5)),
    )
    B = issue(
        p,
        d(3, 2),
        ("dispatch", d(3, 2, 1)),
        ("accept", d(3, 2, 2)),
        ("resolve", d(3, 12)),
        ("rate", d(3, 13), {"rating": 3}),
    )
    C = issue(
        p,
        d(3, 5),
        ("dispatch", d(3, 5, 1)),
        ("accept", d(3, 5, 2)),
        ("resolve", d(3, 6)),
        ("reopen", d(3, 7)),
        ("accept", d(3, 7, 1)),
        ("resolve", d(3, 8)),
    )
    D = issue(p, d(3, 10), ("dispatch", d(3, 10, 1)))
    E = issue(p, d(3, 29))
    F = issue(p, d(3, 15), ("reject", d(3, 15, 1)))
    G = issue(p, d(2, 28), ("dispatch", d(2, 28, 1)), ("accept", d(2, 28, 2)), ("resolve", d(3, 1)))
    return dict(A=A, B=B, C=C, D=D, E=E, F=F, G=G)


def test_indicators_by_hand(march, a_grid):
    got = indicators(area_code=a_grid.code, start=d(3, 1), end=d(4, 1))
    # received A-F = 6; F rejected (dismissed); due to close: finished A, B, C + D (due 03-17) = 4,
    # E is due 04-05, after the period. Closed A, B, C = 3; on time A (48 h of 168) and C (resolved
    # 03-08, due 03-14 after the reopen) = 2. Rework: C of A, B, C. Handling: (48 + 240 + 72) / 3 = 120 h.
    # Ratings: A 5, B 3 (C's rating none) -> 1 of 2 satisfied.
    assert got["received"] == 6
    assert got["dismissed"] == 1
    assert got["due_to_close"] == 4
    assert got["closed"] == 3
    assert got["closed_on_time"] == 2
    assert got["closure_rate"] == 0.75
    assert got["on_time_rate"] == 0.5
    assert got["rework_rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert got["avg_handling_hours"] == 120.0
    assert got["satisfaction"] == 0.5
    assert got["households"] == a_grid.households > 0
    assert got["per_1000_households"] == round(6000 / a_grid.households, 4)
    # the community holds the grid: the same cohort
    assert indicators(area_code=a_grid.parent.code, start=d(3, 1), end=d(4, 1))["received"] == 6
    # February: only G
    feb = indicators(area_code=a_grid.code, start=d(2, 1), end=d(3, 1))
    assert (feb["received"], feb["closed"], feb["avg_handling_hours"]) == (
        1,
        1,
        24.0,
    )  # 02-28 00:00 to 03-01 00:00
    assert feb["satisfaction"] is None  # nobody rated


def test_indicators_api(march, a_grid, client, staff_user):
    client.force_login(staff_user)
    r = client.get(
        "/api/issues/indicators", {"area": a_grid.code, "start": "2021-03-01", "end": "2021-03-31"}
    )
    assert r.status_code == 200 and r.json()["closure_rate"] == 0.75
    bad = client.get(
        "/api/issues/indicators", {"area": a_grid.code, "start": "2021-03-01", "end": "31/03/2021"}
    )
    assert bad.status_code == 400 and bad.json()["field"] == "end"


def test_agenda_groups_unresolved_overdue_reopened(march, a_grid, client, staff_user):
    p = point_in(a_grid)
    H = issue(
        p,
        d(3, 20),
        ("dispatch", d(3, 20, 1)),
        ("accept", d(3, 20, 2)),
        ("resolve", d(3, 21)),
        ("reopen", d(3, 22)),
    )
    community = a_grid.parent
    url = f"/meetings/{community.code}/2021-03"
    assert client.get(url).status_code == 302  # staff only
    client.force_login(staff_user)
    page = client.get(url)
    assert page.status_code == 200
    agenda = page.context["agenda"]
    codes = [i["tracking_code"] for g in agenda["groups"] for i in g["issues"]]
    # open at the end of March, received by then: D (overdue), E (not yet due), H (reopened, overdue again)
    assert set(codes) >= {march["D"].tracking_code, march["E"].tracking_code, H.tracking_code}
    assert march["A"].tracking_code not in codes and march["F"].tracking_code not in codes
    by_code = {i["tracking_code"]: i for g in agenda["groups"] for i in g["issues"]}
    assert by_code[march["D"].tracking_code]["overdue"] is True
    assert by_code[march["E"].tracking_code]["overdue"] is False
    # reopened 03-22, due again 7 days later (03-29): overdue by the end of March
    assert (
        by_code[H.tracking_code]["reopened"] is True and by_code[H.tracking_code]["overdue"] is True
    )
    assert all(g["category"] for g in agenda["groups"]) and all(
        g["responsible"] for g in agenda["groups"]
    )

    r = client.post(url, {"issue": march["D"].id, "decision": "由社区牵头, 3日内<b>协调</b>"})
    assert r.status_code == 302
    assert MeetingDecision.objects.get(issue=march["D"]).meeting.month.isoformat() == "2021-03-01"
    assert march["D"].events.filter(action="decision").exists()
    html = client.get(url).content.decode()
    assert "3日内&lt;b&gt;协调&lt;/b&gt;" in html
    # each code opens its issue on the map
    assert (
        f'<a href="/?issue={march["D"].id}"' in html and f">{march['D'].tracking_code}</a>" in html
    )

    x = client.get(url + ".xlsx")
    assert x.status_code == 200 and x["Content-Type"].startswith("application/vnd.openxmlformats")
    ws = load_workbook(io.BytesIO(x.content)).active
    values = [[c for c in row] for row in ws.iter_rows(values_only=True)]
    assert community.name in values[0][0]
    rows = {r[2]: r for r in values[3:]}
    assert rows[march["D"].tracking_code][12] == "由社区牵头, 3日内<b>协调</b>"
    assert H.tracking_code in rows

    api = client.post(
        f"/api/meetings/{community.code}/2021-03/decisions",
        {"issue": H.id, "decision": "返工督办"},
        content_type="application/json",
    )
    assert api.status_code == 201
    bad = client.post(
        f"/api/meetings/{community.code}/2021-03/decisions",
        {"issue": H.id, "decision": ""},
        content_type="application/json",
    )
    assert bad.status_code == 400 and bad.json()["field"] == "decision"
    assert client.get(f"/meetings/{community.code}/2021-13").status_code == 400
    assert client.get("/meetings/999999999999/2021-03").status_code == 404


def test_decision_refused_for_issue_of_another_community(march):
    from django.contrib.gis.geos import MultiPolygon, Polygon

    from apps.territory.models import Area

    street = march["D"].street
    other = Area.objects.create(
        level="community",
        code=street.code + "999",
        name="别的社区",
        parent=street,
        geom=MultiPolygon(Polygon.from_bbox((100, 20, 100.01, 20.01)), srid=4326),
    )
    with pytest.raises(Exception, match="is not in community"):
        services.meeting_decision_record(
            community=other, month=d(3, 1).date(), issue_id=march["D"].id, decision="x"
        )
    assert not MeetingDecision.objects.exists()


def test_overdue_everywhere(march, a_grid, client, staff_user):
    client.force_login(staff_user)
    D = march["D"]
    assert D.overdue is True
    feats = client.get("/api/issues.geojson", {"within": a_grid.code, "overdue": "true"}).json()[
        "features"
    ]
    assert D.id in [f["id"] for f in feats]
    assert client.get(f"/api/issues/{D.id}").json()["overdue"] is True
    assert "badge overdue" in client.get(f"/track?code={D.tracking_code}").content.decode()
