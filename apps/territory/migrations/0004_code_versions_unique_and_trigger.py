"""Two versions of one area code may not be valid at the same time: replace the btree_gist exclusion
constraint by a unique index on current versions plus a trigger for the history.

The exclusion constraint cost ~60 µs per area on COPY (GiST upkeep and a GiST probe per row), most of
the time of loading areas, and rebuilding it after a bulk load was ~40x slower than a btree index. Now:

* `area_code_versions_disjoint`, a unique index on (level, code) WHERE valid_to IS NULL: at most one
  current version per code (the common case, race-free, built by a sort in bulk loads);
* the trigger `territory_area_versions_disjoint`: refuses a version whose validity overlaps another
  version of the same code (what only a closed version can still do), raising exclusion_violation
  (23P01, an IntegrityError) under the same constraint name, so callers see one rule. Writers of one
  code take a transaction-level advisory lock first, so two transactions cannot both pass the check
  (under READ COMMITTED each query of the trigger sees what was committed before it got the lock).

Bulk loads (apps/territory/demo.py) disable the trigger and run the same check once over the table.
"""

from django.db import migrations, models

FORWARD = """
CREATE OR REPLACE FUNCTION territory_area_versions_disjoint() RETURNS trigger AS $$
DECLARE
    other bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(
        hashtextextended('territory_area ' || NEW.level || ' ' || NEW.code, 0));
    SELECT a.id INTO other
      FROM territory_area a
     WHERE a.level = NEW.level AND a.code = NEW.code AND a.id <> NEW.id
       AND tstzrange(a.valid_from, a.valid_to) && tstzrange(NEW.valid_from, NEW.valid_to)
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION
            'conflicting key value violates exclusion constraint "area_code_versions_disjoint"'
            USING ERRCODE = 'exclusion_violation',
                  CONSTRAINT = 'area_code_versions_disjoint',
                  TABLE = 'territory_area',
                  DETAIL = format(
                      'Key (level, code, validity)=(%s, %s, %s) overlaps the validity of area %s.',
                      NEW.level, NEW.code, tstzrange(NEW.valid_from, NEW.valid_to), other);
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER territory_area_versions_disjoint
AFTER INSERT OR UPDATE OF level, code, valid_from, valid_to ON territory_area
FOR EACH ROW EXECUTE FUNCTION territory_area_versions_disjoint();
"""

REVERSE = """
DROP TRIGGER IF EXISTS territory_area_versions_disjoint ON territory_area;
DROP FUNCTION IF EXISTS territory_area_versions_disjoint();
"""


class Migration(migrations.Migration):
    dependencies = [("territory", "0003_exclusion_code_first")]

    operations = [
        migrations.RemoveConstraint(model_name="area", name="area_code_versions_disjoint"),
        migrations.AddConstraint(
            model_name="area",
            constraint=models.UniqueConstraint(
                condition=models.Q(("valid_to__isnull", True)),
                fields=("level", "code"),
                name="area_code_versions_disjoint",
            ),
        ),
        migrations.RunSQL(FORWARD, REVERSE),
    ]
