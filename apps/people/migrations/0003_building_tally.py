"""Per-building tallies of the center-household network, kept by triggers (apps.people.tally)."""

from django.db import migrations

from apps.people import tally


def forwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cur:
        cur.execute(tally.INSTALL_SQL)
        cur.execute(tally.TRIGGERS_SQL)
        cur.execute("SELECT linli_derived_rebuild_tally()")


def backwards(apps, schema_editor):
    with schema_editor.connection.cursor() as cur:
        cur.execute(tally.DROP_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("people", "0002_residents_party_centers"),
        ("territory", "0001_initial"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
