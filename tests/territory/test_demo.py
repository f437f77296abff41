import numpy as np
import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import IntegrityError, connection

from apps.territory import demo
from apps.territory.demo import DemoWriter, seed_demo
from apps.territory.models import Area, Building, Household
from apps.territory.services import area_create

SQUARE = (
    "SRID=4326;MULTIPOLYGON(((117.0 31.0, 117.01 31.0, 117.01 31.01, 117.0 31.01, 117.0 31.0)))"
)


def _one(sql, params=()):
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def test_demo_hierarchy_is_complete_and_consistent(demo):
    assert demo["communities"] == 1 and demo["grids"] == 6 and demo["compounds"] == 6
    assert Building.objects.count() == demo["buildings"] > 20
    assert Household.objects.count() == demo["households"]
    # each level's household count adds up
    totals = {
        lvl: _one("SELECT sum(households) FROM territory_area WHERE level = %s", [lvl])[0]
        for lvl in ["street", "community", "grid", "neighbourhood", "compound"]
    }
    assert set(totals.values()) == {demo["households"]}
    # building counts match their household records
    assert (
        _one(
            "SELECT count(*) FROM territory_building b WHERE households <> "
            "(SELECT count(*) FROM territory_household h WHERE h.building_id = b.id)"
        )[0]
        == 0
    )


def test_demo_areas_tile_their_parents_without_gaps_or_overlaps(demo):
    gaps_overlaps = _one(
        """WITH per_parent AS (
             SELECT p.id, ST_Area(p.geom::geography) parent_m2, ST_Area(ST_Union(c.geom)::geography) union_m2,
                    sum(ST_Area(c.geom::geography)) sum_m2
               FROM territory_area p JOIN territory_area c ON c.parent_id = p.id AND c.level <> 'compound'
              GROUP BY p.id, p.geom)
           SELECT max(abs(parent_m2 - union_m2)), max(sum_m2 - union_m2) FROM per_parent"""
    )
    assert gaps_overlaps[0] < 0.01 and gaps_overlaps[1] < 0.01  # m²


def test_demo_neighbourhood_grids_hold_about_30_households(demo):
    lo, mean, hi, share = _one(
        "SELECT min(households), avg(households), max(households),"
        " avg((households BETWEEN 20 AND 40)::int) FROM territory_area WHERE level='neighbourhood'"
    )
    assert hi <= 40 and lo >= 10
    assert 25 <= mean <= 35
    assert share >= 0.9


def test_demo_buildings_lie_inside_their_grid_and_compound(demo):
    assert (
        _one(
            "SELECT count(*) FROM territory_building b JOIN territory_area g ON g.id = b.grid_id"
            " JOIN territory_area k ON k.id = b.compound_id"
            " WHERE NOT ST_Covers(g.geom, b.footprint) OR NOT ST_Covers(k.geom, b.footprint)"
        )[0]
        == 0
    )


def test_demo_is_deterministic(empty_territory):
    first = seed_demo(seed=3, scale=0.2)
    codes = list(Area.objects.order_by("code").values_list("code", "households"))
    footprints = _one(
        "SELECT md5(string_agg(ST_AsText(footprint), ',' ORDER BY id)) FROM territory_building"
    )
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute(
            "TRUNCATE territory_household, territory_unit, territory_building, territory_area CASCADE"
        )
    second = seed_demo(seed=3, scale=0.2)
    assert first == second
    assert codes == list(Area.objects.order_by("code").values_list("code", "households"))
    assert footprints == _one(
        "SELECT md5(string_agg(ST_AsText(footprint), ',' ORDER BY id)) FROM territory_building"
    )


def test_demo_default_scale_matches_the_brief(empty_territory):
    stats = seed_demo(seed=7, scale=1)
    assert stats["streets"] == 1 and stats["communities"] == 5
    assert 130 <= stats["buildings"] <= 190
    assert 5000 <= stats["households"] <= 8000
    # located in Hefei, Baohe
    lon, lat = _one(
        "SELECT ST_X(ST_Centroid(geom)), ST_Y(ST_Centroid(geom)) FROM territory_area WHERE level='street'"
    )
    assert abs(lon - 117.28) < 0.02 and abs(lat - 31.86) < 0.02


# --- the generator's output, and its bulk load ------------------------------------------------------

# One digest per table of everything the generator writes, without ids (rows in id order, references
# by code or by rank): comparable across runs, databases and the bulk and row-by-row paths.
# Coordinates at 7 decimals (~1 cm), so a last-bit difference of another PROJ build does not count.
DIGEST_SQL = {
    "areas": """SELECT count(*), md5(string_agg(concat_ws('|', a.level, a.code, a.name, p.code,
                    ST_AsText(a.geom, 7), a.management_type, a.households, a.buildings, a.version,
                    a.valid_to IS NULL, a.ext_code), E'\\n' ORDER BY a.id))
                  FROM territory_area a LEFT JOIN territory_area p ON p.id = a.parent_id
                 WHERE a.code NOT LIKE '340199%%'""",
    "parts": """SELECT count(*), md5(string_agg(concat_ws('|', a.code, p.level, ST_AsText(p.geom, 7)),
                    E'\\n' ORDER BY a.code, ST_AsText(p.geom, 7)))
                  FROM territory_areapart p JOIN territory_area a ON a.id = p.area_id
                 WHERE a.code NOT LIKE '340199%%'""",
    "buildings": """SELECT count(*), md5(string_agg(concat_ws('|', b.name, b.address,
                    ST_AsText(b.footprint, 7), b.floors, b.units_count, b.households,
                    b.households_source, c.code, g.code, k.code, b.ext_ref), E'\\n' ORDER BY b.id))
                  FROM territory_building b JOIN territory_area c ON c.id = b.community_id
                  JOIN territory_area g ON g.id = b.grid_id JOIN territory_area k ON k.id = b.compound_id""",
    "units": """SELECT count(*), md5(string_agg(concat_ws('|', b.rk, u.number, u.floors), E'\\n' ORDER BY u.id))
                  FROM territory_unit u
                  JOIN (SELECT id, row_number() OVER (ORDER BY id) rk FROM territory_building) b
                    ON b.id = u.building_id""",
    "households": """SELECT count(*), md5(string_agg(concat_ws('|', b.rk, u.number, h.floor, h.room, n.code),
                    E'\\n' ORDER BY h.id))
                  FROM territory_household h
                  JOIN (SELECT id, row_number() OVER (ORDER BY id) rk FROM territory_building) b
                    ON b.id = h.building_id
                  JOIN territory_unit u ON u.id = h.unit_id
                  JOIN territory_area n ON n.id = h.neighbourhood_id""",
}


def _digest() -> dict:
    out = {}
    with connection.cursor() as cur:
        for key, sql in DIGEST_SQL.items():
            cur.execute(sql)
            out[key] = list(cur.fetchone())
    return out


# Digests of the generator's output before its rewrite for speed (the straightforward version: shapely
# boxes, a GEOS union per neighbourhood grid, ids from nextval, areapart from the trigger): the bulk
# path must still write exactly these rows.
GOLDEN = {
    (7, 0.2): {
        "areas": [60, "373916fc468664e7395d6602b042c592"],
        "parts": [61, "da2175b5018006e76254b0b639798edd"],
        "buildings": [30, "8f47d94c1bcd8fd3015f5f6ef361cb7b"],
        "units": [72, "11315a870f70472651162c7ed58c9c1c"],
        "households": [1262, "54c02c78b694cfb08518f9cb302d6012"],
    },
    (7, 1.2): {  # two streets, the second one with a single community
        "areas": [366, "6eac65d75760e823574bb61c3a50ba13"],
        "parts": [375, "6d46029bc72e1b348355430e82b8da10"],
        "buildings": [195, "153610f5f37b12a1ec5ec6d9856650ce"],
        "units": [469, "4ec68cc0c11b87329a9efeecbaaa1853"],
        "households": [7842, "e2ebefce5971de410000a059e65b94c7"],
    },
}


@pytest.mark.parametrize(("seed", "scale"), sorted(GOLDEN))
def test_demo_writes_the_same_rows_as_before(empty_territory, seed, scale):
    seed_demo(seed=seed, scale=scale)
    assert _digest() == GOLDEN[(seed, scale)]


def _catalog() -> list:
    """Constraints, indexes and triggers (with their enabled state) on and pointing at the territory."""
    with connection.cursor() as cur:
        cur.execute(
            """SELECT 'c', conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated::text
                 FROM pg_constraint
                WHERE conrelid::regclass::text LIKE 'territory_%%'
                   OR confrelid::regclass::text LIKE 'territory_%%'
               UNION ALL
               SELECT 'i', tablename, indexname, indexdef, '' FROM pg_indexes
                WHERE tablename LIKE 'territory_%%'
               UNION ALL
               SELECT 't', tgrelid::regclass::text, tgname, tgenabled::text, ''
                 FROM pg_trigger WHERE tgrelid::regclass::text LIKE 'territory_%%' AND NOT tgisinternal
                ORDER BY 1, 2, 3"""
        )
        return cur.fetchall()


def test_bulk_load_restores_keys_indexes_triggers_and_sequences(empty_territory):
    before = _catalog()
    assert any(name == "area_code_versions_disjoint" for _k, _t, name, *_ in before)
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('linli.audit', 'off', true)")  # as seed_all does
    stats = seed_demo(seed=7, scale=0.4)
    after = _catalog()
    assert after == before
    triggers = {name: state for kind, _table, name, state, _ in after if kind == "t"}
    assert {"territory_area_sync_parts", "territory_area_versions_disjoint"} <= set(triggers)
    assert set(triggers.values()) == {"O"}  # all enabled again
    # the id sequences are past the ids used: ordinary inserts work
    street = Area.objects.get(level="street")
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('linli.audit', 'on', true)")
        for table in (
            "territory_area",
            "territory_building",
            "territory_unit",
            "territory_household",
        ):
            cur.execute(f"SELECT max(id) FROM {table}")  # noqa: S608 (constant names)
            last = cur.fetchone()[0]
            cur.execute(
                "SELECT last_value FROM pg_sequences WHERE sequencename = %s", [f"{table}_id_seq"]
            )
            assert cur.fetchone()[0] == last
    building = Building.objects.create(name="x", footprint=Building.objects.first().footprint)
    unit = building.units.create(number=1)
    Household.objects.create(building=building, unit=unit, floor=1, room="101")
    assert Building.objects.count() == stats["buildings"] + 1
    assert street.households == stats["households"]


def test_bulk_load_writes_the_parts_the_trigger_would(empty_territory):
    seed_demo(seed=7, scale=0.4)
    missing, extra = _one(
        """WITH expected AS (SELECT id AS area_id, ST_AsEWKB(ST_Subdivide(geom, 64)) AS g,
                                    level, valid_from, valid_to FROM territory_area),
                actual AS (SELECT area_id, ST_AsEWKB(geom) AS g, level, valid_from, valid_to
                             FROM territory_areapart)
           SELECT (SELECT count(*) FROM (SELECT * FROM expected EXCEPT ALL SELECT * FROM actual) x),
                  (SELECT count(*) FROM (SELECT * FROM actual EXCEPT ALL SELECT * FROM expected) y)"""
    )
    assert (missing, extra) == (0, 0)
    assert _one("SELECT count(*) FROM territory_areapart")[0] > 0


def test_demo_into_a_populated_territory_writes_the_same_rows(empty_territory, monkeypatch):
    """Bulk (empty territory) and street by street (something already there) write the same rows."""
    seed_demo(seed=5, scale=0.4)
    bulk = _digest()
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute(
            "TRUNCATE territory_household, territory_unit, territory_building, territory_areapart,"
            " territory_area CASCADE"
        )
    area_create(level="street", code="340199001", name="x", geom=GEOSGeometry(SQUARE))
    streets = []
    monkeypatch.setattr(DemoWriter, "street", _spy(DemoWriter.street, streets))
    seed_demo(seed=5, scale=0.4)
    assert len(streets) == 1  # the row-by-row path was taken
    assert _digest() == bulk
    assert bulk == {  # and both are what the generator wrote before its rewrite
        "areas": [107, "164e3598a3871c6d7b1bc278fca2838e"],
        "parts": [112, "fc8e577f7e330be926d4a96c8c6be308"],
        "buildings": [62, "90223d094193374a21dc1fc069e55003"],
        "units": [153, "35754224e774dece805b89333fda59fa"],
        "households": [2138, "7b12a4007b86872a6824aa38117e659a"],
    }


def _spy(fn, calls):
    def wrapper(*args, **kwargs):
        calls.append(args)
        return fn(*args, **kwargs)

    return wrapper


def test_box_encoding_matches_shapely():
    """The generator writes boxes' EWKB itself: it must be shapely's, corner for corner."""
    writer = DemoWriter(seed=1)
    rng = np.random.default_rng(2)
    x = writer.origin[0] + rng.uniform(-5000, 5000, 200)
    y = writer.origin[1] + rng.uniform(-5000, 5000, 200)
    w = rng.uniform(0.1, 75, 200) * rng.choice([1 / 3, 0.4117, 1.0], 200)
    boxes = [(a, b, a + c, b + c / 2) for a, b, c in zip(x, y, w, strict=True)]
    ours = writer._box_ewkb(boxes, demo._MULTI_BOX_HEADER)
    geoms = shapely.transform(
        np.array([shapely.geometry.box(*b) for b in boxes]),
        lambda xy: np.column_stack(writer.to_wgs84.transform(xy[:, 0], xy[:, 1])),
    )
    multi = shapely.set_srid(np.array([shapely.MultiPolygon([g]) for g in geoms]), 4326)
    theirs = shapely.to_wkb(multi, hex=True, include_srid=True)
    assert [h.upper() for h in ours] == list(theirs)


def test_bulk_version_check_finds_overlapping_versions(empty_territory):
    with connection.cursor() as cur:
        cur.execute("ALTER TABLE territory_area DISABLE TRIGGER territory_area_versions_disjoint")
        for start, end in (("2024-01-01", "2024-06-01"), ("2024-05-01", "2024-07-01")):
            cur.execute(
                "INSERT INTO territory_area (level, code, name, geom, valid_from, valid_to, version,"
                " ext_code, households, buildings, created_at)"
                " VALUES ('street', '340111991', 'x', %s, %s, %s, 1, '', 0, 0, now())",
                [SQUARE, start, end],
            )
        with pytest.raises(IntegrityError, match="area_code_versions_disjoint.*340111991"):
            demo._check_versions(cur)
        cur.execute(
            "UPDATE territory_area SET valid_from = '2024-06-01' WHERE valid_to = '2024-07-01'"
        )
        demo._check_versions(cur)  # adjacent now: fine
