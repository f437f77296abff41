"""Files staff upload through the import page: kept under MEDIA_ROOT/dataio/<uuid>/ until imported.

The id is a random UUID (hex) and the stored name is sanitised, so an id or a name from a request can
never reach outside that folder.
"""

import re
import shutil
import uuid
from pathlib import Path

import pandas as pd
import pyogrio
from django.conf import settings
from django.utils.translation import gettext as _

from apps.common.errors import DomainError, NotFound
from apps.dataio.readers import list_layers

ALLOWED = (".geojson", ".json", ".gpkg", ".zip", ".pbf", ".csv", ".shp")
MAX_BYTES = 200 * 1024 * 1024


def _root() -> Path:
    return Path(settings.MEDIA_ROOT) / "dataio"


def upload_save(*, name: str, chunks, size: int) -> dict:
    """Store an uploaded file and describe it (layers with their fields and feature counts)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).name).strip("._") or "upload"
    lower = safe.lower()
    if not lower.endswith(ALLOWED):
        raise DomainError(
            _(
                "%(file)s: unsupported file type; upload GeoJSON, GeoPackage, a zipped Shapefile, "
                "OSM PBF or CSV"
            )
            % {"file": name},
            field="file",
        )
    if size > MAX_BYTES:
        raise DomainError(
            _("%(file)s is larger than %(mb)s MB") % {"file": name, "mb": MAX_BYTES // 2**20},
            field="file",
        )
    upload_id = uuid.uuid4().hex
    folder = _root() / upload_id
    folder.mkdir(parents=True)
    path = folder / safe
    with path.open("wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
    try:
        layers = upload_describe(path)
    except DomainError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return {"id": upload_id, "name": safe, "layers": layers}


def upload_path(upload_id: str) -> Path:
    if not re.fullmatch(r"[0-9a-f]{32}", upload_id or ""):
        raise NotFound(_("no upload %(id)s") % {"id": repr(upload_id)})
    folder = _root() / upload_id
    files = sorted(folder.iterdir()) if folder.is_dir() else []
    if not files:
        raise NotFound(_("no upload %(id)s") % {"id": repr(upload_id)})
    return files[0]


def upload_describe(path: Path) -> list[dict]:
    if path.suffix.lower() == ".csv":
        try:
            cols = list(pd.read_csv(path, nrows=0, encoding="utf-8-sig").columns)
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise DomainError(
                _("cannot read %(file)s as CSV: %(error)s") % {"file": path.name, "error": exc},
                field="file",
            ) from None
        return [{"name": path.stem, "fields": cols, "geometry": "WKT or lon/lat"}]
    gdal = f"/vsizip/{path}" if path.suffix.lower() == ".zip" else str(path)
    out = []
    for layer in list_layers(path):
        info = pyogrio.read_info(gdal, layer=layer)
        out.append(
            {
                "name": layer,
                "fields": [str(f) for f in info["fields"]],
                "geometry": info.get("geometry_type"),
                "features": int(info["features"]) if info.get("features", -1) >= 0 else None,
            }
        )
    return out
