"""The resident form on a phone, as a person uses it: tap the map, fill in, send, get a tracking code,
follow it. Headless Chromium; any console error fails."""

import pytest
from playwright.sync_api import expect

from apps.issues import services
from apps.issues.models import Issue
from tests.browser import PHONE, browser_page
from tests.issues.conftest import ensure_seeded, point_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_resident_reports_on_a_phone_and_tracks_it(live_server, artifacts):
    ensure_seeded()
    from apps.territory.models import Area

    grid = Area.objects.filter(level="grid").order_by("code").first()
    p = point_in(grid)
    with browser_page(viewport=PHONE) as (page, errors):
        page.goto(f"{live_server.url}/report")
        page.wait_for_selector("#pick.leaflet-container")
        page.wait_for_load_state("networkidle")  # the grid outlines are drawn
        assert page.locator("html").get_attribute("lang") == "zh-hans"
        # the map tap fills lon/lat; then put the pin exactly where the test wants it
        box = page.locator("#pick").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        assert page.input_value("#lon") != "" and page.locator(".leaflet-marker-icon").count() == 1
        page.fill("#lon", f"{p.x:.6f}")
        page.fill("#lat", f"{p.y:.6f}")
        page.select_option("select[name=category]", "property-repair")
        page.fill("textarea[name=description]", "3栋2单元楼道灯坏了 <script>x</script>")
        page.fill("input[name=phone]", "13800138000")
        page.screenshot(path=str(artifacts / "issues-report-phone.png"), full_page=True)
        page.click("button.primary")
        page.wait_for_selector("#tracking-code")
        code = page.inner_text("#tracking-code")
        page.screenshot(path=str(artifacts / "issues-report-done.png"))
        issue = Issue.objects.get(tracking_code=code)
        assert issue.description.endswith("<script>x</script>") and issue.grid_id == grid.id
        page.click("text=查看办理进度")
        page.wait_for_selector("#track")
        assert "<script>x</script>" in page.inner_text(".desc")  # shown as text, not run
        page.screenshot(path=str(artifacts / "issues-track-phone.png"), full_page=True)
        # once resolved, the resident reads what was done and rates it with a tap
        for action, note in (("dispatch", ""), ("accept", ""), ("resolve", "已更换楼道灯")):
            services.issue_transition(issue_id=issue.id, action=action, note=note)
        page.reload()
        expect(page.locator("#track .history")).to_contain_text("已更换楼道灯")
        choices = page.locator("fieldset.scale label")
        expect(choices).to_have_count(5)
        expect(choices.nth(4)).to_contain_text("很满意")
        choices.nth(3).click()
        expect(choices.nth(3).locator("input")).to_be_checked()
        page.screenshot(path=str(artifacts / "issues-track-rate-phone.png"), full_page=True)
        page.fill("textarea[name=comment]", "修得很快")
        page.click("form.rate button.primary")
        expect(page.locator(".your-rating")).to_contain_text("4/5 满意 · 修得很快")
        issue.refresh_from_db()
        assert (issue.status, issue.rating, issue.rating_comment) == ("rated", 4, "修得很快")
        assert errors == []


def test_agenda_page_prints(live_server, artifacts, django_user_model):
    """A community worker logs in, opens the month's agenda, records a decision, prints it."""
    ensure_seeded()
    from datetime import timedelta

    from django.utils import timezone

    from apps.issues import services
    from apps.territory.models import Area

    grid = Area.objects.filter(level="grid").order_by("code").first()
    stale = services.issue_create(
        point=point_in(grid),
        category="dispute",
        description="邻居占用楼道堆物",
        source="patrol",
        created_at=timezone.now() - timedelta(days=20),
    )
    services.issue_transition(issue_id=stale.id, action="dispatch")
    from django.conf import settings
    from django.test import Client

    user = django_user_model.objects.create_user("agenda", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(user)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    month = timezone.localtime().strftime("%Y-%m")
    url = f"{live_server.url}/meetings/{grid.parent.code}/{month}"
    with browser_page() as (page, errors):
        page.context.add_cookies(
            [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
        )
        page.goto(url)
        page.wait_for_selector(".agenda-group")
        assert int(page.inner_text("#n-overdue")) >= 1
        row = page.locator("tr", has_text=stale.tracking_code)
        assert "超期" in row.inner_text()
        row.locator("textarea").fill("社区牵头, 本周内清理")
        row.locator("button").click()
        page.wait_for_selector("p.decision")
        assert "社区牵头" in page.locator("tr", has_text=stale.tracking_code).inner_text()
        page.screenshot(path=str(artifacts / "issues-agenda.png"), full_page=True)
        page.emulate_media(media="print")
        assert not page.locator(".topbar").is_visible()
        page.screenshot(path=str(artifacts / "issues-agenda-print.png"), full_page=True)
        assert errors == []
