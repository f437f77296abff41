"""Station coverage by the living-circle tiers, and the MCLP suggestion on cases with a known optimum."""

import numpy as np
import pytest

from apps.analytics import stations
from apps.analytics.models import ServiceStation
from apps.common.errors import DomainError
from tests.analytics.world import COMMUNITY, build_world, point


@pytest.fixture
def world(empty_territory):
    return build_world()


def test_coverage_puts_each_household_in_the_smallest_tier_that_reaches_it(world):
    cov = stations.coverage()
    # B1 65 m walk (5 min), B2 390 m (10), B4 975 m (15), B3 1,430 m and B_OUT 2,730 m beyond
    assert cov["total"]["households"] == {"5": 10, "10": 6, "15": 4, "beyond": 13}
    assert cov["total"]["buildings"] == {"5": 1, "10": 1, "15": 1, "beyond": 2}
    assert cov["share_within"] == {
        "5": round(10 / 33, 4),
        "10": round(16 / 33, 4),
        "15": round(20 / 33, 4),
    }
    assert cov["detour_factor"] == 1.3
    assert list(cov["by_community"]) == [COMMUNITY]


def test_distances_are_geodesic_metres(world):
    access = {b.name: b for b in stations.building_access()}
    assert access["B3"].straight_m == pytest.approx(1100, abs=2)
    assert access["B3"].walk_m == pytest.approx(1430, abs=3)
    assert access["B1"].tier() == 5 and access["B2"].tier() == 10 and access["B3"].tier() is None


def test_mclp_beats_greedy_on_a_case_whose_optimum_is_known():
    # Four clients on a line at 0, 2r, 4r, 6r (weights 3, 4, 4, 3) and three sites at r, 3r, 5r.
    # Each site covers its two neighbours. Greedy opens the middle one (8) then a side one (+3) = 11;
    # the optimum opens both sides: 3+4 + 4+3 = 14.
    r = 100.0
    clients = np.array([0, 2, 4, 6]) * r
    sites = np.array([1, 3, 5]) * r
    cost = np.abs(clients[:, None] - sites[None, :])
    weights = np.array([3, 4, 4, 3])
    result = stations.mclp_sites(cost, weights, r, 2)
    assert result["greedy_sites"] == [0, 1] or result["greedy_sites"] == [1, 2]
    assert result["greedy_covered"] == 11
    assert result["sites"] == [0, 2]
    assert result["covered"] == 14
    assert result["method"] == "mclp"


def test_mclp_with_one_site_picks_the_heaviest_cover():
    cost = np.array([[0, 500], [400, 0], [450, 10]], dtype=float)
    result = stations.mclp_sites(cost, np.array([5, 2, 2]), 100, 1)
    assert result["sites"] == [0] and result["covered"] == 5


def test_suggestion_covers_the_uncovered_households(world):
    # 5-minute tier (230 m straight): B2, B3, B4 and B_OUT (23 households) are not reached. Candidate
    # sites are the centres of H3 cells (~66 m) holding buildings, and none is within 230 m of two of
    # these buildings, so each site reaches one: three sites take the three heaviest (8 + 6 + 5), four take all.
    s = stations.suggest_stations(count=3, tier=5)
    assert s["uncovered_households"] == 23
    assert s["covered"] == 19 and len(s["sites"]) == 3
    assert stations.suggest_stations(count=4, tier=5)["covered"] == 23
    one = stations.suggest_stations(count=1, tier=5)
    assert one["covered"] == 8  # B3 (8 households) is the heaviest single building
    # with a station at B3 the 15-minute gaps shrink to B_OUT alone
    ServiceStation.objects.create(name="新站", point=point(1200, 520))
    s15 = stations.suggest_stations(count=1, tier=15)
    assert s15["uncovered_households"] == 5 and s15["covered"] == 5


def test_bad_suggestion_parameters_name_the_problem(world):
    with pytest.raises(DomainError, match="count=0"):
        stations.suggest_stations(count=0)
    with pytest.raises(DomainError, match="tier='x'"):
        stations.suggest_stations(count=1, tier="x")
    with pytest.raises(DomainError, match="no buildings"):
        stations.suggest_stations(count=1, within="999999999")
