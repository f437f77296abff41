"""Bad input at intake gets a clear error naming the problem and changes nothing."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from rest_framework.test import APIClient

from apps.common.errors import DomainError
from apps.issues import services
from apps.issues.models import OPEN, Issue, IssuePhoto
from tests.issues.conftest import point_in


def png_bytes(size=(4, 4)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def client_staff(staff_user):
    c = APIClient()
    c.force_authenticate(staff_user)
    return c


@pytest.fixture
def here(a_grid):
    return point_in(a_grid)


def post(client, here, *, lang="", **over):
    data = {"category": "dispute", "description": "楼上漏水"}
    if here is not None:
        data.update(lon=here.x, lat=here.y)
    data.update(over)
    return client.post(f"/api/issues?lang={lang}" if lang else "/api/issues", data, format="json")


def test_staff_intake_returns_detail_and_duplicates(client_staff, here):
    first = post(client_staff, here)
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["status"] == "collected" and body["responsible"]["kind"] == "community"
    assert body["areas"]["grid"]["code"] and body["overdue"] is False
    assert [h["action"] for h in body["history"]] == ["create", "route"]
    second = post(client_staff, here).json()
    assert [d["id"] for d in second["duplicates"]] == [body["id"]]


def test_login_required(db, here):
    response = APIClient().post("/api/issues", {"lon": here.x, "lat": here.y}, format="json")
    assert response.status_code == 403
    assert APIClient().get("/api/issues.geojson").status_code == 403


@pytest.mark.parametrize(
    "over,field,message",
    [
        ({"category": "potholes"}, "category", "unknown category 'potholes'"),
        ({"lon": None}, "lon", "location is required"),
        ({"lon": "", "lat": ""}, "lon", "location is required"),
        ({"lat": "abc"}, "lat", "is not a number"),
        ({"lon": 31.86, "lat": 117.28}, "lat", "look swapped"),
        ({"lon": 190.0}, "lon", "out of range"),
        ({"lat": -91}, "lat", "out of range"),
        ({"lon": "nan"}, "lon", "not a finite number"),
        ({"description": "x" * 4001}, "description", "4001 characters; at most 4000"),
        ({"description": "   "}, "description", "description is required"),
        ({"source": "pigeon"}, "source", "unknown source"),
        ({"subcategory": "property-repair"}, "subcategory", "does not belong"),
    ],
)
def test_bad_intake_is_refused_naming_the_field(client_staff, here, over, field, message):
    before = Issue.objects.count()
    response = post(client_staff, here, lang="en", **over)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["field"] == field and message in body["error"]
    assert Issue.objects.count() == before


def test_description_of_exactly_4000_is_fine(client_staff, here):
    assert post(client_staff, here, description="好" * 4000).status_code == 201


def test_html_is_stored_as_text_and_escaped_on_pages(client_staff, here, client):
    script = '<script>alert("x")</script><b>漏水</b>'
    body = post(client_staff, here, description=script).json()
    issue = Issue.objects.get(pk=body["id"])
    assert issue.description == script  # stored exactly as typed
    page = client.get(f"/track?code={issue.tracking_code}").content.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page


def test_photos_are_checked(client_staff, here, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    good = SimpleUploadedFile("a.png", png_bytes(), content_type="image/png")
    data = {
        "lon": here.x,
        "lat": here.y,
        "category": "dispute",
        "description": "x",
        "photos": [good],
    }
    response = client_staff.post("/api/issues", data, format="multipart")
    assert response.status_code == 201, response.content
    photo = IssuePhoto.objects.get(issue_id=response.json()["id"])
    assert (photo.width, photo.height) == (4, 4)
    # staff who may see the issue get its photo from the API, never from a public media URL
    listed = response.json()["photos"]
    assert listed == [
        {
            "id": photo.id,
            "url": f"/api/issues/{photo.issue_id}/photos/{photo.id}",
            "width": 4,
            "height": 4,
        }
    ]
    got = client_staff.get(listed[0]["url"])
    assert got.status_code == 200 and got["Content-Type"] == "image/png"
    assert got["Cache-Control"] == "private, max-age=86400"
    assert b"".join(got.streaming_content) == png_bytes()
    assert client_staff.get(listed[0]["url"] + "9").status_code == 404
    assert APIClient().get(listed[0]["url"]).status_code == 403

    before = Issue.objects.count()
    fake = SimpleUploadedFile("b.jpg", b"MZ\x90\x00 not an image", content_type="image/jpeg")
    data["photos"] = [fake]
    response = client_staff.post("/api/issues", data, format="multipart")
    assert response.status_code == 400 and "照片 'b.jpg' 不是图片" in response.json()["error"]
    big = SimpleUploadedFile(
        "c.png", png_bytes() + b"\0" * (services.PHOTO_MAX_BYTES), content_type="image/png"
    )
    data["photos"] = [big]
    response = client_staff.post("/api/issues", data, format="multipart")
    assert response.status_code == 400 and "MB，每张不超过 5 MB" in response.json()["error"]
    buf = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buf, format="GIF")
    data["photos"] = [SimpleUploadedFile("d.gif", buf.getvalue(), content_type="image/gif")]
    response = client_staff.post("/api/issues", data, format="multipart")
    error = response.json()["error"]
    assert response.status_code == 400 and "是 GIF 格式；请使用 JPEG、PNG 或 WebP" in error
    assert Issue.objects.count() == before


def test_service_refuses_missing_point(demo):
    with pytest.raises(DomainError, match="location is required"):
        services.issue_create(point=None, category="dispute", description="x", source="resident")


def test_actions_through_the_api_and_illegal_one(client_staff, here):
    issue_id = post(client_staff, here).json()["id"]
    r = client_staff.post(f"/api/issues/{issue_id}/actions/accept", {}, format="json")
    assert r.status_code == 400 and r.json()["code"] == "illegal_transition"
    assert r.json()["error"] == (
        "事项状态为“已收集”，不能执行“接单”；现在可以：协商、派单、不予受理、标记重复"
    )
    r = client_staff.post(
        f"/api/issues/{issue_id}/actions/dispatch", {"note": "派单"}, format="json"
    )
    assert r.status_code == 200 and r.json()["status"] == "dispatched"
    assert r.json()["actions"] == ["accept", "return"]
    detail = client_staff.get(f"/api/issues/{issue_id}").json()
    assert detail["grid_now"]["id"] == detail["areas"]["grid"]["id"]
    assert client_staff.get("/api/issues/999999999").status_code == 404


def test_api_errors_speak_chinese_by_default_and_english_on_request(staff_user, here):
    """The UI's language is Chinese: an API error arrives in Chinese unless the request asks for
    English; the field and code stay machine-readable either way."""
    chinese, english = APIClient(), APIClient()
    for c in (chinese, english):
        c.force_authenticate(staff_user)
    r = post(chinese, here, category="potholes")
    assert r.status_code == 400 and r["Content-Language"] == "zh-hans"
    assert r.json()["error"].startswith("未知类别 'potholes'（可选：")
    assert (r.json()["field"], r.json()["code"]) == ("category", "unknown_category")
    r = post(english, here, lang="en", category="potholes")
    assert r.status_code == 400 and r["Content-Language"] == "en"
    assert r.json()["error"].startswith("unknown category 'potholes' (known: ")
    assert (r.json()["field"], r.json()["code"]) == ("category", "unknown_category")

    issue_id = post(chinese, here).json()["id"]
    r = chinese.post(f"/api/issues/{issue_id}/actions/return", {}, format="json")
    assert r.status_code == 400 and r.json()["code"] == "illegal_transition"
    assert r.json()["error"] == (
        "事项状态为“已收集”，不能执行“回退”；现在可以：协商、派单、不予受理、标记重复"
    )
    r = english.post(f"/api/issues/{issue_id}/actions/return?lang=en", {}, format="json")
    assert r.json()["error"] == (
        "cannot return an issue whose status is Collected; allowed now: consult, dispatch, "
        "reject, duplicate"
    )
    r = chinese.get("/api/issues/999999999")
    assert r.status_code == 404 and r.json()["error"] == "没有 ID 为 999999999 的事项"
    r = english.get("/api/issues", {"lang": "en", "page": "0"})
    assert r.status_code == 400 and r.json()["error"] == "page=0 is out of range 1-100000"


def test_list_and_geojson_filters(client_staff, here, a_grid):
    post(client_staff, here, category="assistance")
    r = client_staff.get("/api/issues.geojson", {"category": "assistance", "within": a_grid.code})
    assert r.status_code == 200 and r["Content-Type"] == "application/geo+json"
    features = r.json()["features"]
    assert features and all(f["properties"]["category"] == "assistance" for f in features)
    assert {"overdue", "status", "code", "due_at"} <= set(features[0]["properties"])
    lst = client_staff.get("/api/issues", {"status": "collected", "overdue": "false"}).json()
    assert lst["count"] >= 1 and all(not r["overdue"] for r in lst["results"])
    for params, field in [
        ({"start": "2024-13-45"}, "start"),
        ({"end": "yesterday"}, "end"),
        ({"status": "lost"}, "status"),
        ({"overdue": "maybe"}, "overdue"),
        ({"within": "abc"}, "within"),
        ({"category": "nope"}, "category"),
    ]:
        bad = client_staff.get("/api/issues.geojson", params)
        assert bad.status_code == 400 and bad.json()["field"] == field, params


def test_lists_filter_by_compound_and_building(client_staff, managed_compound, unmanaged_compound):
    """A compound's and a building's issues (the map's compound and building panels list them)."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT b.id, ST_X(ST_PointOnSurface(b.footprint)), ST_Y(ST_PointOnSurface(b.footprint))"
            " FROM territory_building b WHERE b.compound_id = %s ORDER BY b.id LIMIT 1",
            [managed_compound.id],
        )
        building_id, x, y = cur.fetchone()
    at_building = post(client_staff, None, lon=x, lat=y).json()["id"]
    elsewhere = post(client_staff, point_in(unmanaged_compound)).json()["id"]
    issue = Issue.objects.get(pk=at_building)
    assert (issue.compound_id, issue.building_id) == (managed_compound.id, building_id)

    def ids(**params):
        r = client_staff.get("/api/issues", {"page_size": 500, **params})
        assert r.status_code == 200, r.json()
        return {i["id"] for i in r.json()["results"]}

    in_compound = ids(compound=managed_compound.code)
    assert at_building in in_compound and elsewhere not in in_compound
    assert in_compound == set(
        Issue.objects.filter(compound__code=managed_compound.code).values_list("id", flat=True)
    )
    assert ids(building=building_id) == set(
        Issue.objects.filter(building_id=building_id).values_list("id", flat=True)
    )
    assert at_building in ids(building=building_id, status="open")
    assert elsewhere in ids(compound=unmanaged_compound.code)
    features = client_staff.get("/api/issues.geojson", {"building": building_id}).json()
    assert at_building in {f["id"] for f in features["features"]}
    for params, field in [
        ({"compound": "no-such-compound"}, "compound"),
        ({"compound": managed_compound.parent.code}, "compound"),  # a community, not a compound
        ({"building": "x1"}, "building"),
        ({"building": "999999999"}, "building"),
    ]:
        bad = client_staff.get("/api/issues", params)
        assert bad.status_code == 400 and bad.json()["field"] == field, params


def test_the_list_in_due_order_puts_the_soonest_due_first(client_staff, here):
    """order=due (the console's queue): soonest due first, so the overdue come on top; the newest
    first stays the default."""
    from datetime import timedelta

    from django.utils import timezone

    ids = [
        post(client_staff, here, category=c).json()["id"]
        for c in ("property", "dispute", "assistance")
    ]
    now = timezone.now()
    Issue.objects.filter(pk=ids[0]).update(due_at=now + timedelta(days=2))
    Issue.objects.filter(pk=ids[1]).update(  # overdue
        created_at=now - timedelta(hours=2), due_at=now - timedelta(hours=1)
    )
    Issue.objects.filter(pk=ids[2]).update(due_at=now + timedelta(days=90))

    def listed(**params):
        r = client_staff.get("/api/issues", {"page_size": 500, **params})
        assert r.status_code == 200, r.json()
        return r.json()["results"]

    due = listed(order="due", status="open")
    expected = sorted(  # computed apart
        Issue.objects.filter(status__in=OPEN).values_list("due_at", "created_at", "id")
    )
    assert [i["id"] for i in due] == [r[2] for r in expected]
    order = [i["id"] for i in due]
    assert due[0]["overdue"] and order.index(ids[1]) < order.index(ids[0]) < order.index(ids[2])
    newest = listed()
    assert [i["id"] for i in newest] == list(
        Issue.objects.order_by("-created_at", "-id").values_list("id", flat=True)
    )
    assert listed(order="newest") == newest
    bad = client_staff.get("/api/issues", {"order": "oldest"})
    assert bad.status_code == 400 and bad.json()["field"] == "order"
    assert "due" in bad.json()["error"] and "newest" in bad.json()["error"]


def test_the_lists_count_is_exact_on_every_page(client_staff, here):
    """The count is its own statement: the same on a full page, a short last page and a page past
    the end (where a window count over the page's rows would say 0)."""
    for category in ("property", "dispute", "assistance"):
        post(client_staff, here, category=category)
    total = Issue.objects.filter(status__in=OPEN).count()
    assert total >= 3

    def page(n, size):
        r = client_staff.get("/api/issues", {"status": "open", "page": n, "page_size": size})
        assert r.status_code == 200, r.json()
        return r.json()

    first = page(1, 2)
    assert first["count"] == total and len(first["results"]) == 2
    last = page(-(-total // 2), 2)
    assert last["count"] == total and len(last["results"]) == total - 2 * (-(-total // 2) - 1)
    beyond = page(-(-total // 2) + 1, 2)
    assert beyond["count"] == total and beyond["results"] == []
    whole = page(1, 500)
    assert whole["count"] == total == len(whole["results"])


def test_the_history_reads_in_the_readers_language(client_staff, here):
    """What the system wrote (received, routed to whom and why, a rating) is kept as steps and put
    into words when read: Chinese by default, English on request; a person's note stays as written."""
    issue_id = post(client_staff, here, category="property").json()["id"]
    for action in ("dispatch", "accept", "resolve"):
        r = client_staff.post(f"/api/issues/{issue_id}/actions/{action}", {}, format="json")
        assert r.status_code == 200, r.json()
    r = client_staff.post(
        f"/api/issues/{issue_id}/actions/rate", {"rating": 4, "note": "修得很快"}, format="json"
    )
    assert r.status_code == 200, r.json()
    zh = {
        h["action"]: h["note"]
        for h in client_staff.get(f"/api/issues/{issue_id}").json()["history"]
    }
    en = {
        h["action"]: h["note"]
        for h in client_staff.get(f"/api/issues/{issue_id}?lang=en").json()["history"]
    }
    assert zh["create"] == "受理（来源：网格巡查）" and en["create"] == "received from grid patrol"
    assert (
        zh["route"].startswith("小区 ")
        and " 无物业企业 → " in zh["route"]
        and "网格长" in zh["route"]
    )
    assert (
        en["route"].startswith("compound ")
        and " has no property company → grid leader " in (en["route"])
    )
    assert zh["rate"] == "评价 4 分; 修得很快" and en["rate"] == "rating 4; 修得很快"


def test_marking_a_duplicate_by_tracking_code_over_the_api(client_staff, here):
    """The console's field takes the tracking code staff see; an unknown one was a server error."""
    first = post(client_staff, here).json()
    second = post(client_staff, here).json()
    url = f"/api/issues/{second['id']}/actions/duplicate"
    r = client_staff.post(url, {"duplicate_of": "ZZZZZZZZZZ"}, format="json")
    assert r.status_code == 400 and r.json()["field"] == "duplicate_of"
    assert r.json()["error"] == "ZZZZZZZZZZ 不是另一件事项的查询码或编号"
    r = client_staff.post(url, {"duplicate_of": first["tracking_code"]}, format="json")
    assert r.status_code == 200 and r.json()["status"] == "duplicate"
    assert r.json()["duplicate_of"] == first["id"]


def test_category_names_follow_the_language(client_staff, here, client):
    """English pages showed the Chinese category names ('物业管理类') in lists, panels and tracking."""
    issue = post(client_staff, here, category="property").json()
    zh = client_staff.get(f"/api/issues/{issue['id']}").json()
    en = client_staff.get(f"/api/issues/{issue['id']}?lang=en").json()
    assert zh["category_name"] == "物业管理类" and en["category_name"] == "Property management"
    listed = client_staff.get("/api/issues?lang=en").json()["results"]
    assert {r["category_name"] for r in listed if r["category"] == "property"} == {
        "Property management"
    }
    pins = client_staff.get("/api/issues.geojson?lang=en").json()["features"]
    assert {f["properties"]["category_name"] for f in pins if f["id"] == issue["id"]} == {
        "Property management"
    }
    track = client.get(f"/track?code={issue['tracking_code']}&lang=en").content.decode()
    assert "Property management" in track and "物业管理类" not in track


def test_the_filtered_issues_export_as_a_workbook(client_staff, here, monkeypatch):
    """/api/issues.xlsx: the rows the list gives for the same filters, names in the reader's
    language, text never run as a formula; a selection over the cap says so in its last row."""
    import io

    from openpyxl import load_workbook

    from apps.issues import api

    post(client_staff, here, category="assistance", description="=HYPERLINK(1)帮扶")
    r = client_staff.get("/api/issues.xlsx", {"category": "assistance"})
    assert r.status_code == 200 and r["Content-Type"].startswith("application/vnd.openxml")
    assert "attachment;" in r["Content-Disposition"]
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][:4] == ("查询码", "类别", "子类", "状态")
    listed = client_staff.get("/api/issues", {"category": "assistance", "page_size": 500}).json()
    assert [row[0] for row in rows[1:]] == [i["tracking_code"] for i in listed["results"]]
    mine = next(row for row in rows[1:] if str(row[4]).endswith("帮扶"))
    assert mine[4] == "'=HYPERLINK(1)帮扶" and mine[3] == "已收集"  # text, not a formula
    english = client_staff.get("/api/issues.xlsx", {"category": "assistance", "lang": "en"})
    header = next(load_workbook(io.BytesIO(english.content)).active.iter_rows(values_only=True))
    assert header[:4] == ("Tracking code", "Category", "Subcategory", "Status")
    monkeypatch.setattr(api, "EXPORT_MAX", 1)
    post(client_staff, here, category="assistance")
    capped = load_workbook(io.BytesIO(client_staff.get("/api/issues.xlsx").content)).active
    last = list(capped.iter_rows(values_only=True))[-1]
    # (English since the ?lang=en above: the choice stays)
    assert len(list(capped.iter_rows())) == 3 and "narrow the filters" in last[0]
    bad = client_staff.get("/api/issues.xlsx", {"status": "lost"})
    assert bad.status_code == 400 and bad.json()["field"] == "status"
