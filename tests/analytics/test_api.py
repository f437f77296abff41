"""The analytics APIs: staff only, limited to the user's scope, documented in the OpenAPI schema,
bad input answered with 400 naming the parameter."""

import io

import pytest
from django.contrib.auth import get_user_model
from openpyxl import load_workbook

from apps.analytics.models import ServiceStation
from apps.people.models import StaffAssignment
from tests.analytics.test_gaps import BASE
from tests.analytics.world import COMMUNITY, GRID1, GRID2, STREET, build_world


@pytest.fixture
def world(empty_territory):
    return build_world()


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("boss", password="x-password-123")
    client.force_login(user)
    return client


def grid_leader_client(client, grid):
    user = get_user_model().objects.create_user("gl", password="x-password-123")
    StaffAssignment.objects.create(name="王", role="grid_leader", area=grid, user=user)
    client.force_login(user)
    return client


def test_anonymous_users_get_nothing(client, world):
    assert client.get("/api/analytics/gaps").status_code in (401, 403)
    assert client.get("/analytics/").status_code == 302


def test_gaps_api_lists_counts_and_draws(admin_client, world):
    base = ",".join(BASE)
    body = admin_client.get(f"/api/analytics/gaps?kind={base}").json()
    assert body["count"] == 9
    assert {i["kind"] for i in body["items"]} == {
        "building_no_grid",
        "household_no_neighbourhood",
        "grid_no_leader",
        "compound_no_property",
        "company_no_party_org",
        "station_far",
    }
    assert "无物业" in " ".join(i["explanation"] for i in body["items"])  # Chinese by default
    en = admin_client.get("/api/analytics/gaps?kind=grid_no_leader&lang=en").json()
    assert en["items"][0]["explanation"] == "Grid 二网格 (8 households) has no active grid leader."
    geo = admin_client.get(f"/api/analytics/gaps.geojson?within={STREET}&kind={base}")
    assert geo["Content-Type"] == "application/geo+json"
    assert len(geo.json()["features"]) == 9
    counts = admin_client.get(f"/api/analytics/gaps/counts?by=grid&kind={base}").json()
    assert {a["code"] for a in counts["areas"]} == {"", GRID1, GRID2}
    csv = admin_client.get("/api/analytics/gaps.csv?kind=station_far").content.decode("utf-8-sig")
    assert csv.splitlines()[0] == "kind,object_type,object_id,name,area_code,explanation"
    assert len(csv.splitlines()) == 3


def test_bad_parameters_are_400_naming_the_field(admin_client, world):
    r = admin_client.get("/api/analytics/gaps?tier=7")
    assert r.status_code == 400 and r.json()["field"] == "tier"
    r = admin_client.get("/api/analytics/stations/suggest?count=abc")
    assert r.status_code == 400 and r.json()["field"] == "count"
    r = admin_client.get("/api/analytics/hotspots/h3.geojson?source=issues&start=yesterday")
    assert r.status_code == 400 and r.json()["field"] in ("start", "source")
    r = admin_client.get("/api/analytics/indicators?code=12")
    assert r.status_code == 400 and r.json()["field"] == "code"


def test_a_grid_leader_sees_only_their_grid(client, world):
    c = grid_leader_client(client, world["grid2"])
    body = c.get(f"/api/analytics/gaps?kind={','.join(BASE)}").json()
    assert {i["area_code"] for i in body["items"]} == {GRID2}
    assert c.get(f"/api/analytics/gaps?within={GRID1}").status_code == 403
    assert c.get(f"/api/analytics/gaps?within={COMMUNITY}").status_code == 403


def test_api_errors_are_in_chinese_by_default_and_in_english_on_request(client, world):
    c = grid_leader_client(client, world["grid2"])
    response = c.get(f"/api/analytics/gaps?within={GRID1}")
    assert response.status_code == 403
    assert response.json()["error"] == f"区域 {GRID1} 不在您的管辖范围内"
    response = c.get("/api/analytics/gaps?kind=nope")
    assert response.status_code == 400
    assert response.json()["error"].startswith("未知的盲区类型 'nope'，请使用以下之一：")
    # ?lang=en answers in English (and remembers the choice in a cookie)
    response = c.get(f"/api/analytics/gaps?within={GRID1}&lang=en")
    assert response.json()["error"] == f"area {GRID1} is outside your scope"
    response = c.get("/api/analytics/gaps?kind=nope&lang=en")
    assert response.json()["error"].startswith("unknown gap kind 'nope'; use one of ")


def test_stations_coverage_and_suggestions(admin_client, world):
    fc = admin_client.get("/api/analytics/stations").json()
    assert [f["properties"]["name"] for f in fc["features"]] == ["测试党群服务站"]
    cov = admin_client.get("/api/analytics/stations/coverage").json()
    assert cov["total"]["households"] == {"5": 10, "10": 6, "15": 4, "beyond": 13}
    s = admin_client.get("/api/analytics/stations/suggest?count=2&tier=15").json()
    assert s["uncovered_households"] == 13 and s["covered"] == 13
    assert len(s["geojson"]["features"]) == 2
    r = admin_client.post(
        "/api/analytics/stations",
        {"name": "新站", "lon": fc["features"][0]["geometry"]["coordinates"][0], "lat": 31.85},
        content_type="application/json",
    )
    assert r.status_code == 201
    r = admin_client.post(
        "/api/analytics/stations", {"name": "", "lon": 1, "lat": 1}, content_type="application/json"
    )
    assert r.status_code == 400 and r.json()["field"] == "name"


def test_a_station_outside_the_users_scope_is_refused_and_not_written(client, world):
    c = grid_leader_client(client, world["grid2"])
    before = ServiceStation.objects.count()
    r = c.post(
        "/api/analytics/stations",
        {"name": "外站", "lon": 100.0, "lat": 20.0},
        content_type="application/json",
    )
    assert r.status_code == 403
    assert ServiceStation.objects.count() == before


def test_indicators_api_and_xlsx(admin_client, world):
    body = admin_client.get(f"/api/analytics/indicators?code={COMMUNITY}&months=3").json()
    assert len(body["trend"]) == 3
    latest = body["latest"]
    # K1 (commercial + company), K4 (self), K5 (commercial + company) of 5 compounds
    assert latest["property_coverage"] == {"value": 0.6, "num": 3, "den": 5}
    # 甲物业 (no party organisation) and 乙物业 (has one)
    assert latest["party_org_coverage"] == {"value": 0.5, "num": 1, "den": 2}
    xlsx = admin_client.get(f"/api/analytics/indicators.xlsx?code={COMMUNITY}&months=3")
    assert xlsx.status_code == 200
    wb = load_workbook(io.BytesIO(xlsx.content))
    trend = wb.worksheets[0]
    assert trend.max_row == 4
    header = [c.value for c in trend[1]]
    assert header[0] in ("月份", "Month")
    assert trend.cell(row=4, column=2).value == 0.6


def test_openapi_schema_documents_the_analytics_endpoints(admin_client, db):
    schema = admin_client.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for p in [
        "/api/analytics/gaps",
        "/api/analytics/gaps.geojson",
        "/api/analytics/hotspots/h3.geojson",
        "/api/analytics/hotspots/grids.geojson",
        "/api/analytics/hotspots/repeats",
        "/api/analytics/indicators",
        "/api/analytics/indicators.xlsx",
        "/api/analytics/stations/suggest",
    ]:
        assert p in paths, p
    assert "tier" in {prm["name"] for prm in paths["/api/analytics/gaps"]["get"]["parameters"]}


def test_hotspot_apis_on_the_demo_issues(admin_client, demo):
    from apps.issues.models import Issue

    first = Issue.objects.order_by("created_at").first()
    start = first.created_at.date().isoformat()
    base = f"?start={start}"
    fc = admin_client.get(f"/api/analytics/hotspots/h3.geojson{base}&zoom=16")
    assert fc.status_code == 200 and fc["Content-Type"] == "application/geo+json"
    body = fc.json()
    total = Issue.objects.exclude(status__in=["rejected", "duplicate"]).filter(
        created_at__gte=first.created_at.replace(hour=0, minute=0, second=0, microsecond=0)
    )
    assert sum(f["properties"]["count"] for f in body["features"]) == body["properties"]["total"]
    assert body["properties"]["res"] == 10
    assert body["properties"]["total"] <= total.count()
    assert {f["properties"]["class"] for f in body["features"]} <= {-3, -2, -1, 0, 1, 2, 3}
    emerging = admin_client.get(f"/api/analytics/hotspots/h3.geojson{base}&res=9&emerging=1").json()
    assert all("emerging" in f["properties"] for f in emerging["features"])
    csv = admin_client.get(f"/api/analytics/hotspots/h3.csv{base}&res=9").content.decode(
        "utf-8-sig"
    )
    assert csv.splitlines()[0] == "h3,cell,res,count,z,p,class,lon,lat"
    grids = admin_client.get(f"/api/analytics/hotspots/grids.geojson{base}").json()
    assert len(grids["features"]) == 6  # the session demo's grids
    gcsv = admin_client.get(f"/api/analytics/hotspots/grids.csv{base}").content.decode("utf-8-sig")
    assert len(gcsv.splitlines()) == 7
    reps = admin_client.get(f"/api/analytics/hotspots/repeats{base}&min_count=2&days=366").json()
    assert all(r["count"] >= 2 for r in reps["items"])
    heat = admin_client.get(f"/api/analytics/heat{base}&zoom=12").json()
    assert sum(p[2] for p in heat["points"]) == body["properties"]["total"]
    bad = admin_client.get("/api/analytics/hotspots/h3.geojson?zoom=99")
    assert bad.status_code == 400 and bad.json()["field"] == "zoom"


def test_a_big_city_offers_streets_then_the_chosen_streets_communities(
    admin_client, world, monkeypatch
):
    """Above AREA_CHOICES_MAX streets and communities (a megacity has 40,200) the area selector of the
    dashboard and the map offers the streets, and the communities of the chosen area's street only;
    any area in scope can still be chosen."""
    import re

    from apps.analytics import views
    from apps.territory.services import area_create
    from tests.analytics.world import poly

    other = area_create(
        level="street", code="340111902", name="另一街道", geom=poly(0, 2000, 900, 2900)
    )
    area_create(level="community", code=other.code + "001", name="另一社区", parent=other,
                geom=poly(0, 2000, 900, 2900))  # fmt: skip

    def offered(url):
        html = admin_client.get(url).content.decode()
        return re.findall(r'<option value="(\d{9,})"', html)

    pages = ("/analytics/", "/analytics/map")
    for page in pages:
        assert {STREET, COMMUNITY, other.code, other.code + "001"} <= set(offered(page))
    monkeypatch.setattr(views, "AREA_CHOICES_MAX", 2)
    for page in pages:
        assert offered(page + f"?code={STREET}") == [STREET, COMMUNITY, other.code]
        assert offered(page + f"?code={other.code}001") == [STREET, other.code, other.code + "001"]
        assert admin_client.get(page + f"?code={COMMUNITY}").status_code == 200
