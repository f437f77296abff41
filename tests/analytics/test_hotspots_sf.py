"""Real data: the 4,984 San Francisco 311 cases on the 195 census tracts. The engine's Gi* (counted in
PostGIS, weights built by the engine) equals esda's own G_Local run here on the same weights."""

from datetime import UTC, datetime

import esda
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from libpysal.weights import Queen

from apps.analytics import hotspots
from tests.analytics.points import make_source


@pytest.fixture
def sf(db, shared_data):
    cases = pd.read_csv(shared_data / "sf" / "sf311_cases_sample.csv")
    tracts = gpd.read_file(shared_data / "sf" / "sf_analysis_neighborhoods.geojson")
    opened = pd.to_datetime(cases["Opened"]).dt.tz_localize("America/Los_Angeles")
    make_source(
        "sf311",
        (
            (int(r.CaseID), r.Long, r.Lat, r.Category, o.to_pydatetime(), None, "")
            for r, o in zip(cases.itertuples(), opened, strict=True)
        ),
    )
    return cases, tracts


def test_gi_star_on_tracts_equals_esda_run_directly(sf):
    cases, tracts = sf
    q = hotspots.Query("sf311", datetime(2008, 1, 1, tzinfo=UTC), datetime(2017, 1, 1, tzinfo=UTC))
    ours = hotspots.polygon_hotspots(q, list(tracts.geometry))

    # counts: every case falls in a tract (shared/data/README.md); geopandas agrees with PostGIS
    points = gpd.GeoDataFrame(cases, geometry=gpd.points_from_xy(cases.Long, cases.Lat), crs=4326)
    joined = gpd.sjoin(points, tracts.reset_index(), predicate="within")
    expected_counts = joined.groupby("index").size().reindex(range(len(tracts)), fill_value=0)
    assert ours["counts"].sum() == len(cases) == 4984
    np.testing.assert_array_equal(ours["counts"], expected_counts.to_numpy())

    # esda directly, same weights (queen), same settings (binary, star, 999 seeded permutations
    # because 195 tracts is a small study area)
    w = Queen.from_dataframe(tracts, use_index=False, silence_warnings=True)
    g = esda.G_Local(
        expected_counts.to_numpy().astype(float),
        w,
        transform="B",
        star=True,
        permutations=999,
        seed=hotspots.SEED,
        n_jobs=1,
    )
    assert ours["method"] == "permutations"
    np.testing.assert_allclose(ours["z"], g.Zs, rtol=1e-12)
    p = np.minimum(1, 2 * g.p_sim)
    np.testing.assert_allclose(ours["p"], p, rtol=1e-12)
    # classes: FDR at 90 / 95 / 99 %, computed here by hand from esda.fdr
    expected = np.zeros(len(p), dtype=int)
    for conf, level in ((90, 1), (95, 2), (99, 3)):
        sig = p <= esda.fdr(p, 1 - conf / 100)
        expected[sig] = np.sign(g.Zs[sig]) * level
    np.testing.assert_array_equal(ours["cls"], expected)
    # the downtown tracts are a significant hot spot; something is
    assert (ours["cls"] >= 1).sum() > 0
    hot = tracts.loc[ours["cls"] >= 2, "nhood"].unique().tolist()
    assert any(n in hot for n in ("Tenderloin", "South of Market", "Mission"))


def test_analytic_z_on_a_large_study_area_equals_esda(sf):
    """H3 cells at resolution 9 over the whole city: more than 500 units, so analytic p-values."""
    q = hotspots.Query("sf311", datetime(2008, 1, 1, tzinfo=UTC), datetime(2017, 1, 1, tzinfo=UTC))
    result = hotspots.h3_hotspots(q, 9, use_precomputed=False)
    assert result["method"] == "analytic" and len(result["units"]) > 500
    assert result["total"] == 4984
    cells = [u["cell"] for u in result["units"]]
    y = np.array([u["count"] for u in result["units"]], dtype=float)
    g = esda.G_Local(y, hotspots.h3_weights(cells), transform="B", star=True, permutations=0)
    np.testing.assert_allclose([u["z"] for u in result["units"]], np.round(g.Zs, 4), atol=1e-4)
    p = np.minimum(1, 2 * g.p_norm)
    expected = np.zeros(len(p), dtype=int)
    for conf, level in ((90, 1), (95, 2), (99, 3)):
        sig = p <= esda.fdr(p, 1 - conf / 100)
        expected[sig] = np.sign(g.Zs[sig]) * level
    assert [u["class"] for u in result["units"]] == expected.tolist()
