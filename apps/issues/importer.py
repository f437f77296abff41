"""Import of hotline records (12345, 311) from CSV or XLSX through a column mapping.

The mapping (JSON) says which column holds what and how the file's values translate:

    {"columns": {"ext_ref": "CaseID", "created_at": "Opened", "closed_at": "Closed",
                 "status": "Status", "category": "Category",
                 "description": ["Request.Details", "Request.Type"],   # first non-empty wins
                 "address": "Address", "lat": "Lat", "lon": "Long",
                 "reporter_name": "Name", "reporter_phone": "Phone", "source": "Source"},
     "values": {"category": {"Street Defects": "property-repair", ...},
                "status": {"Closed": "closed", "Open": "collected"},
                "source": {"Voice In": "hotline"}},
     "defaults": {"source": "hotline", "status": "collected", "category": null},
     "datetime_formats": ["%Y-%m-%d %H:%M:%S", "%m/%d/%Y %I:%M:%S %p"],
     "timezone": "America/Los_Angeles"}    # of naive times in the file; default TIME_ZONE

Every row is checked first; errors name the row (1-based, header = row 1), the field and the problem.
All-or-nothing: one bad row and nothing is written, unless skip_bad_rows. A dry run does the whole import
(locate, route) in a transaction that is rolled back. Areas are those valid when the record was received,
or the current ones when the territory was loaded after that (hotline history replayed on a new map)."""

import csv
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from tqdm import tqdm

from apps.common.errors import DomainError
from apps.issues import services
from apps.issues.labels import words_join
from apps.issues.models import FINISHED, Issue, IssueEvent, Source, Status, h3_cell_of
from apps.issues.reasons import step
from apps.issues.selectors import locate_many
from apps.territory.models import Area

FIELDS = {
    "ext_ref",
    "created_at",
    "closed_at",
    "status",
    "category",
    "subcategory",
    "description",
    "address",
    "lat",
    "lon",
    "reporter_name",
    "reporter_phone",
    "source",
    "priority",
}
REQUIRED = ("created_at", "category", "description", "lat", "lon")
IMPORT_STATUSES = {
    Status.COLLECTED,
    Status.DISPATCHED,
    Status.RESOLVED,
    Status.CLOSED,
    Status.REJECTED,
}
DEFAULT_FORMATS = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%Y-%m-%d",
]
BATCH = 2000
FIXTURE_DIR = Path(__file__).resolve().parents[2] / "fixtures"


@dataclass
class RowError:
    row: int
    field: str
    message: str

    def __str__(self):
        return _("row %(row)s, %(field)s: %(message)s") % {
            "row": self.row,
            "field": self.field,
            "message": self.message,
        }


class ImportFailed(DomainError):
    def __init__(self, errors: list[RowError], total: int):
        names = {
            "bad": len(errors),
            "total": total,
            "shown": "; ".join(str(e) for e in errors[:20]),
            "more": len(errors) - 20,
        }
        if len(errors) > 20:
            message = _(
                "%(bad)s of %(total)s rows are bad, nothing was imported: %(shown)s "
                "(and %(more)s more)"
            )
        else:
            message = _("%(bad)s of %(total)s rows are bad, nothing was imported: %(shown)s")
        super().__init__(message % names, field="file")
        self.errors = errors


@dataclass
class ImportResult:
    rows: int = 0
    imported: int = 0
    skipped: int = 0
    outside: int = 0
    dry_run: bool = False
    errors: list[RowError] = field(default_factory=list)
    by_status: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "imported": self.imported,
            "skipped": self.skipped,
            "outside": self.outside,
            "dry_run": self.dry_run,
            "by_status": self.by_status,
            "errors": [str(e) for e in self.errors],
        }


def mapping_load(path) -> dict:
    try:
        mapping = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DomainError(
            _("mapping %(path)s: %(error)s") % {"path": path, "error": exc}, field="mapping"
        ) from None
    return mapping_check(mapping)


def mapping_check(mapping: dict) -> dict:
    columns = mapping.get("columns")
    if not isinstance(columns, dict):
        raise DomainError(_("mapping has no 'columns' object"), field="mapping")
    unknown = set(columns) - FIELDS
    if unknown:
        raise DomainError(
            _("mapping names unknown fields %(unknown)s; known: %(known)s")
            % {"unknown": sorted(unknown), "known": sorted(FIELDS)},
            field="mapping",
        )
    defaults = mapping.get("defaults", {})
    missing = [f for f in REQUIRED if f not in columns and not defaults.get(f)]
    if missing:
        raise DomainError(
            _("mapping has no column for %(fields)s") % {"fields": words_join(missing)},
            field="mapping",
        )
    return mapping


def read_rows(path) -> tuple[list[str], list[dict]]:
    """Header and rows (dicts of strings) of a CSV (UTF-8, with or without BOM) or the first XLSX sheet."""
    path = Path(path)
    if not path.exists():
        raise DomainError(_("no file %(path)s") % {"path": path}, field="file")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        rows = wb.worksheets[0].iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, [])]
        out = [
            {h: ("" if v is None else v) for h, v in zip(header, values, strict=False)}
            for values in rows
            if any(v not in (None, "") for v in values)
        ]
        wb.close()
        return header, out
    if path.suffix.lower() not in (".csv", ".txt"):
        raise DomainError(
            _("%(name)s: use a .csv or .xlsx file") % {"name": path.name}, field="file"
        )
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return [h.strip() for h in (reader.fieldnames or [])], rows


def _value(row: dict, spec) -> str:
    """The cell for a column spec: a name or a list of names (first non-empty)."""
    names = spec if isinstance(spec, list) else [spec]
    for name in names:
        value = row.get(name)
        if value is None:
            continue
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        if text and text.upper() not in ("NA", "N/A", "NULL", "NAN"):
            return text
    return ""


def _when(raw, formats: list[str], tz=None):
    if isinstance(raw, datetime):
        value = raw
    else:
        value = None
        for fmt in formats:
            try:
                value = datetime.strptime(raw, fmt)
                break
            except ValueError:
                continue
        if value is None:
            try:
                value = datetime.fromisoformat(raw)
            except ValueError:
                raise ValueError(
                    _("%(value)s is not a date-time (formats: %(formats)s)")
                    % {"value": repr(raw), "formats": words_join(formats)}
                ) from None
    if timezone.is_aware(value):
        return value
    return value.replace(tzinfo=tz) if tz is not None else timezone.make_aware(value)


def _zone(name):
    """The zone naive times in the file are in (mapping "timezone"), default the project's."""
    if not name:
        return None
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise DomainError(
            _("mapping timezone %(name)s is not a known time zone") % {"name": repr(name)},
            field="mapping",
        ) from None


def parse_row(row: dict, n: int, mapping: dict, cache: dict) -> tuple[dict | None, list[RowError]]:
    columns, values = mapping["columns"], mapping.get("values", {})
    defaults = mapping.get("defaults", {})
    formats = mapping.get("datetime_formats") or DEFAULT_FORMATS
    tz = cache.get("__tz__")
    errors: list[RowError] = []

    def get(name):
        raw = _value(row, columns[name]) if name in columns else ""
        if raw == "" and defaults.get(name) not in (None, ""):
            return defaults[name]
        if isinstance(raw, str) and name in values:
            mapped = values[name].get(raw)
            if mapped is not None:
                return mapped
        return raw

    out: dict = {"ext_ref": str(get("ext_ref"))[:64]}
    try:
        out["point"] = services.point_parse(get("lon"), get("lat"))
    except DomainError as exc:
        errors.append(RowError(n, exc.field or "location", exc.message))
    cat_raw, sub_raw = get("category"), get("subcategory") or None
    key = (cat_raw, sub_raw)
    if key not in cache:
        try:
            cache[key] = services.category_resolve(cat_raw, sub_raw)
        except DomainError as exc:
            cache[key] = exc
    if isinstance(cache[key], DomainError):
        errors.append(RowError(n, "category", cache[key].message))
    else:
        out["category"], out["subcategory"] = cache[key]
    try:
        out["description"] = services.description_clean(get("description"))
    except DomainError as exc:
        errors.append(RowError(n, "description", exc.message))
    for name, required in (("created_at", True), ("closed_at", False)):
        raw = get(name)
        if raw in ("", None):
            if required:
                errors.append(RowError(n, name, _("is empty")))
            out[name] = None
            continue
        try:
            out[name] = _when(raw, formats, tz)
        except ValueError as exc:
            errors.append(RowError(n, name, str(exc)))
            out[name] = None
    status = get("status") or Status.COLLECTED
    if status not in IMPORT_STATUSES:
        errors.append(
            RowError(
                n,
                "status",
                _("%(status)s is not an import status (%(known)s); map it in values.status")
                % {"status": repr(status), "known": words_join(sorted(IMPORT_STATUSES))},
            )
        )
    out["status"] = status
    if (
        status in (Status.CLOSED, Status.RESOLVED, Status.REJECTED)
        and out.get("closed_at") is None
        and not any(e.field == "closed_at" for e in errors)
    ):
        errors.append(
            RowError(
                n,
                "closed_at",
                _("a record whose status is %(status)s needs a close time")
                % {"status": Status(status).label},
            )
        )
    if out.get("created_at") and out.get("closed_at") and out["closed_at"] < out["created_at"]:
        errors.append(
            RowError(
                n,
                "closed_at",
                _("closed %(closed)s before received %(received)s")
                % {
                    "closed": f"{out['closed_at']:%Y-%m-%d %H:%M}",
                    "received": f"{out['created_at']:%Y-%m-%d %H:%M}",
                },
            )
        )
    if out.get("created_at") and out["created_at"] > timezone.now() + timedelta(minutes=5):
        errors.append(RowError(n, "created_at", _("is in the future")))
    source = get("source") or Source.HOTLINE
    if source not in Source.values:
        errors.append(
            RowError(
                n,
                "source",
                _("%(source)s is not a source; map it in values.source") % {"source": repr(source)},
            )
        )
    out["source"] = source
    priority = get("priority") or "normal"
    out["priority"] = priority
    out["address"] = str(get("address"))[:300]
    out["reporter_name"] = str(get("reporter_name"))[:100]
    out["reporter_phone"] = str(get("reporter_phone"))[:32]
    return (None if errors else out), errors


def hotline_import(
    *,
    path,
    mapping: dict,
    dry_run: bool = False,
    skip_bad_rows: bool = False,
    progress: bool = False,
    actor_name: str = "import",
) -> ImportResult:
    """Import a hotline file. Raises ImportFailed (nothing written) on bad rows unless skip_bad_rows."""
    mapping_check(mapping)
    header, rows = read_rows(path)
    missing = sorted(
        {
            c
            for spec in mapping["columns"].values()
            for c in (spec if isinstance(spec, list) else [spec])
        }
        - set(header)
    )
    if missing:
        raise DomainError(
            _("the file has no column %(columns)s")
            % {"columns": words_join(repr(m) for m in missing)},
            field="mapping",
        )
    result = ImportResult(rows=len(rows), dry_run=dry_run)
    parsed, cache = [], {"__tz__": _zone(mapping.get("timezone"))}
    for n, row in enumerate(
        tqdm(rows, desc="check rows", unit="row", disable=not progress), start=2
    ):
        rec, errors = parse_row(row, n, mapping, cache)
        result.errors += errors
        if rec is not None:
            parsed.append(rec)
    if result.errors and not skip_bad_rows:
        raise ImportFailed(result.errors, len(rows))
    result.skipped = len(rows) - len(parsed)
    with transaction.atomic():
        _write(parsed, result, progress=progress, actor_name=actor_name)
        if dry_run:
            transaction.set_rollback(True)
    return result


def _write(parsed: list[dict], result: ImportResult, *, progress: bool, actor_name: str):
    now = timezone.now()
    routes: dict = {}
    areas_cache: dict[int, Area] = {}
    bar = tqdm(total=len(parsed), desc="import", unit="row", disable=not progress)
    for start in range(0, len(parsed), BATCH):
        chunk = parsed[start : start + BATCH]
        located = locate_many(
            [(r["point"].x, r["point"].y, min(r["created_at"], now)) for r in chunk]
        )
        # Territory loaded after the record: fall back to the current areas.
        late = [i for i, loc in enumerate(located) if "street" not in loc]
        if late:
            again = locate_many([(chunk[i]["point"].x, chunk[i]["point"].y, now) for i in late])
            for i, loc in zip(late, again, strict=True):
                located[i] = loc
        ids = {v[0] for loc in located for k, v in loc.items() if k != "building"}
        missing = ids - set(areas_cache)
        areas_cache.update(Area.objects.in_bulk(list(missing)))
        issues, events = [], []
        for rec, loc in zip(chunk, located, strict=True):
            areas = {
                lv: areas_cache[loc[lv][0]] if lv in loc else None
                for lv in ("street", "community", "grid", "neighbourhood", "compound")
            }
            key = (
                rec["category"].id,
                rec["subcategory"].id if rec["subcategory"] else None,
                *(a.id if a else None for a in areas.values()),
            )
            if key not in routes:
                routes[key] = services.route_for(
                    category=rec["category"], subcategory=rec["subcategory"], areas=areas
                )
            route = routes[key]
            sub, cat = rec["subcategory"], rec["category"]
            sla = (sub.sla_hours if sub else None) or cat.sla_hours
            created, closed = rec["created_at"], rec["closed_at"]
            status = rec["status"]
            issue = Issue(
                tracking_code=services.tracking_code_new(),
                point=rec["point"],
                h3_cell=h3_cell_of(rec["point"]),
                address=rec["address"],
                category=cat,
                subcategory=sub,
                description=rec["description"],
                reporter_name=rec["reporter_name"],
                reporter_phone=rec["reporter_phone"],
                source=rec["source"],
                priority=rec["priority"],
                status=status,
                created_at=created,
                updated_at=closed or created,
                due_at=created + timedelta(hours=sla),
                resolved_at=closed if status in FINISHED else None,
                closed_at=closed if status in (Status.CLOSED, Status.REJECTED) else None,
                street=areas["street"],
                community=areas["community"],
                grid=areas["grid"],
                neighbourhood=areas["neighbourhood"],
                compound=areas["compound"],
                building_id=loc.get("building"),
                outside=areas["street"] is None,
                area_code=services.area_code_of(areas),
                ext_ref=rec["ext_ref"],
                token="",
                **route.as_fields(),
            )
            issues.append(issue)
            result.outside += issue.outside
            result.by_status[status] = result.by_status.get(status, 0) + 1
        Issue.objects.bulk_create(issues, batch_size=1000)
        for issue in issues:
            events.append(
                IssueEvent(
                    issue=issue,
                    action="create",
                    to_status=Status.COLLECTED,
                    actor_name=actor_name,
                    reason=[step("imported", source=issue.source, ref=issue.ext_ref)],
                    at=issue.created_at,
                )
            )
            events.append(
                IssueEvent(
                    issue=issue,
                    action="route",
                    from_status=Status.COLLECTED,
                    to_status=Status.COLLECTED,
                    actor_name=actor_name,
                    reason=routes_reason(issue, routes),
                    at=issue.created_at,
                )
            )
            if issue.status != Status.COLLECTED:
                events.append(
                    IssueEvent(
                        issue=issue,
                        action="import",
                        from_status=Status.COLLECTED,
                        to_status=issue.status,
                        actor_name=actor_name,
                        reason=[step("imported_as", status=issue.status)],
                        at=issue.updated_at,
                    )
                )
        IssueEvent.objects.bulk_create(events, batch_size=5000)
        result.imported += len(issues)
        bar.update(len(chunk))
    bar.close()


def routes_reason(issue: Issue, routes: dict) -> list:
    key = (
        issue.category_id,
        issue.subcategory_id,
        issue.street_id,
        issue.community_id,
        issue.grid_id,
        issue.neighbourhood_id,
        issue.compound_id,
    )
    route = routes.get(key)
    return route.reason if route else []
