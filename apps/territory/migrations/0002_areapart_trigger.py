"""Keep territory_areapart (ST_Subdivide pieces of each area) in step with territory_area, in the database,
so every writer (ORM, COPY, raw SQL, bulk_create) keeps it right. Pieces of at most 64 vertices make
point-in-polygon tests cheap; the GiST index on areapart.geom then prunes by small boxes."""

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION territory_area_sync_parts() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.geom = OLD.geom THEN
        UPDATE territory_areapart
           SET level = NEW.level, valid_from = NEW.valid_from, valid_to = NEW.valid_to
         WHERE area_id = NEW.id;
        RETURN NEW;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        DELETE FROM territory_areapart WHERE area_id = NEW.id;
    END IF;
    INSERT INTO territory_areapart (area_id, level, valid_from, valid_to, geom)
    SELECT NEW.id, NEW.level, NEW.valid_from, NEW.valid_to, part
      FROM ST_Subdivide(NEW.geom, 64) AS part;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER territory_area_sync_parts
AFTER INSERT OR UPDATE OF geom, level, valid_from, valid_to ON territory_area
FOR EACH ROW EXECUTE FUNCTION territory_area_sync_parts();

CREATE TRIGGER territory_area_delete_parts
BEFORE DELETE ON territory_area
FOR EACH ROW EXECUTE FUNCTION territory_area_delete_parts();
"""

DELETE_FN = """
CREATE OR REPLACE FUNCTION territory_area_delete_parts() RETURNS trigger AS $$
BEGIN
    DELETE FROM territory_areapart WHERE area_id = OLD.id;
    RETURN OLD;
END;
$$ LANGUAGE plpgsql;
"""

REVERSE = """
DROP TRIGGER IF EXISTS territory_area_sync_parts ON territory_area;
DROP TRIGGER IF EXISTS territory_area_delete_parts ON territory_area;
DROP FUNCTION IF EXISTS territory_area_sync_parts();
DROP FUNCTION IF EXISTS territory_area_delete_parts();
"""


class Migration(migrations.Migration):
    dependencies = [("territory", "0001_initial")]

    operations = [migrations.RunSQL(DELETE_FN + SQL, REVERSE)]
