"""Read GIS files into a GeoDataFrame in EPSG:4326, with every problem named for a person.

Formats: GeoJSON, Shapefile (honouring its .prj; a .zip holding one works too), GeoPackage, OSM PBF
(GDAL's OSM driver; tags outside the driver's default columns are read from `other_tags`) and CSV
(a WKT column, or longitude/latitude columns). Everything goes through pyogrio (GDAL) except CSV, which
pandas reads so WKT errors can be named per row.

Rules:
* The file's own CRS wins. `srid` is only for files that have none (CSV, a Shapefile without .prj);
  passing it for a file that declares a CRS is an error, and so is a file with neither.
* Coordinates are checked against the CRS before transforming: outside [-180, 180] × [-90, 90] for a
  geographic CRS, outside the CRS's area of use (with a 10 % margin) for a projected one. Such rows are
  reported, not transformed into nonsense.
* `datum` converts GCJ-02 / BD-09 longitudes and latitudes to WGS84 after the CRS transform (those
  datums are declared as EPSG:4326 by every file that uses them).
"""

import re
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from django.utils.translation import gettext as _
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from apps.common.errors import DomainError
from apps.dataio import datum as datums

STORAGE_CRS = "EPSG:4326"
OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm")
WKT_NAMES = ("wkt", "geometry", "geom", "the_geom", "shape")
LON_NAMES = ("lon", "lng", "long", "longitude", "x")
LAT_NAMES = ("lat", "latitude", "y")
_TAG_RE = re.compile(r'"((?:[^"\\]|\\.)*)"=>"((?:[^"\\]|\\.)*)"')


@dataclass
class Source:
    """A file read into memory: `frame` has a 0-based RangeIndex; row numbers shown to people are
    index + 1 (the n-th feature read; for CSV the n-th data line)."""

    path: str
    frame: gpd.GeoDataFrame
    driver: str
    layer: str | None
    crs_in: str
    fields: list[str]
    problems: dict[int, str] = field(default_factory=dict)  # index -> reason (row cannot be used)

    def column(self, name: str | None, *, option: str) -> pd.Series | None:
        """The values of a field, or a DomainError listing the fields that exist."""
        if name is None:
            return None
        if name in self.frame.columns and name != "geometry":
            return self.frame[name]
        if "other_tags" in self.frame.columns:  # OSM: any tag may be asked for
            values = self.frame["other_tags"].map(lambda s: _osm_tags(s).get(name))
            if values.notna().any():
                return values
        values = {"name": repr(name), "option": option, "file": Path(self.path).name}
        if self.fields:
            message = _(
                "field %(name)s (--%(option)s) does not exist in %(file)s; fields: %(fields)s"
            )
        else:
            message = _(
                "field %(name)s (--%(option)s) does not exist in %(file)s, which has no fields"
            )
        raise DomainError(message % {**values, "fields": ", ".join(self.fields)}, field=option)


def _osm_tags(raw) -> dict:
    if not isinstance(raw, str):
        return {}
    return {k.replace('\\"', '"'): v.replace('\\"', '"') for k, v in _TAG_RE.findall(raw)}


def _is_osm(path: Path) -> bool:
    return path.name.lower().endswith(OSM_SUFFIXES)


def _gdal_path(path: Path) -> str:
    if path.suffix.lower() == ".zip":
        if not zipfile.is_zipfile(path):
            raise DomainError(
                _("%(file)s is not a readable zip archive") % {"file": path.name}, field="file"
            )
        return f"/vsizip/{path}"
    return str(path)


def list_layers(path: str | Path) -> list[str]:
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return [path.stem]
    try:
        return [str(name) for name, _geom in pyogrio.list_layers(_gdal_path(path))]
    except pyogrio.errors.DataSourceError as exc:
        raise _not_a_format(path, exc) from None


def _not_a_format(path: Path, exc: Exception) -> DomainError:
    return DomainError(
        _("cannot read %(file)s: not a format GDAL can open (%(error)s)")
        % {"file": path.name, "error": _first_line(exc)},
        field="file",
    )


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def read_source(
    path: str | Path,
    *,
    layer: str | None = None,
    srid: int | None = None,
    datum: str = "wgs84",
    where: str | None = None,
    wkt_field: str | None = None,
    lon_field: str | None = None,
    lat_field: str | None = None,
) -> Source:
    path = Path(path)
    if not path.exists():
        raise DomainError(_("file not found: %(path)s") % {"path": path}, field="file")
    if not path.is_file():
        raise DomainError(_("%(path)s is not a file") % {"path": path}, field="file")
    if datum not in datums.DATUMS:
        raise DomainError(
            _("unknown datum %(datum)s; use one of %(datums)s")
            % {"datum": repr(datum), "datums": ", ".join(datums.DATUMS)},
            field="datum",
        )
    if srid is not None:
        try:
            CRS.from_epsg(int(srid))
        except (CRSError, ValueError):
            raise DomainError(
                _("--srid %(srid)s is not a known EPSG code") % {"srid": srid}, field="srid"
            ) from None

    if path.suffix.lower() == ".csv":
        frame, driver, layer = _read_csv(path, wkt_field, lon_field, lat_field), "CSV", path.stem
        prj = path.with_suffix(".prj")
        if prj.exists():  # a sidecar .prj, as GDAL and our CSV export write it
            try:
                frame = frame.set_crs(CRS.from_wkt(prj.read_text()))
            except CRSError:
                raise DomainError(
                    _("%(file)s is not a readable CRS definition") % {"file": prj.name},
                    field="file",
                ) from None
    else:
        frame, driver, layer = _read_gdal(path, layer, where)

    fields = [c for c in frame.columns if c != "geometry"]
    if len(frame) == 0:
        values = {"file": path.name, "layer": repr(layer), "where": repr(where)}
        if where:
            message = _("%(file)s (layer %(layer)s) has no features matching %(where)s")
        else:
            message = _("%(file)s (layer %(layer)s) has no features")
        raise DomainError(message % values, field="file")

    if frame.crs is not None and srid is not None:
        raise DomainError(
            _("%(file)s already declares its CRS (%(crs)s); --srid is only for files without one")
            % {"file": path.name, "crs": _crs_name(frame.crs)},
            field="srid",
        )
    if frame.crs is None:
        if srid is None:
            raise DomainError(
                _(
                    "%(file)s has no coordinate reference system (no .prj or CRS); pass --srid, "
                    "e.g. --srid 4326 for longitude/latitude"
                )
                % {"file": path.name},
                field="srid",
            )
        frame = frame.set_crs(epsg=int(srid))
    crs_in = _crs_name(frame.crs)

    problems = _range_problems(frame)
    geoms = frame.geometry.values.copy()
    if problems:
        geoms[list(problems)] = None
    frame = frame.set_geometry(gpd.GeoSeries(geoms, crs=frame.crs, index=frame.index))
    frame = frame.to_crs(STORAGE_CRS)
    fn = datums.to_wgs84_transformer(datum)
    if fn is not None:
        transformed = shapely.transform(frame.geometry.values, fn, interleaved=False)
        frame = frame.set_geometry(gpd.GeoSeries(transformed, crs=STORAGE_CRS, index=frame.index))
    return Source(
        path=str(path),
        frame=frame,
        driver=driver,
        layer=layer,
        crs_in=crs_in,
        fields=fields,
        problems=problems,
    )


def _crs_name(crs) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else crs.name


def _read_gdal(path: Path, layer: str | None, where: str | None):
    gdal_path = _gdal_path(path)
    layers = list_layers(path)
    if layer is None:
        if _is_osm(path):
            layer = "multipolygons"
        elif len(layers) == 1:
            layer = layers[0]
        elif not layers:
            raise DomainError(_("%(file)s holds no layers") % {"file": path.name}, field="file")
        else:
            raise DomainError(
                _("%(file)s has %(n)s layers (%(layers)s); choose one with --layer")
                % {"file": path.name, "n": len(layers), "layers": ", ".join(layers)},
                field="layer",
            )
    elif layer not in layers:
        raise DomainError(
            _("layer %(layer)s does not exist in %(file)s; layers: %(layers)s")
            % {"layer": repr(layer), "file": path.name, "layers": ", ".join(layers)},
            field="layer",
        )
    try:
        info = pyogrio.read_info(gdal_path, layer=layer)
        with warnings.catch_warnings():
            # GDAL warns about unclosed OSM rings; the rows come back empty and are reported per row.
            warnings.simplefilter("ignore", RuntimeWarning)
            frame = pyogrio.read_dataframe(gdal_path, layer=layer, where=where, on_invalid="ignore")
    except pyogrio.errors.DataLayerError as exc:
        field_ = "where" if where else "layer"
        raise DomainError(
            _("cannot read layer %(layer)s of %(file)s: %(error)s")
            % {"layer": repr(layer), "file": path.name, "error": _first_line(exc)},
            field=field_,
        ) from None
    except pyogrio.errors.DataSourceError as exc:
        raise _not_a_format(path, exc) from None
    if not isinstance(frame, gpd.GeoDataFrame):
        raise DomainError(
            _("layer %(layer)s of %(file)s has no geometry column")
            % {"layer": repr(layer), "file": path.name},
            field="layer",
        )
    frame = frame.reset_index(drop=True)
    return frame, str(info.get("driver") or ""), layer


def _find(columns, names, given, option):
    if given is not None:
        if given not in columns:
            raise DomainError(
                _("field %(name)s (--%(option)s) does not exist; fields: %(fields)s")
                % {"name": repr(given), "option": option, "fields": ", ".join(columns)},
                field=option,
            )
        return given
    lower = {c.lower(): c for c in columns}
    return next((lower[n] for n in names if n in lower), None)


def _read_csv(path: Path, wkt_field, lon_field, lat_field) -> gpd.GeoDataFrame:
    try:
        df = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DomainError(
            _("cannot read %(file)s as CSV: %(error)s")
            % {"file": path.name, "error": _first_line(exc)},
            field="file",
        ) from None
    cols = list(df.columns)
    wkt = _find(cols, WKT_NAMES, wkt_field, "wkt-field") if lon_field is None else None
    if wkt is not None:
        raw = df.pop(wkt).replace("", None)
        geoms = shapely.from_wkt(raw.to_numpy(), on_invalid="ignore")
        bad = raw.notna().to_numpy() & shapely.is_missing(geoms)
        if bad.any():
            row = int(np.flatnonzero(bad)[0]) + 1
            raise DomainError(
                _("%(file)s row %(row)s: %(field)s is not valid WKT (%(value)s)")
                % {
                    "file": path.name,
                    "row": row,
                    "field": wkt,
                    "value": repr(str(raw.iloc[row - 1])[:40]),
                },
                field="wkt-field",
            )
    else:
        lon = _find(cols, LON_NAMES, lon_field, "lon-field")
        lat = _find(cols, LAT_NAMES, lat_field, "lat-field")
        if lon is None or lat is None:
            raise DomainError(
                _(
                    "%(file)s has no WKT column (%(names)s) and no longitude/latitude columns; "
                    "fields: %(fields)s"
                )
                % {"file": path.name, "names": "/".join(WKT_NAMES), "fields": ", ".join(cols)},
                field="wkt-field",
            )
        x = pd.to_numeric(df[lon].replace("", None), errors="coerce")
        y = pd.to_numeric(df[lat].replace("", None), errors="coerce")
        geoms = shapely.points(x.to_numpy(), y.to_numpy())
        geoms[(x.isna() | y.isna()).to_numpy()] = None
    return gpd.GeoDataFrame(df, geometry=geoms, crs=None)


def _range_problems(frame: gpd.GeoDataFrame) -> dict[int, str]:
    """Rows whose coordinates cannot be in the declared CRS (metres labelled as degrees, swapped axes)."""
    crs = CRS.from_user_input(frame.crs)
    geoms = frame.geometry.values
    present = ~(shapely.is_missing(np.asarray(geoms)) | shapely.is_empty(np.asarray(geoms)))
    if not present.any():
        return {}
    b = shapely.bounds(np.asarray(geoms))
    if crs.is_geographic:
        lo_x, lo_y, hi_x, hi_y = -180.0, -90.0, 180.0, 90.0
    else:
        aou = crs.area_of_use
        if aou is None:
            return {}
        t = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        lo_x, lo_y, hi_x, hi_y = t.transform_bounds(
            aou.west, max(aou.south, -85.0), aou.east, min(aou.north, 85.0), densify_pts=21
        )
        mx, my = 0.1 * (hi_x - lo_x), 0.1 * (hi_y - lo_y)
        lo_x, lo_y, hi_x, hi_y = lo_x - mx, lo_y - my, hi_x + mx, hi_y + my
    with np.errstate(invalid="ignore"):
        out = present & (
            ~np.isfinite(b).all(axis=1)
            | (b[:, 0] < lo_x)
            | (b[:, 1] < lo_y)
            | (b[:, 2] > hi_x)
            | (b[:, 3] > hi_y)
        )
    name = _crs_name(frame.crs)
    return {
        int(i): _(
            "coordinates out of range for %(crs)s (bounds %(bounds)s; expected within %(expected)s)"
        )
        % {
            "crs": name,
            "bounds": f"{b[i, 0]:.6g}, {b[i, 1]:.6g}, {b[i, 2]:.6g}, {b[i, 3]:.6g}",
            "expected": f"{lo_x:.6g}, {lo_y:.6g}, {hi_x:.6g}, {hi_y:.6g}",
        }
        for i in np.flatnonzero(out)
    }
