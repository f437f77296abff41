"""The console's issues layer switches to the `issues` vector tiles when the filters match more issues
than LINLI_ISSUES_GEOJSON_MAX (lowered here): counts drawn below zoom 14, single issues from 14 (a click
opens one), the filters carried in the tile URLs; under the limit it stays GeoJSON pins. What the page
draws is checked against tiles fetched independently (Django test client) and the database."""

import math
from urllib.parse import parse_qs, urlsplit

import mapbox_vector_tile
import pytest
from django.contrib.auth.models import User
from django.contrib.gis.db.models import Extent
from django.contrib.gis.geos import Point
from django.test import Client
from django.utils import timezone
from playwright.sync_api import expect

from apps.common.demo import seed_all
from apps.issues import services as issue_services
from apps.issues.models import DISMISSED, FINISHED, OPEN, Category, Issue
from apps.people.scope import user_scope
from apps.territory.models import Area
from tests.browser import browser_page

CLOSED = [str(s) for s in FINISHED + DISMISSED]
USER = "community"  # a scoped login: the tiles are narrowed to its community
# STATUS_COLORS in map.js, as RGB
STATUS_RGB = {
    "collected": (245, 158, 11),
    "consulted": (234, 179, 8),
    "dispatched": (37, 99, 235),
    "accepted": (124, 58, 237),
    "returned": (234, 88, 12),
    "resolved": (22, 163, 74),
    "rated": (13, 148, 136),
    "closed": (107, 114, 128),
    "rejected": (156, 163, 175),
    "duplicate": (156, 163, 175),
}

# The pixel of the issue tiles' canvas under a map position (lat, lon) + an offset in CSS pixels, as
# [r, g, b, a] (a = 0: nothing drawn there).
PIXEL_AT = """([lat, lon, dx, dy]) => {
  const map = window.linliMap;
  const p = map.latLngToContainerPoint([lat, lon]);
  const box = map.getContainer().getBoundingClientRect();
  const x = box.left + p.x + dx, y = box.top + p.y + dy;
  for (const c of document.querySelectorAll('.leaflet-linliIssueTiles-pane canvas')) {
    const r = c.getBoundingClientRect();
    if (x < r.left || x >= r.right || y < r.top || y >= r.bottom || !c.width) continue;
    const px = c.getContext('2d').getImageData(Math.floor((x - r.left) * c.width / r.width),
                                               Math.floor((y - r.top) * c.height / r.height), 1, 1).data;
    if (px[3] > 0) return Array.from(px);
  }
  return [0, 0, 0, 0];
}"""


@pytest.fixture
def live_demo(live_server):
    if not Area.objects.exists():
        seed_all(seed=7, scale=0.2)
    return live_server


def visible_issues():
    return Issue.objects.filter(user_scope(User.objects.get(username=USER)).issues_q())


def login(page, base):
    page.goto(base + "/accounts/login/?next=/")
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", "linli-demo")
    page.click("form button[type=submit]")
    page.wait_for_selector("body[data-map-ready='ready']", timeout=30_000)


def issues_ready(page, mode):
    body = page.locator("body")
    expect(body).to_have_attribute("data-issues-ready", "ready", timeout=30_000)
    expect(body).to_have_attribute("data-issues-mode", mode)


def tile_of(lon, lat, z):
    n = 1 << z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def tile_lonlat(z, x, y, fx, fy, extent=4096):
    """A position inside tile z/x/y (MVT units, y down) as lon, lat."""
    n = 1 << z
    lon = (x + fx / extent) / n * 360 - 180
    lat = math.degrees(math.atan(math.sinh(math.pi * (1 - 2 * (y + fy / extent) / n))))
    return lon, lat


def world_px(lon, lat, z):
    n = 256 << z
    return (lon + 180) / 360 * n, (1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n


def tile_requests(urls, z=None):
    """(z, x, y, query) of the issue tile requests among urls (at zoom z if given)."""
    found = []
    for url in urls:
        parts = urlsplit(url)
        if not parts.path.startswith("/tiles/issues/"):
            continue
        tz, tx, ty = (int(v) for v in parts.path[len("/tiles/issues/") : -len(".mvt")].split("/"))
        if z is None or tz == z:
            found.append((tz, tx, ty, parts.query))
    return found


def server_tile(z, x, y, query):
    """The tile as the server gives it to USER (fetched here, not by the page), decoded."""
    client = Client()
    client.force_login(User.objects.get(username=USER))
    response = client.get(f"/tiles/issues/{z}/{x}/{y}.mvt" + (f"?{query}" if query else ""))
    assert response.status_code == 200, response.content[:300]
    data = mapbox_vector_tile.decode(response.content, default_options={"y_coord_down": True})
    return data["issues"]["features"] if "issues" in data else []


def set_view(page, lon, lat, z):
    page.evaluate(
        "([lat, lon, z]) => window.linliMap.setView([lat, lon], z, { animate: false })",
        [lat, lon, z],
    )


def wait_drawn(page, lon, lat, dx=0, dy=0):
    page.wait_for_function(
        f"(a) => ({PIXEL_AT})(a)[3] > 150", arg=[lat, lon, dx, dy], timeout=30_000
    )
    return page.evaluate(PIXEL_AT, [lat, lon, dx, dy])


def wait_colour(page, lon, lat, rgb, tol=8):
    page.wait_for_function(
        f"([a, rgb, tol]) => {{ const p = ({PIXEL_AT})(a);"
        " return p[3] > 200 && rgb.every((c, i) => Math.abs(c - p[i]) <= tol); }",
        arg=[[lat, lon, 0, 0], list(rgb), tol],
        timeout=30_000,
    )


def near(rgb, expected, tol=30):
    return all(abs(a - b) <= tol for a, b in zip(rgb[:3], expected, strict=True))


def count_radius(n):
    return 12 if n < 10 else 14 if n < 100 else 16  # COUNT_STYLES in map.js


def inner_rgb(n):
    """The inner disk of a count (map.js COUNT_STYLES), over its outer disk, as getImageData gives it."""
    outer, inner = {
        12: ((181, 226, 140), (110, 204, 57)),
        14: ((241, 211, 87), (240, 194, 12)),
        16: ((253, 156, 115), (241, 128, 23)),
    }[count_radius(n)]
    a_out, a_in = 0.75, 0.8
    alpha = a_in + a_out * (1 - a_in)
    return tuple(
        round((a_in * i + a_out * (1 - a_in) * o) / alpha)
        for i, o in zip(inner, outer, strict=True)
    )


def tile_params(console: dict) -> str:
    """The console's filters as the tile layer's query: the mapping map.js tileQuery() makes."""
    groups = {"open": list(OPEN), "closed": CLOSED}
    names = {"category": "category", "status": "status", "start": "since", "end": "until"}
    q = {names[k]: v for k, v in console.items() if k in names}
    if "status" in q:
        q["status"] = ",".join(groups.get(q["status"], q["status"].split(",")))
    if console.get("overdue"):
        q["overdue"] = "true"
    return "&".join(f"{k}={v}" for k, v in q.items())


def covering_tiles(z, issues):
    w, s, e, n = issues.aggregate(e=Extent("point"))["e"]
    (x0, y0), (x1, y1) = tile_of(w, n, z), tile_of(e, s, z)
    return [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


# Runs before the browser tests: their transactions empty the session's demo database.
def test_count_endpoint_and_tiles_match_the_geojson_for_each_console_filter(demo, settings):
    client = Client()
    client.force_login(User.objects.get(username=USER))
    issues = visible_issues()
    assert issues.count() < settings_limit()
    first = issues.order_by("created_at").first().created_at
    sub = issues.exclude(subcategory=None).values_list("subcategory__code", flat=True).first()
    top = issues.values_list("category__code", flat=True).first()
    day = lambda d: timezone.localtime(d).date().isoformat()  # noqa: E731
    cases = [
        {},
        {"status": "open"},
        {"status": "closed"},
        {"status": "dispatched,accepted"},
        {"category": top},
        {"category": sub},  # a subcategory: the tiles must match the issue's subcategory
        {"overdue": "true"},
        {"start": day(first), "end": day(first)},
        {"status": "open", "category": top, "overdue": "true"},
    ]
    tiles = covering_tiles(11, issues)
    shown = []
    for console in cases:
        pins = len(client.get("/api/issues.geojson", console).json()["features"])
        shown.append(pins)
        counted = client.get("/api/console/issue-count", console).json()
        assert counted == {"count": pins, "over": False, "limit": settings_limit()}, console
        query = tile_params(console)
        in_tiles = sum(
            f["properties"]["count"] for x, y in tiles for f in server_tile(11, x, y, query)
        )
        assert in_tiles == pins, (console, query)
    # every case but the last (three filters at once) selects some issues and not all of them
    assert all(0 < n < shown[0] for n in shown[1:-1]), list(zip(cases, shown, strict=True))
    settings.LINLI_ISSUES_GEOJSON_MAX = issues.count() - 1
    assert client.get("/api/console/issue-count").json() == {
        "count": None,
        "over": True,
        "limit": issues.count() - 1,
    }
    assert client.get("/api/console/issue-count", {"category": "nope"}).status_code == 400
    assert Client().get("/api/console/issue-count").status_code in (401, 403)


def settings_limit():
    from apps.web.views import issues_geojson_max

    return issues_geojson_max()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_over_the_limit_issues_come_as_tiles_counts_then_points(live_demo, artifacts, settings):
    # one open issue away from the others, to see the status filter remove it from the map
    lonely = lonely_open_issue(z=16)
    issues = visible_issues()
    total = issues.count()
    closed_n = issues.filter(status__in=CLOSED).count()  # most of the demo's issues
    by_category = sorted(
        (issues.filter(category__code=code).count(), code)
        for code in set(issues.values_list("category__code", flat=True))
    )
    small_n, small_category = by_category[0]
    # the limit: the smallest category stays under it (GeoJSON), all issues and the closed ones are over
    limit = small_n
    assert small_n < closed_n < total, (small_n, closed_n, total)
    settings.LINLI_ISSUES_GEOJSON_MAX = limit
    w, s, e, n = issues.aggregate(e=Extent("point"))["e"]
    with browser_page() as (page, errors):
        urls = []
        page.on("request", lambda r: urls.append(r.url))
        login(page, live_demo.url)
        issues_ready(page, "tiles")
        count_el = page.locator("#issue-count")
        expect(count_el).to_have_text(f"超过 {limit} 件问题 · 矢量瓦片")
        assert not [
            u for u in urls if "/api/issues.geojson" in u
        ]  # no pins download over the limit

        # zoom 13: counts, each drawn where the server put it, in its size's colours
        z = 13
        set_view(page, (w + e) / 2, (s + n) / 2, z)
        counts = [(x, y, f) for x, y in covering_tiles(z, issues) for f in server_tile(z, x, y, "")]
        assert sum(f["properties"]["count"] for _x, _y, f in counts) == total
        assert all(set(f["properties"]) == {"count", "open", "overdue"} for *_, f in counts)
        for x, y, f in counts:
            lon, lat = tile_lonlat(z, x, y, *f["geometry"]["coordinates"])
            number = f["properties"]["count"]
            rgb = wait_drawn(page, lon, lat, 0, -(count_radius(number) - 5))
            assert near(rgb, inner_rgb(number)), (number, rgb, inner_rgb(number))
        requested = tile_requests(urls, z)
        assert {(x, y) for x, y, _f in counts} <= {(x, y) for _z, x, y, _q in requested}
        assert {q for *_, q in requested} == {""}  # no filters yet
        page.screenshot(path=str(artifacts / "console-issue-tiles-counts.png"))

        # a click on a count zooms in towards it (to 14, where single issues are drawn)
        x, y, f = max(counts, key=lambda c: c[2]["properties"]["count"])
        lon, lat = tile_lonlat(z, x, y, *f["geometry"]["coordinates"])
        page.evaluate(
            "() => { window.zoomed = new Promise((r) => window.linliMap.once('zoomend', r)); }"
        )
        click_at(page, lon, lat)
        page.evaluate("() => window.zoomed")  # the zoom animation is over
        assert page.evaluate("window.linliMap.getZoom()") == 14

        # zoom 16: single issues in their status colour; a click opens one in the panel
        z = 16
        issue = isolated_issue(issues, z)
        set_view(page, issue.point.x, issue.point.y, z)
        rgb = wait_drawn(page, issue.point.x, issue.point.y)
        assert near(rgb, STATUS_RGB[issue.status]), (issue.status, rgb)
        assert tile_of(issue.point.x, issue.point.y, z) in {
            (x, y) for _z, x, y, _q in tile_requests(urls, z)
        }
        click_at(page, issue.point.x, issue.point.y)
        panel = page.locator("#panel")
        expect(panel).to_have_attribute("data-selected", f"issue:{issue.id}")
        expect(panel.locator("h2")).to_contain_text(issue.category.name)
        expect(page.locator("path.issue-ring")).to_have_count(1)
        assert page.evaluate("window.linliMap.getZoom()") == z
        page.screenshot(path=str(artifacts / "console-issue-tiles-points.png"))

        # a closed issue and the new open one, both drawn before the status filter
        shown, gone = pair_in_view(issues.filter(status__in=CLOSED), lonely, z)
        mid = ((shown.point.x + gone.point.x) / 2, (shown.point.y + gone.point.y) / 2)
        set_view(page, *mid, z)
        assert near(wait_drawn(page, shown.point.x, shown.point.y), STATUS_RGB[shown.status])
        assert near(wait_drawn(page, gone.point.x, gone.point.y), STATUS_RGB["collected"])

        # acting on it redraws it in its new status colour (new tiles, revalidated by ETag)
        click_at(page, gone.point.x, gone.point.y)
        expect(page.locator("#panel")).to_have_attribute("data-selected", f"issue:{gone.id}")
        page.fill("#action-form textarea[name=note]", "已与居民协商")
        page.locator("#action-form button[data-action='consult']").click()
        expect(page.locator("#panel .notice")).to_be_visible()
        issues_ready(page, "tiles")
        wait_colour(page, gone.point.x, gone.point.y, STATUS_RGB["consulted"])
        gone.refresh_from_db()
        assert gone.status == "consulted"

        # filters go into the tile URLs: status (the closed group as its statuses), period
        base = live_demo.url + "/tiles/issues/"
        with page.expect_request(lambda r: r.url.startswith(base) and "status=" in r.url) as got:
            page.select_option("#f-status", "closed")
        assert parse_qs(urlsplit(got.value.url).query) == {"status": [",".join(CLOSED)]}
        issues_ready(page, "tiles")
        since = (
            timezone.localtime(issues.order_by("created_at").first().created_at).date().isoformat()
        )
        until = (
            timezone.localtime(issues.order_by("created_at").last().created_at).date().isoformat()
        )
        page.fill("#f-start", since)
        with page.expect_request(lambda r: r.url.startswith(base) and "until=" in r.url) as got:
            page.fill("#f-end", until)
            page.locator("#f-end").dispatch_event("change")
        assert parse_qs(urlsplit(got.value.url).query) == {
            "status": [",".join(CLOSED)],
            "since": [since],
            "until": [until],
        }
        issues_ready(page, "tiles")
        # the closed issue is still drawn, the (now consulted, still open) one is gone
        assert near(wait_drawn(page, shown.point.x, shown.point.y), STATUS_RGB[shown.status])
        assert page.evaluate(PIXEL_AT, [gone.point.y, gone.point.x, 0, 0])[3] == 0

        # under the limit again (the smallest category): GeoJSON pins, no tiles
        with page.expect_request(
            lambda r: "/api/issues.geojson" in r.url and f"category={small_category}" in r.url
        ):
            page.select_option("#f-category", small_category)
        issues_ready(page, "geojson")
        expected = issues.filter(category__code=small_category, status__in=CLOSED).count()
        expect(count_el).to_have_attribute("data-count", str(expected))
        expect(page.locator(".leaflet-linliIssueTiles-pane canvas")).to_have_count(0)
        set_view(page, (w + e) / 2, (s + n) / 2, 15)
        expect(page.locator(".leaflet-marker-pane .leaflet-marker-icon").first).to_be_visible()
        page.screenshot(path=str(artifacts / "console-issue-tiles-back-to-pins.png"))
        assert errors == []


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_under_the_limit_issues_stay_geojson_pins(live_demo, artifacts):
    total = visible_issues().count()
    assert total < settings_limit()
    with browser_page() as (page, errors):
        urls = []
        page.on("request", lambda r: urls.append(r.url))
        login(page, live_demo.url)
        issues_ready(page, "geojson")
        expect(page.locator("#issue-count")).to_have_attribute("data-count", str(total))
        expect(page.locator(".marker-cluster").first).to_be_visible()
        assert [u for u in urls if "/api/console/issue-count" in u]
        assert [u for u in urls if "/api/issues.geojson" in u]
        page.select_option("#f-status", "closed")
        issues_ready(page, "geojson")
        assert not tile_requests(urls)
        page.screenshot(path=str(artifacts / "console-issue-geojson.png"))
        assert errors == []


def click_at(page, lon, lat):
    xy = page.evaluate(
        "([lat, lon]) => { const p = window.linliMap.latLngToContainerPoint([lat, lon]);"
        " return [p.x, p.y]; }",
        [lat, lon],
    )
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + xy[0], box["y"] + xy[1])


def pair_in_view(shown, gone, z):
    """An issue of `shown` isolated from every issue and close enough to `gone` to share one view at
    zoom z."""
    everything = list(visible_issues())
    gx, gy = world_px(gone.point.x, gone.point.y, z)
    for i in sorted(
        (i for i in shown if isolated(i, everything, z)),
        key=lambda i: math.dist(world_px(i.point.x, i.point.y, z), (gx, gy)),
    ):
        ix, iy = world_px(i.point.x, i.point.y, z)
        if abs(ix - gx) < 450 and abs(iy - gy) < 280:
            return i, gone
    pytest.fail("no pair of issues in one view")


def lonely_open_issue(z):
    """A new (open) issue at the point of USER's community farthest from its issues (at least 12 px
    at zoom z), filed through the intake service."""
    scope = user_scope(User.objects.get(username=USER))
    community = Area.objects.filter(scope.q("code"), level="community").first()
    issues = [world_px(i.point.x, i.point.y, z) for i in visible_issues()]
    x0, y0, x1, y1 = community.geom.extent
    best = (0, None)
    for k in range(30):
        for m in range(30):
            p = Point(x0 + (x1 - x0) * (k + 0.5) / 30, y0 + (y1 - y0) * (m + 0.5) / 30, srid=4326)
            if community.geom.contains(p):
                d = min(math.dist(world_px(p.x, p.y, z), q) for q in issues)
                best = max(best, (d, p), key=lambda b: b[0])
    assert best[0] >= 12, best
    category = Category.objects.get(code="dispute")
    issue = issue_services.issue_create(
        point=best[1], category=category, description="楼道堆物", source="hotline"
    )
    assert issue.status in OPEN and visible_issues().filter(pk=issue.pk).exists()
    return issue


def isolated(issue, among, z, px=16):
    x, y = world_px(issue.point.x, issue.point.y, z)
    return all(
        math.hypot(x - ox, y - oy) >= px
        for o in among
        if o.id != issue.id
        for ox, oy in [world_px(o.point.x, o.point.y, z)]
    )


def isolated_issue(candidates, z):
    """An issue at least 16 px (at zoom z) from every other one, so a click or a pixel is its own."""
    everything = list(candidates)
    for issue in candidates.select_related("category").order_by("id"):
        if isolated(issue, everything, z):
            return issue
    pytest.fail("no isolated issue at this zoom")
