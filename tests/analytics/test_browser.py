"""The dashboard and the gaps/hotspot map in headless Chromium, logged in as a city administrator."""

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from apps.common.demo import seed_all
from apps.people.models import StaffAssignment
from apps.territory.models import Area
from tests.browser import browser_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live_demo(live_server):
    if not Area.objects.exists():
        seed_all(seed=7, scale=0.2)
    User = get_user_model()
    if not User.objects.filter(username="analyst").exists():
        User.objects.create_superuser("analyst", password="analyst-password-1")
    return live_server


def login(page, base):
    page.goto(base + "/accounts/login/?next=/analytics/")
    page.fill("input[name=username]", "analyst")
    page.fill("input[name=password]", "analyst-password-1")
    page.click("form button[type=submit]")


def test_dashboard_draws_charts_and_offers_exports(live_demo, artifacts):
    with browser_page() as (page, errors):
        login(page, live_demo.url)
        page.wait_for_selector("body[data-dashboard-ready='ready']", timeout=30_000)
        assert page.locator("html").get_attribute("lang") == "zh-hans"
        cards = page.locator(".an-card")
        assert cards.count() == 10
        coverage = page.locator(
            ".an-card[data-key='property_coverage'] .an-card-value"
        ).inner_text()
        assert coverage.endswith("%")
        assert page.locator("#chart-rates canvas").count() == 1
        assert page.locator("#an-table tbody tr").count() == 12
        page.screenshot(path=str(artifacts / "analytics-dashboard.png"), full_page=True)
        href = page.locator("#an-xlsx").get_attribute("href")
        assert href.startswith("/api/analytics/indicators.xlsx?code=")
        page.goto(live_demo.url + page.locator("#an-print").get_attribute("href"))
        assert page.locator("table.an-table").first.locator("tbody tr").count() == 12
        page.screenshot(path=str(artifacts / "analytics-print.png"), full_page=True)
        assert errors == []


def test_gaps_map_shows_gaps_stations_and_suggestions(live_demo, artifacts):
    with browser_page() as (page, errors):
        login(page, live_demo.url)
        page.goto(live_demo.url + "/analytics/map")
        page.wait_for_selector("body[data-map-ready='ready']", timeout=30_000)
        overlays = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        joined = " ".join(overlays)
        assert "无物业管理的小区" in joined and "党群服务站" in joined
        assert "热点（Gi*）" in joined  # the demo has residents' issues
        assert page.locator("#gap-list li").count() > 0
        page.locator("#gap-list li").first.click()
        assert page.locator("#gap-detail p").first.inner_text() != ""
        page.select_option("#suggest-tier", "5")
        page.click("#suggest-button")
        page.wait_for_selector("body[data-suggested]", timeout=60_000)
        assert int(page.locator("body").get_attribute("data-suggested")) >= 1
        page.screenshot(path=str(artifacts / "analytics-map.png"))
        assert errors == []


def test_gaps_map_with_too_many_gaps_shows_counts_and_links_to_communities(live_demo, artifacts):
    """More gaps than LINLI_GEOJSON_MAX_FEATURES (a megacity's 1.8M) are not downloaded as GeoJSON:
    the map shows the counts and a list of communities, each a link to its own map."""
    from django.test import override_settings

    community = Area.objects.filter(level="community", valid_to__isnull=True).first()
    with browser_page() as (page, errors):
        login(page, live_demo.url)
        gap_requests = []
        page.on(
            "request",
            lambda r: gap_requests.append(r.url) if "/gaps.geojson" in r.url else None,
        )
        with override_settings(LINLI_GEOJSON_MAX_FEATURES=1):
            page.goto(live_demo.url + "/analytics/map")
            page.wait_for_selector("body[data-map-ready='ready']", timeout=60_000)
        assert page.locator("body").get_attribute("data-gaps-drawn") == "no"
        assert gap_requests == []  # counts only: no GeoJSON of every gap
        note = page.locator("#too-many").inner_text()
        assert "过多无法在地图上绘出" in note
        link = page.locator("ol.gap-areas li a").first
        assert link.get_attribute("href").endswith(f"?code={community.code}")
        assert link.inner_text() == community.name
        # the legend still says how many of each kind there are
        overlays = " ".join(
            page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        )
        assert "无物业管理的小区 (" in overlays
        page.screenshot(path=str(artifacts / "analytics-map-too-many.png"))
        link.click()  # the default limit again: the community's gaps are drawn
        page.wait_for_selector("body[data-map-ready='ready']", timeout=60_000)
        assert page.locator("body").get_attribute("data-gaps-drawn") == "yes"
        assert page.locator("#gap-list li").count() > 0
        assert len(gap_requests) == 1 and f"within={community.code}" in gap_requests[0]
        assert errors == []


def test_a_grid_without_a_leader_is_a_gap_that_links_to_its_panel_where_one_is_assigned(
    live_demo, artifacts
):
    """The gap names the grid; its link opens the console on that grid (`/?area=<code>`), whose
    "who to call" section assigns a leader; the gap is then gone."""
    grid = Area.objects.filter(level="grid").order_by("code").last()
    StaffAssignment.objects.filter(role="grid_leader", area=grid).update(active=False)
    with browser_page() as (page, errors):
        login(page, live_demo.url)
        page.goto(live_demo.url + "/analytics/map")
        page.wait_for_selector("body[data-map-ready='ready']", timeout=30_000)
        gap = page.locator("#gap-list li", has_text=grid.name).filter(has_text="网格长")
        expect(gap).to_have_count(1)
        gap.click()
        link = page.locator("#gap-detail a.gap-console")
        expect(link).to_have_attribute("href", f"/?area={grid.code}")
        link.click()
        page.wait_for_selector("body[data-map-ready='ready']", timeout=30_000)
        expect(page.locator("#panel h2")).to_have_text(grid.name)
        expect(page.locator("#panel")).to_have_attribute("data-selected", f"area:{grid.id}")
        contacts = page.locator("#sec-contacts")
        contacts.locator("summary").click()
        contacts.locator("input[name=name]").fill("补位网格长")
        contacts.locator("button[type=submit]").click()
        expect(contacts.locator("li").first).to_contain_text("补位网格长")
        page.screenshot(path=str(artifacts / "gap-to-console-assign.png"))

        page.goto(live_demo.url + "/?area=340111999999999")
        expect(page.locator("#status")).to_contain_text("没有编码为 340111999999999 的现行区域")
        assert errors == []
    assert (
        StaffAssignment.objects.get(role="grid_leader", area=grid, active=True).name == "补位网格长"
    )
