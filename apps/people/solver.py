"""Auto-suggest of center households: a capacitated facility-location MIP solved by HiGHS
(scipy.optimize.milp). See docs/PEOPLE.md for the formulation.

Households H, candidate centers C ⊆ H (households with a party member), allowed pairs E ⊆ H × C
(i ≠ c, same neighbourhood grid or within D metres, as the policy says). Variables:
    y_c ∈ {0,1}   candidate c is opened as a center household
    x_ic ∈ {0,1}  household i is linked to center c
    u_i ∈ [0,1]   household i stays uncovered
Constraints:
    Σ_c x_ic + y_i [i ∈ C] + u_i = 1          every household is linked, a center itself, or uncovered
    L·y_c ≤ Σ_i x_ic ≤ U·y_c                   an opened center looks after L..U households, a closed one none
Objective, lexicographic: minimise M·Σ u_i + Σ d_ic x_ic with M larger than any total distance, so as
many households as the limits and the rule allow are covered, and among those plans the total straight-
line distance (metres) is least. Pure functions of arrays; reading the database is in selectors."""

from dataclasses import dataclass, field

import numpy as np
from pyproj import Transformer
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp


@dataclass
class Problem:
    households: np.ndarray  # household ids, shape (n,)
    xy: np.ndarray  # metric coordinates, shape (n, 2) or (n, 3) (with height)
    neighbourhood: np.ndarray  # neighbourhood grid id per household (-1: none)
    candidates: np.ndarray  # indices into households of the candidate centers
    min_links: int
    max_links: int
    rule: str  # "neighbourhood" | "distance"
    max_distance_m: float


@dataclass
class Solution:
    centers: dict = field(default_factory=dict)  # center household id -> [linked household ids]
    uncovered: list = field(default_factory=list)
    total_distance: float = 0.0
    status: str = "optimal"

    @property
    def covered(self) -> int:
        return sum(1 + len(v) for v in self.centers.values())


def metric_xy(lon, lat) -> np.ndarray:
    """WGS84 -> metres in the UTM zone of the points' mean longitude (northern hemisphere)."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    if lon.size == 0:
        return np.zeros((0, 2))
    zone = int((float(np.mean(lon)) + 180) // 6) + 1
    epsg = (32600 if float(np.mean(lat)) >= 0 else 32700) + zone
    x, y = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True).transform(lon, lat)
    return np.column_stack([x, y])


def allowed_pairs(
    p: Problem, nearest: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(household index, candidate position, distance) for every pair the rule allows; with
    `nearest`, only each household's `nearest` closest allowed candidates."""
    if len(p.candidates) == 0:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    cxy = p.xy[p.candidates]
    d = np.linalg.norm(p.xy[:, None, :] - cxy[None, :, :], axis=2)  # 2-D or 3-D points
    ok = np.ones_like(d, dtype=bool)
    ok[p.candidates, np.arange(len(p.candidates))] = False  # not linked to itself
    if p.rule == "neighbourhood":
        nb = p.neighbourhood
        ok &= (nb[:, None] == nb[p.candidates][None, :]) & (nb[:, None] >= 0)
    else:
        ok &= d <= p.max_distance_m + 1e-9
    if nearest is not None and nearest < len(p.candidates):
        ranked = np.argsort(np.where(ok, d, np.inf), axis=1, kind="stable")[:, :nearest]
        keep = np.zeros_like(ok)
        np.put_along_axis(keep, ranked, True, axis=1)
        ok &= keep
    hi, ci = np.nonzero(ok)
    return hi, ci, np.round(d[hi, ci], 1)


def solve(
    p: Problem, *, time_limit: float = 60.0, gap: float = 0.0, nearest: int | None = None
) -> Solution:
    """Optimal within relative `gap` (0: proven optimal) or the best found within `time_limit`."""
    n, k = len(p.households), len(p.candidates)
    if n == 0:
        return Solution()
    hi, ci, dist = allowed_pairs(p, nearest)
    m = len(hi)
    nv = k + m + n  # y | x | u
    # Household rows: Σ x + y_i + u_i = 1
    rows = [hi, p.candidates, np.arange(n)]
    cols = [k + np.arange(m), np.arange(k), k + m + np.arange(n)]
    a_house = sparse.csr_array(
        (np.ones(m + k + n), (np.concatenate(rows), np.concatenate(cols))), shape=(n, nv)
    )
    # Capacity rows: Σ_i x_ic - U y_c <= 0 and Σ_i x_ic - L y_c >= 0
    a_up = sparse.csr_array(
        (
            np.concatenate([np.ones(m), np.full(k, -float(p.max_links))]),
            (np.concatenate([ci, np.arange(k)]), np.concatenate([k + np.arange(m), np.arange(k)])),
        ),
        shape=(k, nv),
    )
    a_low = sparse.csr_array(
        (
            np.concatenate([np.ones(m), np.full(k, -float(p.min_links))]),
            (np.concatenate([ci, np.arange(k)]), np.concatenate([k + np.arange(m), np.arange(k)])),
        ),
        shape=(k, nv),
    )
    # Strong form: x_ic <= y_c (implied by the capacity rows, but it tightens the LP relaxation a lot).
    a_link = sparse.csr_array(
        (
            np.concatenate([np.ones(m), -np.ones(m)]),
            (np.concatenate([np.arange(m), np.arange(m)]), np.concatenate([k + np.arange(m), ci])),
        ),
        shape=(m, nv),
    )
    constraints = [
        LinearConstraint(a_house, 1, 1),
        LinearConstraint(a_link, -np.inf, 0),
        LinearConstraint(a_up, -np.inf, 0),
        LinearConstraint(a_low, 0, np.inf),
    ]
    integrality = np.concatenate([np.ones(k + m), np.zeros(n)])
    bounds = Bounds(0, 1)
    options = {"time_limit": time_limit, "mip_rel_gap": gap}

    # Lexicographic in one solve: one uncovered household costs more than any total distance can
    # (M > Σ over households of their longest allowed link), so coverage is maximised first.
    longest = np.zeros(n)
    np.maximum.at(longest, hi, dist)
    big_m = float(longest.sum()) + 1.0
    c = np.concatenate([np.zeros(k), dist, np.full(n, big_m)])
    best = milp(c, constraints=constraints, integrality=integrality, bounds=bounds, options=options)
    if best.x is None:
        return Solution(uncovered=[int(h) for h in p.households], status=best.message)
    x = np.round(best.x).astype(int)
    sol = Solution(
        status=("optimal" if gap == 0 else f"optimal within {gap:.1%}")
        if best.status == 0
        else str(best.message)
    )
    for pos in np.nonzero(x[:k])[0]:
        sol.centers[int(p.households[p.candidates[pos]])] = []
    chosen = np.nonzero(x[k : k + m])[0]
    for e in chosen:
        sol.centers[int(p.households[p.candidates[ci[e]]])].append(int(p.households[hi[e]]))
    sol.total_distance = float(dist[chosen].sum())
    sol.uncovered = [int(p.households[i]) for i in np.nonzero(x[k + m :])[0]]
    return sol
