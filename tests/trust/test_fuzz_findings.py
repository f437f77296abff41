"""What `make fuzz` (schemathesis) found, kept as tests: each answered 500 before.

- a JSON body that is not an object (a list, a number, true, null) reached `request.data.get`;
- a NUL character in a query string or a body reached PostgreSQL, which refuses it in text;
- a negative `offset` reached a queryset slice."""

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(db):
    client = APIClient()
    client.force_authenticate(
        get_user_model().objects.create_user("fuzz-admin", is_staff=True, is_superuser=True)
    )
    return client


@pytest.mark.parametrize("body", ["[null, null]", "3.5", "true", "null", '"text"'])
@pytest.mark.parametrize(
    "url",
    [
        "/api/issues",
        "/api/planning/plans",
        "/api/planning/geometry/split",
        "/api/people/centers",
        "/api/people/center-lasso",
        "/api/patrols",
    ],
)
def test_a_body_that_is_not_an_object_is_a_400(admin_client, url, body):
    r = admin_client.generic("POST", url, body, content_type="application/json")
    assert r.status_code == 400, r.content
    assert "必须是带命名字段的 JSON 对象" in r.json()["error"]  # (Chinese by default)


def test_nul_characters_are_a_400_that_says_so(admin_client, demo):
    for r in (
        admin_client.get("/api/search?q=%00abc"),
        admin_client.get("/api/analytics/hotspots/grids.geojson?category=a%00b"),
        admin_client.post(
            "/api/issues",
            '{"description": "a\\u0000b", "lon": 117.28, "lat": 31.86, "category": "dispute"}',
            content_type="application/json",
        ),
        admin_client.post(
            "/open311/v2/requests.json",
            "description=a%00b&lat=31.86&long=117.28",
            content_type="application/x-www-form-urlencoded",
        ),
    ):
        assert r.status_code == 400, r.content
        assert "NUL" in r.json()["error"]


def test_a_negative_offset_is_a_400(admin_client, demo):
    grid = admin_client.get("/api/search?q=340111001001001").json()["results"][0]
    r = admin_client.get(f"/api/people/residents?grid={grid['id']}&offset=-5")
    assert r.status_code == 400 and r.json()["field"] == "offset"


def test_http_basic_auth_is_not_a_way_around_the_login_lockout(db, client):
    """DRF's default BasicAuthentication would take a password on every API call, with no lockout
    (and a NUL in the user name reached the database). Only the session from the login page counts."""
    import base64

    get_user_model().objects.create_user(
        "basic-user", password="right-password-1", is_superuser=True
    )
    token = base64.b64encode(b"basic-user:right-password-1").decode()
    r = client.get("/api/issues", HTTP_AUTHORIZATION=f"Basic {token}")
    assert r.status_code == 403
    token = base64.b64encode(b"a\x00b:pw").decode()
    assert client.get("/api/issues", HTTP_AUTHORIZATION=f"Basic {token}").status_code == 403
