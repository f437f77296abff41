"""The planner's editor in headless Chromium: sign in, propose, split a grid, see validation, save."""

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from apps.common.demo import seed_all
from apps.planning.models import Plan, PlanStatus
from apps.territory.models import Area
from tests.browser import browser_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live_demo(live_server):
    if not Area.objects.exists():
        seed_all(seed=7, scale=0.2)
    User = get_user_model()
    if not User.objects.filter(username="plannertest").exists():
        User.objects.create_user("plannertest", password="pw-for-tests-1")
    return live_server


def _login(page, url):
    page.goto(url + "/planning/")
    page.wait_for_url("**/planning/login/**")
    page.fill("input[name=username]", "plannertest")
    page.fill("input[name=password]", "pw-for-tests-1")
    page.click("button[type=submit]")
    page.wait_for_url("**/planning/")


def _polygon_centre(page, layer_index=0):
    return page.evaluate(
        """(i) => {
        const layers = [];
        window.linliEditorMap.eachLayer((l) => { if (l.options && l.options.fillOpacity === 0.35 && l.getBounds) layers.push(l); });
        const b = layers[i].getBounds();
        const p = window.linliEditorMap.latLngToContainerPoint(b.getCenter());
        const sw = window.linliEditorMap.latLngToContainerPoint(b.getSouthWest());
        const ne = window.linliEditorMap.latLngToContainerPoint(b.getNorthEast());
        return {x: p.x, y: p.y, w: ne.x - sw.x, h: sw.y - ne.y, n: layers.length};
    }""",
        layer_index,
    )


def test_planner_proposes_splits_sees_validation_and_saves(live_demo, artifacts):
    with browser_page() as (page, errors):
        _login(page, live_demo.url)
        # propose neighbourhood grids from the plan list
        page.click("#propose")
        page.wait_for_url("**/planning/plans/*/")
        page.wait_for_selector("body[data-editor-ready='ready']", timeout=20_000)
        expect(page.locator("body")).to_have_attribute(
            "data-check", re.compile(r"^(valid|invalid)$")
        )
        assert page.evaluate("document.body.dataset.check") == "valid", page.locator(
            "#findings"
        ).inner_text()
        plan = Plan.objects.order_by("-id").first()
        assert plan.origin == "proposal"
        assert page.locator(".count-label").count() == plan.areas.count()
        assert page.locator("#report table").count() == 1
        page.screenshot(path=str(artifacts / "planning-editor-proposal.png"))

        # split the first polygon with a line drawn across it
        before = _polygon_centre(page)["n"]
        c = _polygon_centre(page, 0)
        box = page.locator("#map").bounding_box()
        page.click("#btn-split")
        y = box["y"] + c["y"]
        x1 = box["x"] + c["x"] - c["w"] / 2 - 15
        x2 = box["x"] + c["x"] + c["w"] / 2 + 15
        page.mouse.click(x1, y)
        page.mouse.click(x2, y)
        page.mouse.click(x2, y)  # clicking the last vertex again finishes the line
        expect(page.locator(".count-label")).to_have_count(before + 1)
        expect(page.locator("body")).to_have_attribute(
            "data-check", re.compile(r"^(valid|invalid)$")
        )
        # both halves are coloured by their counts; a half below the minimum is flagged
        page.wait_for_selector("#findings li")
        findings = page.locator("#findings").inner_text()
        assert (
            "(新)" in page.locator("#areas").inner_text()
            or "(new)" in page.locator("#areas").inner_text()
        )

        # remove a polygon: the editor shows a gap before anything is saved
        page.click(".leaflet-pm-icon-delete")
        c2 = _polygon_centre(page, 3)
        page.mouse.click(box["x"] + c2["x"], box["y"] + c2["y"])
        page.click(".leaflet-pm-icon-delete")  # leave removal mode
        page.wait_for_selector("#findings li.finding-gap", timeout=10_000)
        findings = page.locator("#findings").inner_text()
        assert "空隙" in findings or "Gap" in findings
        page.screenshot(path=str(artifacts / "planning-editor-validation.png"))

        # save the draft (with its findings: drafts may be incomplete)
        revision = plan.revision
        page.click("#btn-save")
        expect(page.locator("body")).to_have_attribute("data-saved", str(revision + 1))
        plan.refresh_from_db()
        assert plan.revision == revision + 1 and plan.status == PlanStatus.DRAFT
        assert plan.areas.count() == before  # one split (+1), one removed (-1)
        assert errors == []


def test_second_planner_gets_a_conflict_and_keeps_the_edits(live_demo, artifacts):
    community = Area.objects.filter(level="community", valid_to__isnull=True).order_by("code")[0]
    from apps.planning import services

    plan = services.plan_create_from_current(community=community, level="grid")
    with browser_page() as (page, errors):
        _login(page, live_demo.url)
        page.goto(f"{live_demo.url}/planning/plans/{plan.id}/")
        page.wait_for_selector("body[data-editor-ready='ready']", timeout=20_000)
        expect(page.locator("body")).to_have_attribute("data-check", "valid", timeout=20_000)
        # someone else saves first
        services.plan_save(plan=plan, revision=plan.revision, areas=_areas_of(plan))
        n = page.locator(".count-label").count()
        page.click("#btn-save")
        expect(page.locator("body")).to_have_attribute("data-saved", "conflict")
        plan.refresh_from_db()
        assert f"{plan.revision}" in page.locator("#message").inner_text()
        assert page.locator(".count-label").count() == n  # nothing lost on screen
        page.screenshot(path=str(artifacts / "planning-editor-conflict.png"))
        assert errors == []


def _areas_of(plan):
    return [{"code": a.code, "name": a.name, "geom": a.geom} for a in plan.areas.all()]
