import json

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


def test_a_login_is_attributed_to_the_user_who_logged_in(demo, client):
    """The login request's actor is set before anyone is logged in; its write (last_login) used to
    read 'anonymous'. Outside a request the actor in force is kept."""
    user = get_user_model().objects.create_user("login-test", password="pw-for-test-123")
    response = client.post(
        "/accounts/login/", {"username": "login-test", "password": "pw-for-test-123"}
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.filter(
        table_name="auth_user", op="UPDATE", row_pk=str(user.id)
    ).latest("id")
    assert entry.actor == f"user:{user.id}:login-test"
    assert entry.before["last_login"] is None and entry.after["last_login"] is not None
    with audit_actor("cmd:test"):
        client.force_login(user)
        StaffAssignment.objects.filter(id=StaffAssignment.objects.first().id).update(name="x")
    assert AuditEntry.objects.filter(table_name="people_staffassignment").latest("id").actor == (
        "cmd:test"
    )


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


def _trigger_functions(table: str) -> dict[str, str]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT t.tgname, p.proname FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid"
            " WHERE t.tgrelid = %s::regclass AND t.tgname LIKE 'linli\\_audit\\_%%'",
            [table],
        )
        return dict(cur.fetchall())


def _per_table(table: str) -> dict[str, str]:
    return {
        f"linli_audit_{op[:3]}": f"linli_audit_t_{table}_{op}"
        for op in ("insert", "update", "delete")
    }


def _generic() -> dict[str, str]:
    return {f"linli_audit_{op[:3]}": f"linli_audit_{op}" for op in ("insert", "update", "delete")}


def _geometric_tables() -> dict[str, list]:
    from apps.audit.triggers import audited_tables, table_columns

    with connection.cursor() as cur:
        columns = table_columns(cur, audited_tables())
    return {t: cols for t, cols in columns.items() if any(g for _c, g in cols)}


def test_tables_with_geometries_build_each_row_as_to_jsonb_would(demo):
    """The per-table expression of every audited table with a geometry column (territory, issues,
    patrols, planning, analytics) gives exactly to_jsonb(row) on the demo's rows."""
    from apps.audit.triggers import row_jsonb

    tables = _geometric_tables()
    assert {"territory_area", "territory_building", "issues_issue"} <= set(tables)
    rows_seen = {}
    for table, columns in tables.items():
        assert _trigger_functions(table) == _per_table(table), table
        with connection.cursor() as cur:
            cur.execute(
                f"SELECT count(*), count(*) FILTER (WHERE {row_jsonb(columns)} = to_jsonb(x))"  # noqa: S608
                f" FROM {table} x"
            )
            n, equal = cur.fetchone()
        assert n == equal, table
        rows_seen[table] = n
    assert all(rows_seen[t] for t in ("territory_area", "territory_building", "issues_issue"))


def test_entries_of_tables_with_geometries_are_the_rows_as_to_jsonb(db):
    """INSERT, UPDATE and DELETE entries written by the per-table expressions: before and after are
    to_jsonb of the row as it was and as it became, except that an UPDATE leaves out a geometry it
    did not change; an UPDATE that changes nothing logs nothing."""
    area = area_create(level="street", code="340111996", name="快速审计", geom=GEOSGeometry(SQUARE))
    moved = SQUARE.replace("117.01 31.01", "117.02 31.02")

    def row():
        cur.execute("SELECT to_jsonb(a) FROM territory_area a WHERE id = %s", [area.id])
        return json.loads(cur.fetchone()[0])

    with connection.cursor() as cur:
        inserted = row()
        cur.execute("UPDATE territory_area SET name = '快速审计2' WHERE id = %s", [area.id])
        renamed = row()
        cur.execute("UPDATE territory_area SET name = name WHERE id = %s", [area.id])
        cur.execute("UPDATE territory_area SET geom = %s WHERE id = %s", [moved, area.id])
        redrawn = row()
        cur.execute("DELETE FROM territory_areapart WHERE area_id = %s", [area.id])
        cur.execute("DELETE FROM territory_area WHERE id = %s", [area.id])
    entries = AuditEntry.objects.filter(table_name="territory_area", row_pk=str(area.id))
    insert, rename, redraw, delete = entries.order_by("id")
    assert (insert.op, insert.before, insert.after) == ("INSERT", None, inserted)
    assert rename.op == "UPDATE" and "geom" not in rename.before and "geom" not in rename.after
    assert rename.before == {k: v for k, v in inserted.items() if k != "geom"}
    assert rename.after == {k: v for k, v in renamed.items() if k != "geom"}
    assert (redraw.op, redraw.before, redraw.after) == ("UPDATE", renamed, redrawn)
    assert redraw.before["geom"] != redraw.after["geom"]
    assert (delete.op, delete.before, delete.after) == ("DELETE", redrawn, None)
    assert inserted["geom"]["type"] == "MultiPolygon"


def test_migrations_run_under_the_generic_triggers_and_end_with_the_per_table_ones(db):
    """pre_migrate puts the generic triggers (to_jsonb, no argument) on every table, so a migration
    that drops a column never runs an expression naming it; post_migrate puts the per-table ones back.
    While generic, the entries are the same."""
    from apps.audit.triggers import generic_triggers, install_triggers

    generic_triggers()
    try:
        assert _trigger_functions("territory_area") == _generic()
        with connection.cursor() as cur:  # and the per-table functions are gone
            cur.execute("SELECT count(*) FROM pg_proc WHERE proname LIKE 'linli\\_audit\\_t\\_%%'")
            assert cur.fetchone()[0] == 0
        area = area_create(
            level="street", code="340111997", name="通用审计", geom=GEOSGeometry(SQUARE)
        )
        with connection.cursor() as cur:
            cur.execute("SELECT to_jsonb(a) FROM territory_area a WHERE id = %s", [area.id])
            row = json.loads(cur.fetchone()[0])
        entry = AuditEntry.objects.get(table_name="territory_area", row_pk=str(area.id))
        assert entry.after == row
    finally:
        install_triggers()
    assert _trigger_functions("territory_area") == _per_table("territory_area")
    assert _trigger_functions("people_staffassignment") == _generic()  # no geometry


def test_the_log_shows_stored_times_in_local_time(db):
    from django.utils import timezone

    from apps.audit.selectors import changes_of

    entry = AuditEntry(
        op="UPDATE",
        before={"last_login": None, "date_joined": "2026-12-07"},
        after={"last_login": "2026-12-07T14:35:49.529137+00:00", "date_joined": "2026-12-08"},
    )
    with timezone.override("Asia/Shanghai"):
        assert changes_of(entry) == [
            ("date_joined", "2026-12-07", "2026-12-08"),  # a date stays as it is
            ("last_login", None, "2026-12-07 22:35:49"),
        ]
