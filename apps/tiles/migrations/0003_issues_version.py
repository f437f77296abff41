"""Issues tiles are cached like the others: the data-version trigger on issues_issue."""

from django.db import migrations

SQL = """
CREATE TRIGGER tiles_bump_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON issues_issue
FOR EACH STATEMENT EXECUTE FUNCTION tiles_bump_version();
INSERT INTO tiles_dataversion ("table", version) VALUES ('issues_issue', 0) ON CONFLICT DO NOTHING;
"""


class Migration(migrations.Migration):
    dependencies = [("tiles", "0002_area_level_geom_index"), ("issues", "0002_categories")]

    operations = [
        migrations.RunSQL(SQL, "DROP TRIGGER IF EXISTS tiles_bump_version ON issues_issue;")
    ]
