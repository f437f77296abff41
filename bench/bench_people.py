"""Benchmarks of apps.people: the center-household MIP and ID-number protection.

Run on the dev database with the demo loaded (`make reset-db`):
    .venv/bin/python -m bench.bench_people [--quick]
Floors are measured in the same run: the MIP against its own LP relaxation (same model, integrality
dropped), the 8-nearest model against the full one, and ID protection against plain HMAC hashing."""

import os
import sys
import time


def _setup():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geo.settings")
    import django

    django.setup()


def _timed(fn, repeat=1):
    best = float("inf")
    out = None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def run(*, quick: bool) -> list[dict]:
    _setup()
    import hashlib
    import hmac

    import numpy as np

    from apps.people import pii, selectors, solver
    from apps.people.services import NEAREST_CANDIDATES
    from apps.territory.models import Area

    rows = []
    community = Area.objects.filter(level="community").order_by("code").first()
    if community is None:
        raise SystemExit("load the demo first: make reset-db")
    policy = selectors.center_policy(community_id=community.id)
    problems = selectors.solver_problems(area=community, policy=policy)
    grid, p, _members = max(problems, key=lambda t: len(t[1].households))

    sparse_s, sparse = _timed(lambda: solver.solve(p, nearest=NEAREST_CANDIDATES))
    original_milp = solver.milp

    def relaxed(c, **kw):
        kw["integrality"] = np.zeros_like(kw["integrality"])
        return original_milp(c, **kw)

    solver.milp = relaxed
    try:
        lp_s, _ = _timed(lambda: solver.solve(p, nearest=NEAREST_CANDIDATES))
    finally:
        solver.milp = original_milp
    rows.append(
        {
            "benchmark": f"center-household MIP, {len(p.households)} households, "
            f"{len(p.candidates)} candidates ({grid.code})",
            "value": round(sparse_s, 3),
            "unit": "s",
            "floor": round(lp_s, 3),
            "ratio": round(sparse_s / lp_s, 2),
            "target": "< 10 s per grid",
            "note": f"floor: LP relaxation of the same model; coverage {sparse.covered}/"
            f"{len(p.households)}, distance {sparse.total_distance:.0f} m",
        }
    )
    if not quick:
        full_s, full = _timed(lambda: solver.solve(p))
        rows.append(
            {
                "benchmark": "center-household MIP, all candidates vs 8 nearest",
                "value": round(full_s, 3),
                "unit": "s",
                "floor": round(sparse_s, 3),
                "ratio": round(full_s / sparse_s, 2),
                "target": "same optimum",
                "note": f"total distance full {full.total_distance:.1f} m, "
                f"8-nearest {sparse.total_distance:.1f} m",
            }
        )

    n = 2_000 if quick else 15_000
    ids = [f"34011119800101{i % 1000:03d}" for i in range(n)]
    ids = [f[:14] + f"{i % 10}" + f[15:17] for i, f in enumerate(ids)]
    ids = [f + pii.id_check_char(f) for f in ids]
    _fernet, key = pii.keys()
    protect_s, _ = _timed(lambda: [pii.id_protect(x) for x in ids])
    hash_s, _ = _timed(lambda: [hmac.new(key, x.encode(), hashlib.sha256).hexdigest() for x in ids])
    rows.append(
        {
            "benchmark": f"protect {n:,} ID numbers (Fernet + HMAC + mask)",
            "value": round(protect_s, 3),
            "unit": "s",
            "floor": round(hash_s, 3),
            "ratio": round(protect_s / hash_s, 2),
            "target": "< 2 s for the demo's 16k residents",
            "note": "floor: HMAC-SHA256 alone",
        }
    )
    return rows


if __name__ == "__main__":
    for row in run(quick="--quick" in sys.argv):
        print(row)
