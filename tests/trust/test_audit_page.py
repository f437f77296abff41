"""/audit/: city administrators and auditors search the audit log (every write, before and after) and
the log of personal data shown in clear; personal fields inside logged rows stay masked; everybody else
is refused."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from apps.audit.context import audit_actor
from apps.audit.pii import pii_access_log
from apps.issues import services as issue_services
from apps.people.models import StaffAssignment
from apps.territory.models import Area
from tests.issues.conftest import point_in

pytestmark = pytest.mark.django_db


def client_as(username: str, role: str | None, area=None) -> Client:
    user = get_user_model().objects.create_user(username, password="pw")
    if role:
        StaffAssignment.objects.create(user=user, name=username, role=role, area=area)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def filed(demo):
    grid = Area.objects.filter(level="grid", valid_to=None).order_by("code").first()
    with audit_actor("user:0:intake-clerk"):
        issue = issue_services.issue_create(
            point=point_in(grid),
            category="dispute",
            description="楼上漏水",
            source="hotline",
            reporter_name="王小明",
            reporter_phone="13912345678",
        )
    return issue, grid


def test_auditor_finds_who_changed_a_row_with_before_and_after(filed):
    issue, _grid = filed
    with audit_actor("user:0:desk"):
        issue.description = "楼上漏水，已三天"
        issue.save(update_fields=["description"])
    auditor = client_as("aud", "auditor")
    r = auditor.get("/audit/", {"table": "issues_issue", "row": str(issue.pk)})
    assert r.status_code == 200
    page = r.content.decode()
    assert "intake-clerk" in page and "INSERT" in page
    assert "desk" in page and "UPDATE" in page
    assert "楼上漏水，已三天" in page  # after
    assert "<del>楼上漏水</del>" in page  # before
    # personal data inside the logged row is masked
    assert "13912345678" not in page and "139****5678" in page
    assert "王小明" not in page
    # the actor filter narrows to one person's writes
    r = auditor.get("/audit/", {"table": "issues_issue", "row": str(issue.pk), "actor": "desk"})
    assert r.content.decode().count('data-op="') == 1


def test_personal_data_log_is_searchable(filed):
    issue, _grid = filed
    user = get_user_model().objects.create_user("viewer")
    pii_access_log(user=user, what="issue", subject=f"issue {issue.id} reporter", people=1)
    admin = client_as("cityadmin", "city_admin")
    r = admin.get("/audit/", {"log": "pii", "row": f"issue {issue.id}"})
    assert r.status_code == 200
    assert f"issue {issue.id} reporter" in r.content.decode()
    r = admin.get("/audit/", {"log": "pii", "actor": "nobody-at-all"})
    assert f"issue {issue.id} reporter" not in r.content.decode()


def test_others_are_refused_and_bad_filters_are_named(filed):
    _issue, grid = filed
    assert Client().get("/audit/").status_code == 302  # to the login page
    leader = client_as("gl", "grid_leader", grid)
    r = leader.get("/audit/")
    assert r.status_code == 403 and "issues_issue" not in r.content.decode()
    auditor = client_as("aud2", "auditor")
    r = auditor.get("/audit/", {"start": "2026-13-01"})
    assert r.status_code == 400 and "start=" in r.content.decode()
    r = auditor.get("/audit/", {"table": "django_session"})
    assert r.status_code == 400 and "不是受审计的数据表" in r.content.decode()


def test_pages_are_newest_first_and_paged(filed):
    issue, grid = filed
    with audit_actor("user:0:bulk"):
        for n in range(55):
            issue.description = f"更新 {n}"
            issue.save(update_fields=["description"])
    auditor = client_as("aud3", "auditor")
    first = auditor.get("/audit/", {"actor": "bulk"}).content.decode()
    assert first.count('data-op="UPDATE"') == 50 and 'rel="next"' in first
    assert first.index("<ins>更新 54") < first.index("<ins>更新 53")
    second = auditor.get("/audit/", {"actor": "bulk", "page": "2"}).content.decode()
    assert second.count('data-op="UPDATE"') == 5 and 'rel="next"' not in second


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_city_admin_opens_the_log_from_the_console_and_searches(live_server, artifacts):
    from playwright.sync_api import expect

    from apps.common.demo import seed_all
    from tests.browser import browser_page

    if not Area.objects.exists():
        seed_all(seed=7, scale=0.2)
    get_user_model().objects.create_user("cityadmin", password="linli-demo-pw")
    StaffAssignment.objects.create(
        user=get_user_model().objects.get(username="cityadmin"), name="市管理员", role="city_admin"
    )
    with browser_page() as (page, errors):
        page.goto(live_server.url + "/accounts/login/?next=/")
        page.fill("input[name=username]", "cityadmin")
        page.fill("input[name=password]", "linli-demo-pw")
        page.click("form button[type=submit]")
        page.wait_for_selector("body[data-map-ready='ready']", timeout=20_000)
        page.get_by_role("link", name="审计日志").click()
        expect(page.locator("h1")).to_have_text("审计日志")
        page.select_option("select[name=table]", "people_staffassignment")
        page.get_by_role("button", name="搜索").click()
        expect(page.locator("#log tbody tr").first).to_contain_text("市管理员")
        page.screenshot(path=str(artifacts / "audit-log.png"), full_page=False)
        page.get_by_role("link", name="个人信息查看记录").click()
        expect(page.locator("#log thead")).to_contain_text("事由")
        assert errors == []


def test_the_system_writes_can_be_left_out(filed):
    """Migrations and jobs write as "system:…"; an auditor can leave them out to see people's
    changes first."""
    from apps.audit.models import AuditEntry

    issue, _grid = filed
    issue.description = "系统写的"  # no actor: attributed to the system
    issue.save(update_fields=["description"])
    with audit_actor("user:0:desk"):
        issue.description = "人改的"
        issue.save(update_fields=["description"])
    rows = AuditEntry.objects.filter(table_name="issues_issue", row_pk=str(issue.pk))
    assert rows.filter(actor__startswith="system:").exists()
    auditor = client_as("aud", "auditor")
    query = {"table": "issues_issue", "row": str(issue.pk)}
    everything = auditor.get("/audit/", query).content.decode()
    assert everything.count('data-op="') == rows.count()
    people = auditor.get("/audit/", {**query, "people": "1"}).content.decode()
    assert people.count('data-op="') == rows.exclude(actor__startswith="system:").count() == 2
    assert "系统写的</ins>" not in people and "人改的</ins>" in people
    assert 'name="people" value="1" checked' in people
