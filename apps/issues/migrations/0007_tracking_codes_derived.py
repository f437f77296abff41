"""The tracking-code table (issues_trackingcode, migration 0004) follows the derived-table convention
of apps.common.derived: its triggers are renamed `linli_derived_codes_*`, and
`linli_derived_rebuild_codes()` recomputes it from issues_issue. A bulk loader (the demo's millions of
issues, apps.issues.demo.seed_bulk) then switches the per-row registration off and registers every code
in one statement at the end; a duplicate code still fails there, when the table's primary key is built."""

from django.db import migrations

FORWARD = """
ALTER TRIGGER linli_issue_code_ins ON issues_issue RENAME TO linli_derived_codes_ins;
ALTER TRIGGER linli_issue_code_upd ON issues_issue RENAME TO linli_derived_codes_upd;
-- The key is dropped while the codes go in and built once over all of them (10M random-order inserts
-- into the live index took minutes); a duplicate code fails the ADD PRIMARY KEY.
CREATE OR REPLACE FUNCTION linli_derived_rebuild_codes() RETURNS void AS $$
BEGIN
    TRUNCATE issues_trackingcode;
    ALTER TABLE issues_trackingcode DROP CONSTRAINT issues_trackingcode_pkey;
    INSERT INTO issues_trackingcode (code, issue_id) SELECT tracking_code, id FROM issues_issue;
    ALTER TABLE issues_trackingcode ADD CONSTRAINT issues_trackingcode_pkey PRIMARY KEY (code);
END $$ LANGUAGE plpgsql;
"""

REVERSE = """
DROP FUNCTION IF EXISTS linli_derived_rebuild_codes();
ALTER TRIGGER linli_derived_codes_upd ON issues_issue RENAME TO linli_issue_code_upd;
ALTER TRIGGER linli_derived_codes_ins ON issues_issue RENAME TO linli_issue_code_ins;
"""


class Migration(migrations.Migration):
    dependencies = [("issues", "0006_intake_write_path")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
