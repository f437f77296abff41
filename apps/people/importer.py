"""Import residents and party members from CSV or XLSX: validate every row first (ID checksum, phone
format, household exists by building address + unit + room, organisation exists, duplicates by ID hash
in the database and within the file), report row-level errors, then write all rows in one transaction,
or none. `skip_bad_rows` writes the good rows and reports the bad ones; `dry_run` writes nothing."""

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from django.db import transaction
from django.utils.translation import gettext as _

from apps.common.errors import DomainError
from apps.people import pii
from apps.people.models import PartyMember, PartyMemberKind, PartyOrganization, Resident
from apps.territory.models import Household

ALIASES = {
    "building": ["building", "address", "楼栋", "楼栋地址", "地址"],
    "unit": ["unit", "单元"],
    "room": ["room", "房号", "门牌号"],
    "name": ["name", "姓名"],
    "phone": ["phone", "电话", "手机", "手机号"],
    "id_number": ["id_number", "身份证号", "身份证", "公民身份号码"],
    "is_head": ["is_head", "户主"],
    "organization": ["organization", "党组织", "所属党组织"],
    "kind": ["kind", "类别", "党员类别"],
    "joined": ["joined", "入党时间", "入党日期"],
}
REQUIRED = {
    "residents": ["building", "unit", "room", "name", "id_number"],
    "party_members": ["id_number", "organization", "kind"],
}
KINDS = {
    "community": "community",
    "社区党员": "community",
    "社区": "community",
    "in_service": "in_service",
    "在职党员": "in_service",
    "在职": "in_service",
    "双报到": "in_service",
    "retired": "retired",
    "退休党员": "retired",
    "退休": "retired",
}
TRUE = {"1", "true", "yes", "是", "y"}


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    valid: int = 0
    written: int = 0
    dry_run: bool = True
    errors: list = field(default_factory=list)  # {"row", "field", "error"}

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def read_table(path: Path) -> list[dict]:
    """Rows as dicts of stripped strings, keyed by canonical column names."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        text = path.read_bytes().decode("utf-8-sig")
        raw = list(csv.reader(io.StringIO(text)))
    elif suffix in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook

        wb = load_workbook(path, read_only=True, data_only=True)
        raw = [list(r) for r in wb.active.iter_rows(values_only=True)]
    else:
        raise DomainError(
            _("%(file)s: use a .csv or .xlsx file") % {"file": path.name}, field="file"
        )
    if not raw:
        raise DomainError(_("%(file)s is empty") % {"file": path.name}, field="file")
    lookup = {alias.lower(): canon for canon, aliases in ALIASES.items() for alias in aliases}
    header = [lookup.get(str(h or "").strip().lower()) for h in raw[0]]
    out = []
    for values in raw[1:]:
        if all(v in (None, "") for v in values):
            continue
        row = {}
        for key, v in zip(header, values, strict=False):
            if key:
                row[key] = (
                    v if isinstance(v, date | datetime) else str(v if v is not None else "").strip()
                )
        out.append(row)
    return out


def _date(value) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    for fmt in ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d"):
        try:
            return datetime.strptime(str(value), fmt).date()
        except ValueError:
            continue
    raise DomainError(
        _("%(value)s is not a date (use YYYY-MM-DD)") % {"value": repr(value)}, field="joined"
    )


def people_import(
    *, kind: str, rows: list[dict], dry_run: bool = True, skip_bad_rows: bool = False
) -> ImportReport:
    if kind not in REQUIRED:
        raise DomainError(
            _("unknown import kind %(kind)s (residents, party_members)") % {"kind": repr(kind)},
            field="kind",
        )
    report = ImportReport(kind=kind, rows=len(rows), dry_run=dry_run)
    if rows:
        missing = [c for c in REQUIRED[kind] if c not in rows[0]]
        if missing:
            raise DomainError(
                _("missing column(s): %(columns)s") % {"columns": ", ".join(missing)}, field="file"
            )
    build = _resident_rows if kind == "residents" else _member_rows
    objects = build(rows, report)
    report.valid = len(objects)
    if report.errors and not skip_bad_rows:
        return report  # all or nothing: nothing written
    if dry_run or not objects:
        return report
    with transaction.atomic():
        model = Resident if kind == "residents" else PartyMember
        model.objects.bulk_create(objects)
    report.written = len(objects)
    return report


def _error(report, row_no, field, message):
    report.errors.append({"row": row_no, "field": field, "error": message})


def _resident_rows(rows, report) -> list[Resident]:
    keys = {(r.get("building", ""), _int(r.get("unit")), r.get("room", "")) for r in rows}
    households = {}
    for hid, address, unit, room in Household.objects.filter(
        building__address__in={k[0] for k in keys}
    ).values_list("id", "building__address", "unit__number", "room"):
        households[(address, unit, room)] = hid
    hashes_in_file: dict[str, int] = {}
    candidates = []
    for n, r in enumerate(rows, start=2):  # row 1 is the header
        try:
            if not r.get("name"):
                raise DomainError(_("the name is empty"), field="name")
            key = (r.get("building", ""), _int(r.get("unit")), r.get("room", ""))
            hid = households.get(key)
            if hid is None:
                raise DomainError(
                    _("no household at %(building)s unit %(unit)s room %(room)s")
                    % {"building": key[0], "unit": key[1], "room": key[2]},
                    field="building",
                )
            phone = pii.phone_normalise(r["phone"]) if r.get("phone") else ""
            number = pii.id_normalise(r.get("id_number", ""))
            protected = pii.id_protect(number)
            h = protected["id_hash"]
            if h in hashes_in_file:
                raise DomainError(
                    _("the same ID number is on row %(row)s") % {"row": hashes_in_file[h]},
                    field="id_number",
                )
            hashes_in_file[h] = n
            candidates.append(
                (
                    n,
                    Resident(
                        household_id=hid,
                        name=r["name"],
                        phone=phone,
                        is_head=str(r.get("is_head", "")).lower() in TRUE,
                        **protected,
                    ),
                )
            )
        except DomainError as exc:
            _error(report, n, exc.field, exc.message)
    existing = set(
        Resident.objects.filter(id_hash__in=[c.id_hash for _n, c in candidates]).values_list(
            "id_hash", flat=True
        )
    )
    out = []
    for n, c in candidates:
        if c.id_hash in existing:
            _error(
                report, n, "id_number", _("a resident with this ID number is already registered")
            )
        else:
            out.append(c)
    report.errors.sort(key=lambda e: e["row"])
    return out


def _member_rows(rows, report) -> list[PartyMember]:
    orgs = {o.name: o.id for o in PartyOrganization.objects.all()}
    taken = set(PartyMember.objects.values_list("resident_id", flat=True))
    seen: dict[int, int] = {}
    out = []
    for n, r in enumerate(rows, start=2):
        try:
            number = pii.id_normalise(r.get("id_number", ""))
            resident = Resident.objects.filter(id_hash=pii.id_hash(number)).first()
            if resident is None:
                raise DomainError(
                    _("no resident with this ID number: import the resident first"),
                    field="id_number",
                )
            if resident.id in taken:
                raise DomainError(_("already registered as a party member"), field="id_number")
            if resident.id in seen:
                raise DomainError(
                    _("the same person is on row %(row)s") % {"row": seen[resident.id]},
                    field="id_number",
                )
            org = orgs.get(r.get("organization", ""))
            if org is None:
                raise DomainError(
                    _("no party organisation named %(name)s")
                    % {"name": repr(r.get("organization", ""))},
                    field="organization",
                )
            kind = KINDS.get(str(r.get("kind", "")).strip().lower())
            if kind is None:
                raise DomainError(
                    _("kind %(kind)s is not one of %(kinds)s")
                    % {"kind": repr(r.get("kind")), "kinds": ", ".join(PartyMemberKind.values)},
                    field="kind",
                )
            joined = _date(r.get("joined"))
            seen[resident.id] = n
            out.append(
                PartyMember(resident=resident, organization_id=org, kind=kind, joined=joined)
            )
        except DomainError as exc:
            _error(report, n, exc.field, exc.message)
    return out


def _int(value):
    try:
        return int(float(value))
    except (TypeError, ValueError):
        return None


def people_import_file(*, kind: str, path: Path, **options) -> ImportReport:
    return people_import(kind=kind, rows=read_table(Path(path)), **options)
