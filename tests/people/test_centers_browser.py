import pytest
from playwright.sync_api import expect

from apps.common.demo import seed_all
from apps.people.models import CenterHousehold, CenterLink, CenterPolicy
from apps.territory.models import Area
from tests.browser import browser_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live_demo(live_server):
    if not Area.objects.exists():
        seed_all(seed=7, scale=0.2)
    return live_server


def login(page, errors, url, username="community"):
    page.goto(url + "/people/centers/")
    assert "/accounts/login/" in page.url  # login required
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "linli-demo")
    page.click("form button[type=submit]")
    wait_until_still(page)


def wait_until_still(page):
    """Ready means the view is settled: a marker clicked mid-zoom is redrawn under the pointer."""
    page.wait_for_selector("body[data-map-ready='ready']", timeout=30_000)
    assert page.evaluate("() => !window.linliCentersMap._animatingZoom"), "ready while zooming"


RECORD_POINTER = """() => {
  window.linliPointer = [];
  for (const t of ["mousedown", "mouseup", "click"]) document.addEventListener(t, (e) => {
    const el = e.target;
    window.linliPointer.push(t + " " + e.clientX + "," + e.clientY + " " + el.tagName + "."
      + (el.getAttribute("class") || "") + " " + JSON.stringify(el.dataset));
  }, true);
}"""


def open_center(page, household_id, artifacts, name):
    """Click a center's marker and wait for its panel; if it does not open, say where the click went."""
    page.evaluate(RECORD_POINTER)
    marker = page.locator(f"path.center-marker[data-household='{household_id}']")
    box = marker.bounding_box()
    marker.click()
    try:
        page.wait_for_selector("#center-count", timeout=15_000)
    except Exception as err:
        page.screenshot(path=str(artifacts / f"{name}-click-lost.png"))
        events = page.evaluate("() => window.linliPointer")
        raise AssertionError(
            f"the center's panel did not open: marker at {box}, events {events}"
        ) from err


def first_center(*, grid_suffix: str) -> CenterHousehold:
    """The first center household of the demo grid whose code ends with `grid_suffix`."""
    return (
        CenterHousehold.objects.filter(household__building__grid__code__endswith=grid_suffix)
        .select_related("household")
        .order_by("id")
        .first()
    )


def test_staff_link_and_unlink_households_on_the_map(live_demo, artifacts):
    center = first_center(grid_suffix="001")
    same_building = CenterLink.objects.filter(
        center=center, household__building=center.household.building_id
    ).first()
    assert same_building is not None
    count = center.links.count()
    with browser_page() as (page, errors):
        login(page, errors, live_demo.url)
        assert (
            int(page.locator("body").get_attribute("data-centers"))
            == CenterHousehold.objects.count()
        )
        cells = page.locator("#coverage td.num:last-child").all_inner_texts()
        assert cells == ["100.0%"] * 6
        open_center(page, center.household_id, artifacts, "centers-staff")
        assert page.locator("#center-count").inner_text() == str(count)
        page.locator(f"path[data-building='{center.household.building_id}']").click(
            position={"x": 2, "y": 2}
        )
        page.locator(
            f"li[data-household='{same_building.household_id}'] button[data-unlink]"
        ).click()
        expect(page.locator("#center-count")).to_have_text(str(count - 1))
        assert not CenterLink.objects.filter(household_id=same_building.household_id).exists()
        assert "100.0%" not in page.locator("#coverage tr.low").inner_text()
        page.screenshot(path=str(artifacts / "centers-unlinked.png"))
        # relink; then at capacity the page warns before the click and the server refuses
        page.locator(f"li[data-household='{same_building.household_id}'] button[data-link]").click()
        expect(page.locator("#center-count")).to_have_text(str(count))
        CenterPolicy.objects.create(
            community=center.household.building.community, min_links=1, max_links=count
        )
        page.reload()
        wait_until_still(page)
        # each step waits for the page to show it took the click (a loaded machine is slow to draw)
        open_center(page, center.household_id, artifacts, "centers-reloaded")
        expect(page.locator("#center-count")).to_have_text(str(count), timeout=15_000)
        page.locator(f"path[data-building='{center.household.building_id}']").click(
            position={"x": 2, "y": 2}
        )
        expect(page.locator("#selection .hh-list li").first).to_be_visible(timeout=15_000)
        expect(page.locator("[data-warning='full']")).to_be_visible(timeout=15_000)
        page.locator("li button[data-link]").first.click()
        page.wait_for_selector(".status.error")
        assert "上限为" in page.locator("#status").inner_text()
        assert center.links.count() == count
        page.screenshot(path=str(artifacts / "centers-full.png"))
        errors = [e for e in errors if "400 (Bad Request)" not in e]  # the refusal we asked for
        assert errors == []


def test_lasso_links_a_building(live_demo, artifacts):
    center = first_center(grid_suffix="003")
    freed = list(
        CenterLink.objects.filter(center=center, household__building=center.household.building_id)
        .order_by("id")
        .values_list("id", flat=True)[:3]
    )
    assert len(freed) == 3
    CenterLink.objects.filter(id__in=freed).delete()
    count = center.links.count()
    with browser_page() as (page, errors):
        login(page, errors, live_demo.url)
        open_center(page, center.household_id, artifacts, "centers-lasso")
        assert page.locator("#center-count").inner_text() == str(count)
        box = page.locator(f"path[data-building='{center.household.building_id}']").bounding_box()
        page.click("#lasso")
        x0, y0 = box["x"] - 6, box["y"] - 6
        x1, y1 = box["x"] + box["width"] + 6, box["y"] + box["height"] + 6
        for x, y in [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]:
            page.mouse.click(x, y)
        expect(page.locator("#center-count")).to_have_text(str(count + 3))
        assert center.links.count() == count + 3
        page.screenshot(path=str(artifacts / "centers-lasso.png"))
        assert errors == []


def test_a_household_of_another_center_names_that_center(live_demo, artifacts):
    """It read "→ #563": an id staff cannot place."""
    center = first_center(grid_suffix="001")
    other = CenterHousehold.objects.exclude(id=center.id).first()
    moved = CenterLink.objects.filter(
        center=center, household__building=center.household.building_id
    ).first()
    CenterLink.objects.filter(id=moved.id).update(center=other)
    with browser_page() as (page, errors):
        login(page, errors, live_demo.url)
        open_center(page, center.household_id, artifacts, "centers-other")
        page.locator(f"path[data-building='{center.household.building_id}']").click(
            position={"x": 2, "y": 2}
        )
        row = page.locator(f"li[data-household='{moved.household_id}']")
        expect(row.locator("button[data-move]")).to_be_visible(timeout=15_000)
        text = row.locator("small").inner_text()
        assert text.startswith("→ ") and "#" not in text and len(text) > 2, text
        assert errors == []


def test_auto_suggest_review_and_accept(live_demo, artifacts):
    CenterLink.objects.filter(household__building__grid__code__endswith="002").delete()
    with browser_page() as (page, errors):
        login(page, errors, live_demo.url)
        assert page.locator("#coverage tr.low").count() == 1
        page.click("#suggest")
        page.wait_for_selector(".mode.draft", timeout=60_000)
        assert page.locator("#coverage tr.low").count() == 0
        page.screenshot(path=str(artifacts / "centers-proposal.png"))
        page.click("#accept")
        expect(page.locator("#accept")).to_be_hidden()
        assert page.locator("#coverage tr.low").count() == 0
        assert errors == []
