"""The GeoJSON APIs (ancestor codes, paging) and the staff upload → preview → commit API."""

import pytest
from django.contrib.auth import get_user_model

from apps.territory.models import Area

pytestmark = pytest.mark.django_db


def test_areas_geojson_has_ancestor_codes_and_pages_by_code(demo, client):
    all_ = client.get("/api/areas.geojson", {"level": "neighbourhood"}).json()["features"]
    p = all_[0]["properties"]
    assert (
        p["grid"] == p["code"][:15]
        and p["community"] == p["code"][:12]
        and p["street"] == p["code"][:9]
    )
    seen, url, params = [], "/api/areas.geojson", {"level": "neighbourhood", "limit": 10}
    while True:
        response = client.get(url, params)
        seen += [f["properties"]["code"] for f in response.json()["features"]]
        if "Link" not in response.headers:
            break
        link = response.headers["Link"]
        assert link.endswith('>; rel="next"')
        url, params = link[1 : link.index(">")], None
    assert seen == [f["properties"]["code"] for f in all_]
    assert (
        client.get("/api/areas.geojson", {"level": "grid", "limit": "x"}).json()["field"] == "limit"
    )
    assert client.get("/api/areas.geojson", {"level": "grid", "limit": 0}).status_code == 400


def test_buildings_geojson_has_area_codes_and_pages_by_id(demo, client):
    first = client.get("/api/buildings.geojson", {"limit": 5})
    feats = first.json()["features"]
    assert len(feats) == 5 and 'rel="next"' in first.headers["Link"]
    p = feats[0]["properties"]
    assert p["grid"].startswith(p["community"]) and p["community"].startswith(p["street"])
    rest = client.get("/api/buildings.geojson", {"after": feats[-1]["id"], "limit": 10_000}).json()
    assert len(feats) + len(rest["features"]) == demo["buildings"]


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def staff(client, db):
    user = get_user_model().objects.create_user(
        "dataio-staff", password="pw-dataio-1", is_staff=True
    )
    from apps.people.services import staff_assign

    # territory imports are city-wide work: a city administrator (apps.people.scope.CityWide)
    staff_assign(name="市级管理员", role="city_admin", user=user)
    client.force_login(user)
    return client


def upload(client, path):
    with open(path, "rb") as fh:
        return client.post("/api/dataio/uploads", {"file": fh})


def test_upload_preview_commit_flow(empty_territory, staff, shared_data):
    response = upload(staff, shared_data / "china" / "datav_shenzhen_440300_districts.json")
    assert response.status_code == 201, response.content
    up = response.json()
    assert up["layers"][0]["features"] == 9 and "adcode" in up["layers"][0]["fields"]
    options = {
        "kind": "areas",
        "level": "street",
        "county": "440300",
        "code_field": "adcode",
        "name_field": "name",
        "datum": "gcj02",
    }
    preview = staff.post(
        f"/api/dataio/uploads/{up['id']}/preview", options, content_type="application/json"
    ).json()
    assert preview["summary"]["read"] == 9 and preview["summary"]["new"] == 9
    assert len(preview["geojson"]["features"]) == 9
    assert {f["properties"]["status"] for f in preview["geojson"]["features"]} == {"ok"}
    assert not Area.objects.exists()
    done = staff.post(
        f"/api/dataio/uploads/{up['id']}/commit", options, content_type="application/json"
    )
    assert done.status_code == 200 and done.json()["summary"]["written"] == 9
    assert Area.objects.get(ext_code="440303").name == "罗湖区"


def test_commit_with_rejected_rows_is_refused_with_the_report(empty_territory, staff, shared_data):
    up = upload(staff, shared_data / "china" / "datav_china_provinces_100000_full.json").json()
    options = {
        "kind": "areas",
        "level": "street",
        "county": "100000",
        "code_field": "adcode",
        "datum": "gcj02",
        "strict": True,
    }
    preview = staff.post(
        f"/api/dataio/uploads/{up['id']}/preview", options, content_type="application/json"
    ).json()
    statuses = [f["properties"]["status"] for f in preview["geojson"]["features"]]
    assert statuses.count("rejected") == 21
    response = staff.post(
        f"/api/dataio/uploads/{up['id']}/commit", options, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("35 个要素中有 21 个被拒绝（第一个：第 ")
    assert response.json()["report"]["summary"]["rejected"] == 21
    assert not Area.objects.exists()


def test_upload_is_for_staff_only(client, db, shared_data):
    assert (
        upload(client, shared_data / "sf" / "sf_analysis_neighborhoods.geojson").status_code == 403
    )
    user = get_user_model().objects.create_user("dataio-resident", password="pw-resident-1")
    client.force_login(user)
    assert (
        upload(client, shared_data / "sf" / "sf_analysis_neighborhoods.geojson").status_code == 403
    )
    assert client.get("/dataio/import").status_code == 302  # to the login page


def test_upload_rejects_unknown_types_and_bad_ids(staff, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    response = upload(staff, bad)
    assert response.status_code == 400
    assert response.json()["error"] == (
        "notes.txt：不支持的文件类型；请上传 GeoJSON、GeoPackage、压缩的 Shapefile、OSM PBF 或 CSV"
    )
    response = staff.post(
        "/api/dataio/uploads/..%2F..%2Fetc/preview", {}, content_type="application/json"
    )
    assert response.status_code == 404


def test_api_errors_are_in_chinese_by_default_and_in_english_on_request(client):
    response = client.get("/api/topology", {"min_area": "x"})
    assert response.status_code == 400
    assert response.json() == {
        "error": "min_area='x' 不是数字",
        "code": "invalid",
        "field": "min_area",
    }
    response = client.get("/api/topology", {"level": "city"})
    assert response.json()["error"] == (
        "未知层级 'city'，请使用以下之一：street, community, grid, neighbourhood, compound"
    )
    # ?lang=en answers in English (and remembers the choice in a cookie)
    response = client.get("/api/topology", {"min_area": "x", "lang": "en"})
    assert response.json()["error"] == "min_area='x' is not a number"
