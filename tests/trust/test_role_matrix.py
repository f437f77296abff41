"""The role matrix: every URL of the project is classified (public, staff, admin), every staff endpoint
is called as every role, and nothing outside a user's areas leaks.

The demo district (one street, one community, six grids) is enough for the rule that matters: a grid
leader or worker of grid A sees nothing of grid B, a property company only what is dispatched to it and
its compounds, an auditor reads but never writes, and anonymous residents get 401/403/a login redirect
on every staff endpoint. The expected sets are computed here from the data (codes, companies), not from
apps.people.scope, so the test does not grade the rule with itself."""

import io
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from openpyxl import load_workbook

from apps.issues import services as issue_services
from apps.issues.models import Issue
from apps.people.models import CenterHousehold, PropertyService, Resident
from apps.people.selectors import grid_leader
from apps.people.services import staff_assign
from apps.planning import services as planning_services
from apps.territory.models import Area, Building
from tests.issues.conftest import point_in
from tests.tiles.test_tiles import decode, tile_of

PUBLIC = "public"  # anyone: resident pages, the map's base layers, Open311 (GeoReport is public)
STAFF = "staff"  # signed-in staff with a role, narrowed to their scope
ADMIN = "admin"  # Django admin: superusers and holders of model permissions
# Staff endpoints of apps that narrow to the scope themselves (analytics: apps.analytics.api
# scoped_within; dataio: city administrators only). The matrix checks that anonymous users are refused
# and that no role gets a server error; their per-role contents are those apps' own tests.
APP_SCOPED = "app-scoped"
SELF = "self"  # any signed-in user, about their own account (changing their password)

# Every URL name of the project. A new endpoint fails test_every_url_is_classified until it is added
# here (and, if it is staff, to staff_requests below).
CLASSIFIED = {
    "set_language": PUBLIC,
    "login": PUBLIC,
    "logout": PUBLIC,
    "password-change": SELF,
    "password-change-done": SELF,
    "api-schema": PUBLIC,  # the OpenAPI description, no data
    "locate": PUBLIC,  # which areas cover a point
    "areas-geojson": PUBLIC,  # boundaries and household counts: the public map
    "buildings-geojson": PUBLIC,  # footprints and household counts: the public map
    "area-detail": PUBLIC,
    "territory-search": PUBLIC,  # areas and buildings by name or address: what the public map shows
    "map": PUBLIC,
    "tile-layers": PUBLIC,
    "tile": PUBLIC,  # base layers public; the "issues" layer is staff-only (checked below)
    "issue-report": PUBLIC,  # the residents' form (rate limited)
    "issue-report-done": PUBLIC,  # its thank-you page, by tracking code
    "issue-track": PUBLIC,  # by tracking code, no personal data
    "open311-services": PUBLIC,
    "open311-service": PUBLIC,
    "open311-requests": PUBLIC,  # GET public by the standard (no reporter data); POST needs api_key
    "open311-request": PUBLIC,
    "open311-media": PUBLIC,  # a request's photo (media_url), public as the request is
    "open311-token": PUBLIC,
    "open311-updates": PUBLIC,
    "planning-login": PUBLIC,
    "topology": PUBLIC,  # topology findings of the territory layers (geometry only), like the map
    "phone-sw": PUBLIC,  # the phone page's service worker script
    "phone": STAFF,
    # Patrols are their walker's own (others get 404), compound-head visits narrowed to the scope.
    "patrols-my-map": STAFF,
    "patrols": STAFF,
    "patrol-detail": STAFF,
    "patrol-points": STAFF,
    "patrol-checkins": STAFF,
    "patrol-issues": STAFF,
    "patrol-stop": STAFF,
    "compound-head-visits": STAFF,
    "people-residents": STAFF,
    "people-residents-csv": STAFF,
    "people-resident-move-out": STAFF,  # keepers of the register: who may see personal data there
    "people-party-members": STAFF,
    "people-party-orgs": STAFF,
    "people-committees": STAFF,
    "people-contacts": STAFF,
    "people-contact-end": STAFF,
    "people-households": STAFF,
    "people-centers": STAFF,
    "people-center-links": STAFF,
    "people-center-lasso": STAFF,
    "people-proposals": STAFF,
    "people-proposal-accept": STAFF,
    "people-centers-page": STAFF,
    "issues": STAFF,
    "issues-geojson": STAFF,
    "issues-xlsx": STAFF,
    "console-issue-count": STAFF,  # the console's count of its filters (apps/web/api.py)
    "issues-duplicates": STAFF,
    "issues-place": STAFF,  # where a point lies (public facts) and whether it is the user's
    "issues-indicators": STAFF,
    "issues-categories": STAFF,
    "issue-detail": STAFF,
    "issue-photo": STAFF,
    "issue-handlers": STAFF,
    "issue-action": STAFF,
    "issues-bulk-action": STAFF,  # one action on many issues, each checked as issue-action checks it
    "meeting-decisions": STAFF,
    "meeting-agenda-xlsx": STAFF,
    "meeting-agenda": STAFF,
    "planning": STAFF,
    "planning-editor": STAFF,
    "planning-plans": STAFF,
    "planning-proposals": STAFF,
    "planning-plan": STAFF,
    "planning-range": STAFF,
    "planning-check": STAFF,
    "planning-diff": STAFF,
    "planning-publish": STAFF,
    "planning-split": STAFF,
    "planning-merge": STAFF,
}
APP_SCOPED_GETS = {
    "dataio-upload": "/api/dataio/uploads",
    "dataio-preview": "/api/dataio/uploads/nope/preview",
    "dataio-commit": "/api/dataio/uploads/nope/commit",
    "dataio-import": "/dataio/import",
    "analytics-dashboard": "/analytics/",
    "analytics-print": "/analytics/print",
    "analytics-map": "/analytics/map",
    "analytics-stations": "/api/analytics/stations",
    "analytics-coverage": "/api/analytics/stations/coverage",
    "analytics-suggest": "/api/analytics/stations/suggest",
    "analytics-gaps": "/api/analytics/gaps",
    "analytics-gaps-geojson": "/api/analytics/gaps.geojson",
    "analytics-gaps-csv": "/api/analytics/gaps.csv",
    "analytics-gap-counts": "/api/analytics/gaps/counts",
    "analytics-hotspots-h3": "/api/analytics/hotspots/h3.geojson",
    "analytics-hotspots-h3-csv": "/api/analytics/hotspots/h3.csv",
    "analytics-hotspots-grids": "/api/analytics/hotspots/grids.geojson",
    "analytics-hotspots-grids-csv": "/api/analytics/hotspots/grids.csv",
    "analytics-repeats": "/api/analytics/hotspots/repeats",
    "analytics-heat": "/api/analytics/heat",
    "analytics-indicators": "/api/analytics/indicators",
    "analytics-indicators-xlsx": "/api/analytics/indicators.xlsx",
    "analytics-indicators-pdf": "/api/analytics/indicators.pdf",
    "audit": "/audit/",  # city administrators and auditors (tests/trust/test_audit_page.py)
}
CLASSIFIED.update(dict.fromkeys(APP_SCOPED_GETS, APP_SCOPED))
UNNAMED = {
    "^media/(?P<path>.*)$": PUBLIC
}  # uploaded photos, DEBUG only (a web server in production)

ROLES = [
    "city_admin",
    "street_staff",
    "community_staff",
    "grid_leader",
    "grid_worker",
    "property_company",
    "planner",
    "auditor",
    "anonymous",
]
RESTRICTED = {"grid_leader", "grid_worker", "property_company"}  # see part of the demo community
# Endpoints that run a solver: called only where the answer is a refusal, to keep the matrix quick.
HEAVY = {"people-proposals", "planning-proposals"}


def _walk(patterns, prefix="", namespace=None):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _walk(p.url_patterns, prefix + str(p.pattern), p.namespace or namespace)
        elif isinstance(p, URLPattern):
            yield namespace, p.name, prefix + str(p.pattern)


def all_urls():
    return list(_walk(get_resolver().url_patterns))


def classify(namespace, name, route):
    if namespace == "admin":
        return ADMIN
    if name is None:
        return UNNAMED.get(route)
    return CLASSIFIED.get(name)


def test_every_url_is_classified():
    unclassified = [
        (ns, name, route) for ns, name, route in all_urls() if classify(ns, name, route) is None
    ]
    assert unclassified == [], (
        "classify these endpoints in tests/trust/test_role_matrix.py (public or staff, and scope "
        f"their selectors): {unclassified}"
    )
    names = {name for ns, name, _r in all_urls() if ns != "admin"}
    assert set(CLASSIFIED) <= names, f"stale names: {set(CLASSIFIED) - names}"


# ---------------------------------------------------------------- the demo world


@pytest.fixture
def world(demo):
    User = get_user_model()
    community = Area.objects.get(level="community", valid_to=None)
    grid_a, grid_b = Area.objects.filter(level="grid", valid_to=None).order_by("code")[:2]
    service = (
        PropertyService.objects.filter(compound__valid_to=None)
        .select_related("company", "compound")
        .order_by("compound__code")
        .first()
    )
    company = service.company

    def issue(area, category="dispute"):
        return issue_services.issue_create(
            point=point_in(area), category=category, description="矩阵测试", source="patrol"
        )

    issue_a, issue_b = issue(grid_a), issue(grid_b)
    issue_company = issue(service.compound, category="property")
    assert issue_company.responsible_company_id == company.id

    users = {
        "city_admin": User.objects.create_user("m-admin"),
        "street_staff": User.objects.get(username="street"),
        "community_staff": User.objects.get(username="community"),
        "grid_leader": User.objects.get(username="grid"),
        "grid_worker": User.objects.create_user("m-worker"),
        "property_company": User.objects.create_user("m-company"),
        "planner": User.objects.get(username="planner"),
        "auditor": User.objects.create_user("m-auditor"),
    }
    staff_assign(name="市管理员", role="city_admin", user=users["city_admin"])
    staff_assign(name="网格员", role="grid_worker", area=grid_a, user=users["grid_worker"])
    staff_assign(
        name="物业", role="property_company", company=company, user=users["property_company"]
    )
    staff_assign(name="审计", role="auditor", user=users["auditor"])
    from apps.people.models import StaffAssignment

    assert StaffAssignment.objects.get(user=users["grid_leader"]).area == grid_a

    company_codes = list(
        PropertyService.objects.filter(company=company).values_list("compound__code", flat=True)
    )
    building_b = Building.objects.filter(grid=grid_b).order_by("id").first()
    center_b = CenterHousehold.objects.filter(household__building__grid=grid_b).first()
    plan = planning_services.plan_create_from_current(community=community, level="grid")
    from apps.patrols.services import patrol_start

    # A patrol walked by the grid leader: nobody else's business (404 to other roles).
    patrol, _ = patrol_start(
        user=users["grid_leader"], grid_id=grid_a.id, client_id=str(uuid.uuid4())
    )

    def sees_issues(role):
        """The issues each role must see, from the data: codes, the company, nothing else."""
        if role == "anonymous":
            return Issue.objects.none()
        if role in ("grid_leader", "grid_worker"):
            return Issue.objects.filter(area_code__startswith=grid_a.code)
        if role == "property_company":
            q = Q(responsible_company=company)
            for code in company_codes:
                q |= Q(area_code__startswith=code)
            return Issue.objects.filter(q)
        if role in ("street_staff",):
            return Issue.objects.filter(area_code__startswith=community.parent.code)
        if role in ("community_staff", "planner"):
            return Issue.objects.filter(area_code__startswith=community.code)
        return Issue.objects.all()  # city admin, auditor: issues outside every area too

    def sees_buildings(role):
        if role in ("grid_leader", "grid_worker"):
            return Building.objects.filter(grid=grid_a)
        if role == "property_company":
            return Building.objects.filter(compound__code__in=company_codes)
        return Building.objects.all()

    return {
        "users": users,
        "community": community,
        "grid_a": grid_a,
        "grid_b": grid_b,
        "issue_a": issue_a,
        "issue_b": issue_b,
        "issue_company": issue_company,
        "company": company,
        "building_b": building_b,
        "center_b": center_b,
        "leader_b": grid_leader(grid_id=grid_b.id),
        "plan": plan,
        "patrol": patrol,
        "sees_issues": sees_issues,
        "sees_buildings": sees_buildings,
    }


def client_as(world, role) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(world["users"][role])
    return client


def staff_requests(w) -> dict[str, list[tuple[str, str, dict]]]:
    """One or more concrete requests per staff endpoint, aimed at grid B (outside the restricted
    roles' scope)."""

    c, b, month = w["community"].code, w["grid_b"], "2026-11"
    square = {
        "type": "Polygon",
        "coordinates": [[[117.2, 31.8], [117.21, 31.8], [117.21, 31.81], [117.2, 31.8]]],
    }
    line = {"type": "LineString", "coordinates": [[117.205, 31.79], [117.205, 31.82]]}
    hh_b = w["center_b"].household_id if w["center_b"] else 0
    # someone in grid B with no party or committee seat, so a keeper of the register moves them out
    plain_b = Resident.objects.filter(
        household__building__grid=b, party_member__isnull=True, committeemember__isnull=True
    ).first()
    resident_b = plain_b.id if plain_b else 0
    return {
        "people-residents": [
            ("get", f"/api/people/residents?grid={b.id}", {}),
            ("get", f"/api/people/residents?building={w['building_b'].id}", {}),
            ("post", "/api/people/residents", {"household": hh_b, "name": "李四"}),
        ],
        "people-resident-move-out": [
            ("post", f"/api/people/residents/{resident_b}/move-out", {}),
        ],
        "people-residents-csv": [
            ("get", f"/api/people/residents.csv?grid={b.id}&reason=核对信息", {})
        ],
        "people-party-members": [("get", f"/api/people/party-members?grid={b.id}", {})],
        "people-party-orgs": [("get", "/api/people/party-orgs", {})],
        "people-committees": [("get", "/api/people/committees", {})],
        "people-contacts": [
            ("get", f"/api/people/contacts?area={b.id}", {}),
            ("get", f"/api/people/contacts?building={w['building_b'].id}", {}),
            ("post", "/api/people/contacts", {"area": b.id, "role": "grid_worker", "name": "张三"}),
        ],
        "people-contact-end": [("post", f"/api/people/contacts/{w['leader_b'].id}/end", {})],
        "people-households": [("get", f"/api/people/households?building={w['building_b'].id}", {})],
        "people-centers": [("get", f"/api/people/centers?area={b.id}", {})],
        "people-center-links": [
            ("post", "/api/people/center-links", {"household": hh_b, "center_household": hh_b})
        ],
        "people-center-lasso": [
            ("post", "/api/people/center-lasso", {"center_household": hh_b, "polygon": square})
        ],
        "people-proposals": [("post", "/api/people/proposals", {"area": b.id})],
        "people-proposal-accept": [("post", "/api/people/proposals/999999/accept", {})],
        "people-centers-page": [("get", "/people/centers/", {})],
        "issues": [("get", "/api/issues?page_size=500", {})],
        "issues-geojson": [("get", "/api/issues.geojson", {})],
        "issues-xlsx": [("get", "/api/issues.xlsx", {})],
        "console-issue-count": [("get", "/api/console/issue-count", {})],
        "issues-duplicates": [
            (
                "get",
                f"/api/issues/duplicates?lon={w['issue_b'].point.x}&lat={w['issue_b'].point.y}"
                "&category=dispute",
                {},
            )
        ],
        "issues-place": [
            ("get", f"/api/issues/place?lon={w['issue_b'].point.x}&lat={w['issue_b'].point.y}", {})
        ],
        "issues-indicators": [
            ("get", f"/api/issues/indicators?area={b.code}&start=2020-01-01&end=2030-12-31", {})
        ],
        "issues-categories": [("get", "/api/issues/categories", {})],
        "issue-detail": [("get", f"/api/issues/{w['issue_b'].id}", {})],
        "issue-photo": [("get", f"/api/issues/{w['issue_b'].id}/photos/999999", {})],
        "issue-handlers": [("get", f"/api/issues/{w['issue_b'].id}/handlers", {})],
        "issue-action": [("post", f"/api/issues/{w['issue_b'].id}/actions/note", {"note": "看过"})],
        # close is refused from the issue's status for everyone who sees it: the world stays as it is
        "issues-bulk-action": [("post", "/api/issues/actions/close", {"ids": [w["issue_b"].id]})],
        "meeting-decisions": [
            (
                "post",
                f"/api/meetings/{c}/{month}/decisions",
                {"issue": w["issue_b"].id, "decision": "督办"},
            )
        ],
        "meeting-agenda-xlsx": [("get", f"/meetings/{c}/{month}.xlsx", {})],
        "meeting-agenda": [("get", f"/meetings/{c}/{month}", {})],
        "planning": [("get", f"/planning/?community={c}", {})],
        "planning-editor": [("get", f"/planning/plans/{w['plan'].id}/", {})],
        "planning-plans": [("get", f"/api/planning/plans?community={c}", {})],
        "planning-proposals": [("post", "/api/planning/proposals", {"community": c})],
        "planning-plan": [("get", f"/api/planning/plans/{w['plan'].id}", {})],
        "planning-range": [("put", f"/api/planning/plans/{w['plan'].id}/range", {"target": 30})],
        "planning-check": [("post", f"/api/planning/plans/{w['plan'].id}/check", {})],
        "planning-diff": [("get", f"/api/planning/plans/{w['plan'].id}/diff", {})],
        "planning-publish": [
            ("post", f"/api/planning/plans/{w['plan'].id}/publish", {"revision": 99})
        ],
        "planning-split": [
            ("post", "/api/planning/geometry/split", {"polygon": square, "line": line})
        ],
        "phone": [("get", "/m/", {})],
        "patrols-my-map": [("get", "/api/patrols/my-map", {})],
        "patrols": [("get", "/api/patrols", {})],
        "patrol-detail": [("get", f"/api/patrols/{w['patrol'].id}", {})],
        "patrol-points": [("post", f"/api/patrols/{w['patrol'].id}/points", {"points": []})],
        "patrol-checkins": [("post", f"/api/patrols/{w['patrol'].id}/checkins", {})],
        "patrol-issues": [("post", f"/api/patrols/{w['patrol'].id}/issues", {})],
        "patrol-stop": [("post", f"/api/patrols/{w['patrol'].id}/stop", {})],
        "compound-head-visits": [("get", "/api/patrols/compound-head-visits", {})],
        "planning-merge": [
            ("post", "/api/planning/geometry/merge", {"polygons": [square, square]})
        ],
    }


def call(client, method, path, data):
    import json

    if method == "get":
        return client.get(path)
    send = client.put if method == "put" else client.post
    return send(path, json.dumps(data), content_type="application/json")


def test_every_staff_endpoint_has_a_request_in_the_matrix(world):
    requests = staff_requests(world)
    staff = {name for name, kind in CLASSIFIED.items() if kind == STAFF}
    assert staff <= set(requests), f"add requests for {staff - set(requests)}"


def test_own_account_pages_need_a_login_and_nothing_else(world):
    """The password pages: anonymous users are sent to the login; any signed-in user, with a role or
    none, reaches their own."""
    from django.urls import reverse

    names = [name for name, kind in CLASSIFIED.items() if kind == SELF]
    assert names
    roleless = Client()
    roleless.force_login(get_user_model().objects.create_user("m-norole"))
    for name in names:
        r = client_as(world, "anonymous").get(reverse(name))
        assert r.status_code == 302 and "login" in r["Location"], name
        for client in (client_as(world, "community_staff"), roleless):
            assert client.get(reverse(name)).status_code == 200, name


def test_anonymous_is_refused_on_every_staff_endpoint(world):
    client = client_as(world, "anonymous")
    before = Issue.objects.count()
    for name, kind in CLASSIFIED.items():
        if kind != STAFF:
            continue
        for method, path, data in staff_requests(world)[name]:
            r = call(client, method, path, data)
            redirected_to_login = r.status_code == 302 and "login" in r["Location"]
            assert r.status_code in (401, 403) or redirected_to_login, (name, r.status_code)
    assert Issue.objects.count() == before
    for name, path in APP_SCOPED_GETS.items():
        r = client.get(path)
        redirected_to_login = r.status_code == 302 and "login" in r["Location"]
        assert r.status_code in (401, 403) or redirected_to_login, (name, r.status_code)
    z, x, y = tile_of(world["issue_b"].point.x, world["issue_b"].point.y, 14)
    assert client.get(f"/tiles/issues/{z}/{x}/{y}.mvt").status_code == 401
    assert client.get(f"/tiles/grid/{z}/{x}/{y}.mvt").status_code == 200  # the base map is public
    for path in ("/admin/issues/issue/", "/admin/people/resident/"):
        assert client.get(path).status_code == 302


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
def test_every_staff_endpoint_answers_every_role_without_a_server_error(world, role):
    client = client_as(world, role)
    for name, requests in staff_requests(world).items():
        if name in HEAVY and role not in RESTRICTED | {"auditor"}:
            continue
        for method, path, data in requests:
            r = call(client, method, path, data)
            assert r.status_code < 500, (role, name, r.status_code, r.content[:300])
            if role == "auditor" and method != "get":
                assert r.status_code == 403, (name, r.status_code)  # read-only
            if (
                role in RESTRICTED
                and "grid" in role
                and path.startswith(("/api/people/c", "/api/issues/"))
            ):
                # grid B's objects do not exist for grid A's staff
                if name in (
                    "issue-detail",
                    "issue-action",
                    "issues-bulk-action",
                    "issue-handlers",
                    "people-centers",
                    "people-contacts",
                    "people-contact-end",
                ):
                    assert r.status_code == 404, (role, name, r.status_code)
            if "grid" in role and method == "post" and path.startswith("/api/people/residents"):
                assert r.status_code == 404, (role, name, r.status_code)  # grid B's register


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
def test_app_scoped_endpoints_answer_every_role_without_a_server_error(world, role):
    client = client_as(world, role)
    for name, path in APP_SCOPED_GETS.items():
        r = client.get(path)
        assert r.status_code < 500, (role, name, r.status_code, r.content[:300])
        if name.startswith("dataio-") and name != "dataio-import":
            city_wide = role in ("city_admin", "auditor")
            assert (r.status_code in (401, 403)) is not city_wide, (role, name, r.status_code)


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
def test_issue_lists_map_and_tiles_show_exactly_the_roles_issues(world, role):
    client = client_as(world, role)
    expected = set(world["sees_issues"](role).values_list("id", flat=True))
    body = client.get("/api/issues?page_size=500").json()
    assert body["count"] == len(expected)
    assert {r["id"] for r in body["results"]} <= expected
    features = client.get("/api/issues.geojson").json()["features"]
    assert {f["id"] for f in features} == expected
    assert client.get("/api/console/issue-count").json()["count"] == len(expected)
    exported = load_workbook(io.BytesIO(client.get("/api/issues.xlsx").content)).active
    codes = {row[0] for row in list(exported.iter_rows(values_only=True))[1:]}
    assert codes == set(world["sees_issues"](role).values_list("tracking_code", flat=True))
    for key in ("issue_a", "issue_b", "issue_company"):
        issue = world[key]
        r = client.get(f"/api/issues/{issue.id}")
        assert r.status_code == (200 if issue.id in expected else 404), (role, key)
    z, x, y = tile_of(world["issue_b"].point.x, world["issue_b"].point.y, 14)
    r = client.get(f"/tiles/issues/{z}/{x}/{y}.mvt")
    tile_ids = {f["id"] for f in decode(r, "issues")}
    assert tile_ids <= expected
    assert (world["issue_b"].id in tile_ids) is (world["issue_b"].id in expected)
    agenda = client.get(f"/meetings/{world['community'].code}/2026-11").content.decode()
    for key in ("issue_a", "issue_b"):
        shown = world[key].tracking_code in agenda
        assert not shown or world[key].id in expected, (role, key)


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
def test_people_lists_and_exports_stay_inside_the_roles_buildings(world, role):
    import csv
    import io

    client = client_as(world, role)
    buildings = world["sees_buildings"](role)
    for grid in (world["grid_a"], world["grid_b"]):
        expected = Resident.objects.filter(
            household__building__in=buildings, household__building__grid=grid
        )
        r = client.get(f"/api/people/residents?grid={grid.id}")
        ids = {p["id"] for p in r.json()["results"]}
        assert ids <= set(expected.values_list("id", flat=True))
        assert len(ids) == min(200, expected.count())
        r = client.get(f"/api/people/residents.csv?grid={grid.id}&reason=入户核对")
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        assert len(rows) - 1 == expected.count(), (role, grid.code)
    in_b = world["building_b"].id in set(buildings.values_list("id", flat=True))
    r = client.get(f"/api/people/households?building={world['building_b'].id}")
    assert r.status_code == (200 if in_b else 404)


@pytest.mark.parametrize("role", [r for r in ROLES if r != "anonymous"])
def test_a_patrol_is_its_walkers_own(world, role):
    r = client_as(world, role).get(f"/api/patrols/{world['patrol'].id}")
    assert r.status_code == (200 if role == "grid_leader" else 404), (role, r.status_code)


@pytest.mark.parametrize("role", ["grid_leader", "grid_worker", "property_company"])
def test_restricted_roles_get_no_indicators_or_plans_outside_their_scope(world, role):
    client = client_as(world, role)
    r = client.get(
        f"/api/issues/indicators?area={world['grid_b'].code}&start=2020-01-01&end=2030-12-31"
    )
    assert r.status_code == 404
    c = world["community"].code
    assert client.get(f"/api/planning/plans?community={c}").status_code == 404
    assert client.get(f"/api/planning/plans/{world['plan'].id}").status_code == 404
    assert client.get(f"/planning/plans/{world['plan'].id}/").status_code == 404


def test_the_auditor_reads_everything_and_writes_nothing(world):
    client = client_as(world, "auditor")
    assert client.get(f"/api/issues/{world['issue_b'].id}").status_code == 200
    before = Issue.objects.count()
    r = client.post(
        "/api/issues",
        {
            "lon": world["issue_b"].point.x,
            "lat": world["issue_b"].point.y,
            "category": "dispute",
            "description": "审计员不能录入",
        },
        content_type="application/json",
    )
    assert r.status_code == 403 and Issue.objects.count() == before
