"""Reads about issues shared by the APIs, pages, Open311, commands: filters, GeoJSON for the map,
nearby duplicates, indicators, the joint-meeting agenda. Raw SQL where the ORM cannot say it well,
parameterised, with the reason beside it."""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db import connection
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from apps.common.errors import DomainError, NotFound
from apps.common.labels import english
from apps.common.parsers import parse_bool
from apps.common.routers import read_cursor
from apps.issues.labels import words_join
from apps.issues.models import (
    DISMISSED,
    FINISHED,
    OPEN,
    Category,
    Issue,
    ResponsibleKind,
    Status,
)
from apps.issues.reasons import event_text
from apps.people.models import Department, PropertyCompany, StaffAssignment
from apps.territory.models import Area, Building, Level
from apps.territory.selectors import EDGE_EPS, consistent_chain, locate

# ---------------------------------------------------------------- single issues


def issue_get(
    *, issue_id: int | None = None, tracking_code: str | None = None, scope=None
) -> Issue:
    """One issue; with a `scope` (apps.people.scope), one outside it is not found (404, so its
    existence does not leak)."""
    qs = Issue.objects.select_related(
        "category",
        "subcategory",
        "street",
        "community",
        "grid",
        "neighbourhood",
        "compound",
        "responsible_company",
        "responsible_department",
        "responsible_staff",
        "responsible_area",
    )
    if scope is not None:
        qs = qs.filter(scope.issues_q())
    issue = (
        qs.filter(pk=issue_id).first()
        if issue_id is not None
        else qs.filter(tracking_code=(tracking_code or "").strip().upper()).first()
    )
    if issue is None:
        if issue_id is not None:
            raise NotFound(_("no issue with id %(id)s") % {"id": issue_id})
        raise NotFound(_("no issue with tracking code %(code)s") % {"code": repr(tracking_code)})
    return issue


def issue_grid_now(*, issue: Issue) -> dict | None:
    """The grid that covers the issue's point today (after redraws), next to the one stored at intake:
    the current version's id, code, name and version, and whether it is the intake grid (None when
    no current grid covers the point)."""
    grid = locate(lon=issue.point.x, lat=issue.point.y)["grid"]
    if grid is None:
        return None
    version = Area.objects.filter(pk=grid["id"]).values_list("version", flat=True).first()
    return {**grid, "version": version, "is_intake_grid": grid["id"] == issue.grid_id}


def responsible_label(issue: Issue) -> str:
    for obj in (
        issue.responsible_company,
        issue.responsible_department,
        issue.responsible_staff,
        issue.responsible_area,
    ):
        if obj is not None:
            return str(obj)
    return ""


def _may_see_people(issue: Issue, user) -> bool:
    """Whether `user` may see personal data in the issue's area (apps.people.privacy)."""
    from apps.people.privacy import may_see_personal_data

    return user is not None and may_see_personal_data(
        user, grid_id=issue.grid_id, community_id=issue.community_id, street_id=issue.street_id
    )


def responsible_for(issue: Issue, *, user=None) -> dict:
    """Who handles the issue and how to reach them: a property company's or department's service
    phone as it is; a person's phone (a grid leader's) in clear only where apps.people.privacy allows
    the reader in the issue's area, else masked; an area (the community) has none here."""
    phone, masked = "", False
    if issue.responsible_company is not None:
        phone = issue.responsible_company.phone
    elif issue.responsible_department is not None:
        phone = issue.responsible_department.phone
    elif issue.responsible_staff is not None and issue.responsible_staff.phone:
        phone, masked = issue.responsible_staff.phone, not _may_see_people(issue, user)
        if masked:
            phone = mask_phone(phone)
    return {
        "kind": issue.responsible_kind,
        "name": responsible_label(issue),
        "phone": phone,
        "masked": masked,
    }


# An issue outside every community is offered the handlers of the communities nearest its point.
HANDLER_COMMUNITIES_NEAREST = 5
HANDLERS_PER_KIND = 50


def handlers_for(issue: Issue) -> list[dict]:
    """Whom a coordinator may dispatch an issue to by hand (services._manual_route takes each as
    {kind, id}): the property companies serving compounds of its community, the community's grid
    leaders, the departments of its street (and those serving every street), the community itself.
    Outside every community: the same for the nearest communities."""
    if issue.community_id:
        communities = [issue.community]
    else:
        with connection.cursor() as cur:
            cur.execute(
                "SELECT id FROM territory_area WHERE level = 'community' AND valid_to IS NULL"
                " ORDER BY geom <-> ST_GeomFromEWKB(%s) LIMIT %s",
                [bytes(issue.point.ewkb), HANDLER_COMMUNITIES_NEAREST],
            )
            ids = [r[0] for r in cur.fetchall()]
        by_id = Area.objects.in_bulk(ids)
        communities = [by_id[i] for i in ids if i in by_id]
    if not communities:
        return []
    within = Q()
    for c in communities:
        within |= Q(code__startswith=c.code)
    compounds = Area.objects.filter(within, level=Level.COMPOUND, valid_to__isnull=True)
    companies = PropertyCompany.objects.filter(services__compound__in=compounds).distinct()
    leaders = StaffAssignment.objects.filter(
        role="grid_leader", active=True, area__in=Area.objects.filter(within, level=Level.GRID)
    ).select_related("area")
    streets = {c.parent_id for c in communities}
    departments = Department.objects.filter(Q(street_id__in=streets) | Q(street__isnull=True))

    def entries(kind, rows, name):
        return [
            {"kind": kind, "id": r.id, "name": name(r)}
            for r in rows.order_by("name", "id")[:HANDLERS_PER_KIND]
        ]

    return [
        *entries(ResponsibleKind.PROPERTY_COMPANY, companies, str),
        *entries(ResponsibleKind.GRID_LEADER, leaders, lambda a: f"{a.name} · {a.area.name}"),
        *entries(ResponsibleKind.DEPARTMENT, departments, str),
        *[{"kind": ResponsibleKind.COMMUNITY, "id": c.id, "name": c.name} for c in communities],
    ]


def issue_detail(issue: Issue, *, user=None) -> dict:
    """The staff view of an issue, history included (reporter phone masked). `actions`: what this
    user may do now (services.actions_for); `loop_actions`: what the loop allows anyone."""
    from apps.issues.services import actions_allowed, actions_for

    areas = {
        level: ({"id": a.id, "code": a.code, "name": a.name, "version": a.version} if a else None)
        for level, a in (
            ("street", issue.street),
            ("community", issue.community),
            ("grid", issue.grid),
            ("neighbourhood", issue.neighbourhood),
            ("compound", issue.compound),
        )
    }
    # the report's photos, and those kept with a step of the loop (处置照片) under that step
    photos, step_photos = [], {}
    for p in issue.photos.all().order_by("id"):
        shown = {
            "id": p.id,
            "url": reverse("issue-photo", args=[issue.id, p.id]),
            "width": p.width,
            "height": p.height,
        }
        (step_photos.setdefault(p.event_id, []) if p.event_id else photos).append(shown)
    return {
        "id": issue.id,
        "tracking_code": issue.tracking_code,
        "status": issue.status,
        "status_label": str(Status(issue.status).label),
        "overdue": issue.overdue,
        "category": issue.category.code,
        "category_name": issue.category.label,
        "subcategory": issue.subcategory.code if issue.subcategory else None,
        "subcategory_name": issue.subcategory.label if issue.subcategory else None,
        "description": issue.description,
        "address": issue.address,
        "lon": issue.point.x,
        "lat": issue.point.y,
        "source": issue.source,
        "priority": issue.priority,
        "created_at": issue.created_at.isoformat(),
        "due_at": issue.due_at.isoformat(),
        "resolved_at": issue.resolved_at.isoformat() if issue.resolved_at else None,
        "closed_at": issue.closed_at.isoformat() if issue.closed_at else None,
        "rework_count": issue.rework_count,
        "rating": issue.rating,
        "rating_comment": issue.rating_comment,
        "outside": issue.outside,
        "areas": areas,
        "building_id": issue.building_id,
        "responsible": responsible_for(issue, user=user),
        "reporter": reporter_for(issue, user=user),
        "duplicate_of": issue.duplicate_of_id,
        # served to staff who may see the issue (api.IssuePhotoApi); the report's also as Open311
        # media, the steps' never
        "photos": photos,
        "actions": actions_for(issue=issue, user=user) if user is not None else [],
        "loop_actions": actions_allowed(issue.status),
        "history": [
            {
                "action": e.action,
                "from": e.from_status,
                "to": e.to_status,
                "actor": e.actor_name,
                # the system's words in the reader's language, then the person's
                "note": event_text(e),
                "at": e.at.isoformat(),
                "photos": step_photos.get(e.id, []),
            }
            for e in issue.events.all()
        ],
    }


def reporter_for(issue: Issue, *, user=None) -> dict:
    """The reporter's name and phone: in clear for the roles apps.people.privacy allows in the issue's
    area (the showing is logged, PIPL), masked for everyone else."""
    from apps.people.privacy import mask_name

    if not (issue.reporter_name or issue.reporter_phone):
        return {"name": "", "phone": "", "masked": False}
    if not _may_see_people(issue, user):
        return {
            "name": mask_name(issue.reporter_name),
            "phone": mask_phone(issue.reporter_phone),
            "masked": True,
        }
    from apps.audit.pii import pii_access_log

    pii_access_log(user=user, what="issue", subject=f"issue {issue.id} reporter", people=1)
    return {"name": issue.reporter_name, "phone": issue.reporter_phone, "masked": False}


def mask_phone(phone: str) -> str:
    """138****5678: enough to recognise a caller, not to call them."""
    if len(phone) < 7:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


# ---------------------------------------------------------------- filters


@dataclass
class IssueFilter:
    category: str | None = None
    status: list[str] | None = None
    start: datetime | None = None
    end: datetime | None = None
    overdue: bool | None = None
    within: str | None = None
    compound: str | None = None  # a compound's code: its issues under every version of it
    building: int | None = None
    awaiting: tuple[str, dict] | None = None  # awaiting_sql of the user: what waits for them
    scope: object = None  # apps.people.scope.Scope: the user's; None only for internal callers

    def sql(self) -> tuple[str, dict]:
        """A WHERE clause over alias i (issues_issue) and its parameters."""
        where = ["TRUE"]
        params: dict = {"now": timezone.now(), "open": list(OPEN), "en": english()}
        if self.scope is not None:
            clause, scope_params = self.scope.issues_sql("i")
            where.append(clause)
            params.update(scope_params)
        if self.category:
            where.append("(c.code = %(category)s OR sc.code = %(category)s)")
            params["category"] = self.category
        if self.status:
            where.append("i.status = ANY(%(status)s)")
            params["status"] = self.status
        if self.start:
            where.append("i.created_at >= %(start)s")
            params["start"] = self.start
        if self.end:
            where.append("i.created_at < %(end)s")
            params["end"] = self.end
        if self.overdue is True:
            where.append(f"({OVERDUE_SQL})")
        elif self.overdue is False:
            where.append(f"NOT ({OVERDUE_SQL})")
        if self.within:
            where.append("i.area_code LIKE %(within)s")
            params["within"] = self.within + "%"
        if self.compound:
            # compound_id is indexed; the compound's versions share its code
            where.append(
                "i.compound_id IN (SELECT a.id FROM territory_area a"
                " WHERE a.level = 'compound' AND a.code = %(compound)s)"
            )
            params["compound"] = self.compound
        if self.building is not None:
            where.append("i.building_id = %(building)s")
            params["building"] = self.building
        if self.awaiting is not None:
            clause, awaiting_params = self.awaiting
            where.append(clause)
            params.update(awaiting_params)
        return " AND ".join(where), params


def awaiting_sql(user, alias: str = "i") -> tuple[str, dict]:
    """Issues waiting for this user (a WHERE fragment over `alias`): the ones where actions_for would
    give them a coordinator's task (dispatch, reject, duplicate, rate, close) in their area, or a
    handler's (accept, return, resolve) on what is theirs to handle. The same rules as actions_for,
    in SQL (tests compare the two)."""
    from apps.issues.services import COORDINATOR_ROLES, COORDINATOR_TODO, HANDLER_TODO

    params = {"await_coord": list(COORDINATOR_TODO), "await_handler": list(HANDLER_TODO)}
    everything = f"{alias}.status = ANY(%(await_coord)s) OR {alias}.status = ANY(%(await_handler)s)"
    if user.is_superuser:
        return f"({everything})", params
    parts = []
    for n, a in enumerate(
        StaffAssignment.objects.filter(user=user, active=True).select_related("area")
    ):
        if a.role == "city_admin":
            return f"({everything})", params
        if a.role in COORDINATOR_ROLES and a.area is not None:
            params[f"await_area{n}"] = a.area.code + "%"
            parts.append(
                f"({alias}.area_code LIKE %(await_area{n})s AND {alias}.status = ANY(%(await_coord)s))"
            )
        # what this assignment handles: (the issue's column, this assignment's value, the kind test)
        column, value, kind = {
            "property_company": ("responsible_company_id", a.company_id, "<> 'none'"),
            "department": ("responsible_department_id", a.department_id, "<> 'none'"),
            "grid_leader": ("responsible_staff_id", a.id, "<> 'none'"),
            "community_staff": ("responsible_area_id", a.area_id, "= 'community'"),
        }.get(a.role, (None, None, None))
        if value is not None:
            params[f"await_id{n}"] = value
            parts.append(
                f"({alias}.responsible_kind {kind} AND {alias}.{column} = %(await_id{n})s"
                f" AND {alias}.status = ANY(%(await_handler)s))"
            )
    return ("(" + " OR ".join(parts) + ")") if parts else "FALSE", params


# Overdue: still open (not finished, not dismissed) and past due. Same rule as Issue.overdue.
OVERDUE_SQL = "i.status = ANY(%(open)s) AND i.due_at < %(now)s"


def parse_when(raw: str | None, name: str, *, end: bool = False) -> datetime | None:
    """ISO date or datetime from a query parameter; a date alone means its start (or, for an end, the
    start of the next day). Malformed values are refused naming the parameter."""
    if raw is None or str(raw).strip() == "":
        return None
    raw = str(raw).strip()
    # A date alone first: parse_datetime also takes "2026-03-31" (as its midnight), which would make an
    # inclusive end day exclusive.
    try:
        day = parse_date(raw)
    except ValueError:
        day = None
    value = None
    if day is None:
        try:
            value = parse_datetime(raw)
        except ValueError:
            value = None
        if value is None:
            raise DomainError(
                _("%(name)s=%(value)s is not a date (use YYYY-MM-DD or ISO 8601 date-time)")
                % {"name": name, "value": repr(raw)},
                field=name,
            )
    else:
        try:
            value = datetime.combine(day + timedelta(days=1) if end else day, time.min)
        except OverflowError:
            raise DomainError(
                _("%(name)s=%(value)s is out of range") % {"name": name, "value": repr(raw)},
                field=name,
            ) from None
    try:
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        # The same instant in local time: Python takes UTC offsets up to ±23:59, PostgreSQL ±15:59.
        return timezone.localtime(value)
    except OverflowError:
        raise DomainError(
            _("%(name)s=%(value)s is out of range") % {"name": name, "value": repr(raw)},
            field=name,
        ) from None


def parse_filter(params, *, scope=None, user=None) -> IssueFilter:
    """IssueFilter from query parameters: category, status (comma list), start, end, overdue, within,
    compound (code), building (id), awaiting (what waits for `user`); always narrowed to the user's
    `scope`."""
    f = IssueFilter(scope=scope)
    category = params.get("category")
    if category:
        if not Category.objects.filter(code=category).exists():
            raise DomainError(
                _("unknown category %(code)s") % {"code": repr(category)}, field="category"
            )
        f.category = category
    status = params.get("status")
    if status:
        f.status = [s.strip() for s in status.split(",") if s.strip()]
        bad = [s for s in f.status if s not in Status.values and s not in ("open", "closed")]
        if bad:
            raise DomainError(
                _("unknown status %(status)s; use %(known)s, open or closed")
                % {"status": repr(bad[0]), "known": words_join(Status.values)},
                field="status",
            )
        expanded = []
        for s in f.status:
            expanded += (
                list(OPEN) if s == "open" else list(FINISHED + DISMISSED) if s == "closed" else [s]
            )
        f.status = expanded
    f.start = parse_when(params.get("start"), "start")
    f.end = parse_when(params.get("end"), "end", end=True)
    if f.start and f.end and f.end <= f.start:
        raise DomainError(_("end must be after start"), field="end")
    overdue = params.get("overdue")
    if overdue not in (None, ""):
        f.overdue = parse_bool("overdue", overdue)
    within = params.get("within")
    if within:
        if not within.isdigit():
            raise DomainError(
                _("within=%(value)s is not an area code") % {"value": repr(within)},
                field="within",
            )
        f.within = within
    compound = params.get("compound")
    if compound:
        if not Area.objects.filter(level=Level.COMPOUND, code=compound).exists():
            raise DomainError(
                _("compound=%(value)s is not the code of a compound") % {"value": repr(compound)},
                field="compound",
            )
        f.compound = compound
    building = params.get("building")
    if building not in (None, ""):
        if not building.isdigit() or not Building.objects.filter(pk=int(building)).exists():
            raise DomainError(
                _("building=%(value)s is not a building") % {"value": repr(building)},
                field="building",
            )
        f.building = int(building)
    awaiting = params.get("awaiting")
    if awaiting not in (None, "") and parse_bool("awaiting", awaiting) and user is not None:
        f.awaiting = awaiting_sql(user)
    return f


# ---------------------------------------------------------------- map GeoJSON and lists

# The category's name in the request's language (Category.label in SQL; `en` from IssueFilter.sql).
CATEGORY_NAME_SQL = "CASE WHEN %(en)s AND c.name_en <> '' THEN c.name_en ELSE c.name END"

# Built by PostGIS (json_agg): the map loads thousands of pins; serialising row by row in Python is
# 10-50x slower. Coordinates rounded to 6 decimals (~0.1 m).
ISSUES_GEOJSON_SQL = """
SELECT json_build_object('type', 'FeatureCollection', 'features', COALESCE(json_agg(json_build_object(
    'type', 'Feature',
    'id', f.id,
    'geometry', ST_AsGeoJSON(f.point, 6)::json,
    'properties', json_build_object(
        'id', f.id, 'code', f.tracking_code, 'status', f.status, 'category', f.category,
        'category_name', f.category_name, 'subcategory', f.subcategory, 'priority', f.priority,
        'source', f.source, 'created_at', f.created_at, 'due_at', f.due_at, 'rework', f.rework_count,
        'overdue', f.overdue, 'responsible_kind', f.responsible_kind, 'area_code', f.area_code,
        'outside', f.outside
    )
) ORDER BY f.id), '[]'::json))::text
FROM (
    SELECT i.id, i.point, i.tracking_code, i.status, c.code AS category,
           {category_name} AS category_name,
           sc.code AS subcategory, i.priority, i.source, i.created_at, i.due_at, i.rework_count,
           (i.status = ANY(%(open)s) AND i.due_at < %(now)s) AS overdue,
           i.responsible_kind, i.area_code, i.outside
      FROM issues_issue i
      JOIN issues_category c ON c.id = i.category_id
      LEFT JOIN issues_category sc ON sc.id = i.subcategory_id
     WHERE {where}
     ORDER BY i.id DESC
     LIMIT %(limit)s
) f
""".replace("{category_name}", CATEGORY_NAME_SQL)


def issues_geojson(*, filters: IssueFilter, limit: int = 20000) -> str:
    """The filtered issues as a GeoJSON FeatureCollection (newest `limit` of them)."""
    where, params = filters.sql()
    params["limit"] = limit
    with connection.cursor() as cur:
        # `where` is assembled from constant fragments by IssueFilter.sql; values are parameters.
        cur.execute(ISSUES_GEOJSON_SQL.replace("{where}", where), params)
        return cur.fetchone()[0]


# Orders of the issues list: the newest first (the default), or the soonest due first (a queue: the
# overdue on top).
LIST_ORDERS = {
    "newest": "i.created_at DESC, i.id DESC",
    "due": "i.due_at, i.created_at, i.id",
}


# What the list reads from (IssueFilter.sql's `c` and `sc` are these joins).
LIST_FROM = """
  FROM issues_issue i
  JOIN issues_category c ON c.id = i.category_id
  LEFT JOIN issues_category sc ON sc.id = i.subcategory_id
"""


def issues_list(
    *, filters: IssueFilter, offset: int = 0, limit: int = 100, order: str = "newest"
) -> tuple[int, list[dict]]:
    """A page of the filtered issues and how many there are in all.

    The page and the count are two statements: a window count (`count(*) OVER ()`) in the page's
    statement makes PostgreSQL read every matching row in the page's order before the first is
    returned (20-55 s for a city-wide "awaiting me" on the megacity's 10M issues, against ~15 ms for
    the page and ~1.5 s for a plain count). A first page shorter than `limit` is its own count."""
    where, params = filters.sql()
    order_by = LIST_ORDERS[order]
    params.update(offset=offset, limit=limit)
    sql = f"""
        SELECT i.id, i.tracking_code, i.status, c.code,
               {CATEGORY_NAME_SQL},
               sc.code, i.description, i.address,
               ST_X(i.point), ST_Y(i.point), i.created_at, i.due_at, i.rework_count,
               (i.status = ANY(%(open)s) AND i.due_at < %(now)s) AS overdue,
               i.responsible_kind, i.area_code, i.building_id
          {LIST_FROM}
         WHERE {where}
         ORDER BY {order_by}
         OFFSET %(offset)s LIMIT %(limit)s
    """  # noqa: S608 -- `where` and `order_by` are constant fragments; values are parameters
    with connection.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall()
        if offset == 0 and len(rows) < limit:
            total = len(rows)
        else:
            cur.execute(f"SELECT count(*) {LIST_FROM} WHERE {where}", params)  # noqa: S608 -- as above
            total = cur.fetchone()[0]
    keys = [
        "id",
        "tracking_code",
        "status",
        "category",
        "category_name",
        "subcategory",
        "description",
        "address",
        "lon",
        "lat",
        "created_at",
        "due_at",
        "rework_count",
        "overdue",
        "responsible_kind",
        "area_code",
        "building_id",
    ]
    return total, [dict(zip(keys, row, strict=True)) for row in rows]


def export_header() -> list[str]:
    return [
        _("Tracking code"),
        _("Category"),
        _("Subcategory"),
        _("Status"),
        _("Description"),
        _("Address"),
        _("Received at"),
        _("Due"),
        _("Overdue"),
        _("Rework"),
        _("Responsible"),
        _("Area code"),
        _("Longitude"),
        _("Latitude"),
    ]


def export_rows(rows: list[dict]) -> list[list]:
    """issues_list rows as spreadsheet rows (export_header): names in the reader's language, times in
    local time without a zone (spreadsheets have none)."""
    names = {c.code: c.label for c in Category.objects.all()}

    def local(t):
        return timezone.localtime(t).replace(tzinfo=None) if t else None

    return [
        [
            r["tracking_code"],
            r["category_name"],
            names.get(r["subcategory"], "") if r["subcategory"] else "",
            str(Status(r["status"]).label),
            r["description"],
            r["address"],
            local(r["created_at"]),
            local(r["due_at"]),
            _("yes") if r["overdue"] else "",
            r["rework_count"],
            str(ResponsibleKind(r["responsible_kind"]).label) if r["responsible_kind"] else "",
            r["area_code"],
            round(r["lon"], 6),
            round(r["lat"], 6),
        ]
        for r in rows
    ]


# ---------------------------------------------------------------- duplicates

# geography ST_DWithin: metres on the spheroid, using the GiST index on the point cast to geography
# would need an expression index; the bounding filter on the 4326 index keeps it cheap (a degree of
# latitude is >= 110 km, so radius/100000 degrees is a safe superset box).
DUPLICATES_SQL = """
SELECT i.id, i.tracking_code, i.status, i.description, i.created_at,
       ST_Distance(i.point::geography, p.g::geography) AS metres
  FROM issues_issue i,
       (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g) p
 WHERE i.category_id = %(category)s
   AND i.status = ANY(%(open)s)
   AND i.id <> %(exclude)s
   AND i.point && ST_Expand(p.g, %(deg)s)
   AND ST_DWithin(i.point::geography, p.g::geography, %(radius)s)
   AND {scope}
 ORDER BY metres, i.id
 LIMIT 20
"""


def duplicates_nearby(
    *, lon: float, lat: float, category: Category, exclude_id: int = 0, scope=None
) -> list[dict]:
    """Open issues of the same (top) category within the category's duplicate radius (those the
    user's `scope` covers)."""
    top = category.top
    radius = top.duplicate_radius_m
    clause, scope_params = scope.issues_sql("i") if scope is not None else ("TRUE", {})
    with connection.cursor() as cur:
        # {scope} is built from constant fragments by Scope.issues_sql; values are parameters.
        cur.execute(
            DUPLICATES_SQL.replace("{scope}", clause),
            {
                **scope_params,
                "lon": lon,
                "lat": lat,
                "category": top.id,
                "open": list(OPEN),
                "exclude": exclude_id,
                "radius": radius,
                "deg": radius / 100000 * 1.5 + 1e-6,
            },
        )
        return [
            {
                "id": r[0],
                "tracking_code": r[1],
                "status": r[2],
                "description": r[3][:200],
                "created_at": r[4].isoformat(),
                "metres": round(r[5], 1),
            }
            for r in cur.fetchall()
        ]


# ---------------------------------------------------------------- indicators

# One pass over the cohort (issues received in the period whose intake area code starts with the
# area's code). Formulas in docs/ISSUES.md. `ref` = min(period end, now): an issue is due to close when
# its due time passed by then, or when it is already finished.
INDICATORS_SQL = """
WITH cohort AS (
    SELECT i.* FROM issues_issue i
     WHERE i.area_code LIKE %(prefix)s
       AND i.created_at >= %(start)s AND i.created_at < %(end)s
       AND {scope}
), base AS (
    SELECT * FROM cohort WHERE status <> ALL(%(dismissed)s)
)
SELECT
    (SELECT count(*) FROM cohort) AS received,
    (SELECT count(*) FROM cohort WHERE status = ANY(%(dismissed)s)) AS dismissed,
    count(*) FILTER (WHERE status = ANY(%(finished)s) OR due_at <= %(ref)s) AS due_to_close,
    count(*) FILTER (WHERE status = ANY(%(finished)s)) AS closed,
    count(*) FILTER (WHERE status = ANY(%(finished)s) AND resolved_at <= due_at) AS closed_on_time,
    count(*) FILTER (WHERE rework_count > 0) AS reworked,
    count(*) FILTER (WHERE status = ANY(%(finished)s) OR rework_count > 0) AS ever_resolved,
    avg(EXTRACT(EPOCH FROM resolved_at - created_at) / 3600.0)
        FILTER (WHERE status = ANY(%(finished)s)) AS avg_handling_hours,
    count(*) FILTER (WHERE rating >= 4) AS satisfied,
    count(*) FILTER (WHERE rating IS NOT NULL) AS rated
FROM base
"""


def _ratio(a, b):
    return round(a / b, 6) if b else None


def indicators(*, area_code: str = "", start: datetime, end: datetime, scope=None) -> dict:
    """Indicators of one area (by code prefix; "" = everywhere) over [start, end), counting only the
    issues the user's `scope` covers. A scoped user asking for an area outside their scope: 404."""
    if end <= start:
        raise DomainError(_("end must be after start"), field="end")
    clause, scope_params = "TRUE", {}
    if scope is not None and not scope.everything:
        # An area inside the scope, or one containing it (its figures then count only the user's).
        if (
            area_code
            and not scope.covers_code(area_code)
            and not any(p.startswith(area_code) for p in scope.area_prefixes)
        ):
            raise NotFound(
                _("no area with code %(code)s in your scope") % {"code": repr(area_code)},
                field="area",
            )
        clause, scope_params = scope.issues_sql("i")
    ref = min(end, timezone.now())
    with read_cursor() as cur:  # the replica inside replica_reads() (analytics)
        # {scope} is built from constant fragments by Scope.issues_sql; values are parameters.
        cur.execute(
            INDICATORS_SQL.replace("{scope}", clause),
            {
                **scope_params,
                "prefix": area_code + "%",
                "start": start,
                "end": end,
                "ref": ref,
                "finished": list(FINISHED),
                "dismissed": list(DISMISSED),
            },
        )
        cols = [c[0] for c in cur.description]
        row = dict(zip(cols, cur.fetchone(), strict=True))
    households = None
    if area_code:
        # The version valid at the end of the period, else today's (territory loaded after it).
        versions = Area.objects.filter(code=area_code)
        area = (
            versions.filter(valid_from__lte=ref).exclude(valid_to__lte=ref).first()
            or versions.filter(valid_to__isnull=True).first()
        )
        households = area.households if area else None
    avg_hours = row["avg_handling_hours"]
    return {
        "area_code": area_code,
        "start": start.isoformat(),
        "end": end.isoformat(),
        **{k: row[k] for k in cols if k != "avg_handling_hours"},
        "closure_rate": _ratio(row["closed"], row["due_to_close"]),
        "on_time_rate": _ratio(row["closed_on_time"], row["due_to_close"]),
        "rework_rate": _ratio(row["reworked"], row["ever_resolved"]),
        "avg_handling_hours": round(float(avg_hours), 4) if avg_hours is not None else None,
        "satisfaction": _ratio(row["satisfied"], row["rated"]),
        "households": households,
        "per_1000_households": (
            round(row["received"] * 1000 / households, 4) if households else None
        ),
    }


def month_range(month: date) -> tuple[datetime, datetime]:
    first = month.replace(day=1)
    nxt = (first + timedelta(days=32)).replace(day=1)
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(first, time.min, tzinfo=tz),
        datetime.combine(nxt, time.min, tzinfo=tz),
    )


def parse_month(raw: str | None) -> date:
    raw = (raw or "").strip()
    try:
        year, month = raw.split("-")
        return date(int(year), int(month), 1)
    except ValueError:
        raise DomainError(
            _("month=%(value)s is not a month (use YYYY-MM)") % {"value": repr(raw)}, field="month"
        ) from None


# ---------------------------------------------------------------- joint meeting agenda


def _scope_reaches(scope, code: str) -> bool:
    """Whether a scope may hold issues of the area `code`: it covers the area, one of its areas lies
    inside it, or some of the area's issues reach it by dispatch or building (companies, departments,
    building heads)."""
    if scope.everything or any(
        code.startswith(p) or p.startswith(code) for p in scope.area_prefixes
    ):
        return True
    if scope.company_ids or scope.department_ids or scope.building_ids:
        return Issue.objects.filter(area_code__startswith=code).filter(scope.issues_q()).exists()
    return False


def agenda(*, community: Area, month: date, scope=None) -> dict:
    """Issues for the community's joint meeting of a month: everything still unresolved at the end of
    the month (received up to then), with overdue and reopened ones marked, grouped by category and
    responsible party. Decisions already recorded for the month are attached. With a `scope`, only
    the issues it covers (a grid leader's grid, a company's dispatched issues)."""
    from apps.issues.models import MeetingDecision

    if scope is not None and not _scope_reaches(scope, community.code):
        # Area staff of another community would otherwise get its agenda (name, decisions count).
        raise NotFound(
            _("no community with code %(code)s in your scope") % {"code": repr(community.code)},
            field="code",
        )
    _start, end = month_range(month)
    now = timezone.now()
    ref = min(end, now)
    qs = (
        Issue.objects.filter(
            area_code__startswith=community.code, created_at__lt=end, status__in=OPEN
        )
        .select_related(
            "category",
            "subcategory",
            "responsible_company",
            "responsible_department",
            "responsible_staff",
            "responsible_area",
            "grid",
        )
        .order_by("category__sort", "responsible_kind", "created_at", "id")
    )
    if scope is not None:
        qs = qs.filter(scope.issues_q())
    decisions = {
        d.issue_id: d.decision
        for d in MeetingDecision.objects.filter(
            meeting__community__code=community.code, meeting__month=month.replace(day=1)
        )
    }
    groups: dict[tuple, dict] = {}
    counts = {"unresolved": 0, "overdue": 0, "reopened": 0}
    for issue in qs:
        overdue = issue.due_at < ref
        reopened = issue.rework_count > 0
        party = responsible_label(issue) or "—"
        key = (issue.category.label, party)
        group = groups.setdefault(
            key, {"category": issue.category.label, "responsible": party, "issues": []}
        )
        group["issues"].append(
            {
                "id": issue.id,
                "tracking_code": issue.tracking_code,
                "subcategory": issue.subcategory.label if issue.subcategory else "",
                "description": issue.description,
                "address": issue.address,
                "grid": issue.grid.name if issue.grid else "",
                "status": issue.status,
                "status_label": str(Status(issue.status).label),
                "created_at": issue.created_at,
                "due_at": issue.due_at,
                "overdue": overdue,
                "reopened": reopened,
                "rework_count": issue.rework_count,
                "decision": decisions.get(issue.id, ""),
            }
        )
        counts["unresolved"] += 1
        counts["overdue"] += overdue
        counts["reopened"] += reopened
    return {
        "community": {"id": community.id, "code": community.code, "name": community.name},
        "month": month.strftime("%Y-%m"),
        "counts": counts,
        "groups": list(groups.values()),
    }


# ---------------------------------------------------------------- bulk locate for imports

# Many points in one statement: unnest the coordinate arrays, then the same DISTINCT ON (level) rule as
# apps.territory.selectors.locate per point (lowest code wins on shared edges). One round trip for a
# whole import instead of one per row. The area's code is a subquery by primary key: the planner
# overestimates the parts a point meets (~74 instead of ~5), and as a join it read all of territory_area
# into a hash (3.4 s of a megacity's 4 s for 2,000 points; ~0.2 s so).
LOCATE_MANY_SQL = """
WITH pts AS (
    SELECT n, ST_SetSRID(ST_MakePoint(x, y), 4326) AS g, t
      FROM unnest(%(xs)s::float8[], %(ys)s::float8[], %(ts)s::timestamptz[])
           WITH ORDINALITY AS u(x, y, t, n)
)
SELECT DISTINCT pts.n, p.level, p.area_id,
       (SELECT a.code FROM territory_area a WHERE a.id = p.area_id) AS code
  FROM pts
  JOIN territory_areapart p
    ON ST_DWithin(p.geom, pts.g, %(eps)s)
   AND p.valid_from <= pts.t AND (p.valid_to IS NULL OR p.valid_to > pts.t)
 ORDER BY pts.n
"""

LOCATE_MANY_BUILDINGS_SQL = """
SELECT DISTINCT ON (u.n) u.n, b.id
  FROM unnest(%(xs)s::float8[], %(ys)s::float8[]) WITH ORDINALITY AS u(x, y, n)
  JOIN territory_building b ON ST_Intersects(b.footprint, ST_SetSRID(ST_MakePoint(u.x, u.y), 4326))
 ORDER BY u.n, b.id
"""


def locate_many(points: list[tuple[float, float, datetime]]) -> list[dict]:
    """For each (lon, lat, at): {level: (area id, code), "building": id}; missing levels absent."""
    if not points:
        return []
    xs = [float(p[0]) for p in points]
    ys = [float(p[1]) for p in points]
    ts = [p[2] for p in points]
    out: list[dict] = [{} for _ in points]
    with connection.cursor() as cur:
        cur.execute(LOCATE_MANY_SQL, {"xs": xs, "ys": ys, "ts": ts, "eps": EDGE_EPS})
        candidates: dict[int, list] = {}
        for n, level, area_id, code in cur.fetchall():
            candidates.setdefault(n, []).append((level, area_id, code))
        for n, rows in candidates.items():
            out[n - 1].update(consistent_chain(rows))
        cur.execute(LOCATE_MANY_BUILDINGS_SQL, {"xs": xs, "ys": ys})
        for n, building_id in cur.fetchall():
            out[n - 1]["building"] = building_id
    return out
