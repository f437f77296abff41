"""Benchmark: automatic proposal of neighbourhood grids (apps.planning.proposal).

Rows (contract in bench/__main__.py): runtime of the proposal for a community of about 3,000 households,
against a floor measured in the same run (the bare METIS call on the same graphs); quality (share of
grids within [20, 40] and [25, 35], contiguity, compactness) on the demo district and at city scale; the
same figures for spopt's MaxP heuristic on the same pieces, graph and map cells.

The city is generated inside a transaction that is rolled back, so the dev database is left as it was.
Run: `.venv/bin/python -m bench.bench_planning [--quick]` (or `make bench` / `make bench-quick`).
"""

import os
import sys
import time
import warnings


def _django():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geo.settings")
    import django

    django.setup()


def _inputs(communities):
    from apps.planning.selectors import proposal_input

    grids, buildings = [], []
    for c in communities:
        g, b, _proj = proposal_input(community=c)
        offset = len(grids)
        for x in b:
            x.grid += offset
        grids.extend(g)
        buildings.extend(b)
    return grids, buildings


def _maxp(pieces, adj, nodes, min_hh):
    """spopt's MaxP heuristic on one grid's pieces: regions of at least min_hh households."""
    import geopandas as gpd
    from libpysal.weights import W
    from spopt.region import MaxPHeuristic

    from apps.planning.proposal import _components

    out = []
    for comp in _components(nodes, adj):
        total = sum(pieces[v].households for v in comp)
        if len(comp) < 2 or total < 2 * min_hh:
            out.append(comp)
            continue
        index = {v: i for i, v in enumerate(comp)}
        neighbours = {index[v]: [index[u] for u in adj.get(v, ()) if u in index] for v in comp}
        w = W(neighbours, silence_warnings=True)
        cent = [pieces[v].geom.centroid for v in comp]
        gdf = gpd.GeoDataFrame(
            {
                "hh": [pieces[v].households for v in comp],
                "x": [c.x for c in cent],
                "y": [c.y for c in cent],
            },
            geometry=[pieces[v].geom for v in comp],
        )
        model = MaxPHeuristic(
            gdf, w, ["x", "y"], "hh", min_hh, top_n=2, max_iterations_construction=20
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.solve()
        groups = {}
        for v, label in zip(comp, model.labels_, strict=True):
            groups.setdefault(int(label), []).append(v)
        out.extend(groups.values())
    return out


def _metis_floor(grids, buildings):
    """Time of the bare METIS calls on the same per-grid graphs (the library floor)."""
    import pymetis

    from apps.planning import proposal as prop

    captured = []
    real = prop._Partitioner.run

    def capture(self, nodes):
        captured.append((self, list(nodes)))
        return real(self, nodes)

    prop._Partitioner.run = capture
    try:
        prop.propose(grids, buildings)
    finally:
        prop._Partitioner.run = real
    t0 = time.perf_counter()
    for part, nodes in captured:
        for comp in prop._components(nodes, part.adj):
            k = max(1, round(part.w(comp) / part.target))
            if k > 1 and len(comp) > k:
                local = {v: i for i, v in enumerate(comp)}
                xadj, adjncy = [0], []
                for v in comp:
                    adjncy.extend(local[u] for u in part.adj.get(v, ()) if u in local)
                    xadj.append(len(adjncy))
                pymetis.part_graph(
                    k,
                    pymetis.CSRAdjacency(xadj, adjncy),
                    vweights=[max(1, part.pieces[v].households) for v in comp],
                    options=pymetis.Options(contig=1),
                )
    return time.perf_counter() - t0


def _quality_rows(prefix, report, target_note):
    bound = report.get("within_25_35_bound")
    return [
        {
            "benchmark": f"{prefix}.within_20_40",
            "value": report["within_range"] * 100,
            "unit": "%",
            "floor": None,
            "ratio": None,
            "target": "≥ 98 %",
            "note": f"{report['groups']} grids, min/mean/max {report['min']}/{report['mean']}/"
            f"{report['max']} households{target_note}",
        },
        {
            "benchmark": f"{prefix}.within_25_35",
            "value": report["within_25_35"] * 100,
            "unit": "%",
            "floor": bound * 100 if bound is not None else None,
            "ratio": report["within_25_35"] / bound if bound else None,
            "target": "≥ 90 %",
            "note": "floor column: upper bound any grouping of these pieces can reach "
            "(proposal.band_upper_bound)"
            if bound is not None
            else "",
        },
        {
            "benchmark": f"{prefix}.contiguous",
            "value": report["contiguous"] * 100,
            "unit": "%",
            "floor": None,
            "ratio": None,
            "target": "100 %",
            "note": f"compactness (Polsby-Popper mean) {report['compactness']}",
        },
    ]


def _city_bound(reports) -> float:
    """band_upper_bound over several proposals (each piece keyed by its proposal and grid)."""
    from apps.planning.proposal import band_upper_bound

    pieces, grids = [], []
    for i, r in enumerate(reports):
        grid_of_piece = {}
        for g in r.groups:
            for v in g.pieces:
                grid_of_piece[v] = g.grid
        for v, p in enumerate(r.pieces):
            pieces.append(p)
            grids.append((i, grid_of_piece.get(v)))
    return band_upper_bound(pieces, grids)


def _publish_row(quick: bool) -> dict:
    """Publishing the proposal for the first community of the measured dataset (rolled back), beside
    a full refresh of the cached counts: what every publish ran before its refresh was scoped to the
    areas it touched (its cost grows with the city, the scoped one with the community)."""
    from django.db import transaction

    from apps.planning import services
    from apps.territory.models import Area
    from apps.territory.services import area_counts_refresh
    from bench.common import dataset, measure_dataset

    name = measure_dataset(quick)
    dataset(name)
    with transaction.atomic():
        community = (
            Area.objects.filter(level="community", valid_to__isnull=True).order_by("code").first()
        )
        plan = services.plan_propose(community=community)
        t0 = time.perf_counter()
        diff = services.plan_publish(plan=plan, revision=plan.revision)
        t_publish = time.perf_counter() - t0
        t0 = time.perf_counter()
        left = area_counts_refresh()
        t_full = time.perf_counter() - t0
        transaction.set_rollback(True)
    if left:
        raise RuntimeError(f"the publish left {left} counts for a full refresh to fix")
    return {
        "benchmark": "planning.publish.community_proposal",
        "value": t_publish,
        "unit": "s",
        "floor": t_full,
        "ratio": t_publish / t_full if t_full else None,
        "target": "",
        "note": f"{community.code}: {plan.report['households']:,} households, "
        f"{diff['households_moved']:,} moved, {len(diff['new_codes'])} new codes; floor column: a "
        f"full counts refresh (what each publish ran before, 2026-12-01), which then found nothing "
        f"to fix; dataset {name}; rolled back",
    }


def run(*, quick: bool) -> list[dict]:
    _django()
    from django.db import transaction

    from apps.planning import proposal as prop
    from apps.territory import demo
    from apps.territory.models import Area

    rows = [_publish_row(quick)]
    with transaction.atomic():
        # a fresh demo district (scale 1: 5 communities) and a city, rolled back at the end
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cur.execute(
                "TRUNCATE territory_household, territory_unit, territory_building, "
                "territory_areapart, territory_area CASCADE"
            )
        demo.seed_demo(seed=7, scale=1.0)
        communities = list(
            Area.objects.filter(level="community", valid_to__isnull=True).order_by("code")
        )
        # a community of about 3,000 households: adjacent demo communities taken together
        from django.db.models import Sum

        from apps.territory.models import Building

        picked, total = [], 0
        for c in communities:
            picked.append(c)
            total += Building.objects.filter(community=c).aggregate(n=Sum("households"))["n"] or 0
            if total >= 3000:
                break
        t0 = time.perf_counter()
        grids, buildings = _inputs(picked)
        load = time.perf_counter() - t0
        runs = 3 if quick else 7
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            result = prop.propose(grids, buildings)
            times.append(time.perf_counter() - t0)
        best = sorted(times)[len(times) // 2]
        floor = _metis_floor(grids, buildings)
        rows.append(
            {
                "benchmark": "planning.propose.3000_households",
                "value": best,
                "unit": "s",
                "floor": floor,
                "ratio": best / floor if floor else None,
                "target": "< 1 s",
                "note": f"{result.report['households']} households, {len(buildings)} buildings; "
                f"median of {runs}; floor: bare METIS calls on the same graphs; loading the input "
                f"from PostGIS {load:.3f} s more",
            }
        )
        # the demo district, ours and MaxP on the same input
        grids, buildings = _inputs(communities)
        t0 = time.perf_counter()
        ours = prop.propose(grids, buildings)
        t_ours = time.perf_counter() - t0
        rows += _quality_rows("planning.demo.metis", ours.report, f", {t_ours:.2f} s")
        grids, buildings = _inputs(communities)
        t0 = time.perf_counter()
        maxp = prop.propose(grids, buildings, partition=_maxp)
        t_maxp = time.perf_counter() - t0
        rows += _quality_rows("planning.demo.maxp", maxp.report, f", {t_maxp:.2f} s (spopt MaxP)")
        rows.append(
            {
                "benchmark": "planning.demo.runtime_metis_vs_maxp",
                "value": t_ours,
                "unit": "s",
                "floor": t_maxp,
                "ratio": t_ours / t_maxp,
                "target": "ratio < 1",
                "note": f"whole demo district ({ours.report['households']} households); floor "
                f"column is spopt MaxP on the same pieces and graph",
            }
        )
        # city scale
        scale = 4.0 if quick else 40.0
        with connection.cursor() as cur:
            cur.execute(
                "TRUNCATE territory_household, territory_unit, territory_building, "
                "territory_areapart, territory_area CASCADE"
            )
        demo.seed_demo(seed=11, scale=scale)
        city = list(Area.objects.filter(level="community", valid_to__isnull=True).order_by("code"))
        t0 = time.perf_counter()
        reports, hh = [], 0
        for c in city:
            g, b = _inputs([c])
            r = prop.propose(g, b)
            reports.append(r)
            hh += r.report["households"]
        t_city = time.perf_counter() - t0
        from collections import Counter

        sizes = Counter(p.households for r in reports for p in r.pieces)
        n_pieces = sum(sizes.values())
        alone = sum(n for s, n in sizes.items() if 35 < s <= 40) / n_pieces
        groups = [g for r in reports for g in r.groups]
        city_report = prop.quality(groups, 20, 40, t_city)
        city_report["within_25_35_bound"] = _city_bound(reports)
        rows += _quality_rows(
            "planning.city.metis",
            city_report,
            f"; {len(city)} communities, {hh:,} households in {t_city:.1f} s incl. loading; "
            f"{alone:.0%} of the pieces are whole buildings or units of 36-40 households, which "
            f"can only form a grid alone, outside [25, 35]",
        )
        transaction.set_rollback(True)
    return rows


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    for row in run(quick=quick):
        ratio = f"{row['ratio']:.2f}" if row["ratio"] is not None else "-"
        floor = f"{row['floor']:.4f}" if row["floor"] is not None else "-"
        print(
            f"{row['benchmark']:<42} {row['value']:>10.3f} {row['unit']:<3} floor {floor:>9} "
            f"ratio {ratio:>6}  target {row['target']:<10} {row['note']}"
        )
