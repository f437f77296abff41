"""An index for the area tile layers: `WHERE a.level = '<level>' AND a.geom && <tile box>`.

The plain GiST index on territory_area.geom returns every level's areas in the box (a street tile at
zoom 8 over a megacity would read ~400k areas to keep ~1k streets); with level as the leading key
(btree_gist) the index finds one level's areas in the box directly. Lives here because the tiles are
the query that needs it (see apps/tiles/layers.py AREA_SELECT)."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("tiles", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE INDEX IF NOT EXISTS tiles_area_level_geom ON territory_area USING gist (level, geom)",
            "DROP INDEX IF EXISTS tiles_area_level_geom",
        )
    ]
