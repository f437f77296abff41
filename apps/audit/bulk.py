"""Bulk inserts that write their own audit rows, for tables with geometry columns.

The statement-level trigger (triggers.py) turns each new row into jsonb with `to_jsonb(row)`. For a
geometry column that goes through PostGIS's json cast once per row without a cached function context,
which costs ~50 µs a row (measured: to_jsonb of 5,000 building rows 320 ms; the same rows with the
geometry cast by `::jsonb` 12 ms) and was most of the time of a building import. `insert_audited` runs
an INSERT ... RETURNING with the trigger's auditing switched off for that one statement and writes the
same audit rows itself, building the jsonb column by column (`geom::jsonb` for geometries). The rows are
equal to the trigger's (tests/dataio/test_import_buildings.py compares them with to_jsonb)."""

from django.contrib.gis.db.models import GeometryField
from django.db import connection


def row_jsonb(model, alias: str) -> str:
    """An SQL expression equal to to_jsonb(alias) for a row of model's table."""
    parts = []
    for field in model._meta.concrete_fields:
        col = connection.ops.quote_name(field.column)
        value = f"{alias}.{col}" + ("::jsonb" if isinstance(field, GeometryField) else "")
        parts.append(f"'{field.column}', {value}")
    return f"jsonb_build_object({', '.join(parts)})"


def insert_audited(model, insert_sql: str, params: dict) -> int:
    """Run `insert_sql` (an INSERT INTO model's table, without RETURNING) and audit its rows as the
    trigger would. Returns the number of rows inserted. Honours linli.audit = 'off' (then nothing is
    audited, as with the trigger). Must run inside a transaction: on an error the transaction (or
    savepoint) is rolled back, and the setting with it."""
    table = model._meta.db_table
    pk = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cur:
        cur.execute("SELECT linli_audit_enabled(), current_setting('linli.audit', true)")
        enabled, previous = cur.fetchone()
        if not enabled:
            cur.execute(insert_sql, params)
            return cur.rowcount
        sql = (
            f"WITH ins AS ({insert_sql} RETURNING *) "  # noqa: S608
            "INSERT INTO audit_auditentry (actor, table_name, op, row_pk, before, after) "
            f"SELECT linli_audit_actor(), '{table}', 'INSERT', ins.{pk}::text, NULL, "
            f"{row_jsonb(model, 'ins')} FROM ins"
        )
        cur.execute("SELECT set_config('linli.audit', 'off', true)")
        cur.execute(sql, params)
        written = cur.rowcount
        cur.execute("SELECT set_config('linli.audit', %s, true)", [previous or ""])
        return written
