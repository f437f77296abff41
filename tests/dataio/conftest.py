import io

import geopandas as gpd
import pytest
from django.core.management import call_command


def run(command: str, *args, **options) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO(), **options)
    return out.getvalue()


@pytest.fixture
def sf_nhoods(shared_data, tmp_path):
    """The parent level of the SF hierarchy: the 195 tracts dissolved by `nhood` (41 neighbourhoods)."""
    tracts = gpd.read_file(shared_data / "sf" / "sf_analysis_neighborhoods.geojson")
    nhoods = tracts.dissolve(by="nhood", as_index=False)[["nhood", "geometry"]]
    path = tmp_path / "sf_nhoods.geojson"
    nhoods.to_file(path, driver="GeoJSON")
    return path
