"""Imports of areas and buildings from GIS files: dry run by default, all or nothing on commit.

    read (readers.read_source) → clean (geometry.clean_polygons) → match → report → [commit]

Areas get Linli codes in the statistical scheme (apps/territory/codes.py) under their parent, or keep the
file's codes with `keep_codes` (a round trip of an export); the file's own code goes into Area.ext_code.
A row is matched to the current area it redraws: by ext_code under the same parent; a row without a code
by ground (the current area of the level under the same parent that shares at least half of the row's
area and half of its own), else by an exact name that is unique under the parent. A matched row gets a
new version (territory.services.area_replace) when its boundary or name changed, and is left alone when
not. Areas of one level may not overlap: a row that would write a boundary overlapping a current area
the file does not redraw is rejected, naming that area and the overlap in m². Current areas under the
imported parents that no row matches are listed as "not in file" (never retired by an import).
Buildings are written with COPY and attached to the areas covering them.
"""

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
import shapely
from django.contrib.gis.geos import GEOSGeometry
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.common.db import copy_rows
from apps.common.errors import DomainError
from apps.common.labels import choice_label
from apps.dataio import selectors
from apps.dataio.geometry import clean_polygons, limits_for
from apps.dataio.readers import Source, read_source
from apps.dataio.report import ImportReport, RowResult
from apps.territory import services as territory
from apps.territory.codes import PATTERNS, child_code, parent_code_of
from apps.territory.models import PARENT_LEVEL, Area, HouseholdSource, Level

NAME_FIELDS = ("name", "NAME", "Name", "名称", "name:zh")
MAX_MAP_FEATURES = 5000
DEFAULT_DWELLING_AREA = (
    90.0  # m² of floor area per dwelling, gross (China's urban average is 90-100)
)
DEFAULT_STOREY_HEIGHT = 3.0  # m per storey, residential
MATCH_SHARE = 0.5  # a row without a code redraws the area sharing this much of both their areas
# An overlap with a current area up to max(OVERLAP_M2, OVERLAP_FRACTION of the smaller area) is noise
# (a boundary digitised twice); settings LINLI_IMPORT_OVERLAP_M2 / LINLI_IMPORT_OVERLAP_FRACTION.
OVERLAP_M2 = 1.0
OVERLAP_FRACTION = 0.001


class ImportRejected(DomainError):
    """Commit refused because rows were rejected; carries the report so it can still be shown."""

    def __init__(self, report: ImportReport):
        first = report.rejected[0]
        super().__init__(
            _(
                "%(rejected)s of %(read)s features rejected (first: row %(row)s: %(reason)s); "
                "nothing was written. Fix the file, or skip the bad rows (--skip-bad) to import "
                "the rest."
            )
            % {
                "rejected": len(report.rejected),
                "read": report.read,
                "row": first.row,
                "reason": first.reason,
            },
            field="file",
            code="rejected",
        )
        report.refused = True
        self.report = report


@dataclass
class ReadOptions:
    layer: str | None = None
    srid: int | None = None
    datum: str = "wgs84"
    where: str | None = None
    wkt_field: str | None = None
    lon_field: str | None = None
    lat_field: str | None = None


def _read(path, opts: ReadOptions) -> Source:
    return read_source(
        path,
        layer=opts.layer,
        srid=opts.srid,
        datum=opts.datum,
        where=opts.where,
        wkt_field=opts.wkt_field,
        lon_field=opts.lon_field,
        lat_field=opts.lat_field,
    )


def field_text(values: pd.Series | None, n: int) -> list[str]:
    """Field values as clean strings ('' for missing); integral floats lose their '.0'."""
    if values is None:
        return [""] * n
    out = []
    for v in values.tolist():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append("")
        elif isinstance(v, float) and v.is_integer():
            out.append(str(int(v)))
        else:
            out.append(str(v).strip())
    return out


def _default_name_field(src: Source, given: str | None) -> str | None:
    if given is not None:
        return given
    return next((f for f in NAME_FIELDS if f in src.fields), None)


def _duplicates(keys: list[str], rows: list[RowResult]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = {}
    for r, key in zip(rows, keys, strict=True):
        if key:
            seen.setdefault(key, []).append(r.row)
    dups = {k: v for k, v in seen.items() if len(v) > 1}
    for r, key in zip(rows, keys, strict=True):
        if key in dups and r.status != "rejected":
            others = [str(x) for x in dups[key] if x != r.row]
            r.status, r.reason = (
                "rejected",
                _("code %(code)s is also at row(s) %(rows)s")
                % {"code": key, "rows": ", ".join(others)},
            )
    return dups


def _geojson(rows: list[RowResult], geoms, originals) -> dict:
    feats = []
    for r, g, orig in zip(rows, geoms, originals, strict=True):
        shown = g if g is not None else orig
        if shown is None or shapely.is_empty(shown) or len(feats) >= MAX_MAP_FEATURES:
            continue
        feats.append(
            {
                "type": "Feature",
                "geometry": shapely.geometry.mapping(shown),
                "properties": r.as_dict(),
            }
        )
    return {"type": "FeatureCollection", "features": feats}


def _reject(r: RowResult, reason: str) -> None:
    if r.status != "rejected":
        r.status, r.reason = "rejected", reason


def _similar(a, b) -> bool:
    """Same boundary within rounding: symmetric difference under a millionth of the area."""
    return shapely.area(shapely.symmetric_difference(a, b)) <= 1e-6 * max(shapely.area(a), 1e-12)


# ---------------------------------------------------------------------------------------------- areas


def areas_import(
    *,
    path,
    level: str,
    read: ReadOptions | None = None,
    name_field: str | None = None,
    code_field: str | None = None,
    parent_field: str | None = None,
    county: str | None = None,
    keep_codes: bool = False,
    valid_from: datetime | None = None,
    strict: bool = False,
    skip_bad: bool = False,
    commit: bool = False,
    progress: bool = False,
    with_geojson: bool = False,
) -> ImportReport:
    """Read, check and (with commit=True) write the areas of one level from a file."""
    if level not in Level.values:
        raise DomainError(
            _("unknown level %(level)s; use one of %(levels)s")
            % {"level": repr(level), "levels": ", ".join(Level.values)},
            field="level",
        )
    parent_level = PARENT_LEVEL[level]
    if parent_level is None and parent_field:
        raise DomainError(
            _("a street has no parent area; drop --parent-field"), field="parent-field"
        )
    if keep_codes and not code_field:
        raise DomainError(
            _("--keep-codes needs --code-field (the column holding Linli codes)"),
            field="code-field",
        )
    if level == Level.STREET and not keep_codes:
        if county is None or not (len(county) == 6 and county.isdigit()):
            raise DomainError(
                _(
                    "streets are coded under a county: pass --county with its 6-digit code "
                    "(e.g. 340111)"
                ),
                field="county",
            )
    read = read or ReadOptions()
    src = _read(path, read)
    n = len(src.frame)
    nf = _default_name_field(src, name_field)
    names = field_text(src.column(nf, option="name-field") if nf else None, n)
    ext = field_text(src.column(code_field, option="code-field"), n)
    parent_keys = field_text(src.column(parent_field, option="parent-field"), n)

    cleaned = clean_polygons(
        src.frame.geometry.values, strict=strict, known=src.problems, limits=limits_for(level)
    )
    report = ImportReport(
        kind="areas",
        file=str(path),
        layer=src.layer,
        driver=src.driver,
        crs=src.crs_in,
        datum=read.datum,
        level=level,
    )
    rows = report.rows
    for i in range(n):
        r = RowResult(
            row=i + 1, status="ok", name=names[i] or ext[i] or f"{level} {i + 1}", ext_code=ext[i]
        )
        if i in cleaned.rejected:
            r.status, r.reason = "rejected", cleaned.rejected[i]
        elif i in cleaned.repaired:
            r.status, r.reason = "repaired", _repaired(cleaned.repaired[i])
        rows.append(r)
    report.duplicates = _duplicates(ext, rows)
    if keep_codes:
        for r in rows:
            if r.status != "rejected" and not _code_ok(level, r.ext_code):
                _reject(
                    r,
                    _("code %(code)s is not a %(level)s code (expected %(pattern)s)")
                    % {
                        "code": repr(r.ext_code),
                        "level": choice_label(Level, level),
                        "pattern": PATTERNS[level],
                    },
                )

    parents = _match_parents(
        level, parent_level, rows, cleaned.geoms, parent_keys, parent_field, keep_codes
    )
    geoms = cleaned.geoms
    meets = _intersections(level, rows, geoms)
    existing = _existing_versions(level, rows, parents, keep_codes)
    if not keep_codes:
        _match_by_ground(level, rows, parents, county, names, meets, existing)
    _reject_overlaps(level, rows, existing, meets, geoms)
    _assign_codes(level, rows, parents, existing, geoms, county, keep_codes)
    report.not_in_file = _not_in_file(level, rows, existing, county, keep_codes)
    by_name = [str(r.row) for r in rows if r.status != "rejected" and r.matched_by == "name"]
    if by_name:
        listed = ", ".join(by_name[:50]) + (" ..." if len(by_name) > 50 else "")
        report.notes.append(
            _(
                "row(s) %(rows)s have no code and share too little ground with any current area; "
                "they were matched by name only"
            )
            % {"rows": listed}
        )

    if with_geojson:
        report.geojson = _geojson(rows, geoms, src.frame.geometry.values)
    if not commit:
        return report
    if report.rejected and not skip_bad:
        raise ImportRejected(report)
    with transaction.atomic():
        written = 0
        todo = [r for r in rows if r.status != "rejected" and r.action in ("new", "new_version")]
        it = _progress(todo, progress, "areas")
        at = valid_from or selectors.db_now()
        changed: list[int] = []  # the areas written, and the versions they closed
        for r in it:
            i = r.row - 1
            geom = GEOSGeometry(shapely.to_wkb(geoms[i], hex=True), srid=4326)
            if r.action == "new":
                area = territory.area_create(
                    level=level,
                    code=r.code,
                    name=r.name[:200],
                    geom=geom,
                    parent=parents.get(i),
                    valid_from=at,
                    ext_code=r.ext_code[:64],
                )
            else:
                area = territory.area_replace(
                    area=existing[i], geom=geom, name=r.name[:200], parent=parents.get(i), at=at
                )
                changed.append(existing[i].pk)
            changed.append(area.pk)
            written += 1
        # Only the buildings on the ground the import changed are re-attached, and only the counts
        # of the areas they leave or join (and of the areas written) refreshed.
        touched = set(changed)
        if level in (Level.COMMUNITY, Level.GRID, Level.COMPOUND):
            touched |= territory.buildings_reattach(ids=territory.buildings_under(changed))
        territory.area_counts_refresh(areas=touched)
    report.committed, report.written = True, written
    return report


def _repaired(reason: str) -> str:
    return _("repaired: %(reason)s") % {"reason": reason}


def _code_ok(level: str, code: str) -> bool:
    import re

    return bool(re.match(PATTERNS[level], code))


def _match_parents(
    level, parent_level, rows, geoms, parent_keys, parent_field, keep_codes
) -> dict[int, Area]:
    """Row index -> parent area (current version), rejecting rows without one."""
    if parent_level is None:
        return {}
    usable = [r.row - 1 for r in rows if r.status != "rejected"]
    parents: dict[int, Area] = {}
    parent_label = choice_label(Level, parent_level)
    if keep_codes or parent_field:
        wanted = {
            i: (parent_code_of(level, rows[i].ext_code) if keep_codes else parent_keys[i])
            for i in usable
        }
        found = selectors.current_by_keys(
            level=parent_level, values={v for v in wanted.values() if v}
        )
        for i, key in wanted.items():
            cands = found.get(key, [])
            if not key:
                _reject(
                    rows[i],
                    _("no parent %(level)s code in the file") % {"level": parent_label},
                )
            elif not cands:
                _reject(
                    rows[i],
                    _("no current %(level)s with code %(code)s")
                    % {"level": parent_label, "code": repr(key)},
                )
            elif len(cands) > 1:
                _reject(
                    rows[i],
                    _("parent code %(code)s matches %(n)s current areas of the level %(level)s")
                    % {"code": repr(key), "n": len(cands), "level": parent_label},
                )
            else:
                parents[i] = cands[0]
    else:
        points = shapely.point_on_surface(np.asarray([geoms[i] for i in usable], dtype=object))
        wkt = dict(zip(usable, shapely.to_wkt(points, rounding_precision=-1), strict=True))
        parents = selectors.parents_by_point(level=parent_level, points=wkt)
        for i in usable:
            if i not in parents:
                _reject(
                    rows[i],
                    _(
                        "no parent %(level)s: its point-on-surface is outside every current "
                        "%(level)s"
                    )
                    % {"level": parent_label},
                )
    for i, p in parents.items():
        rows[i].parent_code = p.code
    return parents


def _existing_versions(level, rows, parents, keep_codes) -> dict[int, Area]:
    """Row index -> current area the row would replace (same code, or same ext_code under the same parent)."""
    usable = [r for r in rows if r.status != "rejected" and r.ext_code]
    found = selectors.current_by_keys(level=level, values={r.ext_code for r in usable})
    out = {}
    for r in usable:
        i = r.row - 1
        if keep_codes:
            match = [a for a in found.get(r.ext_code, []) if a.code == r.ext_code]
        else:
            parent_id = parents[i].id if i in parents else None
            match = [
                a
                for a in found.get(r.ext_code, [])
                if a.ext_code == r.ext_code
                and (
                    a.parent_id == parent_id
                    or (
                        parent_id is not None
                        and a.parent is not None
                        and a.parent.code == parents[i].code
                    )
                )
            ]
        if len(match) == 1:
            out[i] = match[0]
            r.matched_by = "code"
    return out


def _intersections(level, rows, geoms) -> dict[int, list[tuple[Area, float, float, float]]]:
    """Row index -> [(current area of the level it meets, m² shared, m² of the row, m² of the area)]."""
    usable = [r.row - 1 for r in rows if r.status != "rejected"]
    wkb = dict(zip(usable, shapely.to_wkb(geoms[usable]) if usable else [], strict=True))
    out: dict[int, list] = {}
    for i, area, shared, row_m2, area_m2 in selectors.intersections(level=level, geoms=wkb):
        out.setdefault(i, []).append((area, shared, row_m2, area_m2))
    return out


def _same_parent(level, area: Area, parent: Area | None, county: str | None) -> bool:
    """Is `area` (a current area) under the parent the row found? Streets: under the county."""
    if level == Level.STREET:
        return county is None or area.code.startswith(county)
    return (
        parent is not None
        and area.parent is not None
        and (area.parent_id == parent.id or area.parent.code == parent.code)
    )


def _match_by_ground(level, rows, parents, county, names, meets, existing) -> None:
    """Match the rows without a code (adding to `existing`): the current area of the level under the same
    parent with which the row shares at least MATCH_SHARE of both areas; else the current area under the
    same parent with exactly the row's name, if only one has it (and no other row of the file), and no
    row matched it already. Rows that end up matching the same area (by code or by ground) are
    rejected, naming each other."""
    todo = [r.row - 1 for r in rows if r.status != "rejected" and not r.ext_code]
    for i in todo:
        fits = [
            (shared, area)
            for area, shared, row_m2, area_m2 in meets.get(i, [])
            if shared >= MATCH_SHARE * row_m2
            and shared >= MATCH_SHARE * area_m2
            and _same_parent(level, area, parents.get(i), county)
        ]
        if fits:
            existing[i] = max(fits, key=lambda f: f[0])[1]
            rows[i].matched_by = "ground"
    unmatched = [i for i in todo if i not in existing and names[i]]

    def parent_key(i):
        return county if level == Level.STREET else parents[i].code

    per_key: dict[tuple, list[int]] = {}
    for i in unmatched:
        per_key.setdefault((parent_key(i), names[i]), []).append(i)
    found = selectors.current_named(level=level, names={names[i] for i in unmatched})
    taken = {a.id for a in existing.values()}
    for (_key, name), idx in per_key.items():
        cands = [
            a
            for a in found.get(name, [])
            if a.id not in taken and _same_parent(level, a, parents.get(idx[0]), county)
        ]
        if len(idx) == 1 and len(cands) == 1:
            existing[idx[0]] = cands[0]
            rows[idx[0]].matched_by = "name"
    by_area: dict[int, list[int]] = {}
    for i, area in existing.items():
        if rows[i].status != "rejected":
            by_area.setdefault(area.id, []).append(i)
    for idx in by_area.values():
        if len(idx) > 1:
            area = existing[idx[0]]
            for i in idx:
                others = ", ".join(str(j + 1) for j in idx if j != i)
                _reject(
                    rows[i],
                    _(
                        "matches %(level)s %(code)s (%(name)s), which row(s) %(rows)s match too; "
                        "one row per current area"
                    )
                    % {
                        "level": choice_label(Level, level),
                        "code": area.code,
                        "name": area.name,
                        "rows": others,
                    },
                )
                del existing[i]


def _overlap_tolerance(row_m2: float, area_m2: float) -> float:
    from django.conf import settings

    m2 = float(getattr(settings, "LINLI_IMPORT_OVERLAP_M2", OVERLAP_M2))
    fraction = float(getattr(settings, "LINLI_IMPORT_OVERLAP_FRACTION", OVERLAP_FRACTION))
    return max(m2, fraction * min(row_m2, area_m2))


def _reject_overlaps(level, rows, existing, meets, geoms) -> None:
    """Reject each row that would write a boundary overlapping, beyond the tolerance, a current area of
    the level that stays as it is (no row of the file redraws it)."""
    redrawn = {
        i: a.id
        for i, a in existing.items()
        if rows[i].status != "rejected"
        and not _similar(shapely.from_wkb(bytes(a.geom.wkb)), geoms[i])
    }
    redrawn_ids = set(redrawn.values())
    for r in rows:
        i = r.row - 1
        if r.status == "rejected" or (i in existing and i not in redrawn):
            continue  # rejected, or a boundary that stays as it is
        old = existing.get(i)
        hits = sorted(
            (
                (shared, area)
                for area, shared, row_m2, area_m2 in meets.get(i, [])
                if area.id not in redrawn_ids and shared > _overlap_tolerance(row_m2, area_m2)
            ),
            key=lambda h: -h[0],
        )
        if not hits:
            continue
        _reject(r, _overlap_reason(level, old, hits))


def _overlap_reason(level, old: Area | None, hits: list[tuple[float, Area]]) -> str:
    """Why a row overlapping current areas is rejected: one whole message per case (a new area or a
    redrawn one; up to three overlaps listed, then how many more)."""
    items = [
        _("%(code)s (%(name)s) by %(m2)s m²") % {"code": a.code, "name": a.name, "m2": f"{m2:,.0f}"}
        for m2, a in hits[:3]
    ]
    if len(items) == 1:
        listed = items[0]
    elif len(items) == 2:
        listed = _("%(a)s and %(b)s") % {"a": items[0], "b": items[1]}
    else:
        listed = _("%(a)s and %(b)s and %(c)s") % {"a": items[0], "b": items[1], "c": items[2]}
    values = {
        "level": choice_label(Level, level),
        "code": old.code if old is not None else "",
        "areas": listed,
        "more": len(hits) - 3,
    }
    if old is None and len(hits) > 3:
        message = _(
            "matches no current %(level)s but overlaps %(areas)s and %(more)s more; areas of one "
            "level may not overlap"
        )
    elif old is None:
        message = _(
            "matches no current %(level)s but overlaps %(areas)s; areas of one level may not overlap"
        )
    elif len(hits) > 3:
        message = _(
            "redraws %(code)s but its new boundary overlaps %(areas)s and %(more)s more; areas of "
            "one level may not overlap"
        )
    else:
        message = _(
            "redraws %(code)s but its new boundary overlaps %(areas)s; areas of one level may not "
            "overlap"
        )
    return message % values


def _not_in_file(level, rows, existing, county, keep_codes) -> list[dict]:
    """Current areas of the level under the parents of the usable rows (streets: in the county) that no
    usable row matches. Reported, never retired by an import."""
    usable = [r for r in rows if r.status != "rejected"]
    matched = {existing[r.row - 1].id for r in usable if r.row - 1 in existing}
    parent_codes = {r.parent_code for r in usable if r.parent_code}
    prefixes: set[str] = set()
    if level == Level.STREET:
        if keep_codes:
            prefixes = {r.ext_code[:6] for r in usable if r.ext_code}
        elif county:
            prefixes = {county}
    return [
        {"code": a.code, "name": a.name, "parent_code": a.parent.code if a.parent else ""}
        for a in selectors.current_under(level=level, parent_codes=parent_codes, prefixes=prefixes)
        if a.id not in matched
    ]


def _assign_codes(level, rows, parents, existing, geoms, county, keep_codes) -> None:
    todo_by_prefix: dict[str, list[RowResult]] = {}
    for r in rows:
        if r.status == "rejected":
            continue
        i = r.row - 1
        if i in existing:
            old = existing[i]
            r.code = old.code
            same_parent = parents.get(i) is None or old.parent_id == parents[i].id
            unchanged = (
                old.name == r.name
                and same_parent
                and _similar(shapely.from_wkb(bytes(old.geom.wkb)), geoms[i])
            )
            r.action = "unchanged" if unchanged else "new_version"
            continue
        r.action = "new"
        if keep_codes:
            r.code = r.ext_code
            continue
        if level == Level.STREET:
            prefix = county
        elif level == Level.COMPOUND:
            prefix = parents[i].code + "C"
        else:
            prefix = parents[i].code
        todo_by_prefix.setdefault(prefix, []).append(r)
    used = selectors.codes_in_use(level=level, prefixes=set(todo_by_prefix))
    for prefix, todo in todo_by_prefix.items():
        seq = used[prefix]
        for r in todo:
            seq += 1
            if seq > 999:
                _reject(
                    r,
                    _("no %(level)s code left under %(prefix)s (999 in use)")
                    % {"level": choice_label(Level, level), "prefix": prefix},
                )
                continue
            parent_code = prefix[:-1] if level == Level.COMPOUND else prefix
            r.code = child_code(
                level, None if level == Level.STREET else parent_code, seq, county=county
            )


def _progress(items, enabled: bool, unit: str):
    if not enabled or len(items) < 500:
        return items
    from tqdm import tqdm

    return tqdm(items, unit=f" {unit}", leave=False)


# ------------------------------------------------------------------------------------------ buildings

OSM_DEFAULTS = {
    "where": "building IS NOT NULL",
    "floors_field": "building:levels",
    "height_field": "height",
}


def _numbers(values: pd.Series | None, n: int) -> np.ndarray:
    """First number in each value ('6', '6;7', '12 m' -> 6, 6, 12); NaN where none."""
    if values is None:
        return np.full(n, np.nan)
    s = (
        values.astype("string")
        .str.extract(r"(-?\d+(?:[.,]\d+)?)", expand=False)
        .str.replace(",", ".")
    )
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def estimate_households(
    *,
    area_m2: np.ndarray,
    households: np.ndarray,
    floors: np.ndarray,
    height: np.ndarray,
    units_per_floor: np.ndarray,
    dwelling_area: float,
    storey_height: float,
    default_floors: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Households, their source and floors per building, vectorised. In order of preference:
    1. a households/dwellings field (> 0)                         -> field
    2. floors × units per floor                                    -> floors_units
    3. round(footprint m² × floors ÷ dwelling_area), at least 1   -> area_estimate
    Floors come from a levels field, else round(height ÷ storey_height), else default_floors."""
    n = len(area_m2)
    fl = np.where(np.isfinite(floors) & (floors >= 1), np.round(floors), np.nan)
    from_height = np.round(height / storey_height)
    fl = np.where(np.isnan(fl) & np.isfinite(from_height) & (from_height >= 1), from_height, fl)
    if default_floors:
        fl = np.where(np.isnan(fl), float(default_floors), fl)
    fl = np.where(fl > 300, np.nan, fl)  # no residential building has more; a unit mistake
    hh = np.zeros(n, dtype=np.int64)
    src = np.full(n, HouseholdSource.UNKNOWN.value, dtype=object)

    est = np.isfinite(fl) & (area_m2 > 0)
    by_area = np.maximum(1, np.round(np.where(est, area_m2 * np.nan_to_num(fl), 0) / dwelling_area))
    hh[est] = by_area[est]
    src[est] = HouseholdSource.AREA_ESTIMATE.value

    fu = np.isfinite(fl) & np.isfinite(units_per_floor) & (units_per_floor > 0)
    hh[fu] = np.round(fl[fu] * units_per_floor[fu])
    src[fu] = HouseholdSource.FLOORS_UNITS.value

    fd = np.isfinite(households) & (households > 0)
    hh[fd] = np.round(households[fd])
    src[fd] = HouseholdSource.FIELD.value
    return hh, src, fl


def buildings_import(
    *,
    path,
    read: ReadOptions | None = None,
    name_field: str | None = None,
    address_field: str | None = None,
    id_field: str | None = None,
    households_field: str | None = None,
    floors_field: str | None = None,
    height_field: str | None = None,
    units_field: str | None = None,
    units_per_floor: float | None = None,
    dwelling_area: float = DEFAULT_DWELLING_AREA,
    storey_height: float = DEFAULT_STOREY_HEIGHT,
    default_floors: int | None = None,
    strict: bool = False,
    skip_bad: bool = False,
    commit: bool = False,
    progress: bool = False,
    with_geojson: bool = False,
    attach: bool = True,
) -> ImportReport:
    """Read, check, estimate households and (with commit=True) COPY buildings from a file.
    attach=False leaves attaching to areas and refreshing counts to the caller (several files in one
    transaction, then one territory.buildings_attach())."""
    if dwelling_area <= 0:
        raise DomainError(
            _("--dwelling-area must be positive (m² per dwelling)"), field="dwelling-area"
        )
    if storey_height <= 0:
        raise DomainError(_("--storey-height must be positive (m)"), field="storey-height")
    if units_field and units_per_floor:
        raise DomainError(
            _("give --units-field or --units-per-floor, not both"), field="units-per-floor"
        )
    read = read or ReadOptions()
    osm = str(path).lower().endswith((".pbf", ".osm"))
    if osm:
        read.where = read.where or OSM_DEFAULTS["where"]
    src = _read(path, read)
    frame = src.frame
    n = len(frame)
    if osm:
        floors_field = floors_field or OSM_DEFAULTS["floors_field"]
        height_field = height_field or (
            OSM_DEFAULTS["height_field"] if _has(src, "height") else None
        )

    name_field = _default_name_field(src, name_field)
    names = field_text(src.column(name_field, option="name-field") if name_field else None, n)
    if address_field:
        addresses = field_text(src.column(address_field, option="address-field"), n)
    elif osm and _has(src, "addr:street"):
        street = field_text(src.column("addr:street", option="address-field"), n)
        number = field_text(
            src.column("addr:housenumber", option="address-field")
            if _has(src, "addr:housenumber")
            else None,
            n,
        )
        addresses = [f"{s} {h}".strip() for s, h in zip(street, number, strict=True)]
    else:
        addresses = [""] * n
    if id_field:
        refs = field_text(src.column(id_field, option="id-field"), n)
    elif osm:
        way = field_text(frame.get("osm_way_id"), n)
        rel = field_text(frame.get("osm_id"), n)
        refs = [
            f"way/{w}" if w else (f"relation/{r}" if r else "")
            for w, r in zip(way, rel, strict=True)
        ]
    else:
        refs = [""] * n
    households = _numbers(src.column(households_field, option="households-field"), n)
    floors = _numbers(
        src.column(floors_field, option="floors-field")
        if floors_field and (not osm or _has(src, floors_field))
        else None,
        n,
    )
    height = _numbers(src.column(height_field, option="height-field") if height_field else None, n)
    upf = (
        np.full(n, float(units_per_floor))
        if units_per_floor
        else _numbers(src.column(units_field, option="units-field"), n)
    )

    cleaned = clean_polygons(
        frame.geometry.values, strict=strict, known=src.problems, limits=limits_for("building")
    )
    geoms = cleaned.geoms
    have = ~shapely.is_missing(geoms)
    area_m2 = np.zeros(n)
    if have.any():
        area_m2[have] = _metric_area(geoms[have])
    hh, hh_src, fl = estimate_households(
        area_m2=area_m2,
        households=households,
        floors=floors,
        height=height,
        units_per_floor=upf,
        dwelling_area=dwelling_area,
        storey_height=storey_height,
        default_floors=default_floors,
    )

    report = ImportReport(
        kind="buildings",
        file=str(path),
        layer=src.layer,
        driver=src.driver,
        crs=src.crs_in,
        datum=read.datum,
    )
    rows = report.rows
    existing = selectors.existing_building_refs(refs=[x for x in refs if x])
    for i in range(n):
        r = RowResult(
            row=i + 1,
            status="ok",
            name=(names[i] or addresses[i] or refs[i] or f"#{i + 1}")[:200],
            ext_code=refs[i],
            action="existing" if refs[i] in existing else "new",
            households=int(hh[i]),
            households_source=str(hh_src[i]),
            floors=None if np.isnan(fl[i]) else int(fl[i]),
        )
        if i in cleaned.rejected:
            r.status, r.reason = "rejected", cleaned.rejected[i]
        elif i in cleaned.repaired:
            r.status, r.reason = "repaired", _repaired(cleaned.repaired[i])
        rows.append(r)
    report.duplicates = _duplicates(refs, rows)
    if with_geojson:
        report.geojson = _geojson(rows, geoms, frame.geometry.values)
    if not commit:
        return report
    if report.rejected and not skip_bad:
        raise ImportRejected(report)

    todo = np.array([r.status != "rejected" and r.action == "new" for r in rows], dtype=bool)
    idx = np.flatnonzero(todo)
    # plain WKB: the load table's geometry(MultiPolygon, 4326) column gives SRID-less input its SRID
    # (PostGIS typmod), which saves shapely's set_srid copy of every geometry
    wkb = shapely.to_wkb(geoms[idx], hex=True)

    def copy_source():
        for k, i in enumerate(idx):
            r = rows[i]
            yield (
                r.name,
                addresses[i][:300],
                wkb[k],
                r.floors,
                r.households,
                r.households_source,
                refs[i][:64],
            )

    with transaction.atomic():
        before = territory.max_building_id()
        written = _buildings_write(
            _progress_iter(copy_source(), len(idx), progress),
            attach=attach,
        )
        if attach:
            # only the areas the new buildings count for (a full refresh reads every household)
            territory.area_counts_refresh(areas=territory.areas_of_buildings_after(before))
    report.committed, report.written = True, written
    return report


BUILDING_COLUMNS = [
    "name",
    "address",
    "footprint",
    "floors",
    "households",
    "households_source",
    "ext_ref",
]


def _buildings_write(rows, *, attach: bool) -> int:
    """Write new buildings: COPY into a temporary table (no indexes, constraints or triggers), then one
    INSERT ... SELECT that (with attach) looks up the community, grid and compound of each building on
    the way in, so each row is written once, already attached, instead of inserted and then updated.
    The audit trigger logs the rows (apps.audit.triggers: column by column, geometries cast
    to jsonb)."""
    cols = ", ".join(BUILDING_COLUMNS)
    source = ", ".join("b." + c for c in BUILDING_COLUMNS)
    # Created and dropped inside the caller's transaction: an error rolls the temporary tables back too.
    with connection.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE dataio_building_load (k integer, name text, address text, "
            "footprint geometry(MultiPolygon, 4326), floors smallint, households integer, "
            "households_source text, ext_ref text) ON COMMIT DROP"
        )
    copy_rows(
        "dataio_building_load",
        ["k", *BUILDING_COLUMNS],
        ((k, *row) for k, row in enumerate(rows)),
    )
    params = {"at": timezone.now()}
    if attach:
        # the points the attachment looks up (ST_PointOnSurface, as buildings_attach computes them),
        # indexed, so the join can go from the areas' parts to the points (territory.ATTACH_JOIN)
        with connection.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE dataio_building_points ON COMMIT DROP AS"
                " SELECT k, ST_PointOnSurface(footprint) AS p FROM dataio_building_load;"
                " CREATE INDEX ON dataio_building_points USING gist (p);"
                " ANALYZE dataio_building_points"
            )
            # their extent, passed back as literals for the planner (ATTACH_JOIN)
            cur.execute(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)"
                " FROM (SELECT ST_Extent(p)::geometry AS e FROM dataio_building_points) s"
            )
            params.update(zip(("xmin", "ymin", "xmax", "ymax"), cur.fetchone(), strict=True))
        joined = territory.ATTACH_JOIN.format(points="dataio_building_points")
        insert = (
            f"INSERT INTO territory_building ({cols}, community_id, grid_id, compound_id) "  # noqa: S608
            f"SELECT {source}, {territory.ATTACH_COLUMNS} FROM dataio_building_load b {joined}"
            " ORDER BY b.k"  # ids in the file's order
        )
    else:
        insert = (
            f"INSERT INTO territory_building ({cols}) SELECT {source}"  # noqa: S608
            " FROM dataio_building_load b ORDER BY b.k"
        )
    with connection.cursor() as cur:
        cur.execute(insert, params)
        written = cur.rowcount
        cur.execute("DROP TABLE IF EXISTS dataio_building_load, dataio_building_points")
    return written


def _metric_area(geoms) -> np.ndarray:
    """Footprint areas in m² from lon/lat polygons: each polygon's area in square degrees scaled by the
    WGS 84 ellipsoid's local area factor at its centroid's latitude φ (meridional × prime-vertical
    radius of curvature × cos φ). For footprints this is the geodesic area to ~1e-5, far below a UTM
    projection's own scale error (up to 0.2 % near a zone's edge), and nothing is reprojected."""
    phi = np.radians(shapely.get_y(shapely.centroid(geoms)))
    a, e2 = 6_378_137.0, 6.694_379_990_14e-3  # WGS 84
    w = 1 - e2 * np.sin(phi) ** 2
    meridional, prime_vertical = a * (1 - e2) / w**1.5, a / np.sqrt(w)
    return shapely.area(geoms) * np.radians(1) ** 2 * meridional * prime_vertical * np.cos(phi)


def _has(src: Source, name: str) -> bool:
    try:
        src.column(name, option="field")
        return True
    except DomainError:
        return False


def _progress_iter(it, total: int, enabled: bool):
    if not enabled or total < 5000:
        return it
    from tqdm import tqdm

    return tqdm(it, total=total, unit=" buildings", leave=False)
