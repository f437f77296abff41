"""The tallies' full rebuild (linli_derived_rebuild_tally) counts through CREATE TABLE AS, which runs
with parallel workers (apps.people.tally.RECOUNT_ALL_SQL): the functions installed again."""

from django.db import migrations

from apps.people import tally


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cur:
        cur.execute(tally.INSTALL_SQL)


class Migration(migrations.Migration):
    dependencies = [("people", "0004_drop_duplicate_fk_indexes")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
