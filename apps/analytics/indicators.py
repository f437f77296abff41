"""The city's indicators per street and community, by month. Formulas: docs/ANALYTICS.md.

Each indicator is a ratio whose numerator and denominator are returned too, so a reader can check it.
Complaint indicators are the issues app's own (apps.issues.selectors.indicators), not recomputed here;
indicators whose data lives in an app that is not installed yet are reported as None with a note.
"""

import importlib
from datetime import date, datetime, time, timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.common.errors import DomainError, NotFound
from apps.common.routers import read_cursor
from apps.territory.models import Area

# key, label, unit ("ratio": shown as %, "per1000", "count")
INDICATORS = [
    ("property_coverage", gettext_lazy("Property-management coverage of compounds"), "ratio"),
    (
        "party_org_coverage",
        gettext_lazy("Party-organisation coverage of property companies"),
        "ratio",
    ),
    (
        "committee_party_share",
        gettext_lazy("Party members among owners' committee members"),
        "ratio",
    ),
    ("complaints_per_1000", gettext_lazy("Complaints per 1,000 households"), "per1000"),
    ("closure_rate", gettext_lazy("Closure rate"), "ratio"),
    ("on_time_rate", gettext_lazy("On-time closure rate"), "ratio"),
    ("rework_rate", gettext_lazy("Rework rate"), "ratio"),
    ("satisfaction", gettext_lazy("Satisfaction"), "ratio"),
    ("center_coverage", gettext_lazy("Center-household coverage of households"), "ratio"),
    ("patrols_per_grid", gettext_lazy("Patrols per grid"), "count"),
]
LABELS = {k: label for k, label, _unit in INDICATORS}
UNITS = {k: unit for k, _label, unit in INDICATORS}
MAX_MONTHS = 36

# `c`: the version of each compound in force at `at`; a compound first recorded later counts with its
# first version (the territory existed before it was digitised); one whose versions all ended does not.
# Managed: self-managed, or commercial/proxy with a property company serving it since before `at`.
PROPERTY_SQL = """
WITH c AS (
    SELECT DISTINCT ON (a.code) a.id, a.management_type
      FROM territory_area a
     WHERE a.level = 'compound' AND a.code LIKE %(prefix)s
       AND (a.valid_to IS NULL OR a.valid_to > %(at)s)
     ORDER BY a.code, (a.valid_from > %(at)s), a.valid_from
)
SELECT count(*),
       count(*) FILTER (WHERE c.management_type = 'self' OR (c.management_type IN ('commercial', 'proxy')
            AND EXISTS (SELECT 1 FROM people_propertyservice s
                         WHERE s.compound_id = c.id AND (s.since IS NULL OR s.since < %(at)s::date))))
  FROM c
"""

# Companies serving at least one compound of the area (at `at`), and those with a party organisation.
# has_party_org has no history: the trend shows today's answer for past months (docs/ANALYTICS.md).
PARTY_ORG_SQL = """
WITH c AS (
    SELECT DISTINCT ON (a.code) a.id, a.management_type
      FROM territory_area a
     WHERE a.level = 'compound' AND a.code LIKE %(prefix)s
       AND (a.valid_to IS NULL OR a.valid_to > %(at)s)
     ORDER BY a.code, (a.valid_from > %(at)s), a.valid_from
)
SELECT count(DISTINCT co.id), count(DISTINCT co.id) FILTER (WHERE co.has_party_org)
  FROM c JOIN people_propertyservice s ON s.compound_id = c.id
         AND (s.since IS NULL OR s.since < %(at)s::date)
  JOIN people_propertycompany co ON co.id = s.company_id
"""


def ratio(num, den):
    return round(num / den, 6) if den else None


def month_start(d: date) -> datetime:
    return datetime.combine(d.replace(day=1), time.min, tzinfo=timezone.get_current_timezone())


def next_month(d: date) -> date:
    return (d.replace(day=1) + timedelta(days=32)).replace(day=1)


def parse_month(raw) -> date:
    raw = (raw or "").strip() if isinstance(raw, str) else raw
    if isinstance(raw, date):
        return raw.replace(day=1)
    try:
        year, month = raw.split("-")
        return date(int(year), int(month), 1)
    except (ValueError, AttributeError):
        raise DomainError(
            _("month=%(value)s is not a month (use YYYY-MM)") % {"value": repr(raw)}, field="month"
        ) from None


def area_for(code: str) -> Area:
    if not code or not code.isdigit() or len(code) not in (9, 12):
        raise DomainError(
            _("code=%(value)s: indicators are per street (9 digits) or community (12 digits)")
            % {"value": repr(code)},
            field="code",
        )
    now = timezone.now()
    area = Area.objects.filter(code=code, valid_from__lte=now).exclude(valid_to__lte=now).first()
    if area is None:
        raise NotFound(
            _("no current street or community with code %(code)s") % {"code": code}, field="code"
        )
    return area


def _issue_indicators():
    try:
        module = importlib.import_module("apps.issues.selectors")
    except ImportError:
        return None
    return getattr(module, "indicators", None)


def _people_extras():
    try:
        return importlib.import_module("apps.analytics.indicators_people")
    except ImportError:
        return None


def _patrols_extras():
    try:
        return importlib.import_module("apps.analytics.indicators_patrols")
    except ImportError:
        return None


def month_indicators(*, code: str, month: date, households: int) -> dict:
    """Every indicator of an area (code prefix) for one month: state at the month's end for coverage
    indicators, the month's cohort for complaints."""
    start = month_start(month)
    end = month_start(next_month(month))
    at = min(end, timezone.now())
    params = {"prefix": code + "%", "at": at}
    row: dict = {"month": month.strftime("%Y-%m")}
    with read_cursor() as cur:
        cur.execute(PROPERTY_SQL, params)
        compounds, managed = cur.fetchone()
        cur.execute(PARTY_ORG_SQL, params)
        companies, with_org = cur.fetchone()
    row["property_coverage"] = {
        "value": ratio(managed, compounds),
        "num": managed,
        "den": compounds,
    }
    row["party_org_coverage"] = {
        "value": ratio(with_org, companies),
        "num": with_org,
        "den": companies,
    }

    issue_ind = _issue_indicators()
    if issue_ind is not None:
        i = issue_ind(area_code=code, start=start, end=end)
        row["complaints_per_1000"] = {
            "value": i["per_1000_households"],
            "num": i["received"],
            "den": i["households"],
        }
        row["closure_rate"] = {
            "value": i["closure_rate"],
            "num": i["closed"],
            "den": i["due_to_close"],
        }
        row["on_time_rate"] = {
            "value": i["on_time_rate"],
            "num": i["closed_on_time"],
            "den": i["due_to_close"],
        }
        row["rework_rate"] = {
            "value": i["rework_rate"],
            "num": i["reworked"],
            "den": i["ever_resolved"],
        }
        row["satisfaction"] = {"value": i["satisfaction"], "num": i["satisfied"], "den": i["rated"]}
    people = _people_extras()
    if people is not None:
        row.update(people.month_indicators(code=code, at=at, households=households))
    patrols = _patrols_extras()
    if patrols is not None:
        row.update(patrols.month_indicators(code=code, start=start, end=end))
    for key in LABELS:
        row.setdefault(key, {"value": None, "num": None, "den": None, "missing": True})
    return row


def dashboard(*, code: str, month=None, months: int = 12) -> dict:
    """The area's indicators for `months` months ending with `month` (default: this month), and the
    latest month for each of its communities (for a street) as a comparison table."""
    area = area_for(code)
    last = parse_month(month) if month else timezone.localdate().replace(day=1)
    if not 1 <= int(months) <= MAX_MONTHS:
        raise DomainError(
            _("months=%(value)s must be from 1 to %(max)s") % {"value": months, "max": MAX_MONTHS},
            field="months",
        )
    series_months = []
    m = last
    for _i in range(int(months)):
        series_months.append(m)
        m = (m - timedelta(days=1)).replace(day=1)
    series_months.reverse()
    trend = [
        month_indicators(code=area.code, month=m, households=area.households) for m in series_months
    ]
    children = []
    if area.level == "street":
        now = timezone.now()
        for child in (
            Area.objects.filter(level="community", parent=area, valid_from__lte=now)
            .exclude(valid_to__lte=now)
            .order_by("code")
        ):
            children.append(
                {"code": child.code, "name": child.name, "households": child.households}
                | month_indicators(code=child.code, month=last, households=child.households)
            )
    missing = [k for k in LABELS if all(r[k].get("missing") for r in trend)]
    return {
        "area": {
            "code": area.code,
            "name": area.name,
            "level": area.level,
            "households": area.households,
        },
        "month": last.strftime("%Y-%m"),
        "indicators": [
            {"key": k, "label": str(LABELS[k]), "unit": UNITS[k], "available": k not in missing}
            for k in LABELS
        ],
        "trend": trend,
        "latest": trend[-1],
        "children": children,
        "notes": [
            _("%(label)s: needs data that is not in Linli yet.") % {"label": LABELS[k]}
            for k in missing
        ],
    }


def dashboard_xlsx(data: dict) -> bytes:
    from apps.common.exports import xlsx_bytes

    keys = [i["key"] for i in data["indicators"]]
    header = [_("Month")] + [str(LABELS[k]) for k in keys]

    def cells(row):
        return [row[k]["value"] for k in keys]

    sheets = {
        _("Trend"): (header, [[r["month"], *cells(r)] for r in data["trend"]]),
        _("Numerators"): (
            [_("Month")] + [f"{LABELS[k]} ({_('numerator')}/{_('denominator')})" for k in keys],
            [
                [r["month"]]
                + [f"{r[k]['num']}/{r[k]['den']}" if r[k]["den"] is not None else "" for k in keys]
                for r in data["trend"]
            ],
        ),
    }
    if data["children"]:
        sheets[_("Communities")] = (
            [_("Code"), _("Community"), _("Households")] + [str(LABELS[k]) for k in keys],
            [[c["code"], c["name"], c["households"], *cells(c)] for c in data["children"]],
        )
    return xlsx_bytes(sheets)
