"""Searching the audit log and the personal-data access log (the /audit/ page).

Both logs only grow, so pages are keyset-free but count-free: a page fetches one row more than it
shows to know whether there is a next one (no count(*) over millions of rows). Personal fields inside
logged rows are masked on display: the audit log records everything, its readers see what their job
needs (see apps.people.privacy)."""

import re
from dataclasses import dataclass
from datetime import date, datetime, time

from django.utils import timezone
from django.utils.translation import gettext as _

from apps.audit.models import AuditEntry, PiiAccess
from apps.audit.triggers import audited_tables
from apps.common.errors import DomainError
from apps.people.privacy import mask_name, mask_phone

PAGE_SIZE = 50
OPS = ("INSERT", "UPDATE", "DELETE")
# Logged columns holding personal data, and how they are shown.
MASKED_FIELDS = {
    "reporter_name": mask_name,
    "reporter_phone": mask_phone,
    "reporter_email": lambda v: "***" if v else v,
    "phone": mask_phone,
    "id_cipher": lambda v: "***" if v else v,
    "id_hash": lambda v: "***" if v else v,
    "password": lambda v: "***" if v else v,
}


# The actor of writes no person made (apps.audit.triggers: 'system:' || session_user)
SYSTEM_ACTOR = "system:"


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""
    table: str = ""
    op: str = ""
    row: str = ""
    start: date | None = None
    end: date | None = None
    page: int = 1
    people_only: bool = (
        False  # leave out what the system wrote (migrations, jobs): actor "system:…"
    )


def _date(raw: str, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise DomainError(
            _("%(name)s=%(value)s is not a date (YYYY-MM-DD)") % {"name": name, "value": repr(raw)},
            field=name,
        ) from None


def parse_filter(params) -> AuditFilter:
    op = (params.get("op") or "").upper()
    if op and op not in OPS:
        raise DomainError(
            _("op=%(value)s: use one of %(ops)s") % {"value": repr(op), "ops": ", ".join(OPS)},
            field="op",
        )
    table = params.get("table") or ""
    if table and table not in audited_tables():
        raise DomainError(
            _("table=%(value)s is not an audited table") % {"value": repr(table)}, field="table"
        )
    raw_page = params.get("page") or "1"
    if not raw_page.isdigit() or int(raw_page) < 1:
        raise DomainError(
            _("page=%(value)s must be a whole number from 1") % {"value": repr(raw_page)},
            field="page",
        )
    start, end = _date(params.get("start", ""), "start"), _date(params.get("end", ""), "end")
    if start and end and start > end:
        raise DomainError(_("start is after end"), field="start")
    return AuditFilter(
        actor=(params.get("actor") or "").strip()[:200],
        table=table,
        op=op,
        row=(params.get("row") or "").strip()[:64],
        start=start,
        end=end,
        page=int(raw_page),
        people_only=params.get("people") in ("1", "on", "true"),
    )


def _period(qs, f: AuditFilter):
    tz = timezone.get_current_timezone()
    if f.start:
        qs = qs.filter(at__gte=datetime.combine(f.start, time.min, tzinfo=tz))
    if f.end:
        qs = qs.filter(at__lt=datetime.combine(f.end, time.max, tzinfo=tz))
    return qs


def _page(qs, page: int) -> tuple[list, bool]:
    start = (page - 1) * PAGE_SIZE
    rows = list(qs[start : start + PAGE_SIZE + 1])
    return rows[:PAGE_SIZE], len(rows) > PAGE_SIZE


# A timestamptz as to_jsonb writes it (ISO 8601 in UTC, with its offset)
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?[+-]\d{2}:\d{2}$")


def _shown(value, field: str):
    mask = MASKED_FIELDS.get(field)
    if mask and isinstance(value, str):
        return mask(value)
    if isinstance(value, str) and TIMESTAMP.match(value):  # in local time, as the time column
        return timezone.localtime(datetime.fromisoformat(value)).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dict) and "coordinates" in value:  # PostGIS casts geometries to GeoJSON
        return f"{value.get('type')} ({_vertices(value['coordinates'])} vertices)"
    if isinstance(value, dict | list):
        text = str(value)
        return text if len(text) <= 120 else text[:117] + "…"
    return value


def _vertices(coords) -> int:
    if coords and isinstance(coords[0], int | float):
        return 1
    return sum(_vertices(c) for c in coords)


def changes_of(entry: AuditEntry) -> list[tuple[str, object, object]]:
    """(field, before, after) for the fields an entry changed (all set fields for an insert or a
    delete); geometries are summarised, personal fields masked."""
    before, after = entry.before or {}, entry.after or {}
    out = []
    for field in sorted(set(before) | set(after)):
        b, a = before.get(field), after.get(field)
        if entry.op == "UPDATE" and b == a:
            continue
        if entry.op != "UPDATE" and (b if entry.op == "DELETE" else a) in (None, "", [], {}):
            continue
        out.append((field, _shown(b, field), _shown(a, field)))
    return out


def audit_search(f: AuditFilter) -> tuple[list[dict], bool]:
    qs = AuditEntry.objects.order_by("-at", "-id")
    if f.actor:
        qs = qs.filter(actor__icontains=f.actor)
    if f.table:
        qs = qs.filter(table_name=f.table)
    if f.op:
        qs = qs.filter(op=f.op)
    if f.row:
        qs = qs.filter(row_pk=f.row)
    if f.people_only:
        qs = qs.exclude(actor__startswith=SYSTEM_ACTOR)
    rows, more = _page(_period(qs, f), f.page)
    return [{"entry": e, "changes": changes_of(e)} for e in rows], more


def pii_search(f: AuditFilter) -> tuple[list[PiiAccess], bool]:
    qs = PiiAccess.objects.order_by("-at", "-id")
    if f.actor:
        qs = qs.filter(actor__icontains=f.actor)
    if f.row:
        qs = qs.filter(subject__icontains=f.row)
    return _page(_period(qs, f), f.page)
