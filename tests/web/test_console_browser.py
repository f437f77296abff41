"""The staff console on `/`, driven as a person would in headless Chromium: layers, issue pins and
filters, search, the side panel for an area and an issue, acting on an issue, filing one."""

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from apps.analytics.models import ServiceStation, StationKind
from apps.audit.models import PiiAccess
from apps.common.demo import seed_all
from apps.issues import services as issue_services
from apps.issues.models import OPEN, Category, Issue
from apps.people.scope import user_scope
from apps.people.selectors import grid_leader
from apps.people.services import staff_assign
from apps.territory.models import Area, Building
from tests.browser import DESKTOP, PHONE, browser_page

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def live_demo(live_server):
    if not Area.objects.exists():
        seed_all(seed=7, scale=0.2)
    return live_server


def login(page, base, username):
    page.goto(base + "/accounts/login/?next=/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "linli-demo")
    page.click("form button[type=submit]")
    page.wait_for_selector("body[data-map-ready='ready']", timeout=20_000)


def issues_ready(page, timeout=20_000):
    expect(page.locator("body")).to_have_attribute("data-issues-ready", "ready", timeout=timeout)


def grid_of(username: str) -> Area:
    scope = user_scope(User.objects.get(username=username))
    return Area.objects.filter(scope.q("code"), level="grid").first()


def click_at(page, point) -> None:
    """Click the map at a lon/lat (the page keeps its Leaflet map on window.linliMap)."""
    xy = page.evaluate(
        "([lat, lon]) => { const p = window.linliMap.latLngToContainerPoint([lat, lon]);"
        " return [p.x, p.y]; }",
        [point.y, point.x],
    )
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])


def search_and_open(page, query, *, has_text=None) -> None:
    """Search the console for `query` and open the first result (the first with `has_text`)."""
    page.fill("#search-q", query)
    page.press("#search-q", "Enter")
    page.locator("#search-results button", has_text=has_text).first.click()


def shown_count(page) -> int:
    return int(page.locator("#issue-count").get_attribute("data-count"))


def fresh_issue(*, description="路灯不亮，晚上很黑") -> Issue:
    """A new collected issue at the first building of the demo (in the demo community)."""
    building = Building.objects.order_by("id").first()
    category = Category.objects.get(code="property")
    return issue_services.issue_create(
        point=building.footprint.point_on_surface,
        category=category,
        description=description,
        source="hotline",
    )


def test_anonymous_visitor_sees_territory_layers_and_can_search(live_demo, artifacts):
    with browser_page() as (page, errors):
        page.goto(live_demo.url + "/")
        page.wait_for_selector("body[data-map-ready='ready']", timeout=20_000)
        labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        names = [label.split(" (")[0].strip() for label in labels]
        assert names == ["街道", "社区", "网格", "邻里格", "小区", "楼栋"]  # no issues, no people
        assert page.locator("#filters").count() == 0
        grid = Area.objects.filter(level="grid").order_by("code").first()
        page.fill("#search-q", grid.code)
        page.press("#search-q", "Enter")
        first = page.locator("#search-results button").first
        expect(first).to_contain_text(grid.name)
        first.click()
        expect(page.locator("#panel h2")).to_have_text(grid.name)
        expect(page.locator("#panel #sec-chain .chain li")).to_have_count(
            3
        )  # street, community, grid
        expect(page.locator("#panel")).to_contain_text("登录")  # people and issues need a login
        page.screenshot(path=str(artifacts / "console-anonymous-search.png"))
        assert errors == []


def test_staff_console_layers_filters_search_and_area_panel(live_demo, artifacts):
    community = Area.objects.filter(level="community").first()
    ServiceStation.objects.create(
        name="测试党群服务站",
        kind=StationKind.values[0],
        point=community.geom.point_on_surface,
        community=community,
    )
    # the console shows the issues inside the login's scope (apps/people/scope.py)
    visible = Issue.objects.filter(user_scope(User.objects.get(username="community")).issues_q())
    open_n = visible.exclude(status__in=["resolved", "rated", "closed", "rejected", "duplicate"])
    with browser_page() as (page, errors):
        login(page, live_demo.url, "community")
        issues_ready(page)
        labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        names = [label.split(" (")[0].strip() for label in labels]
        assert names[:6] == ["街道", "社区", "网格", "邻里格", "小区", "楼栋"]
        assert names[6:10] == ["问题", "问题热力图", "党员中心户", "党群服务站"]
        total = visible.count()
        assert 0 < total < Issue.objects.count()  # another community's issues are not shown
        assert shown_count(page) == total
        expect(page.locator(".marker-cluster").first).to_be_visible()
        page.screenshot(path=str(artifacts / "console-desktop.png"))

        # filters: status, category, overdue; the count follows the database
        page.select_option("#f-status", "open")
        expect(page.locator("#issue-count")).to_have_attribute("data-count", str(open_n.count()))
        page.check("#f-overdue")
        overdue = sum(1 for i in open_n if i.overdue)
        expect(page.locator("#issue-count")).to_have_attribute("data-count", str(overdue))
        page.uncheck("#f-overdue")
        page.select_option("#f-status", "")
        page.select_option("#f-category", "dispute")
        disputes = visible.filter(category__code="dispute").count()
        expect(page.locator("#issue-count")).to_have_attribute("data-count", str(disputes))
        page.select_option("#f-category", "")
        expect(page.locator("#issue-count")).to_have_attribute("data-count", str(total))

        # the heatmap and the center households are layers too
        page.get_by_label("问题热力图").check()
        expect(page.locator("canvas.leaflet-heatmap-layer")).to_have_count(1)
        page.get_by_label("党员中心户").check()
        expect(page.locator("path.center-marker").first).to_be_attached(timeout=10_000)
        page.get_by_label("党群服务站").check()
        stations = ServiceStation.objects.filter(community__isnull=False).count()
        expect(page.locator("path.station-marker")).to_have_count(stations)
        page.get_by_label("问题热力图").uncheck()
        page.get_by_label("问题", exact=True).uncheck()
        expect(page.locator(".marker-cluster")).to_have_count(0)
        page.get_by_label("问题", exact=True).check()

        # search a community by name and open its panel: chain, people, open issues, indicators
        search_and_open(page, community.name, has_text=community.name)
        expect(page.locator("#panel h2")).to_have_text(community.name)
        expect(page.locator("#sec-chain .chain li")).to_have_count(2)
        expect(page.locator("#sec-issues .issue-list li").first).to_be_visible()
        expect(page.locator("#sec-indicators table")).to_contain_text("结案率")
        expect(page.locator("#sec-people")).to_contain_text("党员中心户")
        # names as the people API returns them: masked for a community worker? (whatever the rule says)
        expect(page.locator("#sec-people .people li").first).to_be_visible()
        page.screenshot(path=str(artifacts / "console-area-panel.png"))
        assert errors == []


def test_permitted_user_acts_on_an_issue_and_the_map_refreshes(live_demo, artifacts):
    issue = fresh_issue()
    community = issue.community
    with browser_page() as (page, errors):
        login(page, live_demo.url, "community")
        issues_ready(page)
        search_and_open(page, community.code)
        page.locator(f"#sec-issues button[data-issue='{issue.id}']").click()
        expect(page.locator("#panel")).to_have_attribute("data-selected", f"issue:{issue.id}")
        expect(page.locator("#panel .issue-status .badge").first).to_have_text("已收集")
        expect(page.locator("#panel")).to_contain_text(issue.tracking_code)
        expect(page.locator("#panel .history li").first).to_be_visible()
        buttons = page.locator("#action-form button.action:not([data-action='note'])")
        allowed = issue_services.actions_for(issue=issue, user=_user("community"))
        expect(buttons).to_have_count(len(allowed))
        assert "consult" in allowed
        page.fill("#action-form textarea[name=note]", "居民议事会已讨论")
        before = issue.events.count()
        page.locator("#action-form button[data-action='consult']").click()
        expect(page.locator("#panel .notice")).to_be_visible()
        expect(page.locator("#panel .issue-status .badge").first).to_have_text("已协商")
        issue.refresh_from_db()
        assert issue.status == "consulted"
        assert issue.events.count() == before + 1
        assert issue.events.order_by("-at", "-id").first().note == "居民议事会已讨论"
        issues_ready(page)
        page.screenshot(path=str(artifacts / "console-issue-acted.png"))

        # an action the loop refuses now shows the API's error and changes nothing
        assert errors == []


def _user(name):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(username=name)


def test_user_without_a_role_on_the_issue_sees_no_action_button(live_demo, artifacts):
    issue = fresh_issue()
    assert issue_services.actions_for(issue=issue, user=_user("planner")) == []
    with browser_page() as (page, errors):
        login(page, live_demo.url, "planner")
        issues_ready(page)
        search_and_open(page, issue.community.code)
        page.locator(f"#sec-issues button[data-issue='{issue.id}']").click()
        expect(page.locator("#panel .no-actions")).to_be_visible()
        # no loop action; a note is anyone's who sees the issue, and changes nothing else
        expect(page.locator("#panel button.action:not([data-action='note'])")).to_have_count(0)
        page.screenshot(path=str(artifacts / "console-issue-no-actions.png"))
        page.locator("#action-form textarea[name=note]").fill("已电话联系居民，明天上门查看")
        page.locator("#action-form button[data-action='note']").click()
        expect(page.locator("#panel .notice")).to_contain_text("备注")
        expect(page.locator("#panel .history")).to_contain_text("已电话联系居民，明天上门查看")
        issue.refresh_from_db()
        assert issue.status == "collected"
        assert issue.events.filter(action="note", note="已电话联系居民，明天上门查看").exists()
        assert errors == []


def test_clicking_a_pin_opens_the_issue(live_demo, artifacts):
    issue = fresh_issue(description="楼道堆放杂物")
    with browser_page() as (page, errors):
        login(page, live_demo.url, "community")
        issues_ready(page)
        # open it from the community's list: the map zooms (or spiderfies a cluster) to show its pin
        search_and_open(page, issue.community.code)
        page.locator(f"#sec-issues button[data-issue='{issue.id}']").click()
        pin = page.locator(f".issue-pin[title='{issue.tracking_code}']")
        expect(pin).to_be_visible()
        # select something else (a click on the map beside the pin), then click the pin itself
        box = pin.bounding_box()
        page.mouse.click(box["x"] - 150, box["y"] + 60)
        other = re.compile(rf"^(?!issue:{issue.id}$)")
        expect(page.locator("#panel")).to_have_attribute("data-selected", other)
        pin.click()
        expect(page.locator("#panel")).to_have_attribute("data-selected", f"issue:{issue.id}")
        expect(page.locator("#panel")).to_contain_text("楼道堆放杂物")
        assert errors == []


def test_compound_and_building_panels_list_their_open_issues(live_demo, artifacts):
    scope = user_scope(User.objects.get(username="community"))
    building = (
        Building.objects.filter(scope.q("community__code"), compound__isnull=False)
        .exclude(address="")
        .order_by("id")
        .first()
    )
    issue = issue_services.issue_create(
        point=building.footprint.point_on_surface,
        category=Category.objects.get(code="property"),
        description="单元门禁坏了",
        source="hotline",
    )
    assert (issue.building_id, issue.compound_id) == (building.id, building.compound_id)
    with browser_page() as (page, errors):
        login(page, live_demo.url, "community")
        issues_ready(page)
        search_and_open(page, building.compound.code)
        expect(page.locator("#panel h2")).to_have_text(building.compound.name)
        listed = page.locator(f"#sec-issues button[data-issue='{issue.id}']")
        expect(listed).to_be_visible()
        page.screenshot(path=str(artifacts / "console-compound-panel.png"))

        search_and_open(page, building.address, has_text=building.address)
        expect(page.locator("#panel")).to_have_attribute("data-selected", f"building:{building.id}")
        expect(listed).to_be_visible()
        expect(page.locator("#sec-issues")).to_contain_text(issue.tracking_code)
        listed.click()
        expect(page.locator("#panel")).to_have_attribute("data-selected", f"issue:{issue.id}")
        expect(page.locator("#panel")).to_contain_text("单元门禁坏了")
        assert errors == []


def test_an_issue_in_a_cluster_at_the_highest_zoom_is_spiderfied_and_ringed(live_demo, artifacts):
    """Several issues at one building stay a cluster at every zoom; opened from the list with the map
    already at its highest zoom, the pin stayed inside the cluster (zoomToShowLayer waited for a move
    that never came) and nothing marked it."""
    issues = [fresh_issue(description=f"同一楼栋的第{n}件诉求") for n in (1, 2, 3)]
    issue = issues[1]
    with browser_page() as (page, errors):
        login(page, live_demo.url, "community")
        issues_ready(page)
        for zoom in ("17", "window.linliMap.getMaxZoom()"):  # a community's view, the highest zoom
            search_and_open(page, issue.community.code)
            page.evaluate(
                f"([lat, lon]) => window.linliMap.setView([lat, lon], {zoom}, {{animate: false}})",
                [issue.point.y, issue.point.x],
            )
            expect(page.locator(f".issue-pin[title='{issue.tracking_code}']")).to_have_count(0)
            page.locator(f"#sec-issues button[data-issue='{issue.id}']").click()
            pin = page.locator(f".issue-pin[title='{issue.tracking_code}']")
            expect(pin).to_be_visible()
            expect(page.locator("path.issue-ring")).to_have_count(1)
            ring, box = page.locator("path.issue-ring").bounding_box(), pin.bounding_box()
            middle = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            assert ring["x"] < middle[0] < ring["x"] + ring["width"]
            assert ring["y"] < middle[1] < ring["y"] + ring["height"]
            page.screenshot(path=str(artifacts / "console-issue-spiderfied.png"))
        assert errors == []


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_staff_files_an_issue_from_the_console(live_demo, artifacts, size):
    before = Issue.objects.count()
    with browser_page(viewport=PHONE if size == "phone" else DESKTOP) as (page, errors):
        login(page, live_demo.url, "grid")
        issues_ready(page)
        shown = shown_count(page)
        page.click("#new-issue")
        expect(page.locator("#status")).to_have_text(re.compile("点击地图"))
        click_at(page, grid_of("grid").geom.point_on_surface)  # the map opens on the grid
        form = page.locator("#intake")
        expect(form).to_be_visible()
        form.locator("select[name=category]").select_option("property")
        form.locator("textarea[name=description]").fill("电梯异响，已持续三天")
        form.locator("input[name=reporter_name]").fill("李四")
        form.locator("input[name=reporter_phone]").fill("13812345678")
        page.screenshot(path=str(artifacts / f"console-intake-form-{size}.png"))
        form.locator("button[type=submit]").click()
        expect(page.locator("#panel .notice")).to_contain_text("已受理")
        issue = Issue.objects.order_by("-id").first()
        assert Issue.objects.count() == before + 1
        assert issue.description == "电梯异响，已持续三天"
        assert issue.reporter_phone == "13812345678"
        expect(page.locator("#panel")).to_have_attribute("data-selected", f"issue:{issue.id}")
        expect(page.locator("#panel")).to_contain_text(issue.tracking_code)
        # the grid leader is responsible for the issue's grid: the phone shows in clear, and the
        # showing is logged (apps.people.privacy, apps.audit.pii)
        expect(page.locator("#panel")).to_contain_text("13812345678")
        assert PiiAccess.objects.filter(
            actor__endswith=":grid", subject=f"issue {issue.id} reporter"
        ).exists()
        expect(page.locator("#issue-count")).to_have_attribute("data-count", str(shown + 1))
        page.screenshot(path=str(artifacts / f"console-filed-{size}.png"))
        assert errors == []


def test_intake_errors_are_shown_and_nothing_is_written(live_demo, artifacts):
    before = Issue.objects.count()
    with browser_page() as (page, errors):
        login(page, live_demo.url, "grid")
        issues_ready(page)
        page.click("#new-issue")
        click_at(page, grid_of("grid").geom.point_on_surface)
        form = page.locator("#intake")
        # whitespace passes the browser's `required` but not the server
        form.locator("textarea[name=description]").fill("   ")
        form.locator("button[type=submit]").click()
        expect(page.locator("#intake-error")).to_be_visible()
        assert Issue.objects.count() == before
        # a 400 answer is logged by Chromium as a failed resource load; nothing else may fail
        assert [e for e in errors if "status of 400" not in e] == []


def test_filing_outside_ones_grid_is_refused_at_once_and_names_the_grid(live_demo, artifacts):
    before = Issue.objects.count()
    mine = grid_of("grid")
    other = Area.objects.filter(level="grid").exclude(code=mine.code).order_by("code").first()
    with browser_page() as (page, errors):
        login(page, live_demo.url, "grid")
        issues_ready(page)
        page.evaluate(
            "([lat, lon]) => window.linliMap.setView([lat, lon], 17)",
            [other.geom.point_on_surface.y, other.geom.point_on_surface.x],
        )
        page.click("#new-issue")
        click_at(page, other.geom.point_on_surface)
        # said as soon as the point is picked, before anything is typed; the form cannot be sent
        expect(page.locator("#intake-outside")).to_contain_text(other.code)
        expect(page.locator("#intake-outside")).to_contain_text("不在您负责的区域内")
        expect(page.locator("#intake button[type=submit]")).to_be_disabled()
        assert Issue.objects.count() == before
        page.screenshot(path=str(artifacts / "console-intake-outside.png"))
        # a point in the leader's own grid gets the form without a warning
        page.click("#intake-cancel")
        page.evaluate(
            "([lat, lon]) => window.linliMap.setView([lat, lon], 17)",
            [mine.geom.point_on_surface.y, mine.geom.point_on_surface.x],
        )
        page.click("#new-issue")
        click_at(page, mine.geom.point_on_surface)
        expect(page.locator("#intake button[type=submit]")).to_be_enabled()
        expect(page.locator("#intake-outside")).to_have_count(0)
        assert errors == []


def test_console_on_a_phone_in_english(live_demo, artifacts):
    with browser_page(viewport=PHONE) as (page, errors):
        login(page, live_demo.url, "community")
        page.goto(live_demo.url + "/?lang=en")
        page.wait_for_selector("body[data-map-ready='ready']", timeout=20_000)
        issues_ready(page)
        expect(page.locator("#issue-count")).to_contain_text("issues shown")
        page.locator(".leaflet-control-layers").hover()
        expect(page.locator(".leaflet-control-layers-overlays")).to_contain_text("Issue heatmap")
        # layers toggle on a phone too: the heatmap on, the pins off and on again
        page.get_by_label("Issue heatmap").check()
        expect(page.locator("canvas.leaflet-heatmap-layer")).to_have_count(1)
        page.get_by_label("Issues", exact=True).uncheck()
        expect(page.locator(".marker-cluster")).to_have_count(0)
        page.get_by_label("Issues", exact=True).check()
        expect(page.locator(".marker-cluster").first).to_be_visible()
        page.screenshot(path=str(artifacts / "console-phone-en.png"))
        assert errors == []


def test_an_issue_has_a_link_that_opens_it(live_demo, artifacts):
    """The open issue is in the address: sending it to a colleague (or reloading) opens the same
    issue with its pin shown; selecting something else takes it out."""
    issue = fresh_issue(description="消防通道被占用")
    with browser_page() as (page, errors):
        login(page, live_demo.url, "community")
        issues_ready(page)
        page.goto(f"{live_demo.url}/?issue={issue.id}")
        page.wait_for_selector("body[data-map-ready='ready']", timeout=20_000)
        expect(page.locator("#panel")).to_have_attribute("data-selected", f"issue:{issue.id}")
        expect(page.locator("#panel")).to_contain_text("消防通道被占用")
        expect(page.locator(f".issue-pin[title='{issue.tracking_code}']")).to_be_visible()
        assert f"issue={issue.id}" in page.url
        box = page.locator("#map").bounding_box()
        page.mouse.click(box["x"] + 40, box["y"] + box["height"] - 40)
        expect(page.locator("#panel")).not_to_have_attribute("data-selected", f"issue:{issue.id}")
        assert "issue=" not in page.url
        assert errors == []


def test_awaiting_me_shows_the_users_queue(live_demo, artifacts):
    """'Awaiting me' leaves the pins of the issues this user has something to do on now."""
    from apps.issues.services import actions_for

    fresh_issue(description="垃圾清运不及时")  # collected: the community is to dispatch it
    user = _user("community")
    scope = user_scope(user)
    waiting = [
        i
        for i in Issue.objects.filter(scope.issues_q())
        if set(actions_for(issue=i, user=user)) - {"consult", "reopen"}
    ]
    assert waiting
    with browser_page() as (page, errors):
        login(page, live_demo.url, "community")
        issues_ready(page)
        everything = shown_count(page)
        page.select_option("#f-status", "awaiting")
        expect(page.locator("#issue-count")).to_have_attribute("data-count", str(len(waiting)))
        # the export link carries the same filters
        expect(page.locator("#issues-export")).to_have_attribute(
            "href", "/api/issues.xlsx?awaiting=true"
        )
        with page.expect_download() as download:
            page.click("#issues-export")
        assert download.value.suggested_filename.startswith("issues-")
        # the filters are in the address: a bookmark of the queue opens with it
        assert "status=awaiting" in page.url
        page.goto(live_demo.url + "/?status=awaiting&category=nosuchthing")
        issues_ready(page)
        expect(page.locator("#f-status")).to_have_value("awaiting")
        expect(page.locator("#f-category")).to_have_value("")  # not offered: ignored
        expect(page.locator("#issue-count")).to_have_attribute("data-count", str(len(waiting)))
        assert len(waiting) < everything
        page.screenshot(path=str(artifacts / "console-awaiting-me.png"))
        page.select_option("#f-status", "")
        expect(page.locator("#issue-count")).to_have_attribute("data-count", str(everything))
        # the toolbar, longest in English, still fits a 1366 px screen on one line
        page.goto(live_demo.url + "/?lang=en")
        page.wait_for_selector("body[data-map-ready='ready']", timeout=20_000)
        issues_ready(page)
        fits = page.evaluate(
            "() => { const t = document.getElementById('toolbar');"
            " return [t.scrollWidth <= t.clientWidth, t.getBoundingClientRect().height]; }"
        )
        page.screenshot(path=str(artifacts / "console-awaiting-me-en.png"))
        assert fits[0] and fits[1] < 60, fits
        assert errors == []


def test_the_console_opens_on_my_work(live_demo, artifacts):
    """Signed in, the panel opens on what the user has to do: the issues awaiting them, soonest due
    first, the overdue ones of their area, their community's indicators; each opens the issue, and
    "My work" atop any panel comes back; "Show them on the map" sets the filters to match."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.issues.services import actions_for

    late = fresh_issue(description="楼道灯坏了很久")  # collected: the community is to dispatch it
    now = timezone.now()
    Issue.objects.filter(pk=late.pk).update(
        created_at=now - timedelta(hours=4), due_at=now - timedelta(hours=3)
    )
    user = _user("community")
    scope = user_scope(user)
    mine = Issue.objects.filter(scope.issues_q()).order_by("due_at", "created_at", "id")
    waiting = [i for i in mine if set(actions_for(issue=i, user=user)) - {"consult", "reopen"}]
    overdue = [i for i in mine if i.status in OPEN and i.due_at and i.due_at < now]
    assert late in waiting and late in overdue
    community = Area.objects.get(code=scope.area_prefixes[0])
    with browser_page() as (page, errors):
        login(page, live_demo.url, "community")
        panel = page.locator("#panel")
        expect(panel).to_have_attribute("data-selected", "home")
        expect(panel.locator("h2")).to_have_text("我的工作")
        expect(panel.locator(".work-areas")).to_have_text(community.name)
        awaiting = page.locator("#sec-awaiting .issue-link")
        expect(awaiting).to_have_count(min(len(waiting), 15))
        codes = page.locator("#sec-awaiting .issue-list .sub").all_inner_texts()
        assert [c.split()[0] for c in codes] == [i.tracking_code for i in waiting[:15]]
        expect(page.locator("#sec-awaiting")).to_contain_text(f"共 {len(waiting)} 件")
        expect(page.locator("#sec-overdue")).to_contain_text(late.tracking_code)
        late_row = page.locator("#sec-overdue li", has_text=late.tracking_code)
        expect(late_row.locator(".due-in.late")).to_have_text("(已超期 3 小时)")
        expect(page.locator("#sec-overdue")).to_contain_text(f"共 {len(overdue)} 件")
        expect(page.locator("#sec-indicators")).to_contain_text(community.name)
        expect(page.locator("#sec-indicators")).to_contain_text("受理数")
        expect(page.locator("#f-status option[value='awaiting']")).to_have_text(
            f"待我处理 ({len(waiting)})"
        )
        page.screenshot(path=str(artifacts / "console-my-work.png"))
        # an item opens its issue; "My work" comes back
        page.locator("#sec-overdue .issue-link", has_text="超期").first.click()
        expect(panel).to_have_attribute("data-selected", f"issue:{overdue[0].id}")
        panel.locator(".home-link").click()
        expect(panel).to_have_attribute("data-selected", "home")
        assert "issue=" not in page.url
        # the lists on the map
        issues_ready(page)
        page.locator("#sec-awaiting .show-on-map").click()
        expect(page.locator("#f-status")).to_have_value("awaiting")
        expect(page.locator("#issue-count")).to_have_attribute("data-count", str(len(waiting)))
        page.locator("#sec-overdue .show-on-map").click()
        expect(page.locator("#f-overdue")).to_be_checked()
        expect(page.locator("#f-status")).to_have_value("open")
        expect(page.locator("#issue-count")).to_have_attribute("data-count", str(len(overdue)))
        assert "overdue=true" in page.url
        # an area's panel has the way back too
        search_and_open(page, community.code)
        expect(panel).to_have_attribute("data-selected", re.compile(r"^area:"))
        panel.locator(".home-link").click()
        expect(panel).to_have_attribute("data-selected", "home")
        assert errors == []


def test_several_awaiting_issues_are_dispatched_at_once_from_my_work(live_demo, artifacts):
    """Ticked issues of "awaiting me" take one action together; an issue someone else moved meanwhile
    fails the whole request, named by its tracking code, and nothing changes."""
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    fresh = [fresh_issue(description=f"井盖松动 {n}") for n in range(3)]
    # due first, so they lead the list (soonest due first)
    for n, issue in enumerate(fresh):
        Issue.objects.filter(pk=issue.pk).update(
            created_at=now - timedelta(hours=3), due_at=now - timedelta(hours=2, minutes=n)
        )
    with browser_page() as (page, errors):
        login(page, live_demo.url, "community")
        for issue in fresh:
            expect(page.locator(f".bulk-pick[data-issue='{issue.id}']")).to_have_attribute(
                "data-bulk", "dispatch"
            )
        dispatch = page.locator(".bulk-action[data-bulk='dispatch']")
        expect(dispatch).to_be_disabled()
        page.check(f".bulk-pick[data-issue='{fresh[0].id}']")
        page.check(f".bulk-pick[data-issue='{fresh[1].id}']")
        expect(dispatch).to_have_text("派单所选（2）")
        page.screenshot(path=str(artifacts / "console-bulk-dispatch.png"))
        dispatch.click()
        expect(page.locator("#panel .notice")).to_have_text("派单：已完成 2 件")
        assert {i.status for i in Issue.objects.filter(pk__in=[fresh[0].pk, fresh[1].pk])} == {
            "dispatched"
        }
        # the third, moved by someone else after the page listed it
        page.check(f".bulk-pick[data-issue='{fresh[2].id}']")
        issue_services.issue_transition(issue_id=fresh[2].id, action="reject", note="不属实")
        before = Issue.objects.get(pk=fresh[2].pk).status
        page.locator(".bulk-action[data-bulk='dispatch']").click()
        expect(page.locator("#bulk-error")).to_contain_text(fresh[2].tracking_code)
        assert Issue.objects.get(pk=fresh[2].pk).status == before == "rejected"
        assert [e for e in errors if "status of 400" not in e] == []  # the refused request


def test_the_issue_panel_shows_its_photos(live_demo, artifacts, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.issues.test_intake_errors import png_bytes

    settings.MEDIA_ROOT = tmp_path
    building = Building.objects.order_by("id").first()
    issue = issue_services.issue_create(
        point=building.footprint.point_on_surface,
        category=Category.objects.get(code="property"),
        description="外墙脱落",
        source="patrol",
        photos=[SimpleUploadedFile("wall.png", png_bytes((40, 30)), content_type="image/png")],
    )
    with browser_page() as (page, errors):
        login(page, live_demo.url, "community")
        page.goto(f"{live_demo.url}/?issue={issue.id}")
        img = page.locator("#panel .photos img")
        expect(img).to_have_count(1)
        page.wait_for_function(
            "() => { const i = document.querySelector('#panel .photos img');"
            " return i && i.complete && i.naturalWidth === 40; }"
        )
        page.screenshot(path=str(artifacts / "console-issue-photo.png"))
        assert errors == []


def test_a_step_is_taken_with_photos_of_the_work_done(live_demo, artifacts, settings, tmp_path):
    """处置照片: photos chosen in the action form go with the step and show under it in the history."""
    from tests.issues.test_intake_errors import png_bytes

    settings.MEDIA_ROOT = tmp_path
    issue = fresh_issue(description="楼道堆物占用消防通道")
    with browser_page() as (page, errors):
        login(page, live_demo.url, "community")
        page.goto(f"{live_demo.url}/?issue={issue.id}")
        form = page.locator("#action-form")
        expect(form.locator("button[data-action='consult']")).to_be_visible()
        expect(form).to_contain_text("处置照片")
        form.locator("textarea[name=note]").fill("已现场清理")
        form.locator("input[name=photos]").set_input_files(
            [
                {"name": "after.png", "mimeType": "image/png", "buffer": png_bytes((48, 32))},
                {"name": "wide.png", "mimeType": "image/png", "buffer": png_bytes((64, 32))},
            ]
        )
        form.locator("button[data-action='consult']").click()
        expect(page.locator("#panel .notice")).to_be_visible()
        step = page.locator("#panel .history li").last
        expect(step).to_contain_text("已现场清理")
        expect(step.locator(".photos img")).to_have_count(2)
        page.wait_for_function(
            "() => [...document.querySelectorAll('#panel .history .photos img')]"
            ".every((i) => i.complete && i.naturalWidth > 0)"
        )
        step.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "console-step-photos.png"))
        event = issue.events.get(action="consult")
        assert event.photos.count() == 2 and event.note == "已现场清理"
        assert errors == []


def test_a_coordinator_dispatches_to_a_handler_chosen_in_the_panel(live_demo, artifacts):
    issue = fresh_issue(description="小区门口占道经营")
    community = Area.objects.get(pk=issue.community_id)
    with browser_page() as (page, errors):
        login(page, live_demo.url, "community")
        page.goto(f"{live_demo.url}/?issue={issue.id}")
        choice = page.locator("#dispatch-to")
        expect(choice).to_have_attribute("data-ready", "ready")
        expect(choice.locator("option").first).to_contain_text("按自动分派")
        choice.select_option(f"community:{community.id}")
        page.locator("#action-form button[data-action='dispatch']").click()
        expect(page.locator("#panel .issue-status .badge").first).to_have_text("已派单")
        issue.refresh_from_db()
        assert (issue.status, issue.responsible_kind) == ("dispatched", "community")
        assert issue.responsible_area_id == community.id
        expect(page.locator("#panel")).to_contain_text(community.name)
        page.screenshot(path=str(artifacts / "console-dispatch-chosen.png"))
        assert errors == []


def test_building_and_grid_panels_say_who_to_call(live_demo, artifacts):
    grid = grid_of("grid")
    building = Building.objects.filter(grid=grid).exclude(address="").order_by("id").first()
    leader = grid_leader(grid_id=grid.id)
    head = staff_assign(name="楼长王", role="building_head", building=building, phone="13900001111")
    with browser_page(PHONE) as (page, errors):
        login(page, live_demo.url, "grid")
        search_and_open(page, building.address, has_text=building.address)
        contacts = page.locator("#sec-contacts")
        expect(contacts.locator("li").first).to_contain_text("楼长王")
        expect(contacts.locator("a[href='tel:13900001111']")).to_be_visible()
        # the grid leader, with where they work: the building's grid
        expect(contacts).to_contain_text(leader.name)
        expect(contacts).to_contain_text(grid.name)
        contacts.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "console-building-contacts.png"))

        search_and_open(page, grid.code)
        expect(page.locator("#panel h2")).to_have_text(grid.name)
        expect(contacts.locator("li").first).to_contain_text(leader.name)
        expect(contacts).not_to_contain_text(head.name)
        assert errors == []


def test_community_staff_assign_a_grid_leader_and_end_an_assignment(live_demo, artifacts):
    grid = grid_of("community")
    before = grid_leader(grid_id=grid.id)
    with browser_page() as (page, errors):
        login(page, live_demo.url, "community")
        search_and_open(page, grid.code)
        contacts = page.locator("#sec-contacts")
        expect(contacts.locator("li").first).to_contain_text(before.name)
        contacts.locator("summary").click()
        form = contacts.locator("#assign-form")
        form.locator("select[name=role]").select_option("grid_leader")
        form.locator("input[name=name]").fill("新网格长")
        form.locator("input[name=phone]").fill("13900004444")
        form.locator("input[name=username]").fill("nobody-here")
        page.screenshot(path=str(artifacts / "console-assign-form.png"))
        form.locator("button[type=submit]").click()
        # a bad login is named and nothing changes
        expect(contacts.locator("#assign-error")).to_contain_text("nobody-here")
        assert grid_leader(grid_id=grid.id).id == before.id
        form.locator("input[name=username]").fill("")
        form.locator("button[type=submit]").click()
        expect(contacts.locator(".ok-text")).to_contain_text("原网格长今日起卸任")
        expect(contacts.locator("li").first).to_contain_text("新网格长")
        expect(contacts).not_to_contain_text(before.name)
        page.screenshot(path=str(artifacts / "console-assign-grid-leader.png"))
        assert grid_leader(grid_id=grid.id).name == "新网格长"

        page.once("dialog", lambda dialog: dialog.accept())
        contacts.locator("li", has_text="新网格长").locator(".contact-end").click()
        expect(contacts.locator(".ok-text")).to_contain_text("已卸任: 新网格长")
        expect(contacts.locator("li", has_text="新网格长")).to_have_count(0)
        assert grid_leader(grid_id=grid.id) is None

        # the community's panel lists its grids: this one now has no leader; its name opens it
        search_and_open(page, grid.parent.code)
        row = contacts.locator(f".grid-staff li[data-grid='{grid.code}']")
        expect(row.locator(".badge")).to_have_text("无网格长")
        page.screenshot(path=str(artifacts / "console-community-grid-staff.png"))
        row.locator(".open-area").click()
        expect(page.locator("#panel")).to_have_attribute("data-selected", f"area:{grid.id}")
        assert [e for e in errors if "status of 400" not in e] == []


def test_community_staff_register_a_resident_and_move_them_out(live_demo, artifacts):
    """住户登记 in a building's panel: a bad ID number is named and nothing is written; a new head of
    household shows under their flat; "moved out" (confirmed) takes them off the register."""
    from apps.people.models import Resident
    from tests.people.helpers import bad_id, valid_id

    scope = user_scope(User.objects.get(username="community"))
    building = Building.objects.filter(scope.buildings_q(), household_set__isnull=False).first()
    flat = building.household_set.order_by("unit__number", "floor", "room").first()
    with browser_page() as (page, errors):
        login(page, live_demo.url, "community")
        page.evaluate(
            "([lat, lon]) => window.linliMap.setView([lat, lon], 19)",
            [building.footprint.point_on_surface.y, building.footprint.point_on_surface.x],
        )
        click_at(page, building.footprint.point_on_surface)
        people = page.locator("#sec-people")
        people.locator("summary", has_text="登记住户").click()
        form = people.locator("#resident-form")
        form.locator("select[name=household]").select_option(str(flat.id))
        form.locator("input[name=name]").fill("周新来")
        form.locator("input[name=phone]").fill("13700001111")
        form.locator("input[name=id_number]").fill(bad_id())
        form.locator("input[name=is_head]").check()
        form.locator("button[type=submit]").click()
        expect(people.locator("#resident-error")).to_contain_text("校验码")
        assert not Resident.objects.filter(name="周新来").exists()
        form.locator("input[name=id_number]").fill(valid_id("34011119900202123"))
        page.screenshot(path=str(artifacts / "console-register-form.png"))
        form.locator("button[type=submit]").click()
        expect(people.locator(".ok-text")).to_contain_text("已登记: 周新来")
        row = people.locator(f"li[data-household='{flat.id}']")
        expect(row).to_contain_text("周新来")
        expect(row.locator(".resident", has_text="周新来").locator(".badge")).to_have_text("户主")
        page.screenshot(path=str(artifacts / "console-register-resident.png"))
        added = Resident.objects.get(name="周新来")
        assert added.household_id == flat.id and added.is_head and added.phone == "13700001111"

        page.once("dialog", lambda dialog: dialog.accept())
        row.locator(".resident", has_text="周新来").locator(".resident-out").click()
        expect(people.locator(".ok-text")).to_contain_text("已迁出: 周新来")
        expect(people.locator(".resident", has_text="周新来")).to_have_count(0)
        assert not Resident.objects.filter(name="周新来").exists()
        assert [e for e in errors if "status of 400" not in e] == []
