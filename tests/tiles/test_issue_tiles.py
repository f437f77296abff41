"""The issues tile layer: points with status and category from zoom 14, counts per screen cell below,
filters, and cache invalidation when an issue arrives."""

import pytest
from django.db import connection

from apps.issues.models import Issue
from apps.people.models import StaffAssignment
from tests.tiles.test_tiles import (
    _clear_tile_cache,
    decode,
    demo_centre,
    get_tile,
    in_tile,
    tile_of,
)

__all__ = ["_clear_tile_cache"]  # the autouse fixture that empties the tile cache around each test


@pytest.fixture
def client(demo):
    """The issues layer is staff data: these tests look as the demo's city administrator."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    c = Client()
    c.force_login(get_user_model().objects.get(username="admin"))
    return c


def test_the_layer_is_staff_only_and_narrowed_to_the_scope(demo):
    from django.contrib.auth import get_user_model
    from django.test import Client

    lon, lat = demo_centre()
    z, x, y = tile_of(lon, lat, 14)
    assert Client().get(f"/tiles/issues/{z}/{x}/{y}.mvt").status_code == 401
    grid_user = get_user_model().objects.get(username="grid")
    grid = StaffAssignment.objects.get(user=grid_user).area
    leader = Client()
    leader.force_login(grid_user)
    response = get_tile(leader, "issues", z, x, y)
    assert response["Cache-Control"].startswith("private")
    features = decode(response, "issues")
    expected = in_tile(
        "issues_issue.point", f"issues_issue.area_code LIKE '{grid.code}%%'", z, x, y
    )
    everything = in_tile("issues_issue.point", "true", z, x, y)
    assert {f["id"] for f in features} == expected and expected < everything
    forged = leader.get(f"/tiles/issues/{z}/{x}/{y}.mvt?scope=%7B%7D")
    assert forged.status_code == 400 and forged.json()["field"] == "scope"


def test_points_from_zoom_14_match_the_database(demo, client):
    lon, lat = demo_centre()
    z, x, y = tile_of(lon, lat, 14)
    features = decode(get_tile(client, "issues", z, x, y), "issues")
    expected = in_tile("issues_issue.point", "true", z, x, y)
    assert expected, "the demo has issues in this tile"
    assert {f["id"] for f in features} == expected
    props = features[0]["properties"]
    assert set(props) == {"status", "category", "overdue"}  # details only from 16
    sample = Issue.objects.select_related("category").get(pk=features[0]["id"])
    assert props["status"] == sample.status and props["category"] == sample.category.code
    assert props["overdue"] == sample.overdue


def test_below_zoom_14_issues_are_counted_per_cell(demo, client):
    lon, lat = demo_centre()
    z, x, y = tile_of(lon, lat, 11)
    cells = decode(get_tile(client, "issues", z, x, y), "issues")
    total = len(in_tile("issues_issue.point", "true", z, x, y))
    assert 0 < len(cells) < total
    assert sum(c["properties"]["count"] for c in cells) == total
    open_in_db = Issue.objects.filter(
        status__in=["collected", "consulted", "dispatched", "accepted", "returned"]
    ).count()
    assert sum(c["properties"]["open"] for c in cells) == open_in_db
    assert all(c["geometry"]["type"] == "Point" for c in cells)


def test_filters_by_status_category_period_and_area(demo, client):
    lon, lat = demo_centre()
    z, x, y = tile_of(lon, lat, 11)
    closed = decode(get_tile(client, "issues", z, x, y, status="closed"), "issues")
    assert (
        sum(c["properties"]["count"] for c in closed)
        == Issue.objects.filter(status="closed").count()
    )
    with connection.cursor() as cur:
        cur.execute(
            "SELECT code FROM issues_category WHERE parent_id IS NULL ORDER BY code LIMIT 1"
        )
        category = cur.fetchone()[0]
    by_cat = decode(get_tile(client, "issues", z, x, y, category=category), "issues")
    expected = (
        Issue.objects.filter(category__code=category).count()
        + Issue.objects.filter(category__parent__code=category).count()
    )
    assert sum(c["properties"]["count"] for c in by_cat) == expected
    from django.utils import timezone

    first = timezone.localtime(Issue.objects.order_by("created_at").first().created_at).date()
    one_day = decode(get_tile(client, "issues", z, x, y, since=first, until=first), "issues")
    assert (
        sum(c["properties"]["count"] for c in one_day)
        == Issue.objects.filter(created_at__date=first).count()
    )


def test_bad_filters_name_the_parameter(demo, client):
    for params, field in [
        ({"status": "done"}, "status"),
        ({"since": "2026-13-01"}, "since"),
        ({"category": "x'; drop"}, "category"),
        ({"colour": "red"}, "colour"),
    ]:
        response = get_tile(client, "issues", 14, 13720, 6700, **params)
        assert response.status_code == 400 and response.json()["field"] == field


def test_a_new_issue_changes_the_etag(demo, client, monkeypatch):
    from apps.issues import services
    from apps.tiles import selectors

    # The issues layer's ETag also turns every minute (overdue changes with time); hold the clock so
    # the 304 below cannot straddle a minute boundary.
    monkeypatch.setattr(selectors, "clock", lambda: 1_800_000_000.0)

    lon, lat = demo_centre()
    z, x, y = tile_of(lon, lat, 14)
    first = get_tile(client, "issues", z, x, y)
    url = f"/tiles/issues/{z}/{x}/{y}.mvt"
    assert client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    from django.contrib.gis.geos import Point

    services.issue_create(
        point=Point(lon, lat, srid=4326), category="dispute", description="新问题", source="patrol"
    )
    again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 200 and again["ETag"] != first["ETag"]
