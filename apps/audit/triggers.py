"""Install statement-level audit triggers on every table of Linli's apps.

Statement-level triggers with transition tables write one audit row per changed row in a single
INSERT ... SELECT, which keeps bulk imports fast (a row-level PL/pgSQL trigger costs ~2x on COPY).
The actor comes from the session setting `linli.actor` (set per request by AuditActorMiddleware and by
`audit_actor()` in commands). `linli.audit = 'off'` for the transaction skips auditing: only the demo
generator uses it, for data nobody wrote.

Each row is logged as `to_jsonb(row)`. On a table with geometry columns that is slow: to_jsonb calls
PostGIS's json cast without a cached function context, ~100 µs per geometry (2,300 areas: to_jsonb
258 ms, their geometries cast with `::jsonb` 22 ms). So those tables get trigger functions of their
own (`TABLE_FUNCTIONS`), whose statements build the same jsonb column by column (`row_jsonb`, from the
catalog at installation); the entries are equal (tests/audit/test_audit.py compares them with
to_jsonb), except that an UPDATE's entry leaves out the geometries it did not change
(`update_source`). Those functions name the columns as they were at installation, so migrate puts
the generic triggers back before it runs migrations (pre_migrate) and the per-table ones after them
(post_migrate): a migration that drops a column never runs a function naming it."""

from django.apps import apps as django_apps
from django.db import connections

# Tables not audited: derived data, caches, bulk telemetry and the audit log itself.
EXCLUDED = {
    "audit_auditentry",
    "audit_piiaccess",  # itself a log (append-only)
    "common_ratebucket",  # rate-limit counters
    "territory_areapart",  # derived from territory_area by a trigger
    "patrols_patrolpoint",  # raw GPS points, kept in the patrol itself
    "patrols_patrolvisit",  # rebuilt from the points and check-ins at every stop
    "tiles_dataversion",
    "analytics_cellcount",
    "analytics_weeklycount",
}

FUNCTIONS = """
CREATE OR REPLACE FUNCTION linli_audit_enabled() RETURNS boolean AS $$
    SELECT COALESCE(current_setting('linli.audit', true), '') <> 'off'
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION linli_audit_actor() RETURNS text AS $$
    SELECT COALESCE(NULLIF(current_setting('linli.actor', true), ''), 'system:' || session_user)
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION linli_audit_insert() RETURNS trigger AS $$
BEGIN
    IF linli_audit_enabled() THEN
        -- to_jsonb once per row (OFFSET 0 keeps the subquery from being flattened into two calls)
        INSERT INTO audit_auditentry (actor, table_name, op, row_pk, before, after)
        SELECT linli_audit_actor(), TG_TABLE_NAME, 'INSERT', COALESCE(n.j->>'id', ''), NULL, n.j
          FROM (SELECT to_jsonb(x) j FROM new_rows x OFFSET 0) n;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION linli_audit_update() RETURNS trigger AS $$
BEGIN
    IF linli_audit_enabled() THEN
        -- to_jsonb once per row: without OFFSET 0 the subqueries are flattened and each row's
        -- to_jsonb is computed again for the join key, the sort and the IS DISTINCT FROM (measured:
        -- 1.2 ms per row of an area with its boundary, 2.8 s for a counts refresh of 2,269 areas).
        INSERT INTO audit_auditentry (actor, table_name, op, row_pk, before, after)
        SELECT linli_audit_actor(), TG_TABLE_NAME, 'UPDATE',
               COALESCE(n.j->>'id', ''), o.j, n.j
          FROM (SELECT to_jsonb(x) j FROM new_rows x OFFSET 0) n
          LEFT JOIN (SELECT to_jsonb(y) j FROM old_rows y OFFSET 0) o ON o.j->'id' = n.j->'id'
         WHERE o.j IS DISTINCT FROM n.j;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION linli_audit_delete() RETURNS trigger AS $$
BEGIN
    IF linli_audit_enabled() THEN
        INSERT INTO audit_auditentry (actor, table_name, op, row_pk, before, after)
        SELECT linli_audit_actor(), TG_TABLE_NAME, 'DELETE', COALESCE(o.j->>'id', ''), o.j, NULL
          FROM (SELECT to_jsonb(x) j FROM old_rows x OFFSET 0) o;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION linli_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % refused', TG_OP;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_auditentry
    FOR EACH STATEMENT EXECUTE FUNCTION linli_audit_append_only();
CREATE OR REPLACE TRIGGER pii_append_only BEFORE UPDATE OR DELETE ON audit_piiaccess
    FOR EACH STATEMENT EXECUTE FUNCTION linli_audit_append_only();
"""

TABLE_TRIGGERS = """
CREATE OR REPLACE TRIGGER linli_audit_ins AFTER INSERT ON {t}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {insert}();
CREATE OR REPLACE TRIGGER linli_audit_upd AFTER UPDATE ON {t}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {update}();
CREATE OR REPLACE TRIGGER linli_audit_del AFTER DELETE ON {t}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {delete}();
"""
TRIGGER_NAMES = ("linli_audit_ins", "linli_audit_upd", "linli_audit_del")

# The functions of one table with geometry columns: the generic statements with the row's jsonb built
# column by column (static SQL, so each session plans them once).
TABLE_FUNCTIONS = """
CREATE OR REPLACE FUNCTION {prefix}_insert() RETURNS trigger AS $$
BEGIN
    IF linli_audit_enabled() THEN
        INSERT INTO audit_auditentry (actor, table_name, op, row_pk, before, after)
        SELECT linli_audit_actor(), TG_TABLE_NAME, 'INSERT', COALESCE(n.j->>'id', ''), NULL, n.j
          FROM (SELECT {row} AS j FROM new_rows x OFFSET 0) n;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION {prefix}_update() RETURNS trigger AS $$
BEGIN
    IF linli_audit_enabled() THEN
        INSERT INTO audit_auditentry (actor, table_name, op, row_pk, before, after)
        SELECT linli_audit_actor(), TG_TABLE_NAME, 'UPDATE', s.pk::text, s.ob || s.og, s.nb || s.ng
          FROM ({update} OFFSET 0) s
         WHERE s.moved OR s.ob IS DISTINCT FROM s.nb;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION {prefix}_delete() RETURNS trigger AS $$
BEGIN
    IF linli_audit_enabled() THEN
        INSERT INTO audit_auditentry (actor, table_name, op, row_pk, before, after)
        SELECT linli_audit_actor(), TG_TABLE_NAME, 'DELETE', COALESCE(o.j->>'id', ''), o.j, NULL
          FROM (SELECT {row} AS j FROM old_rows x OFFSET 0) o;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
"""
# Per-table functions are named linli_audit_t_<table>_<op> (within PostgreSQL's 63 characters).
TABLE_PREFIX = "linli_audit_t_"

# jsonb_build_object takes at most 100 arguments: a wider row is built in slices joined with ||.
PAIRS_PER_CALL = 40


def row_jsonb(columns: list[tuple[str, bool]], alias: str = "x") -> str:
    """An SQL expression equal to to_jsonb(alias) for a row with these (column, is a geometry)
    columns: the geometries cast with ::jsonb (the same GeoJSON, without to_jsonb's slow path)."""
    pairs = [
        f"'{name}', {alias}.\"{name}\"" + ("::jsonb" if geometry else "")
        for name, geometry in columns
    ]
    calls = [
        f"jsonb_build_object({', '.join(pairs[k : k + PAIRS_PER_CALL])})"
        for k in range(0, len(pairs), PAIRS_PER_CALL)
    ]
    return " || ".join(calls)


def table_columns(cursor, tables: list[str]) -> dict[str, list[tuple[str, bool]]]:
    """(column, is a geometry) of each table in table order, from the catalog (columns a migration
    added in raw SQL count too)."""
    cursor.execute(
        """SELECT c.relname, a.attname, t.typname = 'geometry'
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
             JOIN pg_type t ON t.oid = a.atttypid
            WHERE c.relname = ANY(%s) AND c.relnamespace = current_schema()::regnamespace
              AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY c.relname, a.attnum""",
        [tables],
    )
    out: dict[str, list[tuple[str, bool]]] = {}
    for table, name, geometry in cursor.fetchall():
        out.setdefault(table, []).append((name, geometry))
    return out


def update_source(columns: list[tuple[str, bool]]) -> str:
    """The rows an UPDATE's entries are made of, for a table with geometry columns and an `id`: pk,
    ob/nb (the old and new row without its geometries, as to_jsonb would give them), og/ng (the old
    and new geometries that changed, as jsonb; '{}' when none did) and moved (a geometry changed).
    Geometries an UPDATE did not change are left out of its entry: a redrawn boundary is logged in
    full, a recount of an area's households does not copy its boundary twice (the entry that last
    wrote a geometry holds it). Compared with PostGIS's `=`, exact since PostGIS 2.4."""
    plain = [(c, g) for c, g in columns if not g]
    geometries = [c for c, g in columns if g]

    def changed(alias: str) -> str:
        return " || ".join(
            f'CASE WHEN o."{c}" IS NOT DISTINCT FROM n."{c}" THEN \'{{}}\'::jsonb'
            f" ELSE jsonb_build_object('{c}', {alias}.\"{c}\"::jsonb) END"
            for c in geometries
        )

    moved = " OR ".join(f'o."{c}" IS DISTINCT FROM n."{c}"' for c in geometries)
    # column names from the catalog
    return (
        f'SELECT n."id" AS pk, {row_jsonb(plain, "o")} AS ob, {row_jsonb(plain, "n")} AS nb,'  # noqa: S608
        f" {changed('o')} AS og, {changed('n')} AS ng, ({moved}) AS moved"
        ' FROM new_rows n JOIN old_rows o ON o."id" = n."id"'
    )


def audited_tables() -> list[str]:
    tables = set()
    for model in django_apps.get_models(include_auto_created=True):
        meta = model._meta
        if not meta.managed or meta.proxy:
            continue
        if not (model.__module__.startswith("apps.") or meta.app_label == "auth"):
            continue
        tables.add(meta.db_table)
    return sorted(tables - EXCLUDED)


def install_triggers(sender=None, using="default", *, per_table: bool = True, **kwargs):
    """post_migrate: (re)install the audit triggers on every audited table that exists: on tables with
    geometry columns (and an id) their own functions, on the others the generic ones; per_table=False:
    the generic ones everywhere, and the per-table functions dropped. Idempotent. post_migrate is sent
    once per app after all migrations ran; doing the work once is enough."""
    if sender is not None and getattr(sender, "label", None) != "audit":
        return
    connection = connections[using]
    existing = set(connection.introspection.table_names())
    if "audit_auditentry" not in existing:
        return
    tables = [t for t in audited_tables() if t in existing]
    with connection.cursor() as cur:
        cur.execute(FUNCTIONS)
        columns = table_columns(cur, tables) if per_table else {}
        for table in tables:
            cols = columns.get(table, [])
            functions = {op: f"linli_audit_{op}" for op in ("insert", "update", "delete")}
            prefix = TABLE_PREFIX + table
            if any(g for _c, g in cols) and ("id", False) in cols and len(prefix) <= 56:
                # table and column names come from model metadata and the catalog, never from input
                cur.execute(
                    TABLE_FUNCTIONS.format(
                        prefix=prefix, row=row_jsonb(cols), update=update_source(cols)
                    )
                )
                functions = {op: f"{prefix}_{op}" for op in functions}
            cur.execute(TABLE_TRIGGERS.format(t=connection.ops.quote_name(table), **functions))
        # per-table functions no trigger uses any more (per_table=False, a table without geometries)
        cur.execute(
            """SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.proname LIKE %s AND p.pronamespace = current_schema()::regnamespace
                  AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgfoid = p.oid)""",
            [TABLE_PREFIX.replace("_", "\\_") + "%"],
        )
        for (function,) in cur.fetchall():
            cur.execute(f"DROP FUNCTION {function}")


def generic_triggers(sender=None, using="default", **kwargs):
    """pre_migrate: the generic triggers (to_jsonb of the row) on every audited table while
    migrations run, which may add or drop the columns a per-table function names."""
    install_triggers(sender, using, per_table=False)
