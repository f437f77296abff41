"""The indicators PDF export: a real PDF whose text holds the indicator values of the hand-built world
(tests/analytics/world.py), the same refusals as the .xlsx export, a link on the dashboard, and its
place in the OpenAPI schema."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from pypdf import PdfReader

from apps.people.models import StaffAssignment
from tests.analytics.world import COMMUNITY, STREET, build_world

PDF = "/api/analytics/indicators.pdf"
XLSX = "/api/analytics/indicators.xlsx"


@pytest.fixture
def world(empty_territory):
    return build_world()


@pytest.fixture
def admin_client(client, db):
    user = get_user_model().objects.create_superuser("boss", password="x-password-123")
    client.force_login(user)
    return client


def pdf_text(response) -> str:
    assert response.status_code == 200, response.content[:300]
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")
    reader = PdfReader(io.BytesIO(response.content))
    return "\n".join(page.extract_text() for page in reader.pages)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_the_pdf_holds_the_communitys_indicator_values(admin_client, world):
    r = admin_client.get(f"{PDF}?code={COMMUNITY}&months=3")
    text = pdf_text(r)
    assert r["Content-Disposition"].startswith('attachment; filename="indicators_' + COMMUNITY)
    assert r["Content-Disposition"].endswith('.pdf"')
    one_line = flat(text)
    # title, street and community (Chinese by default, drawn with the CID font)
    assert "测试社区 指标" in one_line
    assert f"街道: 测试街道 ({STREET})" in one_line
    assert f"社区: 测试社区 ({COMMUNITY})" in one_line
    # K1 (commercial + company), K4 (self), K5 (commercial + company) of 5 compounds managed;
    # 甲物业 (no party organisation) and 乙物业 (has one)
    assert "60.0% (3/5)" in one_line
    assert "50.0% (1/2)" in one_line
    assert "户数 33" in one_line  # 10 + 6 + 8 + 4 + 5 households in the community
    # the period and each of the three months of the trend table
    body = admin_client.get(f"/api/analytics/indicators?code={COMMUNITY}&months=3").json()
    months = [row["month"] for row in body["trend"]]
    assert f"{months[0]} ~ {months[-1]} (3 个月)" in one_line
    for month in months:
        # the month's row: its label then the coverage values of that month
        assert re.search(rf"{month} 60\.0% \(3/5\) 50\.0% \(1/2\)", one_line), month


def test_a_streets_pdf_has_a_column_per_community(admin_client, world):
    text = flat(pdf_text(admin_client.get(f"{PDF}?code={STREET}&months=2")))
    assert "测试街道 指标" in text
    assert f"街道: 测试街道 ({STREET})" in text
    # the indicator table's header names the street and its community; the coverage row has both
    assert re.search(r"指标 测试街道 测试社区", text)
    assert re.search(r"户数 33 33", text)
    assert re.search(r"60\.0% \(3/5\) 60\.0% \(3/5\)", text)


def test_the_pdf_speaks_english_on_request(admin_client, world):
    text = flat(pdf_text(admin_client.get(f"{PDF}?code={COMMUNITY}&months=1&lang=en")))
    assert "测试社区 indicators" in text
    assert "Property-management coverage of compounds" in text
    assert "Monthly values" in text
    assert "60.0% (3/5)" in text


def test_an_out_of_scope_user_gets_the_same_refusal_as_the_xlsx(client, world):
    user = get_user_model().objects.create_user("gl", password="x-password-123")
    StaffAssignment.objects.create(name="王", role="grid_leader", area=world["grid2"], user=user)
    for query in (f"code={COMMUNITY}", f"code={STREET}", "code=340111902"):
        anonymous_pdf, anonymous_xlsx = client.get(f"{PDF}?{query}"), client.get(f"{XLSX}?{query}")
        assert anonymous_pdf.status_code == anonymous_xlsx.status_code
        assert anonymous_pdf.status_code in (401, 403)
    client.force_login(user)
    for query, status in ((f"code={COMMUNITY}", 403), (f"code={STREET}", 403)):
        pdf, xlsx = client.get(f"{PDF}?{query}"), client.get(f"{XLSX}?{query}")
        assert pdf.status_code == xlsx.status_code == status, query
        assert pdf.json() == xlsx.json()
        assert not pdf.content.startswith(b"%PDF")


def test_bad_parameters_are_refused_like_the_xlsx(admin_client, world):
    for query, field in (("code=12", "code"), (f"code={COMMUNITY}&months=99", "months")):
        pdf, xlsx = admin_client.get(f"{PDF}?{query}"), admin_client.get(f"{XLSX}?{query}")
        assert pdf.status_code == xlsx.status_code == 400
        assert pdf.json() == xlsx.json()
        assert pdf.json()["field"] == field


def test_the_dashboard_links_the_pdf_beside_the_xlsx(admin_client, world):
    page = admin_client.get(f"/analytics/?code={COMMUNITY}&month=2026-01").content.decode()
    xlsx_at, pdf_at = page.index('id="an-xlsx"'), page.index('id="an-pdf"')
    assert 0 < pdf_at - xlsx_at < 200  # next to each other
    assert f'href="{PDF}?code={COMMUNITY}&amp;month=2026-01"' in page
    assert "导出 PDF" in page


def test_the_pdf_export_is_in_the_openapi_schema(admin_client, db):
    paths = admin_client.get("/api/schema/?format=json").json()["paths"]
    op = paths[PDF]["get"]
    assert {p["name"] for p in op["parameters"]} == {"code", "month", "months"}
    assert op["responses"]["200"]["content"]["application/pdf"]["schema"] == {
        "type": "string",
        "format": "binary",
    }


def test_counts_per_something_show_one_decimal():
    """Patrols per grid read 2.3, not 2.33333 (the dashboard's cards and table round the same way)."""
    from apps.analytics.templatetags.analytics_tags import indicator_value

    assert indicator_value({"value": 7 / 3}, ["count"], 0) == "2.3"
    assert indicator_value({"value": 3.0}, ["count"], 0) == "3"
    assert indicator_value({"value": 0.25, "num": 1, "den": 4}, ["ratio"], 0) == "25.0% (1/4)"
