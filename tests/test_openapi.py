import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.urls import Resolver404, get_resolver, resolve

from apps.issues import open311
from apps.tiles.layers import LAYERS, MAX_ZOOM

ROOT = Path(__file__).resolve().parent.parent

OPEN311 = {
    "/open311/v2/services.{format}": {"get"},
    "/open311/v2/services/{service_code}.{format}": {"get"},
    "/open311/v2/requests.{format}": {"get", "post"},
    "/open311/v2/requests/{service_request_id}.{format}": {"get"},
    "/open311/v2/tokens/{token}.{format}": {"get"},
    "/open311/v2/servicerequestupdates.{format}": {"get"},
}
# a request's photo (its media_url): an image, not one of the spec's json/xml answers
OPEN311_MEDIA = {"/open311/v2/requests/{service_request_id}/media/{photo_id}": {"get"}}
TILES = {"/tiles/{layer}/{z}/{x}/{y}.mvt": {"get"}, "/tiles/layers.json": {"get"}}
# A value for each path parameter that the URL patterns accept.
SAMPLE = {"format": "json", "service_code": "x1", "service_request_id": "ABC", "token": "t-1"}
SAMPLE["photo_id"] = "7"
SAMPLE.update({"layer": next(iter(LAYERS)), "z": "3", "x": "2", "y": "1"})


@pytest.fixture(scope="module")
def schema():
    out = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--format", "openapi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return yaml.safe_load(out.stdout)


def test_openapi_schema_is_valid_and_covers_every_api(schema):
    paths = set(schema["paths"])
    for expected in ["/api/locate", "/api/areas.geojson", "/api/issues", "/api/planning/plans"]:
        assert expected in paths, sorted(paths)
    for expected, methods in {**OPEN311, **OPEN311_MEDIA, **TILES}.items():
        assert expected in paths, sorted(paths)
        assert set(schema["paths"][expected]) == methods, expected


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], path)


def _plain_patterns(resolver=None, prefix=""):
    """(route text, view) of every URL pattern under open311/ or tiles/."""
    for p in (resolver or get_resolver()).url_patterns:
        if hasattr(p, "url_patterns"):
            yield from _plain_patterns(p, prefix + str(p.pattern))
        else:
            route = (prefix + str(p.pattern)).lstrip("^")
            if route.startswith(("open311/", "tiles/")):
                yield route, p.callback


def test_every_open311_and_tile_url_is_in_the_schema_and_resolves(schema):
    """Both ways: each schema path (parameters filled in) reaches an Open311 or tile view, and each of
    those views' URL patterns is reached by a schema path, so a new endpoint cannot be left out."""
    reached = set()
    for path in (p for p in schema["paths"] if p.startswith(("/open311/", "/tiles/"))):
        try:
            match = resolve(_fill(path))
        except Resolver404:
            pytest.fail(f"{path} (as {_fill(path)}) matches no URL pattern")
        assert match.func.__module__ in ("apps.issues.open311", "apps.tiles.views"), path
        reached.add(match.func)
        declared = {p["name"] for p in _params(schema, path, next(iter(schema["paths"][path])))}
        templated = set(re.findall(r"\{(\w+)\}", path))
        assert templated <= declared, (path, templated - declared)
    views = {view for _, view in _plain_patterns()}
    assert len(views) == len(OPEN311) + len(OPEN311_MEDIA) + len(TILES)
    missing = [route for route, view in _plain_patterns() if view not in reached]
    assert not missing, missing


def _params(schema, path, method):
    return schema["paths"][path][method].get("parameters", [])


def _resolve_ref(schema, obj):
    if "$ref" in obj:
        name = obj["$ref"].rsplit("/", 1)[-1]
        return schema["components"]["schemas"][name]
    return obj


def test_open311_operations_have_formats_parameters_and_status_codes(schema):
    for path, methods in OPEN311.items():
        for method in methods:
            op = schema["paths"][path][method]
            fmt = [p for p in op["parameters"] if p["name"] == "format"]
            assert fmt and fmt[0]["in"] == "path" and fmt[0]["schema"]["enum"] == ["json", "xml"]
            ok = op["responses"]["201" if method == "post" else "200"]
            assert set(ok["content"]) == {"application/json", "text/xml"}, path
    get = {p["name"]: p for p in _params(schema, "/open311/v2/requests.{format}", "get")}
    for name in [
        "service_request_id",
        "service_code",
        "start_date",
        "end_date",
        "status",
        "page",
        "page_size",
    ]:
        assert name in get and get[name]["in"] == "query", name
    assert get["page_size"]["schema"]["maximum"] == open311.DEFAULT_LIMIT
    post = schema["paths"]["/open311/v2/requests.{format}"]["post"]
    assert set(post["responses"]) == {"201", "400", "403", "429"}
    body = post["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    fields = set(body["properties"])
    for name in [
        "api_key",
        "service_code",
        "lat",
        "long",
        "address_string",
        "attribute[priority]",
        "description",
        "first_name",
        "last_name",
        "phone",
        "email",
        "media_url",
    ]:
        assert name in fields, name
    assert set(body["required"]) == {"api_key", "service_code", "description"}
    assert body["anyOf"] == [{"required": ["lat", "long"]}, {"required": ["address_string"]}]
    for path in [
        "/open311/v2/services/{service_code}.{format}",
        "/open311/v2/requests/{service_request_id}.{format}",
        "/open311/v2/tokens/{token}.{format}",
    ]:
        assert "404" in schema["paths"][path]["get"]["responses"], path
    assert (
        "400" in schema["paths"]["/open311/v2/servicerequestupdates.{format}"]["get"]["responses"]
    )


def test_open311_response_fields_are_the_servers_field_lists(schema):
    """The documented fields are the lists the views render (apps.issues.open311), in order."""
    components = schema["components"]["schemas"]
    for name, fields in [
        ("Open311Service", open311.SERVICE_FIELDS),
        ("Open311Attribute", open311.ATTRIBUTE_FIELDS + ["values"]),
        ("Open311ServiceRequest", open311.REQUEST_FIELDS + ["extended_attributes"]),
        ("Open311PostResponse", open311.POST_RESPONSE_FIELDS),
        ("Open311Token", open311.TOKEN_FIELDS),
        ("Open311Update", open311.UPDATE_FIELDS),
    ]:
        assert list(components[name]["properties"]) == fields, name
    ok = schema["paths"]["/open311/v2/requests.{format}"]["get"]["responses"]["200"]
    items = ok["content"]["text/xml"]["schema"]
    assert items["xml"] == {"name": "service_requests", "wrapped": True}
    assert _resolve_ref(schema, items["items"])["xml"]["name"] == "request"


def test_tile_parameters_come_from_the_layer_registry(schema):
    params = {p["name"]: p for p in _params(schema, "/tiles/{layer}/{z}/{x}/{y}.mvt", "get")}
    assert params["layer"]["schema"]["enum"] == list(LAYERS)
    assert params["z"]["schema"] == {"type": "integer", "minimum": 0, "maximum": MAX_ZOOM}
    for name in ("x", "y"):
        assert params[name]["in"] == "path" and params[name]["schema"]["type"] == "integer"
    filters = {f.name for layer in LAYERS.values() for f in layer.filters} - {"scope"}
    query = {n for n, p in params.items() if p["in"] == "query"}
    assert query == filters
    assert "scope" not in params  # set from the login, never a parameter
    responses = schema["paths"]["/tiles/{layer}/{z}/{x}/{y}.mvt"]["get"]["responses"]
    assert {"200", "304", "400", "401", "403", "404"} <= set(responses)
    assert "application/vnd.mapbox-vector-tile" in responses["200"]["content"]


@pytest.mark.parametrize(
    "path, media",
    [
        ("/api/analytics/gaps.csv", "text/csv"),
        ("/api/analytics/hotspots/h3.csv", "text/csv"),
        ("/api/analytics/hotspots/grids.csv", "text/csv"),
        (
            "/api/analytics/indicators.xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        ("/api/analytics/indicators.pdf", "application/pdf"),
    ],
)
def test_exports_declare_their_media_type(schema, path, media):
    content = schema["paths"][path]["get"]["responses"]["200"]["content"]
    assert set(content) == {media}
    assert content[media]["schema"] == {"type": "string", "format": "binary"}


def test_the_served_schema_has_them(client):
    r = client.get("/api/schema/?format=json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for expected in [*OPEN311, *TILES]:
        assert expected in paths
