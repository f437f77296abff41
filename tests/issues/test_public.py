"""The public resident form (no login): tracking code, honeypot, rate limit, photo limits; the tracking
page where the resident rates the result."""

import io

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from apps.issues import services, views
from apps.issues.models import Issue
from tests.issues.conftest import point_in


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def form(a_grid):
    p = point_in(a_grid)
    return {
        "lon": f"{p.x:.6f}",
        "lat": f"{p.y:.6f}",
        "category": "assistance-elderly",
        "description": "独居老人需要帮助",
        "name": "王",
        "phone": "13912345678",
    }


def test_form_page_renders_categories(client, demo):
    r = client.get("/report")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'name="website"' in html and "assistance-elderly" in html and "养老服务" in html


def test_submit_returns_a_tracking_code(client, form):
    r = client.post("/report", form)
    # Post/Redirect/Get: a reload of the thank-you page files nothing again
    assert r.status_code == 303 and r["Location"].startswith("/report/done?code=")
    before = Issue.objects.count()
    r = client.get(r["Location"])
    assert r.status_code == 200 and Issue.objects.count() == before
    code = r.context["code"]
    assert client.get("/report/done?code=NOSUCHCODE").context["code"] is None
    issue = Issue.objects.get(tracking_code=code)
    assert issue.source == "resident" and issue.reporter_phone == "13912345678"
    assert issue.subcategory.code == "assistance-elderly" and issue.responsible_kind == "community"
    track = client.get(f"/track?code={code.lower()}")
    assert track.status_code == 200
    html = track.content.decode()
    assert "独居老人需要帮助" in html and "13912345678" not in html


def test_honeypot_stores_nothing(client, form):
    before = Issue.objects.count()
    r = client.post("/report", {**form, "website": "http://spam.example"})
    assert r.status_code == 200 and r.context["code"] is None
    assert Issue.objects.count() == before


def test_rate_limited_per_ip(client, form):
    for _ in range(views.REPORT_LIMIT):
        assert client.post("/report", form).status_code == 303
    before = Issue.objects.count()
    r = client.post("/report", form)
    assert r.status_code == 429 and r.context["error"]  # 提交过于频繁 / Too many reports
    assert Issue.objects.count() == before
    # another address is not affected
    assert client.post("/report", form, REMOTE_ADDR="10.9.9.9").status_code == 303


@pytest.mark.parametrize(
    "over,text",
    [
        ({"lon": "", "lat": ""}, "请标出问题位置：在地图上点选"),  # not "lon is missing"
        ({"lat": "117.2", "lon": "31.8"}, "似乎填反了"),
        ({"category": "ufo"}, "未知类别 'ufo'"),
        ({"description": "长" * 4001}, "描述有 4001 个字，最多 4000 个字"),
    ],
)
def test_bad_input_is_shown_and_nothing_stored(client, form, over, text):
    before = Issue.objects.count()
    r = client.post("/report", {**form, **over})
    assert r.status_code == 400 and text in r.context["error"]
    assert text in r.content.decode().replace("&#x27;", "'")
    assert Issue.objects.count() == before


def test_photo_limits_on_the_public_form(client, form, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    before = Issue.objects.count()
    text = SimpleUploadedFile("x.jpg", b"<?php echo 1; ?>", content_type="image/jpeg")
    r = client.post("/report", {**form, "photos": [text]})
    assert r.status_code == 400 and "照片 'x.jpg' 不是图片" in r.context["error"]
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="JPEG")
    big = SimpleUploadedFile("big.jpg", buf.getvalue() + b"\0" * services.PHOTO_MAX_BYTES)
    r = client.post("/report", {**form, "photos": [big]})
    assert r.status_code == 400 and "每张不超过 5 MB" in r.context["error"]
    assert Issue.objects.count() == before
    ok = SimpleUploadedFile("ok.jpg", buf.getvalue(), content_type="image/jpeg")
    assert client.post("/report", {**form, "photos": [ok]}).status_code == 303


def test_resident_rates_a_resolved_issue(client, form):
    code = client.post("/report", form, follow=True).context["code"]
    issue = Issue.objects.get(tracking_code=code)
    assert 'name="rating"' not in client.get(f"/track?code={code}").content.decode()
    services.issue_transition(issue_id=issue.id, action="dispatch")
    services.issue_transition(issue_id=issue.id, action="accept")
    services.issue_transition(issue_id=issue.id, action="return", note="不归我们管，退回社区")
    services.issue_transition(issue_id=issue.id, action="dispatch")
    services.issue_transition(issue_id=issue.id, action="accept")
    services.issue_transition(issue_id=issue.id, action="resolve", note="已清理楼道杂物")
    page = client.get(f"/track?code={code}").content.decode()
    assert 'name="rating"' in page
    # the resident reads what was done, not the handlers' words to each other
    assert "已清理楼道杂物" in page and "不归我们管" not in page
    assert page.count('type="radio" name="rating"') == 5 and "很不满意" in page and "很满意" in page
    bad = client.post("/track", {"code": code, "rating": "9"})
    assert "评分 9 超出 1-5 的范围" in bad.content.decode()
    r = client.post("/track", {"code": code, "rating": "4", "comment": "及时"})
    assert r.status_code == 302
    issue.refresh_from_db()
    assert (issue.status, issue.rating, issue.rating_comment) == ("rated", 4, "及时")
    assert "您的评价: 4/5 满意 · 及时" in client.get(f"/track?code={code}").content.decode()
    assert client.get("/track?code=LLNOTHERE").status_code == 404
