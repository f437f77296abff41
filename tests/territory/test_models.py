import threading
from datetime import timedelta

import psycopg2
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


def _insert_version(code, valid_from, valid_to):
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO territory_area (level, code, name, geom, valid_from, valid_to, version, ext_code,"
            " households, buildings, created_at) VALUES (%s, %s, 'x', %s, %s, %s, 1, '', 0, 0, now())"
            " RETURNING id",
            ["street", code, SQUARE, valid_from, valid_to],
        )
        return cur.fetchone()[0]


def test_database_rejects_a_closed_version_overlapping_another(db):
    t = timezone.now() - timedelta(days=100)
    _insert_version("340111995", t, t + timedelta(days=10))
    _insert_version("340111995", t + timedelta(days=10), None)  # adjacent periods: fine
    # overlapping the closed version (and starting before the current one)
    with pytest.raises(IntegrityError, match="area_code_versions_disjoint"), transaction.atomic():
        _insert_version("340111995", t + timedelta(days=5), t + timedelta(days=8))
    # a closed version reaching into the current one's period
    with pytest.raises(IntegrityError, match="area_code_versions_disjoint"), transaction.atomic():
        _insert_version("340111995", t + timedelta(days=20), t + timedelta(days=30))
    assert Area.objects.filter(code="340111995").count() == 2


def test_database_rejects_moving_a_version_into_another(db):
    t = timezone.now() - timedelta(days=100)
    _insert_version("340111994", t, t + timedelta(days=10))
    later = _insert_version("340111994", t + timedelta(days=10), None)
    with pytest.raises(IntegrityError, match="area_code_versions_disjoint"), transaction.atomic():
        Area.objects.filter(pk=later).update(valid_from=t + timedelta(days=9))
    assert Area.objects.get(pk=later).valid_from == t + timedelta(days=10)


def test_concurrent_overlapping_versions_cannot_both_commit(django_db_setup):
    """Two transactions that each add an overlapping closed version of one code: the second waits for
    the first (advisory lock in the trigger) and then sees its row, so only one commits."""
    settings = connection.settings_dict
    dsn = {
        "host": settings["HOST"],
        "port": settings["PORT"],
        "user": settings["USER"],
        "dbname": settings["NAME"],
    }
    sql = (
        "INSERT INTO territory_area (level, code, name, geom, valid_from, valid_to, version, ext_code,"
        " households, buildings, created_at)"
        " VALUES ('street', '340111990', 'x', %s, %s, %s, 1, '', 0, 0, now())"
    )
    first, second = psycopg2.connect(**dsn), psycopg2.connect(**dsn)
    outcome = {}
    try:
        for conn in (first, second):
            with conn.cursor() as cur:
                cur.execute("SET linli.audit = 'off'")  # leave the shared test database's log alone
            conn.commit()
        with first.cursor() as cur:
            cur.execute(sql, [SQUARE, "2024-01-01", "2024-06-01"])

        def add_second():
            try:
                with second.cursor() as cur:
                    cur.execute(sql, [SQUARE, "2024-05-01", "2024-07-01"])
                second.commit()
                outcome["second"] = "committed"
            except psycopg2.Error as exc:
                second.rollback()
                outcome["second"] = exc

        thread = threading.Thread(target=add_second)
        thread.start()
        thread.join(1.0)
        assert thread.is_alive()  # waiting for the first transaction
        first.commit()
        thread.join(10)
        assert isinstance(outcome["second"], psycopg2.errors.ExclusionViolation)
        assert "area_code_versions_disjoint" in str(outcome["second"])
    finally:
        first.rollback()
        with first.cursor() as cur:
            cur.execute("DELETE FROM territory_area WHERE code = '340111990'")
        first.commit()
        first.close()
        second.close()


def test_service_rejects_an_overlapping_past_version_as_conflict(db):
    t = timezone.now() - timedelta(days=100)
    _insert_version("340111993", t, t + timedelta(days=10))
    with pytest.raises(Conflict, match="340111993"):
        area_create(
            level="street",
            code="340111993",
            name="y",
            geom=GEOSGeometry(SQUARE),
            valid_from=t + timedelta(days=5),
        )
    assert Area.objects.filter(code="340111993").count() == 1


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
