"""The staff import page in headless Chromium: upload, choose fields, dry run on the map, commit."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.territory.models import Area
from tests.browser import browser_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def staff_cookie(live_server, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    user = get_user_model().objects.create_user(
        "dataio-browser", password="pw-browser-1", is_staff=True
    )
    from apps.people.services import staff_assign

    # territory imports are city-wide work: a city administrator (apps.people.scope.CityWide)
    staff_assign(name="市级管理员", role="city_admin", user=user)
    client = Client()
    client.force_login(user)
    return {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}


def test_upload_check_on_the_map_then_commit(
    live_server, empty_territory, staff_cookie, shared_data, artifacts
):
    # an empty territory: over the demo district Anhui would overlap its street and be rejected
    with browser_page() as (page, errors):
        page.context.add_cookies([staff_cookie])
        page.goto(live_server.url + "/dataio/import")
        page.wait_for_selector("body[data-import-ready='ready']")
        assert page.locator("h2").first.inner_text() == "导入地理数据"
        page.set_input_files(
            "#file", str(shared_data / "china" / "datav_china_provinces_100000_full.json")
        )
        page.get_by_role("button", name="上传").click()
        page.wait_for_selector("#options-form:not([hidden])")
        page.select_option("#level", "street")
        page.fill("[name=county]", "100000")
        page.select_option("[name=code_field]", "adcode")
        page.select_option("[name=datum]", "gcj02")
        assert page.locator("[name=name_field]").input_value() == "name"
        page.get_by_role("button", name="检查（试导入）").click()
        page.wait_for_selector("body[data-preview='ready']", timeout=30_000)
        assert page.locator("td[data-key='read']").inner_text() == "35"
        assert page.locator("td[data-key='repaired']").inner_text() == "21"
        assert page.locator(".rows tr.repaired").count() == 21
        # repaired features are drawn amber on the map
        assert page.locator("path[stroke='#d97706']").count() == 21
        assert page.locator("path.leaflet-interactive").count() >= 35
        page.screenshot(path=str(artifacts / "dataio-import-preview.png"))
        assert not Area.objects.filter(code__startswith="100000").exists()
        page.get_by_role("button", name="写入数据库").click()
        page.wait_for_selector("body[data-committed='yes']", timeout=60_000)
        assert "已写入：35" in page.locator("#report .done").inner_text()
        page.screenshot(path=str(artifacts / "dataio-import-committed.png"))
        assert errors == []
    assert Area.objects.filter(level="street", code__startswith="100000").count() == 35


def test_a_bad_file_shows_the_error(live_server, staff_cookie, tmp_path):
    bad = tmp_path / "broken.geojson"
    bad.write_text("{ not json")
    with browser_page() as (page, errors):
        page.context.add_cookies([staff_cookie])
        page.goto(live_server.url + "/dataio/import?lang=en")
        page.wait_for_selector("body[data-import-ready='ready']")
        page.set_input_files("#file", str(bad))
        page.get_by_role("button", name="Upload").click()
        page.wait_for_selector("#report .error")
        assert "cannot read broken.geojson" in page.locator("#report .error").inner_text()
        # the failed request is an expected 400, not a script error
        assert [e for e in errors if "400" not in e] == []


def test_the_current_streets_are_drawn_under_the_dry_run(live_server, staff_cookie, artifacts):
    """So a file in the wrong place or datum shows beside the territory it should match."""
    from apps.common.demo import seed_all

    if not Area.objects.exists():
        seed_all(seed=7, scale=0.2)
    codes = sorted(
        Area.objects.filter(level="street", valid_to__isnull=True).values_list("code", flat=True)
    )
    with browser_page() as (page, errors):
        page.context.add_cookies([staff_cookie])
        page.goto(live_server.url + "/dataio/import")
        page.wait_for_selector("body[data-import-ready='ready']")
        drawn = page.eval_on_selector_all(
            "path[data-street]", "ps => ps.map((p) => p.dataset.street)"
        )
        assert sorted(drawn) == codes
        assert "现有街道" in page.locator(".legend").inner_text()
        page.screenshot(path=str(artifacts / "dataio-import-territory.png"))
        assert errors == []
