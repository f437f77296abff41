"""Open311 GeoReport v2: every endpoint in JSON and XML, checked against the spec's field lists."""

import json
import xml.etree.ElementTree as ET

import pytest

from apps.issues import open311, services
from apps.issues.models import ApiKey, Issue
from tests.issues.conftest import point_in

BASE = "/open311/v2"


@pytest.fixture
def key(db):
    return ApiKey.objects.create(name="test client", key="k-123456")


@pytest.fixture
def here(a_grid):
    return point_in(a_grid)


def as_rows(response, fmt, item):
    """The response as a list of dicts of strings (XML) or values (JSON)."""
    if fmt == "json":
        assert response["Content-Type"].startswith("application/json")
        return json.loads(response.content)
    assert response["Content-Type"].startswith("text/xml")
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(response.content)  # well-formed or this raises
    return root, [{child.tag: child for child in el} for el in root.findall(item)]


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_services_list(client, demo, fmt):
    r = client.get(f"{BASE}/services.{fmt}")
    assert r.status_code == 200
    if fmt == "json":
        rows = as_rows(r, fmt, "service")
        assert list(rows[0]) == open311.SERVICE_FIELDS
        codes = [row["service_code"] for row in rows]
        assert rows[0]["metadata"] is True and rows[0]["type"] == "realtime"
    else:
        root, rows = as_rows(r, fmt, "service")
        assert root.tag == "services"
        assert list(rows[0]) == open311.SERVICE_FIELDS
        codes = [row["service_code"].text for row in rows]
        assert rows[0]["metadata"].text == "true"
    assert "property-repair" in codes and "assistance-elderly" in codes and len(codes) == 17


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_service_definition(client, demo, fmt):
    r = client.get(f"{BASE}/services/property-repair.{fmt}")
    assert r.status_code == 200
    if fmt == "json":
        body = json.loads(r.content)
        assert body["service_code"] == "property-repair"
        attr = body["attributes"][0]
        assert list(attr)[: len(open311.ATTRIBUTE_FIELDS)] == open311.ATTRIBUTE_FIELDS
        assert attr["values"][0] == {"key": "low", "name": str(attr["values"][0]["name"])}
    else:
        root = ET.fromstring(r.content)
        assert root.tag == "service_definition"
        assert root.find("service_code").text == "property-repair"
        attr = root.find("attributes/attribute")
        assert [c.tag for c in attr][: len(open311.ATTRIBUTE_FIELDS)] == open311.ATTRIBUTE_FIELDS
        assert attr.find("values/value/key").text == "low"
    missing = client.get(f"{BASE}/services/nope.{fmt}")
    assert missing.status_code == 404
    check_error(missing, fmt, 404, "service_code 'nope' not found")


def check_error(response, fmt, code, text):
    if fmt == "json":
        body = json.loads(response.content)
        assert body == [{"code": code, "description": body[0]["description"]}]
        assert text in body[0]["description"]
    else:
        root = ET.fromstring(response.content)
        assert root.tag == "errors"
        err = root.find("error")
        assert err.find("code").text == str(code) and text in err.find("description").text


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
    }
    r = client.post(f"{BASE}/requests.{fmt}", data)
    assert r.status_code == 201, r.content
    if fmt == "json":
        row = json.loads(r.content)[0]
        assert list(row) == open311.POST_RESPONSE_FIELDS
        rid, token = row["service_request_id"], row["token"]
    else:
        root, rows = as_rows(r, fmt, "request")
        assert root.tag == "service_requests" and list(rows[0]) == open311.POST_RESPONSE_FIELDS
        rid, token = rows[0]["service_request_id"].text, rows[0]["token"].text
    issue = Issue.objects.get(tracking_code=rid)
    assert issue.priority == "high" and issue.attributes == {"room": "3-2-501"}
    assert issue.source == "online" and issue.reporter_name == "张 三"

    r = client.get(f"{BASE}/requests/{rid}.{fmt}", {"extended_attributes": "true"})
    assert r.status_code == 200
    if fmt == "json":
        row = json.loads(r.content)[0]
        assert list(row) == open311.REQUEST_FIELDS + ["extended_attributes"]
        assert row["status"] == "open" and row["service_code"] == "property-repair"
        assert (
            row["media_url"] == "https://example.org/p.jpg" and row["description"] == "路灯不亮 <b>"
        )
        assert row["extended_attributes"]["loop_status"] == "collected"
        assert "13800001234" not in r.content.decode()  # personal data never leaves
    else:
        root, rows = as_rows(r, fmt, "request")
        assert list(rows[0]) == open311.REQUEST_FIELDS + ["extended_attributes"]
        assert rows[0]["status"].text == "open" and rows[0]["description"].text == "路灯不亮 <b>"
        assert rows[0]["extended_attributes"].find("rework_count").text == "0"

    r = client.get(f"{BASE}/tokens/{token}.{fmt}")
    if fmt == "json":
        assert json.loads(r.content) == [{"service_request_id": rid, "token": token}]
    else:
        _root, rows = as_rows(r, fmt, "request")
        assert list(rows[0]) == open311.TOKEN_FIELDS and rows[0]["service_request_id"].text == rid
    check_error(client.get(f"{BASE}/tokens/unknown.{fmt}"), fmt, 404, "not found")
    check_error(client.get(f"{BASE}/requests/LLNOPE.{fmt}"), fmt, 404, "not found")


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
    from datetime import timedelta

    from django.utils import timezone

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
        if fmt == "json":
            rows = json.loads(r.content)
            for row in rows:
                assert list(row) == open311.REQUEST_FIELDS
            return [row["service_request_id"] for row in rows], rows
        _root, rows = as_rows(r, fmt, "request")
        for row in rows:
            assert list(row) == open311.REQUEST_FIELDS
        return [row["service_request_id"].text for row in rows], rows

    got, _ = ids({"service_code": "dispute-family"})
    assert old.tracking_code not in got  # default window: 90 days
    assert {i.tracking_code for i in new} <= set(got)
    got, _ = ids({"service_code": "dispute-family", "start_date": "2000-01-01"})
    assert old.tracking_code in got
    got, rows = ids({"service_code": "dispute-family", "status": "closed"})
    assert got == [done.tracking_code]
    note = rows[0]["status_notes"] if fmt == "json" else rows[0]["status_notes"].text
    assert note == "不属实"
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
        ({"page": "x"}, "page"),
    ]:
        r = client.get(f"{BASE}/requests.{fmt}", params)
        assert r.status_code == 400, params
        check_error(r, fmt, 400, text)


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
    if fmt == "json":
        rows = json.loads(r.content)
        assert [list(row) for row in rows] == [open311.UPDATE_FIELDS] * 2
        assert [row["status"] for row in rows] == ["open", "open"]
    else:
        root, rows = as_rows(r, fmt, "request_update")
        assert root.tag == "service_request_updates" and len(rows) == 2
        assert list(rows[0]) == open311.UPDATE_FIELDS


def test_unknown_format_is_404(client, demo):
    assert client.get(f"{BASE}/services.csv").status_code == 404
