"""Data versions bumped by statement-level triggers on the tables that tile layers read.

Later layers watch their table with one more trigger calling the same function, e.g. for issues:
    CREATE TRIGGER tiles_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON issues_issue
    FOR EACH STATEMENT EXECUTE FUNCTION tiles_bump_version();
"""

from django.db import migrations, models

WATCHED = ["territory_area", "territory_building"]

# Versions come from a sequence, so a number is never handed out twice: a rolled-back write consumed its
# number, and the next write gets a new one, never one a cached tile could already be stored under.
FUNCTION = """
CREATE SEQUENCE IF NOT EXISTS tiles_dataversion_seq;
CREATE OR REPLACE FUNCTION tiles_bump_version() RETURNS trigger AS $$
BEGIN
    INSERT INTO tiles_dataversion ("table", version)
    VALUES (TG_TABLE_NAME, nextval('tiles_dataversion_seq'))
    ON CONFLICT ("table") DO UPDATE SET version = EXCLUDED.version;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""

TRIGGER = """
CREATE TRIGGER tiles_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
FOR EACH STATEMENT EXECUTE FUNCTION tiles_bump_version();
INSERT INTO tiles_dataversion ("table", version) VALUES ('{table}', 0) ON CONFLICT DO NOTHING;
"""

REVERSE = "".join(
    f"DROP TRIGGER IF EXISTS tiles_bump_version ON {table};\n" for table in WATCHED
) + "DROP FUNCTION IF EXISTS tiles_bump_version();\nDROP SEQUENCE IF EXISTS tiles_dataversion_seq;\n"


class Migration(migrations.Migration):
    initial = True

    dependencies = [("territory", "0002_areapart_trigger")]

    operations = [
        migrations.CreateModel(
            name="DataVersion",
            fields=[
                ("table", models.CharField(max_length=63, primary_key=True, serialize=False)),
                ("version", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunSQL(
            FUNCTION + "".join(TRIGGER.format(table=table) for table in WATCHED), REVERSE
        ),
    ]
