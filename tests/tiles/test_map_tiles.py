"""The map switches big layers to vector tiles: the page config (server side) and the drawn map
(headless Chromium)."""

import json
import re

import pytest
from django.test import override_settings

from apps.common.demo import seed_all
from apps.territory.models import Area, Building
from tests.browser import browser_page


def map_config(client, url="/"):
    html = client.get(url).content.decode()
    found = re.search(r'<script id="map-config" type="application/json">(.*?)</script>', html, re.S)
    return {layer["key"]: layer for layer in json.loads(found.group(1))["layers"]}


def test_small_layers_stay_geojson_and_big_ones_become_tiles(client, demo):
    layers = map_config(client)
    assert all(layer["tiles"] is None for layer in layers.values())
    with override_settings(LINLI_GEOJSON_MAX_FEATURES=10):
        layers = map_config(client)
    assert layers["buildings"]["tiles"] == {
        "url": "/tiles/buildings/{z}/{x}/{y}.mvt",
        "layer": "buildings",
        "minZoom": 14,
        "count": demo["buildings"],
    }
    assert layers["neighbourhood"]["tiles"]["count"] == demo["neighbourhoods"]
    assert layers["grid"]["tiles"] is None  # grids are few: still GeoJSON
    assert map_config(client, "/?tiles=1")["buildings"]["tiles"]["layer"] == "buildings"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_map_draws_buildings_from_vector_tiles(live_server, artifacts):
    if not Area.objects.exists():
        seed_all(seed=7, scale=0.2)
    n_buildings = Building.objects.count()
    with browser_page() as (page, errors):
        tile_responses = []
        page.on(
            "response",
            lambda r: tile_responses.append((r.url, r.status)) if "/tiles/" in r.url else None,
        )
        page.goto(live_server.url + "/?tiles=1")
        page.wait_for_selector("body[data-map-ready='ready']", timeout=20_000)
        labels = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
        assert f"楼栋 ({n_buildings})" in " ".join(labels)
        page.wait_for_function(
            "document.querySelectorAll('.leaflet-linliTiles-pane canvas').length > 0"
        )
        page.wait_for_timeout(1500)  # let the tiles paint
        building_tiles = [(u, s) for u, s in tile_responses if "/tiles/buildings/" in u]
        assert building_tiles and all(s == 200 for _u, s in building_tiles)
        # the canvas has building pixels: some non-transparent pixels in the tile pane
        painted = page.evaluate(
            """() => [...document.querySelectorAll('.leaflet-linliTiles-pane canvas')].reduce((n, c) => {
                   const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                   for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
                   return n; }, 0)"""
        )
        assert painted > 1000
        page.screenshot(path=str(artifacts / "map-tiles.png"))
        # a click on a building still shows its chain (locate), with the building in it
        box = page.locator("#map").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_selector("#panel .chain li")
        assert errors == []
