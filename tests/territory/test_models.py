from datetime import timedelta

import pytest
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon, Polygon
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.common.errors import Conflict, DomainError
from apps.territory.codes import child_code, validate_code
from apps.territory.models import Area, AreaPart
from apps.territory.selectors import area_current, locate
from apps.territory.services import area_create, area_replace

SQUARE = (
    "SRID=4326;MULTIPOLYGON(((117.0 31.0, 117.01 31.0, 117.01 31.01, 117.0 31.01, 117.0 31.0)))"
)
BOWTIE = (
    "SRID=4326;MULTIPOLYGON(((117.0 31.0, 117.01 31.01, 117.01 31.0, 117.0 31.01, 117.0 31.0)))"
)


def _insert(code="340111999", geom=SQUARE, level="street"):
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO territory_area (level, code, name, geom, valid_from, version, ext_code, households,"
            " buildings, created_at) VALUES (%s, %s, 'x', %s, now(), 1, '', 0, 0, now())",
            [level, code, geom],
        )


# --- the database enforces geometry validity, SRID, type and code rules -------------------------------


def test_database_rejects_an_invalid_polygon(db):
    with pytest.raises(IntegrityError, match="area_geom_valid"), transaction.atomic():
        _insert(geom=BOWTIE)


def test_database_rejects_another_srid(db):
    with pytest.raises(Exception, match="SRID"), transaction.atomic():
        _insert(geom="SRID=3857;MULTIPOLYGON(((0 0, 10 0, 10 10, 0 10, 0 0)))")


def test_database_rejects_a_point_as_boundary(db):
    with pytest.raises(Exception, match="(?i)geometry type"), transaction.atomic():
        _insert(geom="SRID=4326;POINT(117 31)")


def test_database_rejects_a_malformed_code(db):
    with pytest.raises(IntegrityError, match="area_code_format"), transaction.atomic():
        _insert(code="34011199")  # 8 digits for a street


def test_database_rejects_two_current_versions_of_one_code(db):
    _insert(code="340111998")
    with pytest.raises(IntegrityError, match="area_code_versions_disjoint"), transaction.atomic():
        _insert(code="340111998")


def test_service_rejects_invalid_geometry_with_a_message(db):
    with pytest.raises(DomainError, match="invalid"):
        area_create(level="street", code="340111997", name="x", geom=GEOSGeometry(BOWTIE))


def test_service_rejects_a_duplicate_code_as_conflict(db):
    area_create(level="street", code="340111996", name="x", geom=GEOSGeometry(SQUARE))
    with pytest.raises(Conflict, match="340111996"):
        area_create(level="street", code="340111996", name="y", geom=GEOSGeometry(SQUARE))


def test_service_rejects_a_parent_of_the_wrong_level(demo):
    street = Area.objects.filter(level="street").first()
    with pytest.raises(DomainError, match="parent of a grid must be a community"):
        area_create(
            level="grid",
            code=street.code + "001001",
            name="x",
            geom=GEOSGeometry(SQUARE),
            parent=street,
        )


def test_service_rejects_a_code_that_does_not_extend_the_parent(demo):
    community = Area.objects.filter(level="community").first()
    with pytest.raises(DomainError, match="does not extend"):
        area_create(
            level="grid",
            code="999999999999001",
            name="x",
            geom=GEOSGeometry(SQUARE),
            parent=community,
        )


def test_subdivided_parts_follow_the_area(db):
    area = area_create(level="street", code="340111995", name="x", geom=GEOSGeometry(SQUARE))
    assert AreaPart.objects.filter(area=area).count() >= 1
    bigger = MultiPolygon(Polygon.from_bbox((117.0, 31.0, 117.02, 31.02)), srid=4326)
    Area.objects.filter(pk=area.pk).update(geom=bigger)
    parts = AreaPart.objects.filter(area=area)
    assert sum(p.geom.area for p in parts) == pytest.approx(bigger.area)


# --- codes ------------------------------------------------------------------------------------------------


def test_codes_follow_the_statistical_division_scheme():
    street = child_code("street", None, 1, county="340111")
    community = child_code("community", street, 2)
    grid = child_code("grid", community, 3)
    assert (street, community, grid) == ("340111001", "340111001002", "340111001002003")
    assert child_code("neighbourhood", grid, 4) == "340111001002003004"
    assert child_code("compound", community, 5) == "340111001002C005"
    validate_code("grid", grid, community)
    with pytest.raises(DomainError):
        validate_code("community", "34011100100", street)
    with pytest.raises(DomainError):
        child_code("grid", community, 1000)


def test_demo_codes_are_unique_per_level_and_extend_their_parent(demo):
    with connection.cursor() as cur:
        cur.execute(
            "SELECT level, code, count(*) FROM territory_area GROUP BY 1, 2 HAVING count(*) > 1"
        )
        assert cur.fetchall() == []
        cur.execute(
            "SELECT count(*) FROM territory_area c JOIN territory_area p ON p.id = c.parent_id"
            " WHERE left(c.code, length(p.code)) <> p.code"
        )
        assert cur.fetchone()[0] == 0


# --- versions -----------------------------------------------------------------------------------------------


def test_replaced_area_still_answers_for_old_records(demo):
    grid = Area.objects.filter(level="grid").order_by("code").first()
    building = grid.grid_buildings.order_by(
        "id"
    ).first()  # an "old record" pointing at the old version
    point = building.footprint.point_on_surface
    before = timezone.now()
    shrunk = grid.geom.buffer(-0.0001)
    new = area_replace(
        area=grid,
        geom=shrunk if shrunk.geom_type == "MultiPolygon" else MultiPolygon(shrunk, srid=4326),
    )

    grid.refresh_from_db()
    assert grid.valid_to is not None and not grid.is_current
    assert new.code == grid.code and new.version == grid.version + 1 and new.is_current
    # The old record still points at the old version, which still exists with its name and code.
    building.refresh_from_db()
    assert building.grid_id == grid.id and building.grid.code == grid.code
    # Asked as of before the redraw, locate answers the old version; now, the new one.
    assert locate(lon=point.x, lat=point.y, at=before)["grid"]["id"] == grid.id
    assert locate(lon=point.x, lat=point.y)["grid"]["id"] == new.id
    assert area_current(level="grid", code=grid.code).id == new.id
    assert area_current(level="grid", code=grid.code, at=before).id == grid.id


def test_replacing_a_stale_version_is_refused(demo):
    grid = Area.objects.filter(level="grid").order_by("code").first()
    stale = Area.objects.get(pk=grid.pk)
    area_replace(area=grid, name="新名字")
    with pytest.raises(Conflict, match="already replaced"):
        area_replace(area=stale, name="另一个名字", at=timezone.now() + timedelta(seconds=1))
