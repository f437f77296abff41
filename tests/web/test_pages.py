def test_map_page_is_chinese_by_default_even_for_english_browsers(demo, client):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response.status_code == 200
    assert response.headers["Content-Language"] == "zh-hans"
    assert "点击地图" in response.content.decode()


def test_areas_geojson_lists_current_areas_of_a_level(demo, client):
    response = client.get("/api/areas.geojson", {"level": "grid"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/geo+json"
    features = response.json()["features"]
    assert len(features) == demo["grids"]
    assert {f["geometry"]["type"] for f in features} == {"MultiPolygon"}
    assert all(f["properties"]["households"] > 0 for f in features)


def test_areas_geojson_rejects_an_unknown_level(db, client):
    response = client.get("/api/areas.geojson", {"level": "province"})
    assert response.status_code == 400
    assert response.json()["field"] == "level"


def test_area_detail_has_the_chain(demo, client):
    from apps.territory.models import Area

    nbh = Area.objects.filter(level="neighbourhood").first()
    body = client.get(f"/api/areas/{nbh.id}").json()
    assert [a["level"] for a in body["chain"]] == ["street", "community", "grid", "neighbourhood"]
    assert client.get("/api/areas/999999999").status_code == 404


def test_pages_send_a_strict_content_security_policy_with_a_nonce(demo, client):
    response = client.get("/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy and "unsafe-eval" not in policy
    nonce = policy.split("'nonce-")[1].split("'")[0]
    html = response.content.decode()
    # every inline script carries the nonce; no inline event handlers
    assert html.count('<script nonce="' + nonce + '">') == html.count("<script>") + html.count(
        "<script nonce="
    )
    assert " onchange=" not in html and " onclick=" not in html
