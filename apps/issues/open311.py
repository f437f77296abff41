"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) under /open311/v2/.

Every endpoint answers in JSON or XML by its extension. Services are the subcategories (grouped by their
category). Status is "open" or "closed" derived from the loop (closed = finished or dismissed).
Errors are the spec's list: [{"code": 400, "description": "..."}] / <errors><error>...</error></errors>,
with the same HTTP status. Plain Django views (not DRF): the spec fixes the shapes, including XML.

Extensions (common in deployed servers): page / page_size on GET requests, extended_attributes=true,
GET servicerequestupdates (the service request updates extension)."""

import secrets
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.common import ratelimit
from apps.common.errors import DomainError, NotFound
from apps.common.prepared import Prepared
from apps.issues import selectors, services
from apps.issues.api import photo_response
from apps.issues.models import (
    OPEN,
    OPEN311_CLOSED,
    ApiKey,
    Category,
    Issue,
    IssueEvent,
    IssuePhoto,
    Priority,
)
from apps.issues.reasons import event_text, history_text
from apps.issues.selectors import responsible_label

DEFAULT_DAYS = 90
DEFAULT_LIMIT = 1000
JURISDICTION = "linli"

# Field lists from the spec, in its order (the tests check both formats against these).
SERVICE_FIELDS = [
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
]
ATTRIBUTE_FIELDS = [
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
]
REQUEST_FIELDS = [
    "service_request_id",
    "status",
    "status_notes",
    "service_name",
    "service_code",
    "description",
    "agency_responsible",
    "service_notice",
    "requested_datetime",
    "updated_datetime",
    "expected_datetime",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "media_url",
]
POST_RESPONSE_FIELDS = ["service_request_id", "token", "service_notice", "account_id"]
TOKEN_FIELDS = ["service_request_id", "token"]
UPDATE_FIELDS = [
    "update_id",
    "service_request_id",
    "status",
    "updated_datetime",
    "description",
    "media_url",
]


class Open311Error(Exception):
    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status = status
        self.description = description


# ---------------------------------------------------------------- rendering


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _xml_add(parent: ET.Element, name: str, value):
    el = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for k, v in value.items():
            _xml_add(el, k, v)
    elif isinstance(value, list):
        singular = {"attributes": "attribute", "values": "value", "keywords": "keyword"}.get(
            name, "item"
        )
        for item in value:
            _xml_add(el, singular, item)
    else:
        el.text = _text(value)
    return el


def render(fmt: str, data, *, root: str, item: str, status: int = 200) -> HttpResponse:
    """A list (or one object for service definitions) as JSON or well-formed XML."""
    if fmt == "json":
        import json

        return HttpResponse(
            json.dumps(data, ensure_ascii=False, default=str),
            content_type="application/json; charset=utf-8",
            status=status,
        )
    top = ET.Element(root)
    if isinstance(data, list):
        for row in data:
            el = ET.SubElement(top, item)
            for k, v in row.items():
                _xml_add(el, k, v)
    else:
        for k, v in data.items():
            _xml_add(top, k, v)
    body = ET.tostring(top, encoding="unicode", xml_declaration=False)
    return HttpResponse(
        '<?xml version="1.0" encoding="utf-8"?>\n' + body,
        content_type="text/xml; charset=utf-8",
        status=status,
    )


def error_response(fmt: str, status: int, description: str) -> HttpResponse:
    return render(
        fmt,
        [{"code": status, "description": description}],
        root="errors",
        item="error",
        status=status,
    )


def open311_view(fn):
    """Turn Open311Error and domain errors into the spec's error list in the requested format."""

    def wrapper(request, fmt, *args, **kwargs):
        try:
            return fn(request, fmt, *args, **kwargs)
        except Open311Error as exc:
            return error_response(fmt, exc.status, exc.description)
        except NotFound as exc:
            return error_response(fmt, 404, exc.message)
        except DomainError as exc:
            return error_response(fmt, 400, exc.message)

    wrapper.__name__ = fn.__name__
    return csrf_exempt(wrapper)


def w3c(dt) -> str | None:
    return timezone.localtime(dt).isoformat(timespec="seconds") if dt else None


# ---------------------------------------------------------------- services


def _services():
    return (
        Category.objects.filter(active=True, parent__isnull=False)
        .select_related("parent")
        .order_by("parent__sort", "sort", "code")
    )


def _service_row(c: Category) -> dict:
    return {
        "service_code": c.code,
        "service_name": c.name,
        "description": c.name_en or c.description,
        "metadata": True,
        "type": "realtime",
        "keywords": ", ".join(k for k in (c.parent.name, c.parent.name_en, c.name_en) if k),
        "group": c.parent.name,
    }


ATTRIBUTES = [
    {
        "variable": True,
        "code": "priority",
        "datatype": "singlevaluelist",
        "required": False,
        "datatype_description": "",
        "order": 1,
        "description": "Priority (优先级)",
        "values": [{"key": p.value, "name": str(p.label)} for p in Priority],
    },
    {
        "variable": True,
        "code": "room",
        "datatype": "string",
        "required": False,
        "datatype_description": "building-unit-room, e.g. 3-2-501",
        "order": 2,
        "description": "Where in the building (楼栋-单元-房号)",
    },
]


@require_http_methods(["GET"])
@open311_view
def services_list(request, fmt):
    return render(fmt, [_service_row(c) for c in _services()], root="services", item="service")


@require_http_methods(["GET"])
@open311_view
def service_definition(request, fmt, code):
    if not _services().filter(code=code).exists():
        raise Open311Error(404, f"service_code {code!r} not found")
    return render(
        fmt,
        {"service_code": code, "attributes": ATTRIBUTES},
        root="service_definition",
        item="attribute",
    )


# ---------------------------------------------------------------- requests


def _request_row(issue: Issue, *, request, extended: bool, last_note: str = "") -> dict:
    sub = issue.subcategory or issue.category
    row = {
        "service_request_id": issue.tracking_code,
        "status": "closed" if issue.status in OPEN311_CLOSED else "open",
        "status_notes": last_note,
        "service_name": sub.name,
        "service_code": sub.code,
        "description": issue.description,
        "agency_responsible": responsible_label(issue),
        "service_notice": "",
        "requested_datetime": w3c(issue.created_at),
        "updated_datetime": w3c(issue.updated_at),
        "expected_datetime": w3c(issue.due_at),
        "address": issue.address,
        "address_id": "",
        "zipcode": "",
        "lat": round(issue.point.y, 7),
        "long": round(issue.point.x, 7),
        "media_url": issue.media_url or _first_photo(issue, request),
    }
    if extended:
        row["extended_attributes"] = {
            "loop_status": issue.status,
            "overdue": issue.overdue,
            "rework_count": issue.rework_count,
            "category": issue.category.code,
            "area_code": issue.area_code,
            "rating": issue.rating,
            "responsible_kind": issue.responsible_kind,
        }
    return row


def _first_photo(issue: Issue, request) -> str:
    """The first photo as an absolute URL (the spec's media_url is a URL clients can fetch): served
    by request_media, as the request itself is, not from the media folder (never served publicly:
    staff uploads live there too)."""
    photo = min(
        (p for p in issue.photos.all() if p.event_id is None), key=lambda p: p.id, default=None
    )
    if photo is None:
        return ""
    return request.build_absolute_uri(
        reverse("open311-media", args=[issue.tracking_code, photo.id])
    )


def _last_notes(ids: list[int]) -> dict[int, str]:
    """The note of each issue's latest loop transition (a rejection reason, a resolution), in one query."""
    if not ids:
        return {}
    with connection.cursor() as cur:
        # DISTINCT ON: one latest transition per issue; the ORM cannot say it on Postgres without it.
        cur.execute(
            """SELECT DISTINCT ON (issue_id) issue_id, note, reason FROM issues_issueevent
                WHERE issue_id = ANY(%s) AND action NOT IN ('create', 'route', 'note', 'decision')
                ORDER BY issue_id, at DESC, id DESC""",
            [ids],
        )
        return {issue_id: history_text(reason, note) for issue_id, note, reason in cur.fetchall()}


def _issues_qs():
    return Issue.objects.select_related(
        "category",
        "subcategory",
        "responsible_company",
        "responsible_department",
        "responsible_staff",
        "responsible_area",
    ).prefetch_related("photos")


def _positive_int(raw, name, default, high):
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Open311Error(400, f"{name}={raw!r} is not a whole number") from None
    if not 1 <= value <= high:
        raise Open311Error(400, f"{name}={value} is out of range 1-{high}")
    return value


def _date(raw, name):
    try:
        return selectors.parse_when(raw, name)
    except DomainError as exc:
        raise Open311Error(400, exc.message) from None


def _requests_get(request, fmt):
    q = request.GET
    extended = q.get("extended_attributes", "").lower() in ("true", "1")
    qs = _issues_qs()
    ids = [s.strip().upper() for s in q.get("service_request_id", "").split(",") if s.strip()]
    if ids:  # the spec: all other parameters are ignored
        issues = list(qs.filter(tracking_code__in=ids).order_by("-created_at", "-id"))
    else:
        start = _date(q.get("start_date"), "start_date")
        end = _date(q.get("end_date"), "end_date")
        if start and end and end < start:
            raise Open311Error(400, "end_date is before start_date")
        if start is None and end is None:
            start = timezone.now() - timedelta(days=DEFAULT_DAYS)
        if start:
            qs = qs.filter(created_at__gte=start)
        if end:
            qs = qs.filter(created_at__lte=end)
        codes = [s.strip() for s in q.get("service_code", "").split(",") if s.strip()]
        if codes:
            qs = qs.filter(Q(subcategory__code__in=codes) | Q(category__code__in=codes))
        statuses = [s.strip().lower() for s in q.get("status", "").split(",") if s.strip()]
        bad = [s for s in statuses if s not in ("open", "closed")]
        if bad:
            raise Open311Error(400, f"status={bad[0]!r}: use open or closed")
        if statuses and set(statuses) != {"open", "closed"}:
            qs = qs.filter(status__in=OPEN if statuses == ["open"] else OPEN311_CLOSED)
        page_size = _positive_int(q.get("page_size"), "page_size", DEFAULT_LIMIT, DEFAULT_LIMIT)
        page = _positive_int(q.get("page"), "page", 1, 10**6)
        offset = (page - 1) * page_size
        issues = list(qs.order_by("-created_at", "-id")[offset : offset + page_size])
    notes = _last_notes([i.id for i in issues])
    rows = [
        _request_row(i, request=request, extended=extended, last_note=notes.get(i.id, ""))
        for i in issues
    ]
    return render(fmt, rows, root="service_requests", item="request")


_API_KEY_FIELDS = [f.attname for f in ApiKey._meta.concrete_fields]
# Open311 POST limits, per API key and per client IP, per minute (settings LINLI_OPEN311_PER_KEY,
# LINLI_OPEN311_PER_IP); counted in the database (apps.common.ratelimit's table) so all workers share
# them. Over the limit: 429.
OPEN311_WINDOW_SECONDS = 60

# Every POST looks its key up, counts the hit of the key and of the client address when the key is
# valid, and reads the categories' data version (services.category_active's check that its
# per-process cache is current): one prepared statement (apps/common/prepared.py) and one commit
# instead of three statements (the ORM's query building cost more than the queries). The counting is
# ratelimit.HIT_SQL's upsert for the keys [open311:key:<id>, open311:ip:<address>], in that order (so
# concurrent statements lock the rows in the same order), one hit each; an unknown or inactive key
# gives no row and counts nothing. The version row is looked up beside it
# (NULLs when it is missing).
_API_KEY_COLUMNS = ", ".join(
    "k." + connection.ops.quote_name(f.column) for f in ApiKey._meta.concrete_fields
)
API_KEY_SQL = f"""
WITH k AS (
    SELECT {_API_KEY_COLUMNS}, v.xmin AS version_xmin, v.version
      FROM "{ApiKey._meta.db_table}" k
      LEFT JOIN ({services.CATEGORY_VERSION_SQL}) v (xmin, version) ON true
     WHERE k.active AND k."key" = %(key)s
), hits AS (
    INSERT INTO common_ratebucket (key, window_start, hits)
    SELECT t.bucket, %(start)s, 1
      FROM k, unnest(ARRAY['open311:key:' || k.id, %(ip_bucket)s]::varchar(200)[])
           WITH ORDINALITY AS t(bucket, n)
     ORDER BY t.n
        ON CONFLICT (key, window_start) DO UPDATE SET hits = common_ratebucket.hits + 1
    RETURNING key, hits
)
SELECT k.*, (SELECT h.hits FROM hits h WHERE h.key = 'open311:key:' || k.id),
       (SELECT h.hits FROM hits h WHERE h.key = %(ip_bucket)s)
  FROM k"""  # noqa: S608 -- names from the model's metadata; values are parameters
API_KEY = Prepared(
    "linli_open311_api_key",
    API_KEY_SQL,
    {"key": "varchar", "start": "timestamptz", "ip_bucket": "varchar"},
)

# last_used_at is written when it is older than this: a key filing hundreds of requests a minute
# would otherwise rewrite (and audit) its one row on every request, all of them queueing on its lock.
API_KEY_LAST_USED_RESOLUTION = timedelta(minutes=1)


def _api_key(request) -> tuple[ApiKey, tuple | None]:
    """The request's active api key, its hit counted (429 over a limit), and the categories' version
    key (services.category_active)."""
    raw = request.POST.get("api_key", "")
    if not raw:
        raise Open311Error(403, "api_key is required")
    now = datetime.now(UTC)
    start = ratelimit.window_start(now, OPEN311_WINDOW_SECONDS)
    ip = ratelimit.client_ip(request)
    ip_bucket = f"open311:ip:{ip}"[:200]
    found = API_KEY.fetchall({"key": raw, "start": start, "ip_bucket": ip_bucket})
    n = len(_API_KEY_FIELDS)
    key = ApiKey.from_db(connection.alias, _API_KEY_FIELDS, found[0][:n]) if found else None
    if key is None or not secrets.compare_digest(key.key, raw):
        raise Open311Error(403, "api_key is not valid")
    version_xmin, version, key_hits, ip_hits = found[0][n:]
    if 1 in (key_hits, ip_hits):
        ratelimit.prune_sometimes(now)
    per_key = ratelimit.limit_setting("OPEN311_PER_KEY", 600)
    per_ip = ratelimit.limit_setting("OPEN311_PER_IP", 120)
    if key_hits > per_key or ip_hits > per_ip:
        which = (
            f"{per_key} per minute for this api_key"
            if key_hits > per_key
            else f"{per_ip} per minute"
        )
        raise Open311Error(429, f"too many requests: the limit is {which}; retry in a minute")
    return key, ((str(version_xmin), version) if version_xmin is not None else None)


def _api_key_used(key: ApiKey) -> None:
    """Record that the key was used now, to the minute (API_KEY_LAST_USED_RESOLUTION)."""
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at >= API_KEY_LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)


def _geocode(address: str):
    """address_string without lat/long: the building whose address matches exactly (no external
    geocoder; the spec allows refusing what cannot be located)."""
    from django.contrib.gis.db.models.functions import PointOnSurface

    from apps.territory.models import Building

    building = (
        Building.objects.filter(address__iexact=address.strip())
        .annotate(p=PointOnSurface("footprint"))
        .order_by("id")
        .first()
    )
    if building is None:
        raise Open311Error(
            400, f"address_string {address!r} could not be located; send lat and long"
        )
    return building.p


def _requests_post(request, fmt):
    key, category_version = _api_key(request)  # and both rate limits counted
    p = request.POST
    code = p.get("service_code", "").strip()
    if not code:
        raise Open311Error(400, "service_code is required")
    # the per-process cache, checked current by the version row read with the api key
    service = services.category_active(code, version=category_version)
    if service is None or service.parent_id is None:  # a service is an active subcategory
        raise Open311Error(400, f"service_code {code!r} is not a known service")
    lat, lon, address = p.get("lat", ""), p.get("long", ""), p.get("address_string", "")
    if lat or lon:
        try:
            point = services.point_parse(lon, lat, field_lon="long", field_lat="lat")
        except DomainError as exc:
            raise Open311Error(400, exc.message) from None
    elif address.strip():
        point = _geocode(address)
    else:
        raise Open311Error(400, "a location is required: lat and long, or address_string")
    attributes = {}
    for name, value in p.items():
        if name.startswith("attribute[") and name.endswith("]"):
            attributes[name[len("attribute[") : -1]] = value
    priority = attributes.get("priority") or "normal"
    if priority not in Priority.values:
        raise Open311Error(
            400, f"attribute[priority]={priority!r}: use one of {', '.join(Priority.values)}"
        )
    media_url = p.get("media_url", "").strip()
    if media_url and not media_url.lower().startswith(("http://", "https://")):
        raise Open311Error(400, "media_url must be an http(s) URL")
    media_max = Issue._meta.get_field("media_url").max_length
    if len(media_url) > media_max:
        raise Open311Error(400, f"media_url is {len(media_url)} characters; at most {media_max}")
    name = " ".join(x for x in (p.get("first_name", ""), p.get("last_name", "")) if x).strip()
    issue = services.issue_create(
        point=point,
        category=service,
        description=p.get("description") or attributes.get("description") or "",
        address=address,
        source="online",
        priority=priority,
        reporter_name=name,
        reporter_phone=p.get("phone", ""),
        reporter_email=p.get("email", ""),
        actor_name=f"Open311: {key.name}",
        media_url=media_url,
        attributes={k: v for k, v in attributes.items() if k != "priority"},
    )
    _api_key_used(key)
    row = {
        "service_request_id": issue.tracking_code,
        "token": issue.token,
        "service_notice": f"expected by {w3c(issue.due_at)}",
        "account_id": p.get("account_id", ""),
    }
    return render(fmt, [row], root="service_requests", item="request", status=201)


@require_http_methods(["GET", "POST"])
@open311_view
def requests_view(request, fmt):
    if request.method == "POST":
        return _requests_post(request, fmt)
    return _requests_get(request, fmt)


@require_http_methods(["GET"])
@open311_view
def request_detail(request, fmt, request_id):
    issue = _issues_qs().filter(tracking_code=request_id.upper()).first()
    if issue is None:
        raise Open311Error(404, f"service_request_id {request_id!r} not found")
    extended = request.GET.get("extended_attributes", "").lower() in ("true", "1")
    notes = _last_notes([issue.id])
    return render(
        fmt,
        [
            _request_row(
                issue, request=request, extended=extended, last_note=notes.get(issue.id, "")
            )
        ],
        root="service_requests",
        item="request",
    )


@require_http_methods(["GET"])
def request_media(request, request_id, photo_id):
    """A photo of a service request: public, as the request it belongs to (the spec's media_url).
    Only the report's own: the handlers' photos of their work are for staff."""
    photo = (
        IssuePhoto.objects.filter(
            issue__tracking_code=request_id.upper(), pk=photo_id, event__isnull=True
        )
        .only("image")
        .first()
    )
    if photo is None:
        raise Http404("no such photo")
    try:
        return photo_response(photo, cache_control="public, max-age=86400")
    except FileNotFoundError:
        raise Http404("the photo's file is missing") from None


@require_http_methods(["GET"])
@open311_view
def token_view(request, fmt, token):
    issue = Issue.objects.filter(token=token).only("tracking_code", "token").first()
    if issue is None:
        raise Open311Error(404, f"token {token!r} not found")
    return render(
        fmt,
        [{"service_request_id": issue.tracking_code, "token": issue.token}],
        root="service_requests",
        item="request",
    )


@require_http_methods(["GET"])
@open311_view
def updates_view(request, fmt):
    """Service request updates extension: the loop's transitions as updates."""
    q = request.GET
    qs = IssueEvent.objects.select_related("issue").exclude(action__in=["route", "note"])
    ids = [s.strip().upper() for s in q.get("service_request_id", "").split(",") if s.strip()]
    if ids:
        qs = qs.filter(issue__tracking_code__in=ids)
    start = _date(q.get("start_date"), "start_date")
    end = _date(q.get("end_date"), "end_date")
    if start is None and end is None and not ids:
        start = timezone.now() - timedelta(days=DEFAULT_DAYS)
    if start:
        qs = qs.filter(at__gte=start)
    if end:
        qs = qs.filter(at__lte=end)
    page_size = _positive_int(q.get("page_size"), "page_size", DEFAULT_LIMIT, DEFAULT_LIMIT)
    page = _positive_int(q.get("page"), "page", 1, 10**6)
    events = qs.order_by("at", "id")[(page - 1) * page_size : page * page_size]
    rows = [
        {
            "update_id": e.id,
            "service_request_id": e.issue.tracking_code,
            "status": "closed" if e.to_status in OPEN311_CLOSED else "open",
            "updated_datetime": w3c(e.at),
            "description": event_text(e),
            "media_url": "",
        }
        for e in events
    ]
    return render(fmt, rows, root="service_request_updates", item="request_update")
