"""Issues become a table partitioned by month on created_at (docs/SCALING.md, "Monthly partitions").

A megacity files ~10M issues a year; monthly partitions keep each month's indexes small, let the
planner skip months a query's period excludes, and let an old year be detached or archived as one
table instead of deleted row by row.

PostgreSQL requires every unique index of a partitioned table to include the partition key, so:

* the primary key becomes (id, created_at); `id` stays unique because only its identity fills it;
* tracking codes stay unique through `issues_trackingcode` (code → issue id), kept by row triggers;
  a clash raises the same unique_violation (IntegrityError in Django) as the old unique index;
* foreign keys *to* issues (events, photos, decisions, patrol links, duplicate_of) cannot reference
  (id) alone: statement-level triggers check every written reference in one anti-join, and deleting
  an issue deletes its dependants (the ON DELETE rules the models declare; Django's collector does
  the same first, so this covers raw SQL deletes).

Partitions are created by `linli_issue_partitions_ensure(months_back, months_ahead)`: the months of a
window around now, plus any month with rows waiting in the default partition, whose rows are moved into
their new month. `manage.py issue_partitions` runs it; so do migrate (post_migrate) and the demo seeder.
Month bounds are UTC midnights.
"""

from django.db import migrations

# Tables and columns that reference issues_issue(id), and what deleting the issue does to them.
REFERENCES = [
    ("issues_issueevent", "issue_id", "delete"),
    ("issues_issuephoto", "issue_id", "delete"),
    ("issues_meetingdecision", "issue_id", "delete"),
    ("patrols_patrolissue", "issue_id", "delete"),
    ("issues_issue", "duplicate_of_id", "set null"),
]

FUNCTIONS = r"""
CREATE TABLE issues_trackingcode (
    code varchar(16) PRIMARY KEY,
    issue_id bigint NOT NULL
);
COMMENT ON TABLE issues_trackingcode IS
    'Tracking codes of issues_issue, unique (a partitioned table cannot hold that unique index). Kept by triggers.';

-- Moving rows between partitions (linli_issue_partitions_ensure) is not a change of any issue.
CREATE OR REPLACE FUNCTION linli_issue_moving() RETURNS boolean AS $$
    SELECT COALESCE(current_setting('linli.partition_move', true), '') = 'on'
$$ LANGUAGE sql STABLE;

CREATE OR REPLACE FUNCTION linli_issue_code_register() RETURNS trigger AS $$
BEGIN
    IF linli_issue_moving() THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        IF NEW.tracking_code = OLD.tracking_code AND NEW.id = OLD.id THEN
            RETURN NEW;
        END IF;
        DELETE FROM issues_trackingcode WHERE code = OLD.tracking_code AND issue_id = OLD.id;
    END IF;
    -- The same code for the same issue again (a row moving to another month) is not a clash.
    INSERT INTO issues_trackingcode AS t (code, issue_id) VALUES (NEW.tracking_code, NEW.id)
        ON CONFLICT (code) DO UPDATE SET issue_id = t.issue_id WHERE t.issue_id = EXCLUDED.issue_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'duplicate key value violates unique constraint "issue_tracking_code_unique"'
            USING ERRCODE = 'unique_violation',
                  DETAIL = format('Key (tracking_code)=(%s) already exists.', NEW.tracking_code),
                  TABLE = 'issues_issue', COLUMN = 'tracking_code',
                  CONSTRAINT = 'issue_tracking_code_unique';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;

-- After an issue row is deleted (and not merely moved to another month's partition): drop its code and
-- apply the ON DELETE rules of the references.
CREATE OR REPLACE FUNCTION linli_issue_deleted() RETURNS trigger AS $$
BEGIN
    IF linli_issue_moving() OR EXISTS (SELECT 1 FROM issues_issue WHERE id = OLD.id) THEN
        RETURN NULL;
    END IF;
    DELETE FROM issues_trackingcode WHERE code = OLD.tracking_code AND issue_id = OLD.id;
    DELETE FROM issues_issueevent WHERE issue_id = OLD.id;
    DELETE FROM issues_issuephoto WHERE issue_id = OLD.id;
    DELETE FROM issues_meetingdecision WHERE issue_id = OLD.id;
    DELETE FROM patrols_patrolissue WHERE issue_id = OLD.id;
    UPDATE issues_issue SET duplicate_of_id = NULL WHERE duplicate_of_id = OLD.id;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

-- TRUNCATE issues_issue (also when a TRUNCATE ... CASCADE of the territory reaches it) empties what
-- referenced the issues, as a foreign key's CASCADE would. DELETE, not TRUNCATE: the same TRUNCATE
-- command may hold those tables (Django's flush lists them all). List them in the TRUNCATE to be fast.
CREATE OR REPLACE FUNCTION linli_issue_truncated() RETURNS trigger AS $$
DECLARE
    audit text := current_setting('linli.audit', true);
BEGIN
    TRUNCATE issues_trackingcode;
    PERFORM set_config('linli.audit', 'off', true);  -- the TRUNCATE itself is not audited either
    DELETE FROM issues_issueevent;
    DELETE FROM issues_issuephoto;
    DELETE FROM issues_meetingdecision;
    DELETE FROM patrols_patrolissue;
    PERFORM set_config('linli.audit', COALESCE(audit, ''), true);
    RETURN NULL;
END $$ LANGUAGE plpgsql;

-- The foreign-key check of a statement's written rows, one anti-join: TG_ARGV[0] is the column.
CREATE OR REPLACE FUNCTION linli_issue_ref_check() RETURNS trigger AS $$
DECLARE
    missing bigint;
BEGIN
    EXECUTE format(
        'SELECT n.%1$I FROM new_rows n WHERE n.%1$I IS NOT NULL'
        ' AND NOT EXISTS (SELECT 1 FROM issues_issue i WHERE i.id = n.%1$I) LIMIT 1',
        TG_ARGV[0]) INTO missing;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
                TG_TABLE_NAME, TG_NAME
            USING ERRCODE = 'foreign_key_violation',
                  DETAIL = format('Key (%s)=(%s) is not present in table "issues_issue".',
                                  TG_ARGV[0], missing),
                  TABLE = TG_TABLE_NAME, CONSTRAINT = TG_NAME;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

-- Create the partitions of a window of months around now (UTC months) and of every month that has
-- rows in the default partition, moving those rows. Returns the names of the partitions it created.
CREATE OR REPLACE FUNCTION linli_issue_partitions_ensure(months_back int DEFAULT 12,
                                                         months_ahead int DEFAULT 3)
RETURNS SETOF text AS $$
DECLARE
    month date;
    lo timestamptz;
    hi timestamptz;
    part text;
    utc_now timestamp := now() AT TIME ZONE 'UTC';
BEGIN
    IF months_back < 0 OR months_ahead < 0 THEN
        RAISE EXCEPTION 'months_back and months_ahead must be >= 0 (got %, %)', months_back, months_ahead;
    END IF;
    -- One maintenance run at a time; writers keep going (they only wait while a month is attached).
    PERFORM pg_advisory_xact_lock(hashtext('linli_issue_partitions_ensure'));
    FOR month IN
        SELECT m::date FROM generate_series(date_trunc('month', utc_now) - make_interval(months => months_back),
                                            date_trunc('month', utc_now) + make_interval(months => months_ahead),
                                            interval '1 month') m
        UNION
        SELECT DISTINCT date_trunc('month', created_at AT TIME ZONE 'UTC')::date FROM issues_issue_default
        ORDER BY 1
    LOOP
        part := format('issues_issue_%s', to_char(month, 'YYYY_MM'));
        CONTINUE WHEN to_regclass(part) IS NOT NULL;
        lo := month::timestamp AT TIME ZONE 'UTC';
        hi := (month + interval '1 month')::timestamp AT TIME ZONE 'UTC';
        IF EXISTS (SELECT 1 FROM issues_issue_default WHERE created_at >= lo AND created_at < hi) THEN
            -- Rows of this month wait in the default partition: move them into a new table, then attach
            -- it (a partition cannot be created while the default holds rows of its range).
            EXECUTE format('CREATE TABLE %I (LIKE issues_issue INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
            PERFORM set_config('linli.partition_move', 'on', true);
            EXECUTE format(
                'WITH moved AS (DELETE FROM issues_issue_default WHERE created_at >= $1 AND created_at < $2'
                ' RETURNING *) INSERT INTO %I SELECT * FROM moved', part) USING lo, hi;
            PERFORM set_config('linli.partition_move', '', true);
            EXECUTE format('ALTER TABLE issues_issue ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                           part, lo, hi);
            EXECUTE format('ANALYZE %I', part);
        ELSE
            EXECUTE format('CREATE TABLE %I PARTITION OF issues_issue FOR VALUES FROM (%L) TO (%L)',
                           part, lo, hi);
        END IF;
        RETURN NEXT part;
    END LOOP;
END $$ LANGUAGE plpgsql;
"""

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS linli_issue_partitions_ensure(int, int);
DROP FUNCTION IF EXISTS linli_issue_ref_check();
DROP FUNCTION IF EXISTS linli_issue_truncated();
DROP FUNCTION IF EXISTS linli_issue_deleted();
DROP FUNCTION IF EXISTS linli_issue_code_register();
DROP FUNCTION IF EXISTS linli_issue_moving();
DROP TABLE IF EXISTS issues_trackingcode;
"""


def _rebuild(cur, *, partitioned: bool) -> None:
    """Recreate issues_issue (partitioned by month or plain) with its rows, indexes, foreign keys and
    triggers, all under their old names so later migrations find them."""
    cur.execute(
        "SELECT pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid = 'issues_issue'::regclass"
        " AND NOT indisprimary"
    )
    indexes = [r[0] for r in cur.fetchall()]
    cur.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = 'issues_issue'::regclass AND contype = 'f'"
    )
    foreign_keys = cur.fetchall()
    cur.execute(
        "SELECT pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'issues_issue'::regclass"
        " AND NOT tgisinternal AND tgname NOT LIKE 'linli_issue_%'"
    )
    triggers = [r[0] for r in cur.fetchall()]

    cur.execute("ALTER TABLE issues_issue RENAME TO issues_issue_old")
    by = " PARTITION BY RANGE (created_at)" if partitioned else ""
    cur.execute(
        "CREATE TABLE issues_issue (LIKE issues_issue_old INCLUDING DEFAULTS INCLUDING CONSTRAINTS"
        f" INCLUDING IDENTITY INCLUDING STORAGE INCLUDING COMMENTS){by}"
    )
    if partitioned:
        cur.execute("CREATE TABLE issues_issue_default PARTITION OF issues_issue DEFAULT")
    cur.execute("INSERT INTO issues_issue OVERRIDING SYSTEM VALUE SELECT * FROM issues_issue_old")
    cur.execute("DROP TABLE issues_issue_old")
    # The identity got a new sequence beside the old one's name; take the name back and go on from max(id).
    cur.execute("SELECT pg_get_serial_sequence('issues_issue', 'id')")
    (sequence,) = cur.fetchone()
    if sequence.split(".")[-1].strip('"') != "issues_issue_id_seq":
        cur.execute(f"ALTER SEQUENCE {sequence} RENAME TO issues_issue_id_seq")
    cur.execute(
        "SELECT setval(pg_get_serial_sequence('issues_issue', 'id'), COALESCE(max(id), 0) + 1, false)"
        " FROM issues_issue"
    )
    key = "(id, created_at)" if partitioned else "(id)"
    cur.execute(f"ALTER TABLE issues_issue ADD CONSTRAINT issues_issue_pkey PRIMARY KEY {key}")
    for statement in indexes:
        cur.execute(statement)
    for name, definition in foreign_keys:
        cur.execute(f'ALTER TABLE issues_issue ADD CONSTRAINT "{name}" {definition}')
    for statement in triggers:
        cur.execute(statement)


def forward(apps, schema_editor):
    with schema_editor.connection.cursor() as cur:
        _rebuild(cur, partitioned=True)
        cur.execute(FUNCTIONS)
        cur.execute(
            "INSERT INTO issues_trackingcode (code, issue_id) SELECT tracking_code, id FROM issues_issue"
        )
        cur.execute(
            "CREATE TRIGGER linli_issue_code_ins BEFORE INSERT ON issues_issue"
            " FOR EACH ROW EXECUTE FUNCTION linli_issue_code_register()"
        )
        cur.execute(
            "CREATE TRIGGER linli_issue_code_upd BEFORE UPDATE OF tracking_code, id ON issues_issue"
            " FOR EACH ROW EXECUTE FUNCTION linli_issue_code_register()"
        )
        cur.execute(
            "CREATE TRIGGER linli_issue_del AFTER DELETE ON issues_issue"
            " FOR EACH ROW EXECUTE FUNCTION linli_issue_deleted()"
        )
        cur.execute(
            "CREATE TRIGGER linli_issue_truncate AFTER TRUNCATE ON issues_issue"
            " FOR EACH STATEMENT EXECUTE FUNCTION linli_issue_truncated()"
        )
        for table, column, _rule in REFERENCES:
            for op in ("INSERT", "UPDATE"):
                cur.execute(
                    f"CREATE TRIGGER linli_issue_ref_{op.lower()}_{column} AFTER {op} ON {table}"
                    f" REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
                    f" EXECUTE FUNCTION linli_issue_ref_check('{column}')"
                )
        cur.execute("SELECT count(*) FROM linli_issue_partitions_ensure(12, 3)")


def backward(apps, schema_editor):
    with schema_editor.connection.cursor() as cur:
        for table, column, _rule in REFERENCES:
            for op in ("insert", "update"):
                cur.execute(f"DROP TRIGGER IF EXISTS linli_issue_ref_{op}_{column} ON {table}")
        _rebuild(cur, partitioned=False)  # the linli_issue_* triggers are not carried over
        cur.execute(DROP_FUNCTIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("issues", "0003_issue_fk_triggers"),
        ("patrols", "0003_issue_fk_triggers"),
        ("tiles", "0003_issues_version"),
    ]

    operations = [migrations.RunPython(forward, backward)]
