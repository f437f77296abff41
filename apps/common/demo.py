"""Seeding the whole demo: the territory first, then every app that adds demo data of its own.

An app takes part by defining `seed_demo(*, seed: int, scale: float) -> dict` in `apps/<app>/demo.py`;
it runs after the territory, in INSTALLED_APPS order, inside the same transaction, and returns counts.

Large scales take a bulk path (`bulk_mode(scale)`: scale >= BULK_MIN_SCALE, i.e. the small city of
the benchmarks and above): the issues and people demos then generate their rows set-based in SQL
(docs/BENCHMARKS.md, "Generating the whole demo"). Below the threshold (the demo district, the test
districts) every app keeps its row-by-row generator, so the data there stays what it was. Tests lower
BULK_MIN_SCALE to run the bulk path on a small territory."""

import importlib
import sys
import time
from contextlib import contextmanager

from django.apps import apps as django_apps
from django.db import connection, transaction

from apps.audit.triggers import TRIGGER_NAMES as AUDIT_TRIGGERS
from apps.common import derived
from apps.territory import demo as territory_demo

# Scales from which the app demos generate set-based (small city = 30, city = 670, megacity = 6700).
BULK_MIN_SCALE = 30.0
# Memory for the bulk path's sorts and hashes, and for its index builds (set for the transaction).
BULK_WORK_MEM = "256MB"
BULK_MAINTENANCE_MEM = "1GB"
BULK_PARALLEL_TUPLE_COST = "0.01"


def bulk_mode(scale: float) -> bool:
    """True when the app demos should take their bulk (set-based) path at this scale."""
    return scale >= BULK_MIN_SCALE


@contextmanager
def progress_bar(total: int, desc: str, unit: str):
    """A progress callback `update(n)` for a long bulk step: a tqdm bar on stderr (left behind only
    while the step runs), or nothing when tqdm is missing or the total is trivial."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency of the project
        tqdm = None
    if tqdm is None or total <= 0:
        yield lambda n=1: None
        return
    with tqdm(
        total=total, desc=desc, unit=unit, unit_scale=True, leave=False, file=sys.stderr
    ) as bar:
        yield bar.update


@contextmanager
def planner_settings(cur, **settings: str):
    """Planner settings for the statements inside (as SET LOCAL), then back to what they were."""
    cur.execute(
        "SELECT name, current_setting(name) FROM unnest(%s::text[]) AS name", [list(settings)]
    )
    before = cur.fetchall()
    for name, value in settings.items():
        cur.execute("SELECT set_config(%s, %s, true)", [name, value])
    try:
        yield
    finally:
        for name, value in before:
            cur.execute("SELECT set_config(%s, %s, true)", [name, value])


# Deterministic pseudo-random numbers in SQL, keyed by (a row number, a salt): the same seed gives the
# same rows whatever the plan or batch size. hashint8extended is PostgreSQL's 64-bit hash of a bigint;
# 52 of its bits make a double in [0, 1). Inlined by the planner (a one-expression SQL function).
DEMO_SQL_FUNCTIONS = """
CREATE OR REPLACE FUNCTION pg_temp.demo_u(n bigint, salt bigint) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT (hashint8extended(n, salt) & 4503599627370495)::float8 / 4503599627370496.0 $$;
-- A standard normal draw (Box-Muller) from two salts.
CREATE OR REPLACE FUNCTION pg_temp.demo_z(n bigint, salt bigint) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT sqrt(-2 * ln(1 - pg_temp.demo_u(n, salt)))
                 * cos(2 * pi() * pg_temp.demo_u(n, salt + 7919)) $$;
"""


def demo_sql_functions() -> None:
    """Create pg_temp.demo_u / demo_z for this session (idempotent)."""
    with connection.cursor() as cur:
        cur.execute(DEMO_SQL_FUNCTIONS)


def salt(seed: int, k: int) -> int:
    """The salt of draw number `k` for a seed (distinct draws get unrelated numbers)."""
    return seed * 1_000_003 + k


def _run_queued_checks(cur) -> None:
    """A table with deferred foreign-key checks still queued (rows written earlier in the transaction)
    cannot be altered: run the queued checks now (they would run at commit anyway), then defer the
    deferrable constraints again, except those that start immediate."""
    cur.execute(
        """SELECT format('%I.%I', n.nspname, c.conname) FROM pg_constraint c
             JOIN pg_namespace n ON n.oid = c.connamespace
            WHERE c.condeferrable AND NOT c.condeferred"""
    )
    immediate = [r[0] for r in cur.fetchall()]
    cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cur.execute("SET CONSTRAINTS ALL DEFERRED")
    if immediate:
        cur.execute(f"SET CONSTRAINTS {', '.join(immediate)} IMMEDIATE")


@contextmanager
def bulk_loading(*tables: str):
    """Load empty tables fast, as the territory generator loads its own (apps/territory/demo.py
    `_bulk_load`): when every table is empty, drop their keys, unique constraints, secondary indexes
    and foreign keys (and the foreign keys of other tables pointing at them) and, while auditing is
    off for the transaction (`linli.audit = 'off'`, as seed_all sets it), disable their audit
    triggers, whose transition tables would hold a copy of every row only to find auditing off; and
    the triggers of derived tables (apps.common.derived), rebuilt once at the end instead.
    Afterwards everything is rebuilt from the catalog definitions: one sorted build per index and one
    validating join per foreign key instead of a check per row at commit. Yields True when it did so,
    False (nothing changed) when a table holds rows. Runs inside the caller's transaction."""
    with connection.cursor() as cur:
        cur.execute(f"LOCK TABLE {', '.join(tables)} IN SHARE ROW EXCLUSIVE MODE")
        cur.execute(
            "SELECT " + " OR ".join(f"EXISTS (SELECT 1 FROM {t})" for t in tables)  # noqa: S608
        )
        if cur.fetchone()[0]:
            yield False
            return
        cur.execute(
            """SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype
                 FROM pg_constraint
                WHERE ((conrelid = ANY(%s::regclass[]) AND contype IN ('p', 'u', 'f'))
                       OR (confrelid = ANY(%s::regclass[]) AND contype = 'f'))
                  AND conparentid = 0
                ORDER BY contype = 'f', conrelid::regclass::text, conname""",
            [list(tables), list(tables)],
        )
        constraints = cur.fetchall()
        cur.execute(
            """SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
                 FROM pg_index i
                WHERE i.indrelid = ANY(%s::regclass[])
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
                ORDER BY 1""",
            [list(tables)],
        )
        indexes = cur.fetchall()
        cur.execute(
            """SELECT t.tgrelid::regclass::text, t.tgname
                 FROM pg_trigger t
                WHERE t.tgrelid = ANY(%s::regclass[]) AND NOT t.tgisinternal AND t.tgenabled <> 'D'
                  AND ((t.tgname = ANY(%s)
                        AND COALESCE(current_setting('linli.audit', true), '') = 'off')
                       OR t.tgname LIKE %s)
                ORDER BY 1, 2""",
            [list(tables), list(AUDIT_TRIGGERS), derived.TRIGGER_PATTERN],
        )
        triggers = cur.fetchall()
        _run_queued_checks(cur)
        for table, name, _definition, _type in reversed(constraints):  # foreign keys first
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _definition in indexes:
            cur.execute(f"DROP INDEX {name}")
        for table, name in triggers:
            cur.execute(f'ALTER TABLE {table} DISABLE TRIGGER "{name}"')
    yield True
    with connection.cursor() as cur:
        _run_queued_checks(cur)
        for table, name in triggers:
            cur.execute(f'ALTER TABLE {table} ENABLE TRIGGER "{name}"')
        for table, name, definition, contype in constraints:
            if contype != "f":
                cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for _name, definition in indexes:
            # A partitioned table's index reads "ON ONLY <table>" (the parent alone); built on the
            # table it is built on every partition and attached.
            cur.execute(definition.replace(" ON ONLY ", " ON ", 1))
        for table, name, definition, contype in constraints:
            if contype == "f":
                cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        # The derived sets last: their recount joins the loaded tables through the rebuilt indexes.
        derived.rebuild(cur, [name for _table, name in triggers])


# Tables a bulk demo fills with millions of rows that index-only scans read (hotspots count issues
# from `issue_created_cell`): vacuumed once the demo has committed (`settle`).
SETTLE_TABLES = ("issues_issue",)


def settle(scale: float) -> float:
    """After a bulk-scale seed_all has committed: VACUUM the big tables that index-only scans read, so
    they need not visit the heap for rows autovacuum has not reached yet (for a megacity's 10M issues
    it takes minutes to get there). Their statistics are already there: the demos ANALYZE what they
    load, and ANALYZE inside the transaction counts its own rows. Needs autocommit (outside any
    transaction); returns the seconds it took, 0 below the bulk scales."""
    if not bulk_mode(scale):
        return 0.0
    start = time.perf_counter()
    with connection.cursor() as cur:
        for table in SETTLE_TABLES:
            cur.execute(f"VACUUM {table}")
    return time.perf_counter() - start


def app_seeders():
    for config in django_apps.get_app_configs():
        if not config.name.startswith("apps.") or config.label == "territory":
            continue
        try:
            module = importlib.import_module(f"{config.name}.demo")
        except ModuleNotFoundError as exc:
            if exc.name == f"{config.name}.demo":
                continue
            raise
        if hasattr(module, "seed_demo"):
            yield config.label, module.seed_demo


@transaction.atomic
def seed_all(*, seed: int = 7, scale: float = 1.0, progress=None) -> dict:
    # Generated data is not anybody's write: skip the audit log for this transaction only.
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('linli.audit', 'off', true)")
        if bulk_mode(scale):
            # Millions of rows per statement: sorts, hashes and index builds in memory rather than in
            # batches on disk (for this transaction only; the defaults suit the app's requests).
            cur.execute("SELECT set_config('work_mem', %s, true)", [BULK_WORK_MEM])
            cur.execute(
                "SELECT set_config('maintenance_work_mem', %s, true)", [BULK_MAINTENANCE_MEM]
            )
            # Joins of millions of rows into a GROUP BY (the tallies' rebuild, the analytics
            # counts): at the default cost of a row through a Gather (0.1) the planner keeps them
            # on one core, misjudging how far the grouping shrinks them.
            cur.execute(
                "SELECT set_config('parallel_tuple_cost', %s, true)", [BULK_PARALLEL_TUPLE_COST]
            )
    # The derived sets (people's tallies, issue codes) are rebuilt once, after every app's data.
    with derived.rebuilds_deferred(connection):
        stats = territory_demo.seed_demo(seed=seed, scale=scale, progress=progress)
        for _label, seeder in app_seeders():
            stats.update(seeder(seed=seed, scale=scale) or {})
    return stats
