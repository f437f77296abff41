"""Each gap kind finds exactly the cases planted in the hand-built world (tests/analytics/world.py)."""

import pytest
from django.utils import translation

from apps.analytics import gaps
from apps.common.errors import DomainError
from tests.analytics.world import COMMUNITY, GRID1, GRID2, STREET, build_world


@pytest.fixture
def world(empty_territory):
    return build_world()


# The kinds that need only the territory, the staff roles and property companies; the kinds reading
# residents, committees, center households and patrols are tested in test_integration.py.
BASE = [
    "building_no_grid",
    "household_no_neighbourhood",
    "grid_no_leader",
    "compound_no_property",
    "company_no_party_org",
    "station_far",
]


def found(kind, **kw):
    return sorted((it["name"], it["area_code"]) for it in gaps.gap_items(kinds=[kind], **kw))


def test_each_gap_kind_finds_exactly_the_planted_cases(world):
    assert found("building_no_grid") == [("B_OUT", COMMUNITY)]
    items = gaps.gap_items(kinds=["household_no_neighbourhood"])
    assert sorted((i["name"], i["detail"]["households"]) for i in items) == [
        ("B2", 3),
        ("B_OUT", 5),
    ]
    assert found("grid_no_leader") == [("二网格", GRID2)]
    items = gaps.gap_items(kinds=["compound_no_property"])
    assert sorted((i["name"], i["detail"]["reason"]) for i in items) == [
        ("小区2", "none"),
        ("小区3", "no_company"),
    ]
    assert found("company_no_party_org") == [("甲物业", COMMUNITY)]
    # 15-minute tier (1,000 m walking = 769 m straight): B3 (1,100 m) and B_OUT (2,100 m)
    assert found("station_far") == [("B3", GRID2), ("B_OUT", COMMUNITY)]
    # 5-minute tier (300 m walking): everything but B1
    assert [n for n, _ in found("station_far", tier=5)] == ["B2", "B3", "B4", "B_OUT"]
    # 10-minute tier (500 m): B2 walks 390 m, B4 975 m
    assert [n for n, _ in found("station_far", tier=10)] == ["B3", "B4", "B_OUT"]


def test_gaps_are_counted_per_area_and_filtered_by_area_code(world):
    counts = gaps.gap_counts(by="grid", kinds=BASE)
    by_code = {a["code"]: a["counts"] for a in counts["areas"]}
    assert by_code[GRID2]["grid_no_leader"] == 1 and by_code[GRID2]["station_far"] == 1
    assert by_code[GRID1]["household_no_neighbourhood"] == 1
    # compounds and companies hang on the community, not a grid: they count under "no grid"
    assert by_code[""]["compound_no_property"] == 2
    assert counts["total"]["station_far"] == 2
    community = gaps.gap_counts(by="community", kinds=BASE)
    assert [a["code"] for a in community["areas"]] == [COMMUNITY]
    assert community["areas"][0]["name"] == "测试社区"
    assert found("station_far", within=GRID1) == []
    assert found("station_far", within=STREET) == found("station_far")


def test_gaps_explain_themselves_in_chinese_by_default_and_in_english(world):
    with translation.override("zh-hans"):
        text = gaps.gap_items(kinds=["grid_no_leader"])[0]["explanation"]
    assert "二网格" in text and "网格长" in text
    with translation.override("en"):
        item = gaps.gap_items(kinds=["station_far"])[0]
    d = item["detail"]
    assert abs(d["straight_m"] - 1100) <= 2 and abs(d["walk_m"] - 1.3 * d["straight_m"]) <= 1
    assert item["explanation"] == (
        f"Building B3 (8 households) is about {d['walk_m']} m on foot from the nearest service station, "
        f"测试党群服务站 ({d['straight_m']} m in a straight line × 1.3), beyond the 15-minute walk of 1000 m."
    )
    with translation.override("zh-hans"):
        zh = gaps.gap_items(kinds=["station_far"])[0]["explanation"]
    assert zh.startswith("楼栋 B3（8 户）距最近的党群服务站「测试党群服务站」步行约")


def test_gaps_geojson_draws_every_gap(world):
    fc = gaps.gaps_geojson(kinds=BASE)
    assert fc["type"] == "FeatureCollection"
    assert len(fc["features"]) == 9
    kinds = {f["properties"]["kind"]: f["geometry"]["type"] for f in fc["features"]}
    assert kinds["grid_no_leader"] == "MultiPolygon"
    assert (
        kinds["company_no_party_org"] == "GeometryCollection"
        or "Multi" in kinds["company_no_party_org"]
    )
    assert all(f["properties"]["explanation"] for f in fc["features"])


def test_bad_parameters_name_the_problem(world):
    with pytest.raises(DomainError, match="unknown gap kind 'nope'"):
        gaps.gap_items(kinds=["nope"])
    with pytest.raises(DomainError, match="tier=7"):
        gaps.gap_items(tier=7)
    with pytest.raises(DomainError, match="within='x1'"):
        gaps.gap_items(within="x1")
    with pytest.raises(DomainError, match="by='city'"):
        gaps.gap_counts(by="city")
