import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_openapi_schema_is_valid_and_covers_every_api():
    out = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--format", "openapi"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    schema = yaml.safe_load(out.stdout)
    paths = set(schema["paths"])
    for expected in ["/api/locate", "/api/areas.geojson", "/api/issues", "/api/planning/plans"]:
        assert expected in paths, sorted(paths)
