"""The resident form on a phone, as a person uses it: tap the map, fill in, send, get a tracking code,
follow it. Headless Chromium; any console error fails."""

import pytest

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
        assert errors == []
