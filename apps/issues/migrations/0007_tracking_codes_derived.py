"""The tracking-code table (issues_trackingcode, migration 0004) follows the derived-table convention
of apps.common.derived: its triggers are renamed `linli_derived_codes_*`, and
`linli_derived_rebuild_codes()` recomputes it from issues_issue. A bulk loader (the demo's millions of
issues, apps.issues.demo.seed_bulk) then switches the per-row registration off and registers every code
in one statement at the end; a duplicate code still fails there, on the table's primary key."""

from django.db import migrations

FORWARD = """
ALTER TRIGGER linli_issue_code_ins ON issues_issue RENAME TO linli_derived_codes_ins;
ALTER TRIGGER linli_issue_code_upd ON issues_issue RENAME TO linli_derived_codes_upd;
CREATE OR REPLACE FUNCTION linli_derived_rebuild_codes() RETURNS void AS $$
    DELETE FROM issues_trackingcode;
    INSERT INTO issues_trackingcode (code, issue_id) SELECT tracking_code, id FROM issues_issue;
$$ LANGUAGE sql;
"""

REVERSE = """
DROP FUNCTION IF EXISTS linli_derived_rebuild_codes();
ALTER TRIGGER linli_derived_codes_upd ON issues_issue RENAME TO linli_issue_code_upd;
ALTER TRIGGER linli_derived_codes_ins ON issues_issue RENAME TO linli_issue_code_ins;
"""


class Migration(migrations.Migration):
    dependencies = [("issues", "0006_intake_write_path")]

    operations = [migrations.RunSQL(FORWARD, REVERSE)]
