from django.db import connection

from apps.territory.demo import seed_demo
from apps.territory.models import Area, Building, Household


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
