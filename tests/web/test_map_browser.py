import pytest
from playwright.sync_api import expect

from apps.common.demo import seed_all
from apps.territory.models import Area
from tests.browser import PHONE, browser_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live_demo(live_server):
    if not Area.objects.exists():
        seed_all(seed=7, scale=0.2)
    return live_server


def test_map_renders_every_layer_and_shows_the_chain_on_click(live_demo, artifacts):
    with browser_page() as (page, errors):
        page.goto(live_demo.url + "/")
        page.wait_for_selector("body[data-map-ready='ready']", timeout=20_000)
        # Chinese by default, whatever the browser's language
        assert page.locator("html").get_attribute("lang") == "zh-hans"
        labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        assert [label.split(" (")[0].strip() for label in labels] == [
            "街道",
            "社区",
            "网格",
            "邻里格",
            "小区",
            "楼栋",
        ]
        assert "网格 (6)" in " ".join(labels)
        assert page.locator("path.leaflet-interactive").count() > 40
        # click the middle of the map: the panel lists the chain, top down
        box = page.locator("#map").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector("#panel .chain li")
        chain = page.locator("#panel .chain li .lvl").all_inner_texts()
        assert chain[:3] == ["街道", "社区", "网格"]
        page.screenshot(path=str(artifacts / "map-desktop.png"))
        # toggle a layer off and on
        before = page.locator("path.leaflet-interactive").count()
        page.get_by_label("楼栋", exact=False).uncheck()
        assert page.locator("path.leaflet-interactive").count() < before
        assert errors == []


def test_map_speaks_english_on_request_and_fits_a_phone(live_demo, artifacts):
    with browser_page(viewport=PHONE) as (page, errors):
        page.goto(live_demo.url + "/?lang=en")
        page.wait_for_selector("body[data-map-ready='ready']", timeout=20_000)
        assert page.locator("html").get_attribute("lang") == "en"
        # the layer list is folded on a phone; a tap opens it
        page.locator(".leaflet-control-layers").hover()
        expect(page.locator(".leaflet-control-layers-overlays")).to_contain_text("Grid (6)")
        page.screenshot(path=str(artifacts / "map-phone-en.png"))
        # the choice is remembered
        page.goto(live_demo.url + "/")
        assert page.locator("html").get_attribute("lang") == "en"
        assert errors == []
