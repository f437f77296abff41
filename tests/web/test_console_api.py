"""The console's server side: the territory search API and what the map page tells the browser."""

import json

from apps.territory.models import Area, Building


def _config(response) -> dict:
    html = response.content.decode()
    start = html.index('<script id="map-config" type="application/json">') + len(
        '<script id="map-config" type="application/json">'
    )
    return json.loads(html[start : html.index("</script>", start)])


def test_search_finds_areas_by_code_prefix_exact_code_first(demo, client):
    grid = Area.objects.filter(level="grid", valid_to__isnull=True).order_by("code").first()
    body = client.get("/api/search", {"q": grid.code}).json()
    first = body["results"][0]
    assert (first["kind"], first["id"], first["code"]) == ("area", grid.id, grid.code)
    # the grid's neighbourhood grids share its code as a prefix and follow it
    assert all(r["code"].startswith(grid.code) for r in body["results"] if r["kind"] == "area")
    x0, y0, x1, y1 = first["bbox"]
    assert x0 < x1 and y0 < y1


def test_search_finds_areas_by_name_and_buildings_by_address(demo, client):
    grid = Area.objects.filter(level="grid").order_by("code").first()
    body = client.get("/api/search", {"q": grid.name[-4:]}).json()
    assert grid.id in {r["id"] for r in body["results"] if r["kind"] == "area"}
    building = Building.objects.exclude(address="").order_by("id").first()
    body = client.get("/api/search", {"q": building.address}).json()
    hits = [r for r in body["results"] if r["kind"] == "building"]
    assert building.id in {r["id"] for r in hits}
    assert all(building.address in r["address"] for r in hits)


def test_search_treats_like_wildcards_literally_and_limits(demo, client):
    assert client.get("/api/search", {"q": "%"}).json()["results"] == []
    assert client.get("/api/search", {"q": "_"}).json()["results"] == []
    body = client.get("/api/search", {"q": Area.objects.first().code[:2], "limit": 3}).json()
    assert len(body["results"]) == 3


def test_search_rejects_empty_or_bad_input_by_field(demo, client):
    response = client.get("/api/search", {"q": "  "})
    assert response.status_code == 400 and response.json()["field"] == "q"
    response = client.get("/api/search", {"q": "x" * 101})
    assert response.status_code == 400 and response.json()["field"] == "q"
    response = client.get("/api/search", {"q": "1", "limit": "500"})
    assert response.status_code == 400 and response.json()["field"] == "limit"


def test_map_page_offers_issue_and_people_layers_only_to_logged_in_staff(demo, client):
    anonymous = _config(client.get("/"))
    assert anonymous["user"] is None
    assert "issuesGeojson" not in anonymous["urls"] and "centers" not in anonymous["urls"]
    assert anonymous["urls"]["search"] == "/api/search"
    assert 'id="filters"' not in client.get("/").content.decode()

    client.login(username="community", password="linli-demo")
    response = client.get("/")
    staff = _config(response)
    assert staff["user"] == {"name": "community"}
    assert staff["urls"]["issuesGeojson"] == "/api/issues.geojson"
    assert staff["urls"]["issue"] == "/api/issues/"
    assert staff["urls"]["centers"] == "/api/people/centers"
    assert 'id="filters"' in response.content.decode()
    assert {"collected", "dispatched", "closed"} <= set(staff["labels"]["statuses"])
    # the home panel's area: the community's own, named
    community = Area.objects.get(code=staff["workAreas"][0]["code"])
    assert staff["workAreas"] == [
        {"code": community.code, "name": community.name, "level": "community"}
    ]
    assert anonymous["workAreas"] == []


def test_a_user_without_a_role_gets_the_public_map_and_is_told_why(demo, client, django_user_model):
    """Signed in without a role, every staff request would be refused: the page is the public map,
    with no issue filters or staff URLs, and says the account has no role yet."""
    django_user_model.objects.create_user("no-role-yet", password="pw-no-role-1")
    client.login(username="no-role-yet", password="pw-no-role-1")
    response = client.get("/")
    page = response.content.decode()
    config = _config(response)
    assert config["user"] is None and config["workAreas"] == []
    assert "issues" not in config["urls"] and "issueTiles" not in config
    assert 'id="filters"' not in page and 'id="no-role"' in page
    assert "您的账号尚未分配角色" in page
    assert config["labels"]["peopleLogin"] == "您的账号尚未分配角色，请联系管理员分配。"
