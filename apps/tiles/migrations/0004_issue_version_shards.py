"""The issues table's data version is kept in 16 rows (`issues_issue#0` ... `issues_issue#15`) instead
of one.

Every intake transaction bumped the one `issues_issue` row and held its lock until COMMIT, so
concurrent intakes queued on it and each waited for the previous one's WAL flush (no group commit):
the HTTP intake benchmark filed ~60 issues/s with the row and ~100/s with the trigger switched off
(docs/BENCHMARKS.md, "Issue intake over HTTP"). A transaction now bumps the row of its transaction id
modulo 16 (always the same row within one transaction, so it never waits on two); readers take the
layer's version as the list of all rows of the table (`selectors.VERSIONS_SQL`). Each row still
becomes visible with the data that bumped it and every value comes from the sequence, so a write
still always changes the list to one no reader has seen: what migration 0001 guarantees for one row.
The `issues_issue` row of before stays, as the version of everything written before this migration.
"""

from django.db import migrations

SHARDS = 16

FORWARD = f"""
CREATE OR REPLACE FUNCTION tiles_bump_version_sharded() RETURNS trigger AS $$
BEGIN
    -- TG_ARGV[0]: how many rows the table's version is spread over
    INSERT INTO tiles_dataversion ("table", version)
    VALUES (TG_TABLE_NAME || '#' || (txid_current() % TG_ARGV[0]::int), nextval('tiles_dataversion_seq'))
    ON CONFLICT ("table") DO UPDATE SET version = EXCLUDED.version;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS tiles_bump_version ON issues_issue;
CREATE TRIGGER tiles_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON issues_issue
FOR EACH STATEMENT EXECUTE FUNCTION tiles_bump_version_sharded('{SHARDS}');
"""

BACKWARD = """
DROP TRIGGER IF EXISTS tiles_bump_version ON issues_issue;
CREATE TRIGGER tiles_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON issues_issue
FOR EACH STATEMENT EXECUTE FUNCTION tiles_bump_version();
-- one new value, so the version list readers see changes (the shards' rows go)
UPDATE tiles_dataversion SET version = nextval('tiles_dataversion_seq') WHERE "table" = 'issues_issue';
DELETE FROM tiles_dataversion WHERE "table" LIKE 'issues\\_issue#%';
DROP FUNCTION IF EXISTS tiles_bump_version_sharded();
"""


class Migration(migrations.Migration):
    dependencies = [("tiles", "0003_issues_version"), ("issues", "0006_intake_write_path")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
