"""What `make fuzz` found once Open311 and the vector tiles were in the OpenAPI schema (apps/common/
openapi.py), kept as tests: each answered 500 before.

- a date-time whose UTC offset PostgreSQL cannot hold (Python accepts up to ±23:59, PostgreSQL ±15:59),
  e.g. end_date=0236-10-10T05:47:05.538+21:42, reached the database (Open311 GET requests and
  servicerequestupdates; the staff API and analytics parse dates the same way). Dates are now the same
  instant in local time, so any offset works;
- the tiles' `until=9999-12-31` (an end day means the next midnight) overflowed Python's date;
- an `offset` beyond PostgreSQL's bigint (36893488147419103233) reached the residents query's OFFSET;
- an Open311 POST media_url longer than its column (500) reached the INSERT."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.issues.models import Issue
from apps.tiles.layers import LAYERS

pytestmark = pytest.mark.django_db

KEY = "demo-open311-key"  # made by the demo district (apps/issues/demo.py)
LAT, LON = "31.86", "117.28"
FUZZ_END_DATE = "0236-10-10T05:47:05.538+21:42"  # the case schemathesis found


def _error(response) -> str:
    """The description of an Open311 JSON error list."""
    body = response.json()
    assert isinstance(body, list) and body[0]["code"] == response.status_code, body
    return body[0]["description"]


@pytest.fixture
def staff(demo):
    c = Client()
    c.force_login(get_user_model().objects.get(username="admin"))
    return c


@pytest.fixture
def pivot(demo):
    """The median intake time of the demo issues, so a filter at it has issues on both sides."""
    times = sorted(Issue.objects.values_list("created_at", flat=True))
    assert len(times) >= 10
    return times[len(times) // 2]


def _at(when, hours: int, minutes: int) -> str:
    sign = -1 if hours < 0 else 1
    return when.astimezone(
        dt.timezone(sign * dt.timedelta(hours=abs(hours), minutes=minutes))
    ).isoformat()


@pytest.mark.parametrize("path", ["requests", "servicerequestupdates"])
def test_open311_the_fuzzers_date_is_answered(client, demo, path):
    for fmt in ("json", "xml"):
        r = client.get(f"/open311/v2/{path}.{fmt}", {"end_date": FUZZ_END_DATE})
        assert r.status_code == 200, r.content
    assert client.get(f"/open311/v2/{path}.json", {"end_date": FUZZ_END_DATE}).json() == []


@pytest.mark.parametrize("hours, minutes", [(21, 42), (-16, 30), (14, 0)])
def test_open311_any_utc_offset_means_the_same_instant(client, pivot, hours, minutes):
    r = client.get("/open311/v2/requests.json", {"start_date": _at(pivot, hours, minutes)})
    assert r.status_code == 200, r.content
    expected = Issue.objects.filter(created_at__gte=pivot).count()
    assert 0 < expected < Issue.objects.count()
    assert len(r.json()) == expected


def test_open311_a_date_before_year_1_in_local_time_is_a_400(client, demo):
    r = client.get("/open311/v2/requests.json", {"start_date": "0001-01-01T00:00:00+05:00"})
    assert r.status_code == 400, r.content
    assert "start_date" in _error(r)


def test_staff_api_takes_any_utc_offset(staff, pivot):
    r = staff.get("/api/issues", {"start": _at(pivot, 21, 42), "page_size": 1})
    assert r.status_code == 200, r.content
    assert r.json()["count"] == Issue.objects.filter(created_at__gte=pivot).count()
    r = staff.get("/api/analytics/hotspots/h3.geojson", {"start": _at(pivot, -16, 30)})
    assert r.status_code == 200, r.content


def test_open311_media_url_longer_than_its_column_is_a_400_and_stores_nothing(client, demo):
    before = Issue.objects.count()
    r = client.post(
        "/open311/v2/requests.json",
        {
            "api_key": KEY,
            "service_code": "property-repair",
            "lat": LAT,
            "long": LON,
            "description": "a leaking pipe",
            "media_url": "https://example.com/" + "x" * 600,
        },
    )
    assert r.status_code == 400, r.content
    assert "media_url" in _error(r)
    assert Issue.objects.count() == before
    # at the limit it is taken
    url = "https://example.com/" + "x" * (500 - len("https://example.com/"))
    r = client.post(
        "/open311/v2/requests.json",
        {
            "api_key": KEY,
            "service_code": "property-repair",
            "lat": LAT,
            "long": LON,
            "description": "a leaking pipe",
            "media_url": url,
        },
    )
    assert r.status_code == 201, r.content
    assert Issue.objects.get(tracking_code=r.json()[0]["service_request_id"]).media_url == url


@pytest.mark.parametrize("who", ["anonymous", "staff"])
def test_tile_until_at_the_calendar_edge_is_a_400_naming_it(client, staff, who):
    assert "until" in {f.name for f in LAYERS["issues"].filters}
    c = staff if who == "staff" else client
    r = c.get("/tiles/issues/14/13720/6700.mvt", {"until": "9999-12-31"})
    assert r.status_code == 400, r.content
    assert r.json()["field"] == "until"
    # the day before the edge is a valid (empty) filter for staff
    r = c.get("/tiles/issues/14/13720/6700.mvt", {"until": "9999-12-30"})
    assert r.status_code == (200 if who == "staff" else 401), r.content


def test_people_offset_beyond_bigint_is_a_400(staff):
    grid = staff.get("/api/search", {"q": "340111001001001"}).json()["results"][0]
    r = staff.get("/api/people/residents", {"grid": grid["id"], "offset": "36893488147419103233"})
    assert r.status_code == 400, r.content
    assert r.json()["field"] == "offset"
    r = staff.get("/api/people/residents", {"grid": grid["id"], "offset": str(2**63 - 1)})
    assert r.status_code == 200, r.content
    assert r.json()["results"] == []
