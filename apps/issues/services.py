"""Writes about issues: intake (validate, locate, route), the loop's transitions, photos, meeting decisions.

The loop is the table TRANSITIONS: an action may run only from the statuses listed for it. A transition
is a conditional UPDATE (`WHERE id = %s AND status = <the status we read>`): when two people act on the
same issue at once, the database lets exactly one UPDATE match and the other is told (Conflict) and
writes nothing."""

import math
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.gis.geos import Point
from django.core.files.uploadedfile import UploadedFile
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.common.errors import Conflict, DomainError, NotFound
from apps.common.prepared import Prepared
from apps.issues.categories import load_categories
from apps.issues.labels import action_label, words_join
from apps.issues.models import (
    DESCRIPTION_MAX,
    DISMISSED,
    FINISHED,
    Category,
    Issue,
    IssueEvent,
    IssuePhoto,
    JointMeeting,
    MeetingDecision,
    Priority,
    ResponsibleKind,
    ResponsibleType,
    Source,
    Status,
    h3_cell_of,
)
from apps.issues.reasons import step
from apps.people import selectors as people
from apps.people.models import (
    Department,
    PropertyCompany,
    PropertyService,
    StaffAssignment,
    StaffRole,
)
from apps.territory.models import Area, Household
from apps.territory.selectors import locate

S = Status


@dataclass(frozen=True)
class Transition:
    sources: tuple[str, ...]
    target: str
    note_required: bool = False


# The loop. Keys are actions; reopen is rework (返工) and counts in Issue.rework_count.
TRANSITIONS: dict[str, Transition] = {
    "consult": Transition((S.COLLECTED,), S.CONSULTED),
    "dispatch": Transition((S.COLLECTED, S.CONSULTED, S.RETURNED), S.DISPATCHED),
    "accept": Transition((S.DISPATCHED,), S.ACCEPTED),
    "return": Transition((S.DISPATCHED, S.ACCEPTED), S.RETURNED, note_required=True),
    "resolve": Transition((S.ACCEPTED,), S.RESOLVED),
    "rate": Transition((S.RESOLVED,), S.RATED),
    "close": Transition((S.RESOLVED, S.RATED), S.CLOSED),
    "reject": Transition((S.COLLECTED, S.CONSULTED, S.RETURNED), S.REJECTED, note_required=True),
    "duplicate": Transition((S.COLLECTED, S.CONSULTED, S.RETURNED), S.DUPLICATE),
    "reopen": Transition((S.RESOLVED, S.RATED, S.CLOSED), S.DISPATCHED, note_required=True),
}

PHOTO_MAX_BYTES = 5 * 1024 * 1024
PHOTO_MAX_COUNT = 6
PHOTO_FORMATS = {"JPEG", "PNG", "WEBP"}
_CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read out over the phone


def tracking_code_new() -> str:
    return "LL" + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))


# ---------------------------------------------------------------- validation of intake fields


def point_parse(lon, lat, *, field_lon: str = "lon", field_lat: str = "lat") -> Point:
    """A WGS84 point from raw values. Names the bad value; says so when lon and lat look swapped."""
    if lon in (None, "") or lat in (None, ""):
        missing = field_lon if lon in (None, "") else field_lat
        raise DomainError(
            _("location is required: %(field)s is missing") % {"field": missing}, field=missing
        )
    values = {}
    for name, raw in ((field_lon, lon), (field_lat, lat)):
        try:
            value = float(raw)
        except (TypeError, ValueError):
            raise DomainError(
                _("%(field)s=%(value)s is not a number") % {"field": name, "value": repr(raw)},
                field=name,
            ) from None
        if not math.isfinite(value):
            raise DomainError(
                _("%(field)s=%(value)s is not a finite number")
                % {"field": name, "value": repr(raw)},
                field=name,
            )
        values[name] = value
    x, y = values[field_lon], values[field_lat]
    if not -90 <= y <= 90:
        names = {"lat_field": field_lat, "lat": y, "lon_field": field_lon}
        if -90 <= x <= 90 and abs(y) <= 180:
            message = _(
                "%(lat_field)s=%(lat)s is out of range [-90, 90]; %(lon_field)s and %(lat_field)s "
                "look swapped"
            )
        else:
            message = _("%(lat_field)s=%(lat)s is out of range [-90, 90]")
        raise DomainError(message % names, field=field_lat)
    if not -180 <= x <= 180:
        raise DomainError(
            _("%(lon_field)s=%(lon)s is out of range [-180, 180]")
            % {"lon_field": field_lon, "lon": x},
            field=field_lon,
        )
    return Point(x, y, srid=4326)


# Intake looks its category up by code on every issue. Categories change rarely (admin, fixtures), so
# each process keeps the active ones (with their parents) and asks the database only whether they
# changed: a statement trigger bumps the table's data version on every write to issues_category
# (issues migration 0006, the tiles_dataversion mechanism). The key is the version row's (xmin,
# version): versions come from a sequence and the row is rewritten by every change, so a rolled-back
# or repeated change never matches an old key. A connection inside a transaction that changed
# categories sees its own key and reloads; so does everyone else when it commits or rolls back.
CATEGORY_VERSION_SQL = (
    "SELECT xmin::text, version FROM tiles_dataversion WHERE \"table\" = 'issues_category'"
)
_CATEGORY_FIELDS = [f.attname for f in Category._meta.concrete_fields]
_category_cache: tuple = (object(), {})  # (key, {code: (values, parent values or None)})


_ASK = object()


def _category_rows(key=_ASK) -> dict:
    """{code: ...} of the active categories; `key` is the version row's (xmin, version) (None when it
    is missing) if the caller has just read it (the Open311 view reads it with the api key)."""
    global _category_cache
    if key is _ASK:
        with connection.cursor() as cur:
            cur.execute(CATEGORY_VERSION_SQL)
            found = cur.fetchone()
        key = tuple(found) if found else None
    cached_key, rows = _category_cache
    if cached_key != key:
        rows = {}
        for c in Category.objects.filter(active=True).select_related("parent"):
            parent = c.parent
            rows[c.code] = (
                tuple(getattr(c, f) for f in _CATEGORY_FIELDS),
                tuple(getattr(parent, f) for f in _CATEGORY_FIELDS) if parent else None,
            )
        _category_cache = (key, rows)  # one assignment: threads of a worker see old or new
    return rows


def category_active(code, *, version=_ASK) -> Category | None:
    """The active category (or subcategory, with its parent loaded) of this code, or None. Fresh
    instances from the per-process cache (one small query checks that it is current, unless the
    caller passes the `version` key it has just read: CATEGORY_VERSION_SQL's row as a tuple, or None)."""
    found = _category_rows(version).get(str(code))
    if found is None:
        return None
    values, parent_values = found
    obj = Category.from_db("default", _CATEGORY_FIELDS, values)
    if parent_values is not None:
        obj.parent = Category.from_db("default", _CATEGORY_FIELDS, parent_values)
    return obj


def category_resolve(code_or_obj, subcategory=None) -> tuple[Category, Category | None]:
    """(top category, subcategory or None) from codes or objects; a subcategory code alone is enough."""

    def get(value, field_name):
        if isinstance(value, Category):
            return value
        if value in (None, ""):
            return None
        obj = category_active(value)
        if obj is None:
            known = words_join(Category.objects.filter(parent=None).values_list("code", flat=True))
            raise DomainError(
                _("unknown category %(code)s (known: %(known)s)")
                % {"code": repr(value), "known": known},
                field=field_name,
                code="unknown_category",
            )
        return obj

    cat = get(code_or_obj, "category")
    sub = get(subcategory, "subcategory")
    if cat is None and sub is None:
        raise DomainError(_("category is required"), field="category")
    if cat is not None and cat.parent_id is not None:  # a subcategory given as the category
        if sub is not None and sub.pk != cat.pk:
            raise DomainError(
                _("%(code)s is a subcategory; give its parent as the category")
                % {"code": repr(cat.code)},
                field="category",
            )
        cat, sub = cat.parent, cat
    if cat is None:
        cat = sub.parent
    if sub is not None and sub.parent_id != cat.pk:
        raise DomainError(
            _("subcategory %(subcategory)s does not belong to category %(category)s")
            % {"subcategory": repr(sub.code), "category": repr(cat.code)},
            field="subcategory",
        )
    return cat, sub


def description_clean(text) -> str:
    text = "" if text is None else str(text).strip()
    if not text:
        raise DomainError(_("description is required"), field="description")
    if len(text) > DESCRIPTION_MAX:
        raise DomainError(
            _("description is %(length)s characters; at most %(max)s allowed")
            % {"length": len(text), "max": DESCRIPTION_MAX},
            field="description",
        )
    return text  # stored as typed; every page escapes it (Django autoescape, textContent in JS)


def photo_check(upload: UploadedFile) -> None:
    """Refuse photos over PHOTO_MAX_BYTES or that Pillow cannot read as JPEG/PNG/WebP."""
    from PIL import Image, UnidentifiedImageError

    name = getattr(upload, "name", "photo")
    if upload.size > PHOTO_MAX_BYTES:
        raise DomainError(
            _("photo %(name)s is %(size)s MB; at most %(max)s MB allowed")
            % {
                "name": repr(name),
                "size": f"{upload.size / 1048576:.1f}",
                "max": PHOTO_MAX_BYTES // 1048576,
            },
            field="photos",
        )
    upload.seek(0)
    try:
        with Image.open(upload) as img:
            fmt = img.format
            img.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise DomainError(
            _("photo %(name)s is not an image") % {"name": repr(name)}, field="photos"
        ) from None
    finally:
        upload.seek(0)
    if fmt not in PHOTO_FORMATS:
        raise DomainError(
            _("photo %(name)s is %(format)s; use JPEG, PNG or WebP")
            % {"name": repr(name), "format": fmt},
            field="photos",
        )


def photos_checked(photos, *, too_many: str) -> list:
    """Photos sent with a report or with a step of the loop (处置照片): at most PHOTO_MAX_COUNT
    (`too_many` says so, with %(max)s), each checked by photo_check."""
    photos = list(photos or [])
    if len(photos) > PHOTO_MAX_COUNT:
        raise DomainError(too_many % {"max": PHOTO_MAX_COUNT}, field="photos")
    for photo in photos:
        photo_check(photo)
    return photos


def _photos_save(issue_id: int, photos, *, event=None) -> None:
    """Store checked photos: the report's (no event) or a step's."""
    for photo in photos:
        IssuePhoto.objects.create(issue_id=issue_id, event=event, image=photo, size=photo.size)


# ---------------------------------------------------------------- routing


@dataclass
class Route:
    kind: str
    reason: list  # steps (apps.issues.reasons), shown in the reader's language
    company: PropertyCompany | None = None
    department: Department | None = None
    staff: StaffAssignment | None = None
    area: Area | None = None
    fields: dict = field(default_factory=dict)

    def as_fields(self) -> dict:
        return {
            "responsible_kind": self.kind,
            "responsible_company": self.company,
            "responsible_department": self.department,
            "responsible_staff": self.staff,
            "responsible_area": self.area,
        }


def route_for(
    *, category: Category, subcategory: Category | None, areas: dict, lookups=people
) -> Route:
    """Who handles an issue of this category at these intake areas, and why (written to history).

    property → the compound's property company, else the grid leader, else the community;
    department → the department of the (sub)category's kind serving the street, else the community;
    community → the community. Outside the territory: not routed. `lookups` answers the three
    questions (apps.people.selectors; intake passes IntakeLookups, the same answers in one statement)."""
    community = areas.get("community")
    if areas.get("street") is None:
        return Route(ResponsibleKind.NONE, [step("outside")])

    def to_community(*causes: dict) -> Route:
        if community is None:
            return Route(ResponsibleKind.NONE, [*causes, step("no_community")])
        return Route(
            ResponsibleKind.COMMUNITY,
            [*causes, step("community", community=community.name, code=community.code)],
            area=community,
        )

    rtype = category.responsible_type
    if rtype == ResponsibleType.PROPERTY:
        compound, grid = areas.get("compound"), areas.get("grid")
        company = lookups.compound_property_company(compound_id=compound.id if compound else None)
        if company is not None:
            return Route(
                ResponsibleKind.PROPERTY_COMPANY,
                [step("property_company", compound=compound.name, company=company.name)],
                company=company,
            )
        why = (
            step("no_property_company", compound=compound.name) if compound else step("no_compound")
        )
        leader = lookups.grid_leader(grid_id=grid.id if grid else None)
        if leader is not None:
            return Route(
                ResponsibleKind.GRID_LEADER,
                [why, step("grid_leader", leader=leader.name, grid=grid.name)],
                staff=leader,
                area=grid,
            )
        return to_community(why, step("no_grid_leader"))
    if rtype == ResponsibleType.DEPARTMENT:
        kind = (subcategory.department_kind if subcategory else "") or category.department_kind
        street = areas["street"]
        dept = lookups.department_for(kind=kind, street_id=street.id)
        label = subcategory.name if subcategory else category.name
        if dept is not None:
            return Route(
                ResponsibleKind.DEPARTMENT,
                [step("department", category=label, department=dept.name, department_kind=kind)],
                department=dept,
            )
        return to_community(step("no_department", department_kind=kind, street=street.name))
    return to_community(step("category", category=category.name))


def _columns(model, alias: str) -> str:
    qn = connections[DEFAULT_DB_ALIAS].ops.quote_name
    return ", ".join(f"{alias}.{qn(f.column)}" for f in model._meta.concrete_fields)


def _attnames(model) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


_COMPANY_FIELDS, _STAFF_FIELDS, _DEPARTMENT_FIELDS = (
    _attnames(PropertyCompany),
    _attnames(StaffAssignment),
    _attnames(Department),
)
# Intake's routing lookups, each one prepared statement (apps/common/prepared.py) instead of one or two
# ORM queries: the same rows as apps.people.selectors picks. A property route reads the compound's
# company (the lowest id among the companies serving it, as .first() orders) and the grid's leader
# (the lowest id among its active grid-leader assignments) at once; the leader is used only when there
# is no company. A department route reads the street's own department of the kind, else the lowest id
# among those of the kind with no street (department_for's two queries; `street_id IS NULL` sorts the
# street's own first).
ROUTE_PROPERTY = Prepared(
    "linli_issue_route_property",
    f"""SELECT {_columns(PropertyCompany, "c")}, {_columns(StaffAssignment, "s")}
          FROM (SELECT 1) one
          LEFT JOIN LATERAL (
                SELECT pc.* FROM {PropertyCompany._meta.db_table} pc
                  JOIN {PropertyService._meta.db_table} ps ON ps.company_id = pc.id
                 WHERE ps.compound_id = %(compound)s ORDER BY pc.id LIMIT 1) c ON true
          LEFT JOIN LATERAL (
                SELECT sa.* FROM {StaffAssignment._meta.db_table} sa
                 WHERE sa.active AND sa.area_id = %(grid)s AND sa.role = %(role)s
                 ORDER BY sa.id LIMIT 1) s ON true""",  # noqa: S608 -- names from the models
    {"compound": "bigint", "grid": "bigint", "role": "varchar"},
)
ROUTE_DEPARTMENT = Prepared(
    "linli_issue_route_department",
    f"""SELECT {_columns(Department, "d")} FROM {Department._meta.db_table} d
         WHERE d.kind = %(kind)s AND (d.street_id = %(street)s OR d.street_id IS NULL)
         ORDER BY d.street_id IS NULL, d.id LIMIT 1""",  # noqa: S608 -- names from the models
    {"kind": "varchar", "street": "bigint"},
)


def _instance(model, fields: list[str], values):
    return None if values[0] is None else model.from_db(DEFAULT_DB_ALIAS, fields, values)


class IntakeLookups:
    """route_for's lookups for one intake, answered by ROUTE_PROPERTY / ROUTE_DEPARTMENT: the same
    objects as apps.people.selectors returns (model instances of every concrete field), in one
    statement per route instead of up to two ORM queries."""

    def __init__(self, areas: dict):
        self.areas = areas
        self._property = None

    def _property_pair(self, compound_id, grid_id):
        if self._property is None or self._property[0] != (compound_id, grid_id):
            (row,) = ROUTE_PROPERTY.fetchall(
                {"compound": compound_id, "grid": grid_id, "role": StaffRole.GRID_LEADER.value}
            )
            n = len(_COMPANY_FIELDS)
            self._property = (
                (compound_id, grid_id),
                _instance(PropertyCompany, _COMPANY_FIELDS, row[:n]),
                _instance(StaffAssignment, _STAFF_FIELDS, row[n:]),
            )
        return self._property

    def _grid_id(self):
        grid = self.areas.get("grid")
        return grid.id if grid else None

    def _compound_id(self):
        compound = self.areas.get("compound")
        return compound.id if compound else None

    def compound_property_company(self, *, compound_id):
        if compound_id is None:
            return None
        return self._property_pair(compound_id, self._grid_id())[1]

    def grid_leader(self, *, grid_id):
        if grid_id is None:
            return None
        return self._property_pair(self._compound_id(), grid_id)[2]

    def department_for(self, *, kind, street_id=None):
        rows = ROUTE_DEPARTMENT.fetchall({"kind": kind, "street": street_id})
        return _instance(Department, _DEPARTMENT_FIELDS, rows[0]) if rows else None


_AREA_LOADED = [
    f.attname for f in Area._meta.concrete_fields if f.attname in ("id", "level", "code", "name")
]


def areas_at(point: Point, at: datetime | None = None) -> dict:
    """The Area versions (and building) covering a point at a moment, as model instances."""
    found = locate(lon=point.x, lat=point.y, at=at)
    # The instances carry what locate read (id, level, code, name); the other fields (the boundary
    # above all) are deferred, loaded if ever asked for, as with .only(). Reading the areas again by
    # id cost a query and decoding up to five polygons per issue.
    out = {
        lv: Area.from_db("default", _AREA_LOADED, [found[lv][f] for f in _AREA_LOADED])
        if found[lv]
        else None
        for lv in ("street", "community", "grid", "neighbourhood", "compound")
    }
    out["building_id"] = found["building"]["id"] if found["building"] else None
    return out


def area_code_of(areas: dict) -> str:
    for level in ("neighbourhood", "grid", "community", "street"):
        if areas.get(level) is not None:
            return areas[level].code
    return ""


# ---------------------------------------------------------------- intake


@transaction.atomic
def issue_create(
    *,
    point: Point,
    category,
    description: str,
    source: str,
    subcategory=None,
    address: str = "",
    reporter_household: Household | None = None,
    reporter_name: str = "",
    reporter_phone: str = "",
    reporter_email: str = "",
    priority: str = Priority.NORMAL,
    photos=(),
    actor=None,
    actor_name: str = "",
    created_at: datetime | None = None,
    ext_ref: str = "",
    media_url: str = "",
    attributes: dict | None = None,
) -> Issue:
    """Take in an issue: validate, locate (areas stored as the versions valid now), route, due time from
    the (sub)category SLA; history gets `create` and `route` (with the reason). A point outside every
    street is accepted and flagged `outside`, left unrouted."""
    if not isinstance(point, Point):
        raise DomainError(_("location is required"), field="point")
    point_parse(point.x, point.y)
    cat, sub = category_resolve(category, subcategory)
    text = description_clean(description)
    if source not in Source.values:
        raise DomainError(
            _("unknown source %(source)s; use one of %(known)s")
            % {"source": repr(source), "known": words_join(Source.values)},
            field="source",
        )
    if priority not in Priority.values:
        raise DomainError(
            _("unknown priority %(priority)s; use one of %(known)s")
            % {"priority": repr(priority), "known": words_join(Priority.values)},
            field="priority",
        )
    if len(address or "") > 300:
        raise DomainError(
            _("address is longer than %(max)s characters") % {"max": 300}, field="address"
        )
    photos = photos_checked(photos, too_many=_("at most %(max)s photos per issue"))

    now = timezone.now()
    created_at = created_at or now
    areas = areas_at(point, at=min(created_at, now))
    if areas["street"] is None and created_at < now:
        # A record older than the territory (history replayed on a new map): the current areas.
        areas = areas_at(point, at=now)
    route = route_for(category=cat, subcategory=sub, areas=areas, lookups=IntakeLookups(areas))
    sla = (sub.sla_hours if sub else None) or cat.sla_hours
    issue = Issue(
        tracking_code=tracking_code_new(),
        point=point,
        h3_cell=h3_cell_of(point),
        address=(address or "").strip(),
        category=cat,
        subcategory=sub,
        description=text,
        reporter_household=reporter_household,
        reporter_name=(reporter_name or "").strip()[:100],
        reporter_phone=(reporter_phone or "").strip()[:32],
        reporter_email=(reporter_email or "").strip()[:200],
        source=source,
        priority=priority,
        status=Status.COLLECTED,
        created_at=created_at,
        updated_at=created_at,
        due_at=created_at + timedelta(hours=sla),
        street=areas["street"],
        community=areas["community"],
        grid=areas["grid"],
        neighbourhood=areas["neighbourhood"],
        compound=areas["compound"],
        building_id=areas["building_id"],
        outside=areas["street"] is None,
        area_code=area_code_of(areas),
        ext_ref=ext_ref,
        token=str(uuid.uuid4()),
        media_url=media_url or "",
        attributes=attributes or {},
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        **route.as_fields(),
    )
    who = _actor_name(actor, actor_name)
    _issue_insert(
        issue,
        [
            IssueEvent(
                action="create",
                to_status=Status.COLLECTED,
                actor=_user(actor),
                actor_name=who,
                reason=[step("received", source=source)],
                at=created_at,
            ),
            IssueEvent(
                action="route",
                from_status=Status.COLLECTED,
                to_status=Status.COLLECTED,
                actor=_user(actor),
                actor_name=who,
                reason=route.reason,
                at=created_at,
            ),
        ],
    )
    _photos_save(issue.id, photos)
    return issue


_INSERT_SHAPE: dict = {}  # per (database alias, number of events): _issue_insert's statement


def _param_type(field, db) -> str:
    """The SQL type of a prepared statement's parameter for a column (without its modifier: the
    column itself applies the length limit, as it does to a literal)."""
    return field.db_type(db).split("(", 1)[0]


def _insert_shape(db, n_events: int) -> tuple:
    shape = _INSERT_SHAPE.get((db.alias, n_events))
    if shape is None:
        qn = db.ops.quote_name
        issue_fields = [f for f in Issue._meta.concrete_fields if not f.primary_key]
        event_fields = [
            f
            for f in IssueEvent._meta.concrete_fields
            if not f.primary_key and f.attname != "issue_id"
        ]
        event_columns = ", ".join(qn(f.column) for f in event_fields)
        # VALUES rows carry no column types: cast each to its column's type.
        rows = ", ".join(
            f"({n}, "
            + ", ".join(f"%(e{n}_{k})s::{f.db_type(db)}" for k, f in enumerate(event_fields))
            + ")"
            for n in range(n_events)
        )
        sql = (
            f"WITH i AS (INSERT INTO {qn(Issue._meta.db_table)}"  # noqa: S608 -- names from models
            f" ({', '.join(qn(f.column) for f in issue_fields)})"
            f" VALUES ({', '.join(f'%(i{k})s' for k in range(len(issue_fields)))})"
            f" RETURNING id) INSERT INTO {qn(IssueEvent._meta.db_table)} (issue_id, {event_columns})"
            f" SELECT i.id, {', '.join('e.' + qn(f.column) for f in event_fields)}"
            f" FROM i, (VALUES {rows}) AS e(n, {event_columns})"
            " ORDER BY e.n RETURNING issue_id, id"  # ids in list order: create before route
        )
        types = {f"i{k}": _param_type(f, db) for k, f in enumerate(issue_fields)}
        for n in range(n_events):
            types.update({f"e{n}_{k}": _param_type(f, db) for k, f in enumerate(event_fields)})
        # Prepared once per connection (apps/common/prepared.py): the server parses, analyses and
        # plans this statement once instead of at every intake.
        statement = Prepared(f"linli_issue_insert_{n_events}", sql, types)
        shape = _INSERT_SHAPE[db.alias, n_events] = (issue_fields, event_fields, sql, statement)
    return shape


def _issue_insert(issue: Issue, events: list[IssueEvent]) -> None:
    """INSERT a new issue and its first events in one statement (a data-modifying CTE): one round trip
    instead of two, without the ORM's per-statement compilation, and the issues table's statement
    triggers (the tiles' data-version bump holds its row until COMMIT) fire at the end of it. The
    columns are the models' concrete fields, each value prepared as Model.save / bulk_create prepare
    it (pre_save, get_db_prep_save; a geometry in the field's SRID, whose placeholder is plain), so
    the rows are those the ORM wrote; every trigger (tracking code, references, audit) fires as
    before. Nothing listens to the models' save signals. Sets issue.pk and the events' issue and pk,
    marks them saved."""
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the proxy costs a lookup per attribute
    issue_fields, event_fields, sql, statement = _insert_shape(db, len(events))
    issue._prepare_related_fields_for_save(operation_name="save")  # as save(): no unsaved relations
    params, plain = {}, True
    for k, f in enumerate(issue_fields):
        value = params[f"i{k}"] = f.get_db_prep_save(f.pre_save(issue, True), db)
        if hasattr(f, "get_placeholder") and f.get_placeholder(value, None, db) != "%s":
            plain = False  # e.g. a point in another SRID: ST_Transform around the value
            params[f"i{k}"] = _Placeholder(f.get_placeholder(value, None, db), value)
    for n, event in enumerate(events):
        for k, f in enumerate(event_fields):
            params[f"e{n}_{k}"] = f.get_db_prep_save(f.pre_save(event, True), db)
    if plain:
        returned = statement.fetchall(params, using=db)
    else:  # the plain statement, the placeholder's SQL around its value
        with db.cursor() as cur:
            text, values = _Placeholder.expand(sql, params)
            cur.execute(text, values)
            returned = cur.fetchall()
    issue.pk = returned[0][0]
    issue._state.adding, issue._state.db = False, db.alias
    for event, (_issue_id, event_id) in zip(events, returned, strict=True):
        event.issue, event.pk = issue, event_id
        event._state.adding, event._state.db = False, db.alias


@dataclass(frozen=True)
class _Placeholder:
    """A value whose field wraps its placeholder in SQL (GeometryField.get_placeholder)."""

    sql: str
    value: object

    @staticmethod
    def expand(sql: str, params: dict) -> tuple[str, dict]:
        """`sql` with each _Placeholder's SQL in place of its %(name)s."""
        for name, param in params.items():
            if isinstance(param, _Placeholder):
                sql = sql.replace(f"%({name})s", param.sql.replace("%s", f"%({name})s"))
                params = {**params, name: param.value}
        return sql, params


def _user(actor):
    return actor if getattr(actor, "is_authenticated", False) else None


def _actor_name(actor, fallback: str = "") -> str:
    if getattr(actor, "is_authenticated", False):
        return actor.get_full_name() or actor.get_username()
    return fallback


# ---------------------------------------------------------------- the loop


def issue_transition(
    *,
    issue_id: int,
    action: str,
    actor=None,
    actor_name: str = "",
    note: str = "",
    rating: int | None = None,
    duplicate_of: int | None = None,
    responsible: dict | None = None,
    at: datetime | None = None,
    photos=(),
) -> Issue:
    """Move an issue along the loop. Refuses an action not allowed from the current status (400, with
    the allowed actions), and reports a lost race (409) when someone else moved it first. `photos`
    (the work done, the place after) are kept with the step; a bad one refuses the whole step."""
    rule = TRANSITIONS.get(action)
    if rule is None:
        raise DomainError(
            _("unknown action %(action)s; use one of %(known)s")
            % {"action": repr(action), "known": words_join(TRANSITIONS)},
            field="action",
        )
    note = (note or "").strip()
    photos = photos_checked(photos, too_many=_("at most %(max)s photos per step"))
    with transaction.atomic():
        issue = Issue.objects.select_related("category", "subcategory").filter(pk=issue_id).first()
        if issue is None:
            raise NotFound(_("no issue with id %(id)s") % {"id": issue_id})
        current = issue.status
        if current not in rule.sources:
            allowed = actions_allowed(current)
            names = {"action": action_label(action), "status": Status(current).label}
            if allowed:
                names["allowed"] = words_join(action_label(a) for a in allowed)
                message = _(
                    "cannot %(action)s an issue whose status is %(status)s; allowed now: "
                    "%(allowed)s"
                )
            else:
                message = _(
                    "cannot %(action)s an issue whose status is %(status)s; nothing is allowed "
                    "now (the loop has ended)"
                )
            raise DomainError(
                message % names,
                field="action",
                code="illegal_transition",
            )
        if rule.note_required and not note:
            raise DomainError(
                _("a note is required to %(action)s") % {"action": action_label(action)},
                field="note",
            )
        if len(note) > DESCRIPTION_MAX:
            raise DomainError(
                _("note is longer than %(max)s characters") % {"max": DESCRIPTION_MAX},
                field="note",
            )
        now = at or timezone.now()
        values = {"status": rule.target, "updated_at": now}
        reason = []
        if action == "dispatch" and responsible:
            route = _manual_route(responsible)
            values.update(route.as_fields())
            reason = route.reason
        elif action == "dispatch" and issue.responsible_kind == ResponsibleKind.NONE:
            raise DomainError(
                _("the issue has no responsible party; choose one to dispatch"),
                field="responsible",
            )
        if action == "resolve":
            values["resolved_at"] = now
        if action == "rate":
            if rating is None or str(rating).strip() == "":
                raise DomainError(_("a rating of 1-5 is required"), field="rating")
            try:
                rating = int(rating)
            except (TypeError, ValueError):
                raise DomainError(
                    _("rating=%(value)s is not a whole number") % {"value": repr(rating)},
                    field="rating",
                ) from None
            if not 1 <= rating <= 5:
                raise DomainError(
                    _("rating=%(value)s is out of range 1-5") % {"value": rating}, field="rating"
                )
            values.update(rating=rating, rating_comment=note[:1000])
        if action in ("close", "reject", "duplicate"):
            values["closed_at"] = now
        if action == "duplicate":
            ref = str(duplicate_of or "").strip()
            if not ref:
                raise DomainError(
                    _("give the tracking code of the issue this one repeats"), field="duplicate_of"
                )
            # staff see tracking codes; programs may send the id
            original = (
                Issue.objects.filter(pk=int(ref)).first()
                if ref.isdigit()
                else Issue.objects.filter(tracking_code=ref.upper()).first()
            )
            if original is None or original.pk == issue.pk:
                raise DomainError(
                    _("%(value)s is not the tracking code or id of another issue") % {"value": ref},
                    field="duplicate_of",
                )
            values["duplicate_of"] = original
            reason = [step("duplicate", code=original.tracking_code)]
        if action == "reopen":
            sla = (
                issue.subcategory.sla_hours if issue.subcategory else None
            ) or issue.category.sla_hours
            values.update(
                rework_count=F("rework_count") + 1,
                resolved_at=None,
                closed_at=None,
                rating=None,
                rating_comment="",
                due_at=now + timedelta(hours=sla),
            )
        # The race guard: only the row still in the status we read is updated. Its created_at (which
        # never changes) names the one monthly partition to look in; by id alone PostgreSQL plans and
        # probes every partition.
        updated = Issue.objects.filter(
            pk=issue.pk, created_at=issue.created_at, status=current
        ).update(**values)
        if updated != 1:
            raise Conflict(
                _("issue %(code)s was changed by someone else meanwhile; reload and retry")
                % {"code": issue.tracking_code}
            )
        if action == "rate":
            reason = [step("rating", rating=rating)]
        event = IssueEvent.objects.create(
            issue=issue,
            action=action,
            from_status=current,
            to_status=rule.target,
            actor=_user(actor),
            actor_name=_actor_name(actor, actor_name),
            note=note,
            reason=reason,
            at=now,
        )
        _photos_save(issue.id, photos, event=event)
    return Issue.objects.get(pk=issue.pk)


def actions_allowed(status: str) -> list[str]:
    return [name for name, rule in TRANSITIONS.items() if status in rule.sources]


def _manual_route(responsible: dict) -> Route:
    kind = responsible.get("kind")
    ident = responsible.get("id")
    models_by_kind = {
        ResponsibleKind.PROPERTY_COMPANY: (PropertyCompany, "company"),
        ResponsibleKind.DEPARTMENT: (Department, "department"),
        ResponsibleKind.GRID_LEADER: (StaffAssignment, "staff"),
        ResponsibleKind.COMMUNITY: (Area, "area"),
    }
    if kind not in models_by_kind:
        raise DomainError(
            _("unknown responsible kind %(kind)s; use one of %(known)s")
            % {"kind": repr(kind), "known": words_join(models_by_kind)},
            field="responsible",
        )
    model, attr = models_by_kind[kind]
    obj = model.objects.filter(pk=ident).first()
    if obj is None:
        raise DomainError(
            _("responsible party not found: no %(kind)s with id %(id)s")
            % {"kind": ResponsibleKind(kind).label, "id": repr(ident)},
            field="responsible",
        )
    if kind == ResponsibleKind.COMMUNITY and obj.level != "community":
        raise DomainError(
            _("area %(code)s is not a community") % {"code": obj.code}, field="responsible"
        )
    return Route(kind, [step("by_hand", responsible_kind=kind, name=str(obj))], **{attr: obj})


@transaction.atomic
def issue_note_add(
    *, issue_id: int, note: str, actor=None, actor_name: str = "", photos=()
) -> IssueEvent:
    """A note in the issue's history, with photos if any (a note with photos only is fine)."""
    issue = Issue.objects.filter(pk=issue_id).first()
    if issue is None:
        raise NotFound(_("no issue with id %(id)s") % {"id": issue_id})
    note = (note or "").strip()
    photos = photos_checked(photos, too_many=_("at most %(max)s photos per step"))
    if not note and not photos:
        raise DomainError(_("note is required"), field="note")
    event = IssueEvent.objects.create(
        issue=issue,
        action="note",
        from_status=issue.status,
        to_status=issue.status,
        actor=_user(actor),
        actor_name=_actor_name(actor, actor_name),
        note=note[:DESCRIPTION_MAX],
    )
    _photos_save(issue.id, photos, event=event)
    return event


# ---------------------------------------------------------------- joint meetings


@transaction.atomic
def meeting_decision_record(
    *, community: Area, month, issue_id: int, decision: str, actor=None
) -> MeetingDecision:
    """Record what the month's joint meeting decided about one issue (一事一议); also in its history."""
    month = month.replace(day=1)
    decision = (decision or "").strip()
    if not decision:
        raise DomainError(_("decision is required"), field="decision")
    issue = Issue.objects.filter(pk=issue_id).first()
    if issue is None:
        raise NotFound(_("no issue with id %(id)s") % {"id": issue_id})
    if issue.community_id is None or not issue.area_code.startswith(community.code):
        raise DomainError(
            _("issue %(code)s is not in community %(community)s")
            % {"code": issue.tracking_code, "community": community.code},
            field="issue",
        )
    meeting, _created = JointMeeting.objects.get_or_create(community=community, month=month)
    record, _created = MeetingDecision.objects.update_or_create(
        meeting=meeting, issue=issue, defaults={"decision": decision, "decided_by": _user(actor)}
    )
    IssueEvent.objects.create(
        issue=issue,
        action="decision",
        from_status=issue.status,
        to_status=issue.status,
        actor=_user(actor),
        actor_name=_actor_name(actor),
        note=decision,
        reason=[step("decision", month=f"{month:%Y-%m}")],
    )
    return record


def categories_load(*, overwrite: bool = False) -> int:
    with transaction.atomic():
        return load_categories(Category, overwrite=overwrite)


# ---------------------------------------------------------------- who may do what

# Coordinators (社区派单 and the resident-facing steps) act on issues received in their area;
# handlers (接单, 回退, 处置) act on issues they are responsible for.
COORDINATOR_ACTIONS = {"consult", "dispatch", "reject", "duplicate", "rate", "close", "reopen"}
HANDLER_ACTIONS = {"accept", "return", "resolve"}
COORDINATOR_ROLES = {"street_staff", "community_staff"}


# What is waiting for someone: the statuses where a coordinator has something to do (dispatch,
# reject, mark duplicate; rate, close), and where a handler has (accept, return, resolve). Consulting
# is optional and reopening an exception, so neither makes an issue wait for anybody.
COORDINATOR_TODO = tuple(
    sorted({s for a in COORDINATOR_ACTIONS - {"consult", "reopen"} for s in TRANSITIONS[a].sources})
)
HANDLER_TODO = tuple(sorted({s for a in HANDLER_ACTIONS for s in TRANSITIONS[a].sources}))


class Forbidden(DomainError):
    status = 403

    def __init__(self, message: str):
        super().__init__(message, field="action", code="forbidden")


def actions_for(*, issue: Issue, user) -> list[str]:
    """The loop actions this user may take on this issue now (a subset of actions_allowed)."""
    allowed = actions_allowed(issue.status)
    if not getattr(user, "is_authenticated", False):
        return []
    if user.is_superuser:
        return allowed
    mine: set[str] = set()
    for a in StaffAssignment.objects.filter(user=user, active=True).select_related("area"):
        if a.role == "city_admin":
            return allowed
        in_area = a.area is not None and issue.area_code.startswith(a.area.code)
        if a.role in COORDINATOR_ROLES and in_area:
            mine |= COORDINATOR_ACTIONS
        if a.role in ("grid_leader", "grid_worker") and in_area:
            mine.add("consult")
        responsible = (
            (a.role == "property_company" and a.company_id == issue.responsible_company_id)
            or (a.role == "department" and a.department_id == issue.responsible_department_id)
            or (a.role == "grid_leader" and a.id == issue.responsible_staff_id)
            or (
                a.role == "community_staff"
                and issue.responsible_kind == ResponsibleKind.COMMUNITY
                and a.area_id == issue.responsible_area_id
            )
        )
        if responsible and issue.responsible_kind != ResponsibleKind.NONE:
            mine |= HANDLER_ACTIONS
    return [action for action in allowed if action in mine]


def issue_act(*, issue_id: int, action: str, user, **kwargs) -> Issue:
    """issue_transition for a person: refused (403) when the action is not theirs to take."""
    issue = Issue.objects.filter(pk=issue_id).first()
    if issue is None:
        raise NotFound(_("no issue with id %(id)s") % {"id": issue_id})
    if action in TRANSITIONS and action in actions_allowed(issue.status):
        if action not in actions_for(issue=issue, user=user):
            raise Forbidden(
                _(
                    "you may not %(action)s issue %(code)s: it is neither in your area nor yours "
                    "to handle"
                )
                % {"action": action_label(action), "code": issue.tracking_code}
            )
    return issue_transition(issue_id=issue_id, action=action, actor=user, **kwargs)


# Actions that many issues can take at once (the console's "dispatch the chosen"): those that need
# nothing but an optional note. At most BULK_MAX issues per request.
BULK_ACTIONS = ("dispatch", "accept", "close")
BULK_MAX = 200


def _bulk_ids(raw) -> list[int]:
    if not isinstance(raw, list) or not raw:
        raise DomainError(_("ids: give a list of issue ids"), field="ids")
    if len(raw) > BULK_MAX:
        raise DomainError(
            _("ids: at most %(max)s issues at once, got %(n)s") % {"max": BULK_MAX, "n": len(raw)},
            field="ids",
        )
    ids = []
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise DomainError(
                _("ids: %(value)s is not an issue id") % {"value": repr(value)}, field="ids"
            )
        if value not in ids:
            ids.append(value)
    return ids


def issues_act_many(*, issue_ids, action: str, user, scope, note: str = "") -> list[int]:
    """One action on many issues, all or nothing: each must be visible to the user (`scope`) and the
    action theirs to take now (issue_act's rules); the first that is not undoes the others, and the
    error names its tracking code. Returns the ids, in the order given."""
    if action not in BULK_ACTIONS:
        raise DomainError(
            _("%(action)s cannot be applied to many issues at once; use %(known)s")
            % {"action": repr(action), "known": words_join(BULK_ACTIONS)},
            field="action",
        )
    ids = _bulk_ids(issue_ids)
    with transaction.atomic():
        codes = dict(
            Issue.objects.filter(pk__in=ids)
            .filter(scope.issues_q())
            .values_list("id", "tracking_code")
        )
        missing = [i for i in ids if i not in codes]
        if missing:  # not there, or not the user's to see: the same answer, before anything is done
            raise NotFound(_("no issue with id %(id)s") % {"id": missing[0]}, field="ids")
        for issue_id in ids:
            try:
                issue_act(issue_id=issue_id, action=action, user=user, note=note)
            except DomainError as error:
                error.message = _("%(code)s: %(error)s") % {
                    "code": codes[issue_id],
                    "error": error.message,
                }
                error.field = "ids"
                raise
    return ids


# ---------------------------------------------------------------- retention (PIPL)

RETENTION_DAYS_DEFAULT = 365


def retention_days() -> int:
    """LINLI_REPORTER_RETENTION_DAYS: how long reporters' personal data is kept after an issue is
    closed (or dismissed)."""
    from django.conf import settings

    return int(getattr(settings, "LINLI_REPORTER_RETENTION_DAYS", RETENTION_DAYS_DEFAULT))


@transaction.atomic
def reporters_anonymise(*, days: int | None = None, now=None, dry_run: bool = False) -> int:
    """Erase the reporter's name, phone, e-mail and household of issues closed, rated or dismissed
    more than `days` ago (default: the retention setting). The issue itself, its place and history
    stay for the statistics. Returns how many issues were anonymised (or would be, with dry_run)."""
    from datetime import timedelta

    from django.db.models import Q

    days = retention_days() if days is None else days
    if days < 0:
        raise DomainError(
            _("days=%(days)s: the retention must be zero or more days") % {"days": days},
            field="days",
        )
    cutoff = (now or timezone.now()) - timedelta(days=days)
    finished = list(FINISHED) + list(DISMISSED)
    qs = Issue.objects.filter(status__in=finished).filter(
        Q(closed_at__lt=cutoff) | Q(closed_at__isnull=True, updated_at__lt=cutoff)
    )
    qs = qs.exclude(
        reporter_name="", reporter_phone="", reporter_email="", reporter_household__isnull=True
    )
    if dry_run:
        return qs.count()
    return qs.update(
        reporter_name="", reporter_phone="", reporter_email="", reporter_household=None
    )
