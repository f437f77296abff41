"""The grid leader's phone page in headless Chromium at 390 × 844, walked as a person would: a faked
geolocation moved step by step, an offline period with a reload in the middle, a check-in, a stop."""

import re
import time
from contextlib import contextmanager

import pytest
from django.db import connection
from playwright.sync_api import expect

from apps.common.demo import seed_all
from apps.issues.models import Issue
from apps.issues.services import issue_create
from apps.patrols.models import Patrol, PatrolIssue, PatrolPoint
from apps.people.models import StaffAssignment
from apps.territory.models import Area, Building
from tests.browser import PHONE, browser_page
from tests.patrols.paths import buildings_near, grid_walk
from tests.patrols.test_patrol_issues import png_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live_demo(live_server, settings):
    if not Area.objects.exists():
        seed_all(seed=7, scale=0.2)
    # The test moves a step a second, faster than a person walks (no sleeping in tests); the jump filter
    # is proven in test_services.
    settings.LINLI_PATROL_MAX_SPEED_MPS = 1000
    return live_server


def reconnect_if_dead():
    """Inside Playwright's event loop Django hands this thread another connection object than outside it,
    one an earlier browser test may have left idle and tests/issues then ended (pg_terminate_backend):
    reconnect rather than fail on a dead socket."""
    if not connection.is_usable():
        connection.close()


def login(page, base, *, next_url="/m/", username="grid"):
    page.goto(f"{base}/accounts/login/?next={next_url}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "linli-demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"**{next_url}")


def wait_body(page, attr, value):
    """Wait for a data- attribute the page sets on <body> (selectors, not JS: the CSP forbids eval)."""
    name = re.sub(r"([A-Z])", lambda m: "-" + m.group(1).lower(), attr)
    page.wait_for_selector(f"body[data-{name}='{value}']", state="attached", timeout=20_000)


def test_a_patrol_with_an_offline_period_and_a_reload_keeps_every_point(
    live_demo, artifacts, monkeypatch, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    # context.set_offline() does not reach a service worker's own requests (microsoft/playwright#2311)
    # and a reloaded page may briefly report navigator.onLine = true; so while "offline" every request,
    # the page's and the worker's (the page and map data on reload), is also aborted, as a phone without
    # network would see it: the reloaded page must come from the service worker's cache.
    monkeypatch.setenv("PW_EXPERIMENTAL_SERVICE_WORKER_NETWORK_EVENTS", "1")
    network = {"up": True}

    def cut(route):
        if network["up"]:
            route.continue_()
        else:
            route.abort("internetdisconnected")

    grid = StaffAssignment.objects.get(user__username="grid").area
    walk = grid_walk(grid, steps=10)
    # two open issues already in the grid, at the first and the last building
    for b in (
        grid.grid_buildings.order_by("id").first(),
        grid.grid_buildings.order_by("id").last(),
    ):
        c = b.footprint.point_on_surface
        issue_create(point=c, category="property", description=f"{b} 垃圾未清运", source="resident")
    geo = lambda i: {"longitude": walk[i][0], "latitude": walk[i][1], "accuracy": 5}  # noqa: E731

    with browser_page(viewport=PHONE, permissions=["geolocation"], geolocation=geo(0)) as (
        page,
        errors,
    ):
        reconnect_if_dead()
        ctx = page.context
        ctx.route("**/*", cut)
        login(page, live_demo.url)
        wait_body(page, "phoneReady", "ready")
        assert page.locator("html").get_attribute("lang") == "zh-hans"
        assert page.locator("#grid option").all_inner_texts()[0].startswith(grid.name)
        assert page.locator("#buildings li[data-building]").count() == grid.grid_buildings.count()
        wait_body(page, "offlineReady", "yes")

        page.get_by_role("button", name="开始巡查").click()
        page.wait_for_selector("body[data-patrol]")
        patrol_id = int(page.locator("body").get_attribute("data-patrol"))
        wait_body(page, "recorded", "1")
        for i in range(1, 4):
            ctx.set_geolocation(geo(i))
            wait_body(page, "recorded", str(i + 1))
        wait_body(page, "waiting", "0")
        page.screenshot(path=str(artifacts / "phone-patrol.png"))

        ctx.set_offline(True)
        network["up"] = False
        wait_body(page, "net", "offline")
        for i in range(4, 7):
            ctx.set_geolocation(geo(i))
            wait_body(page, "recorded", str(i + 1))
        assert page.locator("body").get_attribute("data-waiting") == "3"
        page.screenshot(path=str(artifacts / "phone-offline.png"))

        page.reload()  # still offline: the service worker answers with the cached page and map data
        wait_body(page, "phoneReady", "ready")
        wait_body(page, "net", "offline")
        assert page.locator("body").get_attribute("data-recorded") == "7"
        assert page.locator("body").get_attribute("data-waiting") == "3"
        ctx.set_geolocation(geo(7))
        wait_body(page, "recorded", "8")
        # the server has only what was sent before going offline
        assert PatrolPoint.objects.filter(patrol_id=patrol_id).count() == 4

        network["up"] = True
        ctx.set_offline(False)
        wait_body(page, "waiting", "0")
        for i in range(8, 10):
            ctx.set_geolocation(geo(i))
            wait_body(page, "recorded", str(i + 1))
        wait_body(page, "waiting", "0")

        # check in at the nearest building (the list is sorted by distance from here)
        nearest = page.locator("#buildings li[data-building]").first
        building_id = int(nearest.get_attribute("data-building"))
        nearest.get_by_role("button", name="打卡").click()
        page.wait_for_selector(f"#buildings li[data-building='{building_id}'] .badge")

        # report an issue found here, with a photo; open issues are listed nearest first
        page.get_by_role("tab", name="问题").click()
        page.wait_for_selector("#issues li")
        page.locator("#report summary").click()
        page.select_option("#report-category", "property-repair")
        page.fill("#report-form textarea[name=description]", "3单元楼道灯不亮")
        page.set_input_files(
            "#report-form input[name=photos]",
            files=[{"name": "lamp.png", "mimeType": "image/png", "buffer": png_bytes()}],
        )
        page.get_by_role("button", name="在我的位置上报").click()
        page.wait_for_selector("body[data-reported]", state="attached", timeout=20_000)
        code = page.locator("body").get_attribute("data-reported")
        page.wait_for_selector(f"#issues li:has-text('{code}')")
        distances = [
            int(m.group(1))
            for text in page.locator("#issues li[data-issue] small").all_inner_texts()
            if (m := re.match(r"(\d+) 米", text))
        ]
        assert len(distances) >= 3 and distances == sorted(distances) and distances[0] <= 1
        page.screenshot(path=str(artifacts / "phone-issues.png"))
        page.get_by_role("tab", name="楼栋").click()

        page.get_by_role("button", name="结束巡查").click()
        page.wait_for_selector("body:not([data-patrol])", state="attached", timeout=20_000)
        page.wait_for_selector("#status.ok")
        assert "巡查结束" in page.locator("#status").inner_text()
        page.get_by_role("tab", name="我的巡查").click()
        page.wait_for_selector("#history li[data-patrol]")
        page.screenshot(path=str(artifacts / "phone-stopped.png"))
        assert errors == []

    patrol = Patrol.objects.get(id=patrol_id)
    points = list(PatrolPoint.objects.filter(patrol=patrol).order_by("recorded_at"))
    assert len(points) == 10 and len({p.client_id for p in points}) == 10
    assert all(p.status == "accepted" for p in points)
    assert [(round(p.point.x, 7), round(p.point.y, 7)) for p in points] == [
        (round(x, 7), round(y, 7)) for x, y in walk
    ]
    assert len(patrol.track.coords) == 10 and patrol.ended_at is not None
    near = buildings_near(walk, patrol.visit_distance_m)
    visits = {v.building_id: v for v in patrol.visits.all()}
    assert set(visits) == near | {building_id} and near
    assert visits[building_id].checked_in
    assert all(visits[b].near_track for b in near)
    issue = Issue.objects.get(tracking_code=code)
    assert issue.source == "patrol" and issue.photos.count() == 1
    assert (round(issue.point.x, 6), round(issue.point.y, 6)) == (
        round(walk[-1][0], 6),
        round(walk[-1][1], 6),
    )
    assert PatrolIssue.objects.get(issue=issue).patrol_id == patrol.id


@contextmanager
def phone_at(base, lon, lat, *, next_url="/m/"):
    """The phone page signed in as the demo grid leader, the browser placed at lon/lat, ready."""
    with browser_page(
        viewport=PHONE,
        permissions=["geolocation"],
        geolocation={"longitude": lon, "latitude": lat},
    ) as (page, errors):
        login(page, base, next_url=next_url)
        wait_body(page, "phoneReady", "ready")
        yield page, errors


def leaders_building(**filters) -> Building:
    """The first building (by id) in the demo grid leader's grid, narrowed by `filters`."""
    leader = StaffAssignment.objects.get(user__username="grid")
    return (
        Building.objects.filter(grid__code__startswith=leader.area.code, **filters)
        .order_by("id")
        .first()
    )


def test_the_phone_page_speaks_english_on_request(live_demo, artifacts):
    with phone_at(live_demo.url, 117.2735, 31.8590, next_url="/m/?lang=en") as (page, errors):
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.get_by_role("button", name="Start patrol").is_visible()
        page.screenshot(path=str(artifacts / "phone-en.png"))
        assert errors == []


def test_a_user_without_a_grid_is_told_so_and_it_stays_said(live_demo, artifacts):
    """Street staff have no grid of their own: the list says so, and the location message that takes
    the status line over (no permission here) does not hide it."""
    with browser_page(PHONE) as (page, errors):
        login(page, live_demo.url, username="street")
        wait_body(page, "phoneReady", "empty")
        expect(page.locator("#buildings")).to_have_text("您尚未分配网格，请联系社区工作人员分配。")
        expect(page.locator("#patrol-btn")).to_be_disabled()
        page.screenshot(path=str(artifacts / "phone-no-grid.png"))
        assert errors == []


def test_far_distances_read_in_kilometres(live_demo, artifacts):
    """Away from the grid (here ~1,000 km north) the buildings read "1000.9 公里", not "1000913 米"."""
    with phone_at(live_demo.url, 117.2735, 40.86) as (page, errors):
        page.wait_for_selector("#buildings li[data-building] small:has-text('公里')")
        texts = page.locator("#buildings li[data-building] small").all_inner_texts()
        assert texts and all(re.match(r"\d+\.\d 公里 · ", t) for t in texts), texts[:3]
        assert 950 < float(texts[0].split()[0]) < 1050
        page.screenshot(path=str(artifacts / "phone-far.png"))
        assert errors == []


def test_buildings_show_their_open_issues(live_demo, artifacts):
    """Where there is work: a building with open issues says how many in the buildings list."""
    from apps.issues.models import OPEN

    building = leaders_building()
    at = building.footprint.point_on_surface
    for text in ("楼道灯不亮", "电梯异响"):
        issue_create(point=at, category="property", description=text, source="patrol")
    open_n = Issue.objects.filter(building=building, status__in=OPEN).count()
    assert open_n >= 2
    with phone_at(live_demo.url, at.x, at.y) as (page, errors):
        row = page.locator(f"#buildings li[data-building='{building.id}']")
        page.wait_for_selector(f"#buildings li[data-building='{building.id}'] .open-issues")
        assert row.locator(".open-issues").inner_text() == f"{open_n} 件未办结"
        page.screenshot(path=str(artifacts / "phone-building-issues.png"))
        assert errors == []


def test_buildings_show_their_heads_to_call(live_demo, artifacts):
    """The building head (and the compound's heads) under each building, the phone a tel: link."""
    from apps.people.services import staff_assign

    building = leaders_building()
    staff_assign(name="楼长王", role="building_head", building=building, phone="13900006666")
    at = building.footprint.point_on_surface
    with phone_at(live_demo.url, at.x, at.y) as (page, errors):
        row = page.locator(f"#buildings li[data-building='{building.id}']")
        expect(row.locator(".head").first).to_have_text("楼栋长 楼长王 13900006666")
        expect(row.locator(".head a[href='tel:13900006666']")).to_be_visible()
        page.screenshot(path=str(artifacts / "phone-building-heads.png"))
        assert errors == []


def test_grid_leader_opens_an_issue_calls_the_resident_and_moves_it_along(
    live_demo, artifacts, settings, tmp_path
):
    """Tap an issue in the Issues tab: its facts (the reporter's phone, in clear for the one
    responsible, can be called), the actions this leader may take; accepting and resolving it (with
    a photo of the work done) from the phone moves it along the loop, and the list comes back."""
    from apps.issues.models import OPEN, ResponsibleKind
    from tests.issues.test_intake_errors import png_bytes

    settings.MEDIA_ROOT = tmp_path
    leader = StaffAssignment.objects.get(user__username="grid")
    building = leaders_building(compound__property_service__isnull=True)
    at = building.footprint.point_on_surface
    issue = issue_create(
        point=at,
        category="property",
        description="楼顶水箱漏水",
        source="hotline",
        reporter_name="王阿姨",
        reporter_phone="13912345678",
    )
    assert issue.responsible_kind == ResponsibleKind.GRID_LEADER
    assert issue.responsible_staff_id == leader.id
    from django.contrib.auth import get_user_model

    from apps.issues.services import issue_act

    community = get_user_model().objects.get(username="community")
    issue_act(issue_id=issue.id, action="dispatch", user=community)  # the community dispatches
    with phone_at(live_demo.url, at.x, at.y) as (page, errors):
        waiting = page.locator(".tabs [data-tab=issues] .tab-badge")
        expect(waiting).to_have_text("1")  # this issue waits for the leader
        page.locator(".tabs [data-tab=issues]").click()
        row = page.locator(f"#issues li[data-issue='{issue.id}']")
        expect(row.locator(".badge.awaiting")).to_have_text("待我处理")  # dispatched to this leader
        row.click()
        sheet = page.locator("#issue-sheet")
        expect(sheet).to_contain_text("楼顶水箱漏水")
        expect(sheet.locator("a[href='tel:13912345678']")).to_have_text("13912345678")
        expect(page.locator("#issues")).to_be_hidden()
        page.screenshot(path=str(artifacts / "phone-issue.png"))
        sheet.locator("textarea[name=note]").fill("已到现场查看")
        sheet.locator("button.act[data-action=note]").click()  # a note alone: the status stays
        expect(sheet.locator(".history li").first).to_contain_text("已到现场查看")
        issue.refresh_from_db()
        assert issue.status == "dispatched"
        sheet.locator("button.act[data-action=accept]").click()
        expect(sheet.locator(".badge.st")).to_have_text("已接单")
        issue.refresh_from_db()
        assert issue.status == "accepted"
        sheet.locator("textarea[name=note]").fill("已联系物业维修，水箱已修好")
        # a photo of the repaired tank (处置照片) goes with the step
        expect(sheet).to_contain_text("处置照片")
        sheet.locator("input[name=photos]").set_input_files(
            {"name": "tank.png", "mimeType": "image/png", "buffer": png_bytes((40, 30))}
        )
        sheet.locator("button.act[data-action=resolve]").click()
        expect(sheet.locator(".badge.st")).to_have_text("已处置")
        issue.refresh_from_db()
        assert issue.status == "resolved"
        resolved = issue.events.order_by("-at", "-id").first()
        assert resolved.note == "已联系物业维修，水箱已修好" and resolved.photos.count() == 1
        expect(sheet.locator(".history li").first).to_contain_text("已联系物业维修")
        expect(sheet.locator(".history li").first.locator(".photos img")).to_have_count(1)
        page.wait_for_function(
            "() => { const i = document.querySelector('#issue-sheet .history .photos img');"
            " return i && i.complete && i.naturalWidth === 40; }"
        )
        sheet.locator(".history li").first.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "phone-issue-resolved.png"))
        sheet.locator("button.back").click()
        expect(page.locator("#issues")).to_be_visible()
        expect(sheet).to_be_hidden()
        if Issue.objects.filter(pk=issue.pk, status__in=OPEN).exists():  # resolved, not yet closed
            expect(row).to_be_visible()
        expect(row.locator(".badge.awaiting")).to_have_count(0)  # the community closes it now
        expect(waiting).to_be_hidden()
        assert errors == []


def test_the_buildings_list_measures_to_the_footprint_as_check_in_does(live_demo, artifacts):
    """The list's distance is to the building's outline (0 inside), as the check-in's limit is
    measured, not to its centre."""
    import math

    building = leaders_building()
    x0, y0, x1, y1 = building.footprint.extent
    lat = (y0 + y1) / 2
    lon = x1 + 23 / (111_320 * math.cos(math.radians(lat)))  # ~23 m east of its east side
    with connection.cursor() as cur:
        cur.execute(
            "SELECT ST_Distance(footprint::geography,"
            " ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography),"
            " ST_Distance(ST_PointOnSurface(footprint)::geography,"
            " ST_SetSRID(ST_MakePoint(%s, %s), 4326)::geography)"
            " FROM territory_building WHERE id = %s",
            [lon, lat, lon, lat, building.id],
        )
        to_outline, to_centre = cur.fetchone()
    assert to_centre - to_outline > 5  # the two differ enough to tell apart
    with phone_at(live_demo.url, lon, lat) as (page, errors):
        row = page.locator(f"#buildings li[data-building='{building.id}'] small")
        expect(row).to_contain_text(" 米 · ")
        shown = int(row.inner_text().split(" 米")[0])
        assert abs(shown - to_outline) <= 1, (shown, to_outline, to_centre)
        assert errors == []


def test_grid_leader_registers_a_resident_on_a_visit_and_moves_them_out(live_demo, artifacts):
    """入户走访 on the phone: a building's residents by flat, the phones to call; the grid leader keeps
    the register of their grid: registers a newcomer (a bad phone is named, nothing written) and,
    after confirming, takes them off it when they move away."""
    from apps.people.models import Resident

    building = leaders_building(household_set__isnull=False)
    flat = building.household_set.order_by("unit__number", "floor", "room").first()
    at = building.footprint.point_on_surface
    with phone_at(live_demo.url, at.x, at.y) as (page, errors):
        row = page.locator(f"#buildings li[data-building='{building.id}']")
        row.locator("button.open-register").click()
        sheet = page.locator("#building-sheet")
        expect(sheet.locator(".flats > li").first).to_be_visible()
        expect(page.locator("#buildings")).to_be_hidden()
        expect(
            sheet.locator(".resident a[href^='tel:']").first
        ).to_be_visible()  # in clear: my grid
        sheet.locator("summary", has_text="登记住户").click()
        form = sheet.locator("#register-form")
        form.locator("select[name=household]").select_option(str(flat.id))
        form.locator("input[name=name]").fill("吴新")
        form.locator("input[name=phone]").fill("12345")
        form.locator("button[type=submit]").click()
        expect(sheet.locator("#register-error")).to_contain_text("12345")
        assert not Resident.objects.filter(name="吴新").exists()
        form.locator("input[name=phone]").fill("13600002222")
        form.locator("button[type=submit]").click()
        expect(sheet.locator(".done")).to_contain_text("已登记: 吴新")
        newcomer = sheet.locator(f"li[data-household='{flat.id}'] .resident", has_text="吴新")
        expect(newcomer.locator("a[href='tel:13600002222']")).to_be_visible()
        page.screenshot(path=str(artifacts / "phone-register.png"), full_page=True)
        assert Resident.objects.get(name="吴新").household_id == flat.id

        page.once("dialog", lambda dialog: dialog.accept())
        newcomer.locator("button.move-out").click()
        expect(sheet.locator(".done")).to_contain_text("已迁出: 吴新")
        expect(sheet.locator(".resident", has_text="吴新")).to_have_count(0)
        assert not Resident.objects.filter(name="吴新").exists()
        sheet.locator("button.back").click()
        expect(page.locator("#buildings")).to_be_visible()
        assert [e for e in errors if "status of 400" not in e] == []


def test_a_new_release_of_the_phone_script_reaches_a_phone_that_cached_the_old_one(live_demo):
    """The service worker answers static files from its cache (offline patrols need them) but fetches
    a fresh copy behind each answer: a phone holding an old phone.js runs the new one a load later.
    (Before, a cached script was served for ever.)"""
    leader = StaffAssignment.objects.get(user__username="grid")
    at = leader.area.geom.point_on_surface
    has_new = (
        "async () => { const c = await caches.open('linli-phone-v2');"
        " const r = await c.match('/static/patrols/phone.js');"
        " return Boolean(r) && (await r.text()).includes('openBuilding'); }"
    )
    with phone_at(live_demo.url, at.x, at.y) as (page, errors):
        wait_body(page, "offlineReady", "yes")
        assert page.evaluate(has_new)
        page.evaluate(
            "async () => { const c = await caches.open('linli-phone-v2');"
            " await c.put('/static/patrols/phone.js', new Response('/* an old release */',"
            " {headers: {'Content-Type': 'text/javascript'}})); }"
        )
        assert not page.evaluate(has_new)
        page.reload()  # the worker answers with the old script and fetches the new one behind it
        deadline = time.monotonic() + 15
        while not page.evaluate(has_new):  # (wait_for_function does not await an async predicate)
            assert time.monotonic() < deadline, "the cached phone.js was never refreshed"
            page.wait_for_timeout(200)
        page.reload()
        wait_body(page, "phoneReady", "ready")
        expect(page.locator("#buildings li[data-building]").first).to_be_visible()
        assert errors == []
