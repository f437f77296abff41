"""A cheaper write path for issue intake (docs/BENCHMARKS.md, "Issue intake over HTTP").

* `linli_issue_ref_check` (migration 0004: the statement-level check that written references to
  issues_issue exist) ran its anti-join through EXECUTE, so PostgreSQL planned it afresh over every
  month's partition at each INSERT: ~2-3 ms per statement, twice per issue filed (the issue's own
  duplicate_of_id, even when NULL, and its events' issue_id). The same check is now static SQL for the
  two columns the triggers pass, planned once per session and trigger table and reused, and the
  duplicate_of_id check returns at once when no written row has one; any other column still goes
  through EXECUTE. Same rows refused, same error (tests/issues/test_partitions.py).
* Three single-column foreign-key indexes are dropped: street_id, community_id and grid_id each lead
  a (column, created_at) index (issue_street_created, issue_community_created, issue_grid_created)
  that serves every lookup by the column alone, including the foreign keys' checks on delete.
* The `varchar_pattern_ops` twin of the tracking-code index is dropped: nothing matches tracking codes
  by prefix (lookups are equality: the tracking page, Open311, the importer; admin search is
  `icontains`, which no btree serves), and the database's collation is C, where the plain index serves
  prefix matches too. Django would recreate it with the plain index if the field is ever altered.
* issues_category gets the tiles' data-version trigger, so a process can cache the active categories
  and ask one row whether they changed (services.category_active).
"""

from django.db import migrations, models

REF_CHECK_STATIC = r"""
CREATE OR REPLACE FUNCTION linli_issue_ref_check() RETURNS trigger AS $$
DECLARE
    missing bigint;
BEGIN
    -- Static SQL for the columns the triggers pass: planned once per session and trigger table, the
    -- plan reused (EXECUTE planned the anti-join over every month's partition at each statement).
    IF TG_ARGV[0] = 'issue_id' THEN
        SELECT n.issue_id INTO missing FROM new_rows n
         WHERE n.issue_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM issues_issue i WHERE i.id = n.issue_id) LIMIT 1;
    ELSIF TG_ARGV[0] = 'duplicate_of_id' THEN
        -- Almost every written issue row has none: then the anti-join (whose executor start opens
        -- every partition) is not run at all.
        IF NOT EXISTS (SELECT 1 FROM new_rows n WHERE n.duplicate_of_id IS NOT NULL) THEN
            RETURN NULL;
        END IF;
        SELECT n.duplicate_of_id INTO missing FROM new_rows n
         WHERE n.duplicate_of_id IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM issues_issue i WHERE i.id = n.duplicate_of_id) LIMIT 1;
    ELSE
        EXECUTE format(
            'SELECT n.%1$I FROM new_rows n WHERE n.%1$I IS NOT NULL'
            ' AND NOT EXISTS (SELECT 1 FROM issues_issue i WHERE i.id = n.%1$I) LIMIT 1',
            TG_ARGV[0]) INTO missing;
    END IF;
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
"""

# Migration 0004's definition, for going back.
REF_CHECK_DYNAMIC = r"""
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
"""

# The foreign keys' own indexes (Django's names), each covered by a (column, created_at) index.
AREA_FK_INDEXES = {
    "street": "issues_issue_street_id_26eb973a",
    "community": "issues_issue_community_id_8d25dd5c",
    "grid": "issues_issue_grid_id_e5229462",
}
TRACKING_CODE_LIKE = "issues_issue_tracking_code_f174e9bc_like"

CATEGORY_VERSION = """
CREATE TRIGGER tiles_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON issues_category
FOR EACH STATEMENT EXECUTE FUNCTION tiles_bump_version();
INSERT INTO tiles_dataversion ("table", version) VALUES ('issues_category', 0) ON CONFLICT DO NOTHING;
"""
CATEGORY_VERSION_REVERSE = """
DROP TRIGGER IF EXISTS tiles_bump_version ON issues_category;
DELETE FROM tiles_dataversion WHERE "table" = 'issues_category';
"""


def _area_fk(**kwargs):
    import django.db.models.deletion

    return models.ForeignKey(
        blank=True,
        db_index=False,
        null=True,
        on_delete=django.db.models.deletion.PROTECT,
        related_name="+",
        to="territory.area",
        **kwargs,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("issues", "0005_issue_h3_cell"),
        ("territory", "0005_code_format_level_first"),
        ("tiles", "0003_issues_version"),
    ]

    operations = [
        migrations.RunSQL(REF_CHECK_STATIC, REF_CHECK_DYNAMIC),
        # Only the indexes go: Django's AlterField would also drop and re-add (and so re-validate over
        # every issue) the three foreign keys.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name="issue", name=name, field=_area_fk())
                for name in AREA_FK_INDEXES
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{index}"',
                    f'CREATE INDEX IF NOT EXISTS "{index}" ON issues_issue ({name}_id)',
                )
                for name, index in AREA_FK_INDEXES.items()
            ],
        ),
        migrations.RunSQL(
            f'DROP INDEX IF EXISTS "{TRACKING_CODE_LIKE}"',
            f'CREATE INDEX IF NOT EXISTS "{TRACKING_CODE_LIKE}" ON issues_issue'
            " (tracking_code varchar_pattern_ops)",
        ),
        migrations.RunSQL(CATEGORY_VERSION, CATEGORY_VERSION_REVERSE),
    ]
