"""Hardening: rate limits on the public form and Open311 POST (shared by every worker: counted in the
database), coordinates and body sizes refused with a clear error, and user text escaped everywhere it
is shown."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.common.models import RateBucket
from apps.issues.models import ApiKey, Issue
from apps.territory.models import Area
from tests.issues.conftest import point_in

SCRIPT = "<script>alert('x')</script>"


@pytest.fixture
def here(demo):
    return point_in(Area.objects.filter(level="grid", valid_to=None).order_by("code").first())


def open311_post(client, key, here, ip="10.0.0.1"):
    return client.post(
        "/open311/v2/requests.json",
        {
            "api_key": key,
            "service_code": "property-repair",
            "lat": here.y,
            "long": here.x,
            "description": "路灯不亮",
        },
        REMOTE_ADDR=ip,
    )


def test_open311_post_is_limited_per_api_key(demo, here, settings):
    settings.LINLI_OPEN311_PER_KEY = 3
    settings.LINLI_OPEN311_PER_IP = 100
    key = ApiKey.objects.create(name="app", key="k-rate-1").key
    client = Client()
    before = Issue.objects.count()
    codes = [open311_post(client, key, here, ip=f"10.0.0.{n}").status_code for n in range(5)]
    assert codes == [201, 201, 201, 429, 429]
    assert Issue.objects.count() == before + 3  # refused requests store nothing
    body = json.loads(open311_post(client, key, here).content)
    assert body[0]["code"] == 429 and "api_key" in body[0]["description"]


def test_open311_post_is_limited_per_ip_across_keys(demo, here, settings):
    settings.LINLI_OPEN311_PER_KEY = 100
    settings.LINLI_OPEN311_PER_IP = 2
    k1 = ApiKey.objects.create(name="a", key="k-rate-a").key
    k2 = ApiKey.objects.create(name="b", key="k-rate-b").key
    client = Client()
    assert open311_post(client, k1, here).status_code == 201
    assert open311_post(client, k2, here).status_code == 201
    assert open311_post(client, k1, here).status_code == 429
    assert open311_post(client, k2, here, ip="10.9.9.9").status_code == 201  # another address
    # the counter is a database row, so every gunicorn worker shares it
    assert RateBucket.objects.get(key="open311:ip:10.0.0.1").hits == 3


def test_the_public_form_counts_in_the_shared_table(demo, here):
    client = Client()
    form = {"lon": here.x, "lat": here.y, "category": "assistance-elderly", "description": "x"}
    client.post("/report", form, REMOTE_ADDR="10.1.1.1")
    assert RateBucket.objects.get(key="issues:report:ip:10.1.1.1").hits == 1


@pytest.mark.parametrize(
    "lon,lat,field",
    [(117.2, 95, "lat"), (190, 31.8, "lon"), ("nan", 31.8, "lon"), (117.2, "1e400", "lat")],
)
def test_issue_points_out_of_range_are_refused(demo, lon, lat, field):
    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    before = Issue.objects.count()
    r = client.post(
        "/api/issues",
        {"lon": lon, "lat": lat, "category": "dispute", "description": "x"},
        content_type="application/json",
    )
    assert r.status_code == 400 and r.json()["field"] == field
    assert Issue.objects.count() == before


def test_a_body_over_the_upload_limit_is_refused(demo, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    r = client.post(
        "/api/issues",
        json.dumps({"description": "x" * 5000}),
        content_type="application/json",
    )
    assert r.status_code in (400, 413)


def test_geometry_limits_on_the_lasso_and_plans(demo):
    from apps.people.models import CenterHousehold

    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    center = CenterHousehold.objects.first()
    ring = [[117.0 + i * 1e-6, 31.0 + (i % 2) * 1e-6] for i in range(60_000)] + [[117.0, 31.0]]
    r = client.post(
        "/api/people/center-lasso",
        json.dumps(
            {
                "center_household": center.household_id,
                "polygon": {"type": "Polygon", "coordinates": [ring]},
            }
        ),
        content_type="application/json",
    )
    assert r.status_code == 400 and "个顶点" in r.json()["error"]
    r = client.post(
        "/api/planning/geometry/merge",
        json.dumps(
            {
                "polygons": [
                    {
                        "type": "Polygon",
                        "coordinates": [[[117, 31], [200, 31], [117, 32], [117, 31]]],
                    },
                    {
                        "type": "Polygon",
                        "coordinates": [[[117, 31], [118, 31], [117, 32], [117, 31]]],
                    },
                ]
            }
        ),
        content_type="application/json",
    )
    assert r.status_code == 400 and r.json()["field"] == "polygons[0]"


def test_script_in_every_text_input_is_shown_escaped(demo, here):
    client = Client()
    r = client.post(
        "/report",
        {
            "lon": here.x,
            "lat": here.y,
            "category": "assistance-elderly",
            "description": SCRIPT,
            "address": SCRIPT,
            "name": SCRIPT,
        },
        follow=True,
    )
    code = r.context["code"]
    issue = Issue.objects.get(tracking_code=code)
    assert issue.description == SCRIPT  # stored as typed, escaped when shown
    # the form shown again after an error echoes the input: escaped
    bad = client.post("/report", {"lon": "x", "lat": here.y, "description": SCRIPT})
    pages = {
        "report form (error)": bad.content.decode(),
        "track page": client.get(f"/track?code={code}").content.decode(),
    }
    staff = Client()
    staff.force_login(get_user_model().objects.get(username="admin"))
    month = issue.created_at.strftime("%Y-%m")
    pages["agenda"] = staff.get(f"/meetings/{issue.community.code}/{month}").content.decode()
    api = staff.get(f"/api/issues/{issue.id}")  # JSON is data: raw text, never sniffed as HTML
    assert api.json()["description"] == SCRIPT and api["Content-Type"] == "application/json"
    assert api["X-Content-Type-Options"] == "nosniff"
    pages["open311 xml"] = client.get(f"/open311/v2/requests/{code}.xml").content.decode()
    for name, html in pages.items():
        assert SCRIPT not in html, name
    for name in ("report form (error)", "track page", "agenda"):
        assert "&lt;script&gt;" in pages[name], name
    assert "&lt;script&gt;" in pages["open311 xml"]
