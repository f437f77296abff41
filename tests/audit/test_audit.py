import pytest
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import GEOSGeometry
from django.db import DatabaseError, connection, transaction

from apps.audit.context import audit_actor
from apps.audit.models import AuditEntry
from apps.people.models import StaffAssignment
from apps.territory.models import Area
from apps.territory.services import area_create, area_replace

SQUARE = (
    "SRID=4326;MULTIPOLYGON(((117.0 31.0, 117.01 31.0, 117.01 31.01, 117.0 31.01, 117.0 31.0)))"
)


def test_generated_demo_data_is_not_audited(demo):
    assert not AuditEntry.objects.filter(table_name="territory_area").exists()


def test_service_writes_are_logged_with_actor_before_and_after(db):
    with audit_actor("cmd:test by tester"):
        area = area_create(
            level="street", code="340111990", name="审计街道", geom=GEOSGeometry(SQUARE)
        )
        area_replace(area=area, name="审计街道（新）")
    entries = list(AuditEntry.objects.filter(table_name="territory_area").order_by("id"))
    ops = [(e.op, e.row_pk) for e in entries]
    assert ("INSERT", str(area.id)) in ops
    update = next(e for e in entries if e.op == "UPDATE" and e.row_pk == str(area.id))
    assert update.before["valid_to"] is None and update.after["valid_to"] is not None
    assert update.actor == "cmd:test by tester"
    new_version = next(e for e in entries if e.op == "INSERT" and e.row_pk != str(area.id))
    assert new_version.after["name"] == "审计街道（新）" and new_version.after["version"] == 2


def test_writes_without_an_actor_are_attributed_to_the_system(db):
    area_create(level="street", code="340111991", name="x", geom=GEOSGeometry(SQUARE))
    entry = AuditEntry.objects.get(table_name="territory_area", op="INSERT")
    assert entry.actor.startswith("system:")


def test_the_log_is_append_only(db):
    area_create(level="street", code="340111992", name="x", geom=GEOSGeometry(SQUARE))
    for sql in ["UPDATE audit_auditentry SET actor = 'me'", "DELETE FROM audit_auditentry"]:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cur:
                cur.execute(sql)
    assert AuditEntry.objects.filter(actor="me").count() == 0


def test_a_web_request_is_attributed_to_its_user(demo, client):
    admin = get_user_model().objects.create_superuser("auditor-test", password="pw-for-test-123")
    client.force_login(admin)
    staff = StaffAssignment.objects.filter(role="grid_leader").first()
    response = client.post(
        f"/admin/people/staffassignment/{staff.id}/change/",
        {
            "name": "新网格长",
            "phone": staff.phone,
            "role": staff.role,
            "area": staff.area_id,
            "active": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    entry = AuditEntry.objects.get(
        table_name="people_staffassignment", op="UPDATE", row_pk=str(staff.id)
    )
    assert entry.actor == f"user:{admin.id}:auditor-test"
    assert entry.before["name"] == staff.name and entry.after["name"] == "新网格长"


def test_deletes_keep_the_row_as_it_was(db):
    area = area_create(level="street", code="340111993", name="将删除", geom=GEOSGeometry(SQUARE))
    Area.objects.filter(pk=area.pk).delete()
    entry = AuditEntry.objects.get(table_name="territory_area", op="DELETE")
    assert entry.before["name"] == "将删除" and entry.after is None


def test_big_audit_rows_are_compressed_with_lz4_and_read_back_whole(db):
    """A row whose JSON is too big to store inline (a boundary of 400 vertices) is compressed with lz4
    (migration audit 0003: cheaper to write than pglz); it reads back as it was written."""
    ring = [(117.0 + 0.0001 * k, 31.0 + 0.00001 * (k % 7)) for k in range(400)]
    ring += [(117.04, 31.01), (117.0, 31.01), ring[0]]
    wkt = "SRID=4326;MULTIPOLYGON(((" + ", ".join(f"{x} {y}" for x, y in ring) + ")))"
    area = area_create(level="street", code="340111995", name="大边界", geom=GEOSGeometry(wkt))
    entry = AuditEntry.objects.get(table_name="territory_area", op="INSERT", row_pk=str(area.id))
    with connection.cursor() as cur:
        cur.execute(
            "SELECT pg_column_compression(after) FROM audit_auditentry WHERE id = %s", [entry.id]
        )
        assert cur.fetchone()[0] == "lz4"
    assert entry.after["name"] == "大边界"
    assert len(entry.after["geom"]["coordinates"][0][0]) == len(ring)
