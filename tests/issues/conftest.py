"""Helpers for the issues tests: points in the demo district with known routing."""

import pytest
from django.contrib.gis.geos import Point
from django.db import connection

from apps.territory.models import Area


def point_in(area: Area, *, avoid: str | None = None) -> Point:
    """A point inside an area (its point on surface), optionally outside every area of one level."""
    with connection.cursor() as cur:
        if avoid is None:
            cur.execute(
                "SELECT ST_X(g), ST_Y(g) FROM (SELECT ST_PointOnSurface(geom) g FROM territory_area WHERE id = %s) t",
                [area.id],
            )
        else:
            # A point of the area that no current area of level `avoid` covers.
            cur.execute(
                """
                SELECT ST_X(g), ST_Y(g) FROM (
                  SELECT ST_PointOnSurface(ST_Difference(a.geom, COALESCE(
                      (SELECT ST_Union(o.geom) FROM territory_area o
                        WHERE o.level = %s AND o.valid_to IS NULL AND ST_Intersects(o.geom, a.geom)),
                      'GEOMETRYCOLLECTION EMPTY'::geometry))) g
                    FROM territory_area a WHERE a.id = %s) t
                """,
                [avoid, area.id],
            )
        x, y = cur.fetchone()
    return Point(x, y, srid=4326)


@pytest.fixture
def managed_compound(demo):
    return (
        Area.objects.filter(level="compound", property_service__isnull=False, valid_to=None)
        .order_by("code")
        .first()
    )


@pytest.fixture
def unmanaged_compound(demo):
    return (
        Area.objects.filter(level="compound", property_service__isnull=True, valid_to=None)
        .order_by("code")
        .first()
    )


@pytest.fixture
def a_grid(demo):
    return Area.objects.filter(level="grid", valid_to=None).order_by("code").first()


@pytest.fixture
def staff_user(db, django_user_model):
    """May do everything (a superuser); role-scoped users are made in test_permissions.py."""
    return django_user_model.objects.create_user(
        "staff-test", password="pw", is_staff=True, is_superuser=True
    )


def ensure_seeded():
    """For transaction=True tests: the flush after an earlier one empties every table (categories too)."""
    from apps.common.demo import seed_all
    from apps.issues.services import categories_load

    categories_load()
    if not Area.objects.exists():
        seed_all(seed=7, scale=0.2)
