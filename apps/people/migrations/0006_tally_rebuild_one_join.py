"""The tallies' full rebuild (linli_derived_rebuild_tally) joins the households to their links once
instead of twice (apps.people.tally.RECOUNT_ALL_SQL): the functions installed again."""

from django.db import migrations

from apps.people import tally


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cur:
        cur.execute(tally.INSTALL_SQL)


class Migration(migrations.Migration):
    dependencies = [("people", "0005_tally_rebuild_in_parallel")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
