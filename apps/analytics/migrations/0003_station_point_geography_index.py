"""An index on the stations' points as geography, for "is any station within r metres" (ST_DWithin on
geography, as apps.analytics.gaps.STATION_FAR_SQL asks it for every building of a city)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("analytics", "0002_streetsegment")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS station_point_geography "
            "ON analytics_servicestation USING gist ((point::geography))",
            "DROP INDEX IF EXISTS station_point_geography",
        )
    ]
