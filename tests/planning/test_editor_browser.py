"""The planner's editor in headless Chromium: sign in, propose, split a grid, see validation, save; the
diff view before and after publishing; two planners racing, with recovery; colours by deviation from
the target with a legend; the phone size. Any console error fails a test."""

import contextlib
import json
import re

import pytest
import shapely
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from apps.common.demo import seed_all
from apps.planning import services
from apps.planning.models import Plan, PlanStatus
from apps.territory.models import Area
from tests.browser import CHROMIUM_ARGS, DESKTOP, PHONE, browser_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PLANNERS = ("plannertest", "plannertest2")
PASSWORD = "pw-for-tests-1"


@pytest.fixture
def live_demo(live_server):
    if not Area.objects.exists():
        seed_all(seed=7, scale=0.2)
    User = get_user_model()
    from apps.people.services import staff_assign

    community = Area.objects.filter(level="community", valid_to__isnull=True).order_by("code")[0]
    for name in PLANNERS:
        if not User.objects.filter(username=name).exists():
            user = User.objects.create_user(name, password=PASSWORD)
            staff_assign(name="规划员", role="planner", area=community, user=user)
    return live_server


@pytest.fixture
def community(live_demo):
    return Area.objects.filter(level="community", valid_to__isnull=True).order_by("code")[0]


@contextlib.contextmanager
def _two_pages():
    """Two planners at once: one Chromium, two browser contexts (separate sessions). Yields
    ((page, errors), (page, errors)) like tests.browser.browser_page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        out = []
        try:
            for _ in range(2):
                page = browser.new_context(viewport=DESKTOP).new_page()
                errors = []
                page.on(
                    "console",
                    lambda m, errors=errors: (
                        errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None
                    ),
                )
                page.on("pageerror", lambda e, errors=errors: errors.append(f"pageerror: {e}"))
                out.append((page, errors))
            yield out[0], out[1]
        finally:
            browser.close()


def _login(page, url, username=PLANNERS[0]):
    page.goto(url + "/planning/")
    page.wait_for_url("**/planning/login/**")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/planning/")


def _open(page, url, plan):
    page.goto(f"{url}/planning/plans/{plan.id}/")
    page.wait_for_selector("body[data-editor-ready='ready']", timeout=20_000)
    _checked(page)


def _checked(page):
    expect(page.locator("body")).to_have_attribute(
        "data-check", re.compile(r"^(valid|invalid)$"), timeout=20_000
    )


def _areas(page):
    """The plan's polygons as the editor holds them, with their box in page pixels."""
    box = page.locator("#map").bounding_box()
    areas = page.evaluate(
        """() => window.linliEditor.areas().map((a) => {
        const m = window.linliEditorMap;
        const b = a.layer.getBounds();
        const c = m.latLngToContainerPoint(a.layer.getCenter());
        const sw = m.latLngToContainerPoint(b.getSouthWest());
        const ne = m.latLngToContainerPoint(b.getNorthEast());
        return {id: a.id, code: a.code, households: a.households, fill: a.fill,
                cx: c.x, cy: c.y, west: sw.x, east: ne.x, north: ne.y, south: sw.y};
    })"""
    )
    for a in areas:
        for k in ("cx", "west", "east"):
            a[k] += box["x"]
        for k in ("cy", "north", "south"):
            a[k] += box["y"]
    return areas


def _inside(page, code):
    """A page point surely inside the polygon with this code (its point-on-surface)."""
    geom = page.evaluate(
        """(code) => window.linliEditor.areas().find((a) => a.code === code)
            .layer.toGeoJSON(false).geometry""",
        code,
    )
    p = shapely.point_on_surface(shapely.from_geojson(json.dumps(geom)))
    xy = page.evaluate(
        "([x, y]) => window.linliEditorMap.latLngToContainerPoint([y, x])", [p.x, p.y]
    )
    box = page.locator("#map").bounding_box()
    return box["x"] + xy["x"], box["y"] + xy["y"]


def _remove(page, code):
    """Remove the polygon with this code in Geoman's removal mode."""
    x, y = _inside(page, code)
    page.click(".leaflet-pm-icon-delete")
    page.mouse.click(x, y)
    page.click(".leaflet-pm-icon-delete")  # leave removal mode
    assert code not in {a["code"] for a in _areas(page)}


def _clear_of_controls(page, areas):
    """Areas whose split line and centre stay clear of the map's controls (top left)."""
    box = page.locator("#map").bounding_box()
    return [
        a
        for a in areas
        if a["code"]
        and (a["west"] - box["x"] > 80 or a["cy"] - box["y"] > 340)
        and a["east"] + 25 < box["x"] + box["width"]
    ]


def _split(page, code):
    """Draw a line across the polygon with this code (outside to outside) in split mode."""
    a = next(a for a in _areas(page) if a["code"] == code)
    n = len(_areas(page))
    page.click("#btn-split")
    y = _inside(page, code)[1]
    page.mouse.click(a["west"] - 25, y)
    page.mouse.click(a["east"] + 25, y)
    page.mouse.click(a["east"] + 25, y)  # clicking the last vertex again finishes the line
    expect(page.locator(".count-label")).to_have_count(n + 1)
    _checked(page)


def test_planner_proposes_splits_sees_validation_and_saves(live_demo, artifacts):
    with browser_page() as (page, errors):
        _login(page, live_demo.url)
        # propose neighbourhood grids from the plan list
        page.click("#propose")
        page.wait_for_url("**/planning/plans/*/")
        page.wait_for_selector("body[data-editor-ready='ready']", timeout=20_000)
        _checked(page)
        assert page.evaluate("document.body.dataset.check") == "valid", page.locator(
            "#findings"
        ).inner_text()
        plan = Plan.objects.order_by("-id").first()
        assert plan.origin == "proposal"
        expect(page.locator(".count-label")).to_have_count(plan.areas.count())
        # the proposal's name and quality report speak Chinese (the UI's default)
        assert "自动方案" in plan.name and "proposal" not in plan.name
        report = page.locator("#report").inner_text()
        assert "自动方案" in report and "邻里格数" in report and "运行时间" in report
        for english in ("Proposal", "groups", "contiguous", "runtime", "compactness"):
            assert english not in report
        assert "30" in page.locator("#legend .legend-title").inner_text()
        page.screenshot(path=str(artifacts / "planning-editor-proposal.png"))

        # split a polygon with a line drawn across it
        before = len(_areas(page))
        target = _clear_of_controls(page, _areas(page))[0]
        _split(page, target["code"])
        page.wait_for_selector("#findings li")
        assert "(新)" in page.locator("#areas").inner_text()

        # remove a polygon: the editor shows a gap before anything is saved
        victim = [a for a in _clear_of_controls(page, _areas(page)) if a["code"]][1]
        _remove(page, victim["code"])
        page.wait_for_selector("#findings li.finding-gap", timeout=10_000)
        findings = page.locator("#findings").inner_text()
        assert "空隙" in findings
        page.screenshot(path=str(artifacts / "planning-editor-validation.png"))

        # save the draft (with its findings: drafts may be incomplete)
        revision = plan.revision
        page.click("#btn-save")
        expect(page.locator("body")).to_have_attribute("data-saved", str(revision + 1))
        plan.refresh_from_db()
        assert plan.revision == revision + 1 and plan.status == PlanStatus.DRAFT
        assert plan.areas.count() == before  # one split (+1), one removed (-1)
        assert errors == []


def test_diff_view_lists_and_draws_added_changed_removed_before_and_after_publishing(
    live_demo, community, artifacts
):
    plan = services.plan_create_from_current(community=community, level="grid")
    with browser_page() as (page, errors):
        _login(page, live_demo.url)
        _open(page, live_demo.url, plan)
        candidates = _clear_of_controls(page, _areas(page))
        split_code, removed_code = candidates[0]["code"], candidates[1]["code"]
        _split(page, split_code)
        _remove(page, removed_code)
        _checked(page)

        # the diff of the unsaved edits against the current grids
        page.click("#btn-diff")
        expect(page.locator("body")).to_have_attribute("data-diff", "shown")
        rows = page.locator("#diff-list tr.diff-row")
        expect(rows).to_have_count(3)
        assert page.locator("tr.diff-added").count() == 1
        assert page.locator(f"tr.diff-changed[data-code='{split_code}']").count() == 1
        assert page.locator(f"tr.diff-removed[data-code='{removed_code}']").count() == 1
        # households before -> after, as the server counts them
        expected = services.plan_diff(
            plan=plan,
            areas=page.evaluate(
                """() => window.linliEditor.areas().map((a) => ({id: a.id, code: a.code,
                    geom: a.layer.toGeoJSON(false).geometry}))"""
            ),
        )
        removed_row = next(r for r in expected["areas"] if r["status"] == "removed")
        text = page.locator(f"tr.diff-removed[data-code='{removed_code}']").inner_text()
        assert f"{removed_row['before']} → —" in text
        summary = page.locator("#diff-summary").inner_text()
        assert f"{expected['households_moved']} 户迁移" in summary and "+1 新增" in summary
        # drawn: the new piece green, the changed grid amber (with its old outline), the removed
        # grid red and dashed
        assert page.locator("path.diff-added").count() == 1
        assert page.locator("path.diff-changed.diff-after").count() == 1
        assert page.locator("path.diff-changed.diff-before").count() == 1
        removed_path = page.locator("path.diff-removed")
        expect(removed_path).to_have_count(1)
        assert removed_path.get_attribute("stroke-dasharray")
        assert removed_path.get_attribute("stroke") == "#dc2626"
        assert page.locator("path.diff-added").get_attribute("fill") == "#22c55e"
        page.screenshot(path=str(artifacts / "planning-editor-diff.png"))

        # start again: only the split, saved and published; the diff now shows what publishing did
        page.goto(f"{live_demo.url}/planning/plans/{plan.id}/")
        page.wait_for_selector("body[data-editor-ready='ready']", timeout=20_000)
        _checked(page)
        _split(page, split_code)
        expect(page.locator("body")).to_have_attribute("data-check", "valid")
        asked = []
        page.once("dialog", lambda d: (asked.append(d.message), d.accept()))
        page.click("#btn-publish")
        expect(page.locator("body")).to_have_attribute("data-published", "yes", timeout=30_000)
        assert asked and "发布" in asked[0]  # publishing asks first
        plan.refresh_from_db()
        assert plan.status == PlanStatus.PUBLISHED
        new_code = plan.diff["new_codes"][0]
        page.click("#btn-diff")
        expect(page.locator("body")).to_have_attribute("data-diff", "shown")
        expect(page.locator("#diff-list tr.diff-row")).to_have_count(2)
        assert page.locator(f"tr.diff-added[data-code='{new_code}']").count() == 1
        assert page.locator(f"tr.diff-changed[data-code='{split_code}']").count() == 1
        assert "发布时的变化" in page.locator("#diff-title").inner_text()
        assert page.locator("path.diff-added").count() == 1
        assert page.locator("path.diff-changed.diff-before").count() == 1
        page.screenshot(path=str(artifacts / "planning-editor-diff-published.png"))
        assert errors == []


def test_second_planner_recovers_from_a_conflict_and_saves_both_edits(
    live_demo, community, artifacts
):
    plan = services.plan_create_from_current(community=community, level="grid")
    original = {a.code: shapely.from_wkt(a.geom.wkt) for a in plan.areas.all()}
    with _two_pages() as ((one, errors1), (two, errors2)):
        _login(one, live_demo.url, PLANNERS[0])
        _login(two, live_demo.url, PLANNERS[1])
        _open(one, live_demo.url, plan)
        _open(two, live_demo.url, plan)
        codes = [a["code"] for a in _clear_of_controls(one, _areas(one))]
        theirs, mine = codes[0], codes[1]

        # planner 1 splits a grid and saves first
        _split(one, theirs)
        one.click("#btn-save")
        expect(one.locator("body")).to_have_attribute("data-saved", "2")

        # planner 2 splits another grid and saves: refused, nothing lost
        _split(two, mine)
        n = two.locator(".count-label").count()
        two.click("#btn-save")
        expect(two.locator("body")).to_have_attribute("data-saved", "conflict")
        expect(two.locator("#conflict")).to_be_visible()
        assert "修订版 2" in two.locator("#conflict-text").inner_text()
        expect(two.locator(".count-label")).to_have_count(n)
        two.screenshot(path=str(artifacts / "planning-editor-conflict.png"))

        # recover: the latest revision with planner 2's split on top, then save
        two.click("#btn-reapply")
        expect(two.locator("body")).to_have_attribute("data-saved", "reapplied")
        expect(two.locator("#revision")).to_have_text("2")
        _checked(two)
        # both splits (expect retries: Leaflet fades a removed layer's label out for 200 ms)
        expect(two.locator(".count-label")).to_have_count(len(original) + 2)
        assert two.evaluate("document.body.dataset.check") == "valid", two.locator(
            "#findings"
        ).inner_text()
        two.screenshot(path=str(artifacts / "planning-editor-reapplied.png"))
        two.click("#btn-save")
        expect(two.locator("body")).to_have_attribute("data-saved", "3")
        assert errors1 == [] and errors2 == []

    plan.refresh_from_db()
    assert plan.revision == 3
    rows = list(plan.areas.all())
    assert len(rows) == len(original) + 2
    by_code = {r.code: shapely.from_wkt(r.geom.wkt) for r in rows if r.code}
    new = [shapely.from_wkt(r.geom.wkt) for r in rows if not r.code]
    assert len(new) == 2
    for code in (theirs, mine):  # both grids are cut, each by its own planner's line
        assert by_code[code].area < original[code].area * 0.95
        piece = next(g for g in new if g.intersection(original[code]).area > g.area * 0.99)
        assert by_code[code].union(piece).area == pytest.approx(original[code].area, rel=1e-4)
    for code in set(original) - {theirs, mine}:
        # untouched: the same polygon at the editor's precision (GeoJSON, 7 decimals)
        snapped = shapely.set_precision(original[code], 1e-7)
        assert shapely.set_precision(by_code[code], 1e-7).symmetric_difference(snapped).area < 1e-14


def test_polygons_are_coloured_by_deviation_from_the_plan_target(live_demo, community, artifacts):
    plan = services.plan_create_from_current(community=community, level="grid")
    counts = sorted(c["households"] for c in services.plan_check(plan=plan)["counts"])
    target = counts[len(counts) // 2]
    spread = max(abs(c - target) for c in counts)
    assert spread >= 4, f"the demo's grids hold different numbers of households: {counts}"
    d = spread // 2
    Plan.objects.filter(pk=plan.pk).update(
        target_households=target, min_households=target - d, max_households=target + d
    )
    with browser_page() as (page, errors):
        _login(page, live_demo.url)
        _open(page, live_demo.url, plan)
        title = page.locator("#legend .legend-title").inner_text()
        assert str(target) in title and f"{target - d}–{target + d}" in title
        assert "接近目标" in page.locator("#legend .legend-ends").inner_text()
        legend = {
            int(li.get_attribute("data-class")): li.get_attribute("data-colour")
            for li in page.locator("#legend li").all()
        }
        assert legend[0] != legend[3] != legend[6]
        areas = _areas(page)
        far = [a for a in areas if not target - d <= a["households"] <= target + d]
        near = [a for a in areas if a["households"] == target]
        assert far and near
        for a in far:
            assert a["fill"] == legend[0 if a["households"] < target else 6], a
        for a in near:
            assert a["fill"] == legend[3], a
        # the area list uses the same colours
        assert page.locator("#areas .sw").count() == len(areas)
        page.screenshot(path=str(artifacts / "planning-editor-colours.png"))
        assert errors == []


def test_editor_loads_at_phone_size(live_demo, community, artifacts):
    plan = services.plan_propose(community=community)
    with browser_page(viewport=PHONE) as (page, errors):
        _login(page, live_demo.url)
        _open(page, live_demo.url, plan)
        expect(page.locator(".count-label")).to_have_count(plan.areas.count())
        map_box = page.locator("#map").bounding_box()
        panel_box = page.locator("#panel").bounding_box()
        assert map_box["width"] <= PHONE["width"] and map_box["height"] > 300
        assert panel_box["width"] <= PHONE["width"]
        assert panel_box["y"] >= map_box["y"] + map_box["height"] - 1  # the panel below the map
        expect(page.locator("#btn-diff")).to_be_visible()
        page.click("#btn-diff")
        expect(page.locator("body")).to_have_attribute("data-diff", "shown")
        page.click("#btn-diff")
        page.screenshot(path=str(artifacts / "planning-editor-phone.png"))
        assert errors == []


def test_a_plan_without_a_target_is_measured_against_the_mean(live_demo, community, artifacts):
    """Its legend said 'near the target' (接近目标) right after 'the plan has no target'."""
    plan = services.plan_propose(community=community)
    Plan.objects.filter(pk=plan.pk).update(
        target_households=None, min_households=None, max_households=None
    )
    with browser_page() as (page, errors):
        _login(page, live_demo.url)
        _open(page, live_demo.url, plan)
        assert "该规划未设目标" in page.locator("#legend .legend-title").inner_text()
        ends = page.locator("#legend .legend-ends").inner_text()
        assert "接近平均" in ends and "目标" not in ends
        assert errors == []


def test_planner_sets_a_grid_plans_household_range_and_the_checks_follow(
    live_demo, community, artifacts
):
    """A grid plan has no target: the planner types one with a range, and the legend, the colours
    and the count check follow without a reload; a bad range is refused and named."""
    plan = services.plan_create_from_current(community=community, level="grid")
    with browser_page() as (page, errors):
        _login(page, live_demo.url)
        _open(page, live_demo.url, plan)
        assert "该规划未设目标" in page.locator("#legend .legend-title").inner_text()
        expect(page.locator("#findings li.none")).to_have_count(1)  # no errors, no count check
        sizes = sorted(a["households"] for a in _areas(page))
        lo, hi = sizes[1], sizes[-2]
        form = page.locator("#range-form")
        form.locator("input[name=min]").fill(str(hi))
        form.locator("input[name=max]").fill(str(lo))
        form.locator("button[type=submit]").click()
        expect(page.locator("#message")).to_contain_text("大于最多户数")
        form.locator("input[name=target]").fill(str((lo + hi) // 2))
        form.locator("input[name=min]").fill(str(lo))
        form.locator("input[name=max]").fill(str(hi))
        form.locator("button[type=submit]").click()
        expect(page.locator("#message")).to_contain_text("已设定每区户数")
        title = page.locator("#legend .legend-title")
        expect(title).to_contain_text(f"目标 {(lo + hi) // 2} 户")
        outside = sum(1 for n in sizes if not lo <= n <= hi)
        expect(page.locator("#findings li")).to_have_count(outside)
        expect(page.locator("#findings li").first).to_contain_text(str(lo))
        page.screenshot(path=str(artifacts / "planner-grid-range.png"))
        plan.refresh_from_db()
        assert (plan.min_households, plan.max_households) == (lo, hi)
        assert errors == [e for e in errors if "status of 400" in e]


def test_proposing_from_a_neighbourhood_plan_uses_its_households_per_area(
    live_demo, community, artifacts
):
    plan = services.plan_create_from_current(community=community, level="neighbourhood")
    services.plan_range_set(plan=plan, target=26, min_hh=18, max_hh=34)
    before = set(Plan.objects.values_list("id", flat=True))
    with browser_page() as (page, errors):
        _login(page, live_demo.url)
        _open(page, live_demo.url, plan)
        page.click("#btn-propose")
        page.wait_for_url(lambda url: not url.endswith(f"/plans/{plan.id}/"), timeout=60_000)
        page.wait_for_selector("body[data-editor-ready='ready']", timeout=20_000)
        new = Plan.objects.exclude(id__in=before).get()
        assert (new.target_households, new.min_households, new.max_households) == (26, 18, 34)
        assert page.url.endswith(f"/planning/plans/{new.id}/")
        assert errors == []


def test_the_plan_list_shows_the_neighbourhood_grids_now_against_the_range(
    live_demo, community, artifacts
):
    """Below the plans: each grid's neighbourhood grids as they are now, those outside the range
    typed in Min and Max counted (and re-counted as the planner types), households in none."""
    from apps.planning.selectors import community_state

    state = community_state(community=community)
    counts = [h for g in state for h in g["neighbourhoods"]]

    def outside(lo, hi):
        return sum(1 for h in counts if h < lo or h > hi)

    with browser_page() as (page, errors):
        _login(page, live_demo.url)
        rows = page.locator("#state-rows tr")
        expect(rows).to_have_count(len(state) + 1)  # the grids and the community's total
        expect(page.locator("#state-summary")).to_have_text(
            f"{len(counts)} 个邻里格中有 {outside(20, 40)} 个不在 20–40 户之间；0 户未划入任何邻里格。"
        )
        for g, row in zip(state, rows.all(), strict=False):
            cells = row.locator("td").all_inner_texts()
            assert g["code"] in cells[0] and cells[1] == str(g["households"])
            assert cells[2] == str(len(g["neighbourhoods"]))
            assert cells[3] == str(sum(1 for h in g["neighbourhoods"] if h < 20 or h > 40))
        total = rows.last.locator("td").all_inner_texts()
        assert total[1:4] == [
            str(sum(g["households"] for g in state)),
            str(len(counts)),
            str(outside(20, 40)),
        ]
        page.screenshot(path=str(artifacts / "planning-list-state.png"))
        page.fill("#min", "28")
        expect(page.locator("#state-summary")).to_contain_text(
            f"有 {outside(28, 40)} 个不在 28–40 户"
        )
        expect(rows.last.locator("td").nth(3)).to_have_text(str(outside(28, 40)))
        assert outside(28, 40) > outside(20, 40)
        assert errors == []
