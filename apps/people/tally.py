"""Per-building tallies of the center-household network, kept by database triggers, so the coverage
gaps over a whole city read ~100k building rows instead of joining ~5M households to ~4M links.

Two tables, derived from territory_household, people_centerlink and people_centerhousehold:

* `people_buildingtally` (building, neighbourhood grid, households, unlinked, centers): per building and
  neighbourhood grid (NULL: households in none), how many households, how many of them are neither
  linked to a center household nor one themselves, and how many are center households.
* `people_buildingcenter` (building, center, center's building, links): how many households of the
  building each center household looks after, and where that center household lives.

Rule: after any statement that writes one of the three source tables, the rows of every building it
touched are recomputed from the sources (statement-level triggers with transition tables). A building's
households are a few dozen rows on indexes, so a single edit costs well under a millisecond, and the
tallies are never stale. Writers of the same building queue on a transaction-level advisory lock per
building (a whole-table lock for large statements), so two concurrent recomputations cannot both insert.
TRUNCATE of a source rebuilds everything.

Bulk loaders (apps.territory.demo._bulk_load, apps.common.demo.bulk_loading) switch the triggers off
(they are named `linli_derived_*`) and call every `linli_derived_rebuild_*()` function once at the end
(apps.common.derived). These tables are not Django models: only raw SQL reads them
(apps.analytics.gaps_people), and Django's test flush, which truncates the sources, rebuilds them."""

LOCK_MAX = 500  # buildings per statement locked one by one; above this, the whole table

# The tallies recounted from the sources, of the buildings `{where}` selects.
RECOUNT_SQL = """
    INSERT INTO people_buildingtally (building_id, neighbourhood_id, households, unlinked, centers)
    SELECT h.building_id, h.neighbourhood_id, count(*),
           count(*) FILTER (WHERE l.id IS NULL AND c.id IS NULL), count(c.id)
      FROM territory_household h
      LEFT JOIN people_centerlink l ON l.household_id = h.id
      LEFT JOIN people_centerhousehold c ON c.household_id = h.id
     {where}
     GROUP BY 1, 2;
    INSERT INTO people_buildingcenter (building_id, center_id, center_building_id, links)
    SELECT h.building_id, l.center_id, ch.building_id, count(*)
      FROM territory_household h
      JOIN people_centerlink l ON l.household_id = h.id
      JOIN people_centerhousehold c ON c.id = l.center_id
      JOIN territory_household ch ON ch.id = c.household_id
     {where}
     GROUP BY 1, 2, 3;
"""

# From scratch, the same counts from one join of every household to its link and center record (a
# megacity: 47M households, 40M links; joining them was most of the rebuild, and the two counts
# joined them twice), counted per building, neighbourhood grid and center into a temporary table,
# then summed into both tallies. CREATE TABLE AS runs with parallel workers (INSERT ... SELECT
# never does). A household has at most one link and one center record (unique household), so the
# LEFT JOINs never repeat a household.
RECOUNT_ALL_SQL = """
    CREATE TEMP TABLE linli_tally_recount AS
    SELECT h.building_id, h.neighbourhood_id, l.center_id, count(*) AS households,
           count(*) FILTER (WHERE l.id IS NULL AND c.id IS NULL) AS unlinked, count(c.id) AS centers
      FROM territory_household h
      LEFT JOIN people_centerlink l ON l.household_id = h.id
      LEFT JOIN people_centerhousehold c ON c.household_id = h.id
     GROUP BY 1, 2, 3;
    INSERT INTO people_buildingtally (building_id, neighbourhood_id, households, unlinked, centers)
    SELECT building_id, neighbourhood_id, sum(households), sum(unlinked), sum(centers)
      FROM linli_tally_recount
     GROUP BY 1, 2;
    INSERT INTO people_buildingcenter (building_id, center_id, center_building_id, links)
    SELECT r.building_id, r.center_id, ch.building_id, sum(r.households)
      FROM linli_tally_recount r
      JOIN people_centerhousehold c ON c.id = r.center_id
      JOIN territory_household ch ON ch.id = c.household_id
     GROUP BY 1, 2, 3;
    DROP TABLE linli_tally_recount;
"""

INSTALL_SQL = """
CREATE TABLE IF NOT EXISTS people_buildingtally (
    building_id bigint NOT NULL,
    neighbourhood_id bigint,
    households integer NOT NULL,
    unlinked integer NOT NULL,
    centers integer NOT NULL,
    CONSTRAINT people_buildingtally_key UNIQUE NULLS NOT DISTINCT (building_id, neighbourhood_id)
);
CREATE INDEX IF NOT EXISTS people_buildingtally_neighbourhood
    ON people_buildingtally (neighbourhood_id) WHERE centers > 0;
CREATE TABLE IF NOT EXISTS people_buildingcenter (
    building_id bigint NOT NULL,
    center_id bigint NOT NULL,
    center_building_id bigint NOT NULL,
    links integer NOT NULL,
    PRIMARY KEY (building_id, center_id)
);
CREATE INDEX IF NOT EXISTS people_buildingcenter_center ON people_buildingcenter (center_id);

-- The tallies of these buildings, recomputed from the sources.
CREATE OR REPLACE FUNCTION linli_tally_refresh(bids bigint[]) RETURNS void AS $$
BEGIN
    IF cardinality(bids) > {lock_max} THEN
        LOCK TABLE people_buildingtally, people_buildingcenter IN SHARE ROW EXCLUSIVE MODE;
    ELSE
        PERFORM pg_advisory_xact_lock(hashtext('linli_tally'), (b % 2147483647)::int)
           FROM unnest(bids) AS u(b) ORDER BY b;
    END IF;
    DELETE FROM people_buildingtally WHERE building_id = ANY(bids);
    DELETE FROM people_buildingcenter WHERE building_id = ANY(bids);
{recount_some}END $$ LANGUAGE plpgsql;

-- Everything, from scratch (bulk loads, TRUNCATE of a source).
CREATE OR REPLACE FUNCTION linli_derived_rebuild_tally() RETURNS void AS $$
BEGIN
    LOCK TABLE people_buildingtally, people_buildingcenter IN ACCESS EXCLUSIVE MODE;
    TRUNCATE people_buildingtally, people_buildingcenter;
{recount_all}    ANALYZE people_buildingtally, people_buildingcenter;
END $$ LANGUAGE plpgsql;

-- Households: their own building and neighbourhood grid (old and new, for a move).
CREATE OR REPLACE FUNCTION linli_tally_household() RETURNS trigger AS $$
DECLARE bids bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT building_id) INTO bids FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT building_id) INTO bids FROM old_rows;
    ELSE
        SELECT array_agg(DISTINCT v.b) INTO bids
          FROM (SELECT o.building_id AS ob, n.building_id AS nb, n.id
                  FROM old_rows o JOIN new_rows n ON n.id = o.id
                 WHERE (o.building_id, o.neighbourhood_id)
                       IS DISTINCT FROM (n.building_id, n.neighbourhood_id)) m
         CROSS JOIN LATERAL (
               VALUES (m.ob), (m.nb)
               UNION ALL  -- a center household moved: the buildings it looks after name its building
               SELECT bc.building_id FROM people_centerhousehold c
                 JOIN people_buildingcenter bc ON bc.center_id = c.id
                WHERE c.household_id = m.id AND m.ob IS DISTINCT FROM m.nb) AS v(b);
    END IF;
    IF bids IS NOT NULL THEN
        PERFORM linli_tally_refresh(bids);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

-- Links and center households: the buildings of the households they name (old and new).
CREATE OR REPLACE FUNCTION linli_tally_people() RETURNS trigger AS $$
DECLARE bids bigint[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(DISTINCT h.building_id) INTO bids
          FROM territory_household h WHERE h.id IN (SELECT household_id FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(DISTINCT h.building_id) INTO bids
          FROM territory_household h WHERE h.id IN (SELECT household_id FROM old_rows);
    ELSIF TG_TABLE_NAME = 'people_centerlink' THEN
        SELECT array_agg(DISTINCT h.building_id) INTO bids
          FROM territory_household h
         WHERE h.id IN (SELECT v.hid FROM old_rows o JOIN new_rows n ON n.id = o.id
                         CROSS JOIN LATERAL (VALUES (o.household_id), (n.household_id)) AS v(hid)
                         WHERE (o.household_id, o.center_id) IS DISTINCT FROM (n.household_id, n.center_id));
    ELSE  -- a center household now names another household: also the buildings it looks after
        SELECT array_agg(DISTINCT x.b) INTO bids
          FROM (SELECT h.building_id AS b
                  FROM territory_household h
                 WHERE h.id IN (SELECT v.hid FROM old_rows o JOIN new_rows n ON n.id = o.id
                                 CROSS JOIN LATERAL (VALUES (o.household_id), (n.household_id)) AS v(hid)
                                 WHERE o.household_id IS DISTINCT FROM n.household_id)
                UNION ALL
                SELECT bc.building_id FROM people_buildingcenter bc
                 WHERE bc.center_id IN (SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id
                                         WHERE o.household_id IS DISTINCT FROM n.household_id)) x;
    END IF;
    IF bids IS NOT NULL THEN
        PERFORM linli_tally_refresh(bids);
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION linli_tally_truncate() RETURNS trigger AS $$
BEGIN
    PERFORM linli_derived_rebuild_tally();
    RETURN NULL;
END $$ LANGUAGE plpgsql;
""".format(  # noqa: S608 - code constants
    recount_some=RECOUNT_SQL.format(where="WHERE h.building_id = ANY(bids)"),
    recount_all=RECOUNT_ALL_SQL,
    lock_max=LOCK_MAX,
)

TRIGGER_TEMPLATE = """
CREATE OR REPLACE TRIGGER linli_derived_tally_ins AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE OR REPLACE TRIGGER linli_derived_tally_upd AFTER UPDATE ON {table}
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE OR REPLACE TRIGGER linli_derived_tally_del AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {function}();
CREATE OR REPLACE TRIGGER linli_derived_tally_trunc AFTER TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION linli_tally_truncate();
"""

SOURCES = {
    "territory_household": "linli_tally_household",
    "people_centerlink": "linli_tally_people",
    "people_centerhousehold": "linli_tally_people",
}

TRIGGERS_SQL = "".join(
    TRIGGER_TEMPLATE.format(table=table, function=function) for table, function in SOURCES.items()
)

DROP_SQL = (
    "".join(
        f"DROP TRIGGER IF EXISTS linli_derived_tally_{op} ON {table};\n"
        for table in SOURCES
        for op in ("ins", "upd", "del", "trunc")
    )
    + """
DROP FUNCTION IF EXISTS linli_tally_truncate();
DROP FUNCTION IF EXISTS linli_tally_people();
DROP FUNCTION IF EXISTS linli_tally_household();
DROP FUNCTION IF EXISTS linli_derived_rebuild_tally();
DROP FUNCTION IF EXISTS linli_tally_refresh(bigint[]);
DROP TABLE IF EXISTS people_buildingcenter;
DROP TABLE IF EXISTS people_buildingtally;
"""
)
