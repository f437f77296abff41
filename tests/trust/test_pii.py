"""Personal data (PIPL): unmasking is logged (who, whose, when, why), exports need a reason, the log
is append-only, and reporters of long-closed issues are anonymised by the retention command."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import DatabaseError, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from apps.audit.models import PiiAccess
from apps.issues import services
from apps.issues.models import Issue
from apps.territory.models import Area
from tests.issues.conftest import point_in


def client_for(username):
    client = APIClient()
    client.force_authenticate(get_user_model().objects.get(username=username))
    return client


def grid():
    return Area.objects.filter(level="grid", valid_to=None).order_by("code").first()


def test_unmasked_lists_are_logged_and_masked_ones_are_not(demo):
    g = grid()
    before = PiiAccess.objects.count()
    client_for("planner").get(f"/api/people/residents?grid={g.id}")  # masked for planners
    assert PiiAccess.objects.count() == before
    r = client_for("grid").get(f"/api/people/residents?grid={g.id}&reason=走访")
    shown = sum(1 for p in r.json()["results"] if not p["masked"])
    entry = PiiAccess.objects.latest("id")
    assert shown > 0 and entry.people == shown and entry.what == "residents"
    assert entry.actor.endswith(":grid") and entry.subject == f"grid {g.id}"
    assert entry.reason == "走访" and "/api/people/residents" in entry.path


def test_exports_need_a_reason_and_are_logged(demo):
    g = grid()
    client = client_for("community")
    r = client.get(f"/api/people/residents.csv?grid={g.id}")
    assert r.status_code == 400 and r.json()["field"] == "reason"
    r = client.get(f"/api/people/residents.csv?grid={g.id}&reason=年度人口核对")
    assert r.status_code == 200
    entry = PiiAccess.objects.latest("id")
    rows = r.content.decode("utf-8-sig").strip().splitlines()
    assert entry.what == "residents.csv" and entry.reason == "年度人口核对"
    assert entry.people == len(rows) - 1 > 0


def test_the_reporter_is_masked_unless_the_role_allows_and_the_showing_is_logged(demo):
    issue = services.issue_create(
        point=point_in(grid()),
        category="dispute",
        description="楼上噪音",
        source="hotline",
        reporter_name="王小明",
        reporter_phone="13912345678",
    )
    masked = client_for("planner").get(f"/api/issues/{issue.id}").json()["reporter"]
    assert masked == {"name": "王*明", "phone": "139****5678", "masked": True}
    before = PiiAccess.objects.count()
    clear = client_for("grid").get(f"/api/issues/{issue.id}").json()["reporter"]
    assert clear["name"] == "王小明" and clear["phone"] == "13912345678"
    assert PiiAccess.objects.count() == before + 1
    assert PiiAccess.objects.latest("id").subject == f"issue {issue.id} reporter"


def test_the_pii_log_is_append_only(demo):
    PiiAccess.objects.create(actor="user:1:x", what="t", subject="s", people=1)
    with pytest.raises(DatabaseError), transaction.atomic():
        PiiAccess.objects.update(reason="rewritten")
    with pytest.raises(DatabaseError), transaction.atomic():
        PiiAccess.objects.all().delete()


def _issue(status, closed_days_ago, name="李四"):
    issue = services.issue_create(
        point=point_in(grid()),
        category="dispute",
        description="x",
        source="hotline",
        reporter_name=name,
        reporter_phone="13800001111",
    )
    closed = timezone.now() - timedelta(days=closed_days_ago)
    Issue.objects.filter(pk=issue.pk).update(status=status, closed_at=closed, updated_at=closed)
    return issue


def test_retention_anonymises_reporters_of_long_closed_issues_only(demo, settings):
    settings.LINLI_REPORTER_RETENTION_DAYS = 180
    old = _issue("closed", 200)
    recent = _issue("closed", 10)
    still_open = _issue("dispatched", 400)
    call_command("anonymise_reporters", "--dry-run")
    assert Issue.objects.get(pk=old.pk).reporter_name == "李四"  # dry run: nothing changed
    call_command("anonymise_reporters")
    old.refresh_from_db(), recent.refresh_from_db(), still_open.refresh_from_db()
    assert (old.reporter_name, old.reporter_phone, old.reporter_email) == ("", "", "")
    assert old.description == "x" and old.point is not None  # the issue stays for statistics
    assert recent.reporter_name == "李四" and still_open.reporter_phone == "13800001111"
    call_command("anonymise_reporters", "--days", "5")
    recent.refresh_from_db()
    assert recent.reporter_name == ""
