"""Open311 GeoReport v2: every endpoint in JSON and XML, checked against the spec's field lists.

The field lists and XML element names below are copied from the spec
(http://wiki.open311.org/GeoReport_v2 and its service request updates extension), not imported from
apps.issues.open311, so the code under test does not grade itself."""

import io
import json
import re
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta
from urllib.parse import urlparse

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from apps.issues import services
from apps.issues.models import ApiKey, Issue
from tests.issues.conftest import point_in

BASE = "/open311/v2"

# GET services: <services><service>...
SERVICE_FIELDS = [
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
]
SERVICE_TYPES = {"realtime", "batch", "blackbox"}
# GET service definition: <service_definition><service_code/><attributes><attribute>...
DEFINITION_FIELDS = ["service_code", "attributes"]
ATTRIBUTE_FIELDS = [
    "variable",
    "code",
    "datatype",
    "required",
    "datatype_description",
    "order",
    "description",
]
DATATYPES = {"string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"}
LIST_DATATYPES = {"singlevaluelist", "multivaluelist"}  # only these carry values[key, name]
VALUE_FIELDS = ["key", "name"]
# GET requests, GET request: <service_requests><request>...
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
DATETIME_FIELDS = ["requested_datetime", "updated_datetime", "expected_datetime"]
# POST request: <service_requests><request>...
POST_RESPONSE_FIELDS = ["service_request_id", "token", "service_notice", "account_id"]
# GET service_request_id from a token: <service_requests><request>...
TOKEN_FIELDS = ["service_request_id", "token"]
# Errors: <errors><error>...
ERROR_FIELDS = ["code", "description"]
# Service request updates extension: <service_request_updates><request_update>...
UPDATE_FIELDS = [
    "update_id",
    "service_request_id",
    "status",
    "updated_datetime",
    "description",
    "media_url",
]
# W3C / ISO 8601 date-time with an explicit offset, as in the spec's examples
# (2010-04-14T06:37:38-08:00).
W3C = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")


@pytest.fixture
def key(db):
    return ApiKey.objects.create(name="test client", key="k-123456")


@pytest.fixture
def here(a_grid):
    return point_in(a_grid)


def parse(response, fmt, *, root, item):
    """The response as a list of rows: dicts of values (JSON) or of elements (XML). Checks the
    content type, the XML declaration, the root element and that the root holds only `item`s."""
    if fmt == "json":
        assert response["Content-Type"].startswith("application/json")
        body = json.loads(response.content)
        assert isinstance(body, list)
        return body
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    top = ET.fromstring(response.content)  # well-formed or this raises
    assert top.tag == root
    assert [el.tag for el in top] == [item] * len(top)
    return [{child.tag: child for child in el} for el in top]


def value(row, name, fmt):
    """One field of a row as JSON gives it, or the element's text (XML)."""
    return row[name] if fmt == "json" else row[name].text


def check_error(response, fmt, code, text):
    rows = parse(response, fmt, root="errors", item="error")
    assert len(rows) == 1 and list(rows[0]) == ERROR_FIELDS
    assert str(value(rows[0], "code", fmt)) == str(code)
    assert text in value(rows[0], "description", fmt)


def check_w3c(row, fmt, **expected):
    for name in DATETIME_FIELDS:
        text = value(row, name, fmt)
        assert W3C.match(text), (name, text)
        assert datetime.fromisoformat(text).tzinfo is not None
    for name, when in expected.items():
        assert datetime.fromisoformat(value(row, name, fmt)) == when.replace(microsecond=0), name


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_services_list(client, demo, fmt):
    r = client.get(f"{BASE}/services.{fmt}")
    assert r.status_code == 200
    rows = parse(r, fmt, root="services", item="service")
    assert rows and all(list(row) == SERVICE_FIELDS for row in rows)
    for row in rows:
        assert value(row, "metadata", fmt) in (
            (True, False) if fmt == "json" else ("true", "false")
        )
        assert value(row, "type", fmt) in SERVICE_TYPES
        assert value(row, "service_name", fmt) and value(row, "group", fmt)
    codes = [value(row, "service_code", fmt) for row in rows]
    assert "property-repair" in codes and "assistance-elderly" in codes and len(codes) == 17
    assert len(set(codes)) == len(codes)


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_service_definition(client, demo, fmt):
    r = client.get(f"{BASE}/services/property-repair.{fmt}")
    assert r.status_code == 200
    if fmt == "json":
        assert r["Content-Type"].startswith("application/json")
        body = json.loads(r.content)
        assert list(body) == DEFINITION_FIELDS and body["service_code"] == "property-repair"
        attributes = body["attributes"]
        values_of = lambda a: a.get("values")  # noqa: E731
    else:
        top = ET.fromstring(r.content)
        assert top.tag == "service_definition"
        assert [c.tag for c in top] == DEFINITION_FIELDS
        assert top.find("service_code").text == "property-repair"
        assert [c.tag for c in top.find("attributes")] == ["attribute"] * len(
            top.find("attributes")
        )
        attributes = [{c.tag: c for c in a} for a in top.find("attributes")]

        def values_of(a):
            if "values" not in a:
                return None
            assert [v.tag for v in a["values"]] == ["value"] * len(a["values"])
            return [{c.tag: c.text for c in v} for v in a["values"]]

    assert attributes
    orders = []
    for a in attributes:
        datatype = value(a, "datatype", fmt)
        assert datatype in DATATYPES
        listed = datatype in LIST_DATATYPES
        assert list(a) == ATTRIBUTE_FIELDS + (["values"] if listed else []), list(a)
        orders.append(int(value(a, "order", fmt)))
        if listed:
            values = values_of(a)
            assert values and all(list(v) == VALUE_FIELDS for v in values)
    assert orders == sorted(orders)
    priority = next(a for a in attributes if value(a, "code", fmt) == "priority")
    assert [v["key"] for v in values_of(priority)] == ["low", "normal", "high", "urgent"]

    missing = client.get(f"{BASE}/services/nope.{fmt}")
    assert missing.status_code == 404
    check_error(missing, fmt, 404, "service_code 'nope' not found")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_post_then_get_by_id_and_token(client, key, here, fmt):
    data = {
        "api_key": key.key,
        "service_code": "property-repair",
        "lat": here.y,
        "long": here.x,
        "description": "路灯不亮 <b>",
        "attribute[priority]": "high",
        "attribute[room]": "3-2-501",
        "media_url": "https://example.org/p.jpg",
        "first_name": "张",
        "last_name": "三",
        "phone": "13800001234",
        "account_id": "acct-7",
    }
    r = client.post(f"{BASE}/requests.{fmt}", data)
    assert r.status_code == 201, r.content
    rows = parse(r, fmt, root="service_requests", item="request")
    assert len(rows) == 1 and list(rows[0]) == POST_RESPONSE_FIELDS
    rid, token = value(rows[0], "service_request_id", fmt), value(rows[0], "token", fmt)
    assert value(rows[0], "account_id", fmt) == "acct-7"
    issue = Issue.objects.get(tracking_code=rid)
    assert issue.token == token
    assert issue.priority == "high" and issue.attributes == {"room": "3-2-501"}
    assert issue.source == "online" and issue.reporter_name == "张 三"

    r = client.get(f"{BASE}/requests/{rid}.{fmt}", {"extended_attributes": "true"})
    assert r.status_code == 200
    rows = parse(r, fmt, root="service_requests", item="request")
    assert len(rows) == 1 and list(rows[0]) == REQUEST_FIELDS + ["extended_attributes"]
    row = rows[0]
    assert value(row, "service_request_id", fmt) == rid
    assert (
        value(row, "status", fmt) == "open" and value(row, "service_code", fmt) == "property-repair"
    )
    assert value(row, "description", fmt) == "路灯不亮 <b>"
    assert value(row, "media_url", fmt) == "https://example.org/p.jpg"
    assert float(value(row, "lat", fmt)) == pytest.approx(here.y, abs=1e-6)
    assert float(value(row, "long", fmt)) == pytest.approx(here.x, abs=1e-6)
    check_w3c(row, fmt, requested_datetime=issue.created_at, expected_datetime=issue.due_at)
    if fmt == "json":
        assert row["extended_attributes"]["loop_status"] == "collected"
    else:
        assert row["extended_attributes"].find("rework_count").text == "0"
    assert b"13800001234" not in r.content  # personal data never leaves

    r = client.get(f"{BASE}/tokens/{token}.{fmt}")
    assert r.status_code == 200
    rows = parse(r, fmt, root="service_requests", item="request")
    assert len(rows) == 1 and list(rows[0]) == TOKEN_FIELDS
    assert (value(rows[0], "service_request_id", fmt), value(rows[0], "token", fmt)) == (rid, token)
    for url in (f"{BASE}/tokens/unknown.{fmt}", f"{BASE}/requests/LLNOPE.{fmt}"):
        missing = client.get(url)
        assert missing.status_code == 404
        check_error(missing, fmt, 404, "not found")


@pytest.mark.parametrize("fmt", ["json", "xml"])
@pytest.mark.parametrize(
    "over,status,text",
    [
        ({"api_key": None}, 403, "api_key is required"),
        ({"api_key": "wrong"}, 403, "api_key is not valid"),
        ({"service_code": "nope"}, 400, "not a known service"),
        ({"service_code": None}, 400, "service_code is required"),
        ({"lat": None, "long": None}, 400, "a location is required"),
        ({"lat": 200}, 400, "out of range"),
        ({"lat": None, "long": None, "address_string": "火星1号"}, 400, "could not be located"),
        ({"description": None}, 400, "description is required"),
        ({"attribute[priority]": "asap"}, 400, "attribute[priority]"),
        ({"media_url": "javascript:alert(1)"}, 400, "media_url"),
    ],
)
def test_post_errors(client, key, here, fmt, over, status, text):
    data = {
        "api_key": key.key,
        "service_code": "dispute-neighbour",
        "lat": here.y,
        "long": here.x,
        "description": "吵闹",
    }
    data.update(over)
    data = {k: v for k, v in data.items() if v is not None}
    before = Issue.objects.count()
    r = client.post(f"{BASE}/requests.{fmt}", data)
    assert r.status_code == status, r.content
    check_error(r, fmt, status, text)
    assert Issue.objects.count() == before


def test_inactive_key_is_refused(client, key, here):
    ApiKey.objects.filter(pk=key.pk).update(active=False)
    r = client.post(
        f"{BASE}/requests.json",
        {
            "api_key": key.key,
            "service_code": "dispute-family",
            "lat": here.y,
            "long": here.x,
            "description": "x",
        },
    )
    assert r.status_code == 403
    check_error(r, "json", 403, "api_key is not valid")


def test_address_string_locates_a_building(client, key, demo):
    from apps.territory.models import Building

    b = Building.objects.exclude(address="").order_by("id").first()
    r = client.post(
        f"{BASE}/requests.json",
        {
            "api_key": key.key,
            "service_code": "property-repair",
            "address_string": b.address,
            "description": "x",
        },
    )
    assert r.status_code == 201, r.content
    issue = Issue.objects.get(tracking_code=json.loads(r.content)[0]["service_request_id"])
    assert issue.building_id == b.id


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_get_requests_filters_defaults_and_paging(client, here, fmt):
    Issue.objects.all().delete()  # only this test's issues (the demo's are restored on rollback)
    old = services.issue_create(
        point=here,
        category="dispute-family",
        description="old",
        source="hotline",
        created_at=timezone.now() - timedelta(days=120),
    )
    new = [
        services.issue_create(
            point=here, category="dispute-family", description=f"n{i}", source="hotline"
        )
        for i in range(3)
    ]
    done = services.issue_transition(issue_id=new[0].id, action="reject", note="不属实")

    def ids(params):
        r = client.get(f"{BASE}/requests.{fmt}", params)
        assert r.status_code == 200, r.content
        rows = parse(r, fmt, root="service_requests", item="request")
        for row in rows:
            assert list(row) == REQUEST_FIELDS
        return [value(row, "service_request_id", fmt) for row in rows], rows

    got, _ = ids({"service_code": "dispute-family"})
    assert old.tracking_code not in got  # default window: 90 days
    assert set(got) == {i.tracking_code for i in new}
    got, _ = ids({"service_code": "dispute-family", "start_date": "2000-01-01"})
    assert old.tracking_code in got
    got, rows = ids({"service_code": "dispute-family", "status": "closed"})
    assert got == [done.tracking_code]
    assert value(rows[0], "status", fmt) == "closed"
    assert value(rows[0], "status_notes", fmt) == "不属实"
    got, _ = ids({"service_code": "dispute-family", "status": "open", "page_size": 1, "page": 2})
    assert len(got) == 1
    got, _ = ids(
        {"service_request_id": f"{old.tracking_code},{new[1].tracking_code}", "status": "closed"}
    )
    assert set(got) == {old.tracking_code, new[1].tracking_code}  # other parameters ignored
    for params, text in [
        ({"start_date": "2024-02-30"}, "start_date"),
        ({"end_date": "not-a-date"}, "end_date"),
        ({"start_date": "2024-02-01", "end_date": "2024-01-01"}, "before start_date"),
        ({"status": "pending"}, "use open or closed"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "1001"}, "out of range 1-1000"),
        ({"page": "x"}, "page"),
    ]:
        r = client.get(f"{BASE}/requests.{fmt}", params)
        assert r.status_code == 400, params
        check_error(r, fmt, 400, text)


def test_get_requests_returns_at_most_1000_by_default(client, here):
    """The spec's default cap: 1,001 requests in the default 90-day window, the newest 1,000 come
    back without any paging parameter; the 1,001st is on page 2."""
    Issue.objects.all().delete()
    first = services.issue_create(
        point=here,
        category="dispute-family",
        description="the oldest",
        source="hotline",
        created_at=timezone.now() - timedelta(days=10),
    )
    now = timezone.now()
    clones = []
    for n in range(1000):
        clone = Issue.objects.get(pk=first.pk)
        clone.pk = None
        clone.tracking_code = f"LLCAP{n:05d}"
        clone.token = ""
        clone.description = f"clone {n}"
        clone.created_at = now - timedelta(minutes=n + 1)
        clone.updated_at = clone.created_at
        clone.due_at = clone.created_at + timedelta(hours=72)
        clones.append(clone)
    Issue.objects.bulk_create(clones)
    assert Issue.objects.count() == 1001

    r = client.get(f"{BASE}/requests.json")
    assert r.status_code == 200
    rows = parse(r, "json", root="service_requests", item="request")
    assert len(rows) == 1000
    got = {row["service_request_id"] for row in rows}
    assert first.tracking_code not in got and got == {c.tracking_code for c in clones}
    r = client.get(f"{BASE}/requests.json", {"page": 2})
    assert [row["service_request_id"] for row in json.loads(r.content)] == [first.tracking_code]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_resolved_is_closed_and_datetimes_carry_a_timezone(client, here, fmt):
    issue = services.issue_create(
        point=here, category="dispute-family", description="楼上漏水", source="online"
    )
    for action in ("dispatch", "accept"):
        services.issue_transition(issue_id=issue.id, action=action)

    def row_of():
        r = client.get(
            f"{BASE}/requests/{issue.tracking_code}.{fmt}", {"extended_attributes": "true"}
        )
        assert r.status_code == 200, r.content
        rows = parse(r, fmt, root="service_requests", item="request")
        assert len(rows) == 1
        return rows[0]

    accepted = row_of()
    assert value(accepted, "status", fmt) == "open"  # accepted by the handler: still open
    resolved = services.issue_transition(issue_id=issue.id, action="resolve", note="已修好")
    row = row_of()
    assert value(row, "status", fmt) == "closed"
    assert value(row, "status_notes", fmt) == "已修好"
    check_w3c(
        row,
        fmt,
        requested_datetime=resolved.created_at,
        updated_datetime=resolved.updated_at,
        expected_datetime=resolved.due_at,
    )
    # the same in the list, where status=closed finds it and status=open does not
    listed = client.get(f"{BASE}/requests.{fmt}", {"status": "closed"})
    rows = parse(listed, fmt, root="service_requests", item="request")
    assert issue.tracking_code in [value(r, "service_request_id", fmt) for r in rows]
    for r in rows:
        check_w3c(r, fmt)
    listed = client.get(f"{BASE}/requests.{fmt}", {"status": "open"})
    rows = parse(listed, fmt, root="service_requests", item="request")
    assert issue.tracking_code not in [value(r, "service_request_id", fmt) for r in rows]
    # rated and closed stay closed; reopened (rework) is open again
    services.issue_transition(issue_id=issue.id, action="rate", rating=4)
    assert value(row_of(), "status", fmt) == "closed"
    services.issue_transition(issue_id=issue.id, action="close")
    assert value(row_of(), "status", fmt) == "closed"
    services.issue_transition(issue_id=issue.id, action="reopen", note="又漏了")
    assert value(row_of(), "status", fmt) == "open"


def _png(name="p.png"):
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(buf, format="PNG")
    return SimpleUploadedFile(name, buf.getvalue(), content_type="image/png")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_media_url_of_a_photo_is_absolute(client, here, settings, tmp_path, fmt):
    settings.MEDIA_ROOT = tmp_path
    issue = services.issue_create(
        point=here,
        category="property-repair",
        description="墙皮脱落",
        source="resident",
        photos=[_png()],
    )
    photo = issue.photos.get()
    r = client.get(f"{BASE}/requests/{issue.tracking_code}.{fmt}")
    rows = parse(r, fmt, root="service_requests", item="request")
    media_url = value(rows[0], "media_url", fmt)
    parts = urlparse(media_url)
    assert parts.scheme == "http" and parts.netloc == "testserver", media_url
    # served by Open311 itself (the media folder is never served publicly: staff uploads live there)
    assert parts.path == f"{BASE}/requests/{issue.tracking_code}/media/{photo.id}"
    got = client.get(parts.path)
    assert got.status_code == 200 and got["Content-Type"] == "image/png"
    assert b"".join(got.streaming_content) == photo.image.open("rb").read()
    assert (
        client.get(f"{BASE}/requests/{issue.tracking_code}/media/{photo.id + 1}").status_code == 404
    )
    assert client.get(f"{BASE}/requests/LLNOTACODE/media/{photo.id}").status_code == 404
    # the list answers the same absolute URL
    r = client.get(f"{BASE}/requests.{fmt}", {"service_request_id": issue.tracking_code})
    rows = parse(r, fmt, root="service_requests", item="request")
    assert value(rows[0], "media_url", fmt) == media_url
    # the host the client used is the host in the URL
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "linli.example.org"]
    r = client.get(f"{BASE}/requests/{issue.tracking_code}.{fmt}", HTTP_HOST="linli.example.org")
    assert r.status_code == 200, r.content
    rows = parse(r, fmt, root="service_requests", item="request")
    assert value(rows[0], "media_url", fmt) == f"http://linli.example.org{parts.path}"


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_service_request_updates(client, here, fmt):
    issue = services.issue_create(
        point=here, category="dispute-family", description="u", source="online"
    )
    services.issue_transition(issue_id=issue.id, action="dispatch")
    r = client.get(
        f"{BASE}/servicerequestupdates.{fmt}", {"service_request_id": issue.tracking_code}
    )
    assert r.status_code == 200
    rows = parse(r, fmt, root="service_request_updates", item="request_update")
    assert [list(row) for row in rows] == [UPDATE_FIELDS] * 2
    assert [value(row, "status", fmt) for row in rows] == ["open", "open"]
    assert {value(row, "service_request_id", fmt) for row in rows} == {issue.tracking_code}
    for row in rows:
        text = value(row, "updated_datetime", fmt)
        assert W3C.match(text) and datetime.fromisoformat(text).tzinfo is not None


def test_unknown_format_is_404(client, demo):
    assert client.get(f"{BASE}/services.csv").status_code == 404
