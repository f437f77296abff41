"""The auto-suggest MIP against an exact solver run here: enumeration of every set of opened centers,
each solved exactly as a min-cost flow with lower bounds (networkx), on small random cases."""

import itertools

import networkx as nx
import numpy as np
import pytest

from apps.people import selectors
from apps.people.solver import Problem, allowed_pairs, solve
from apps.territory.models import Area


def brute_force(p: Problem) -> tuple[int, float]:
    """(uncovered, total distance) of the best plan, by enumerating opened sets."""
    hi, ci, dist = allowed_pairs(p)
    n, k = len(p.households), len(p.candidates)
    best = (n, 0.0)
    for r in range(1, k + 1):
        for opened in itertools.combinations(range(k), r):
            opened_set = set(opened)
            centers = {int(p.candidates[c]) for c in opened}
            g = nx.DiGraph()
            others = [i for i in range(n) if i not in centers]
            need = p.min_links * len(opened)
            if need > len(others):
                continue
            g.add_node("T", demand=len(others) - need)
            for c in opened:
                g.add_node(("c", c), demand=p.min_links)
                g.add_edge(("c", c), "T", capacity=p.max_links - p.min_links, weight=0)
            big = 10**7
            for i in others:
                g.add_node(("h", i), demand=-1)
                g.add_edge(("h", i), "T", capacity=1, weight=big)  # uncovered
            for h, c, d in zip(hi, ci, dist, strict=True):
                if c in opened_set and int(h) not in centers:
                    g.add_edge(("h", int(h)), ("c", int(c)), capacity=1, weight=int(round(d * 10)))
            try:
                flow = nx.min_cost_flow(g)
            except nx.NetworkXUnfeasible:
                continue
            uncovered = sum(flow[("h", i)]["T"] for i in others)
            distance = (
                sum(
                    flow[("h", int(h))].get(("c", int(c)), 0) * round(d * 10)
                    for h, c, d in zip(hi, ci, dist, strict=True)
                    if c in opened_set and int(h) not in centers
                )
                / 10
            )
            best = min(best, (uncovered, distance))
    return best


def random_problem(seed, n=11, k=4, lo=2, hi=4, rule="distance"):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, size=(n, 2)).round(1)
    return Problem(
        households=np.arange(100, 100 + n),
        xy=xy,
        neighbourhood=rng.integers(0, 2, size=n),
        candidates=np.sort(rng.choice(n, size=k, replace=False)),
        min_links=lo,
        max_links=hi,
        rule=rule,
        max_distance_m=70.0,
    )


@pytest.mark.parametrize("seed", range(12))
def test_mip_matches_the_exact_enumeration_on_small_cases(seed):
    rule = "neighbourhood" if seed % 3 == 0 else "distance"
    p = random_problem(seed, rule=rule, lo=1 + seed % 3, hi=3 + seed % 2)
    sol = solve(p)
    uncovered, distance = brute_force(p)
    assert len(sol.uncovered) == uncovered
    assert sol.total_distance == pytest.approx(distance, abs=0.05)
    # limits and the rule hold in the MIP's answer
    hi_, ci_, _d = allowed_pairs(p)
    allowed = {
        (int(p.households[h]), int(p.households[p.candidates[c]]))
        for h, c in zip(hi_, ci_, strict=True)
    }
    linked = [h for v in sol.centers.values() for h in v]
    assert len(linked) == len(set(linked))
    for center, households in sol.centers.items():
        assert p.min_links <= len(households) <= p.max_links
        assert all((h, center) in allowed for h in households)
    assert sol.covered + len(sol.uncovered) == len(p.households)


def test_when_capacity_allows_every_household_is_covered():
    # 20 households in one spot, 2 candidates, limits 5..15: 2 centers + 18 links cover everyone;
    # a greedy "fill the nearest center" loop would also do it, so squeeze: max 9 forces both open.
    p = Problem(
        households=np.arange(20),
        xy=np.zeros((20, 2)),
        neighbourhood=np.zeros(20, dtype=int),
        candidates=np.array([0, 1]),
        min_links=5,
        max_links=9,
        rule="distance",
        max_distance_m=10,
    )
    sol = solve(p)
    assert sol.uncovered == [] and sorted(len(v) for v in sol.centers.values()) == [9, 9]


def test_demo_plan_covers_every_household_within_limits_and_rule(demo):
    community = Area.objects.get(level="community")
    policy = selectors.center_policy(community_id=community.id)
    rows = selectors.coverage(area=community)
    assert len(rows) == 6
    for row in rows:
        assert row["coverage"] == 1.0, row
    data = selectors.center_map(area=community, access=_nobody())
    assert data["centers"]
    for c in data["centers"]:
        assert policy.min_links <= c["count"] <= policy.max_links
        assert all(link["distance_m"] <= policy.max_distance_m for link in c["links"])
        assert c["warnings"] == []


def _nobody():
    from apps.people.privacy import PersonalDataAccess

    return PersonalDataAccess()


def test_nearest_candidates_sparsification_keeps_the_optimum_on_a_demo_grid(demo):
    from apps.people.services import NEAREST_CANDIDATES

    community = Area.objects.get(level="community")
    policy = selectors.center_policy(community_id=community.id)
    problems = selectors.solver_problems(area=community, policy=policy)
    _grid, p, _members = min(problems, key=lambda t: len(t[1].households))
    full, sparse = solve(p), solve(p, nearest=NEAREST_CANDIDATES)
    assert full.status == sparse.status == "optimal"
    assert len(sparse.uncovered) == len(full.uncovered) == 0
    assert sparse.total_distance == pytest.approx(full.total_distance)
