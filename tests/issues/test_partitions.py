"""Issues partitioned by month (migration 0004): rows land in their month, tracking codes stay unique,
references to issues are checked and follow the models' ON DELETE rules, old rows are moved out of the
default partition, and a period query reads only its months."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from apps.audit.models import AuditEntry
from apps.issues import partitions, services
from apps.issues.models import Issue, IssueEvent, Source
from apps.territory.models import Area

from .conftest import point_in

pytestmark = pytest.mark.django_db


def _partition_of(issue_id: int) -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT tableoid::regclass::text FROM issues_issue WHERE id = %s", [issue_id])
        return cur.fetchone()[0]


def _file(created_at=None, **kwargs) -> Issue:
    neighbourhood = (
        Area.objects.filter(level="neighbourhood", valid_to=None).order_by("code").first()
    )
    return services.issue_create(
        point=point_in(neighbourhood),
        category="property-sanitation",
        description="垃圾没有清运",
        source=Source.PATROL,
        created_at=created_at,
        **kwargs,
    )


def test_issues_is_partitioned_by_month_with_a_window_and_a_default(demo):
    assert partitions.is_partitioned()
    found = partitions.partitions()
    names = [p.name for p in found]
    assert names[-1] == "issues_issue_default" and found[-1].start is None
    now = timezone.now().astimezone(UTC)
    assert f"issues_issue_{now:%Y_%m}" in names
    monthly = [p for p in found if p.start is not None]
    assert len(monthly) >= partitions.MONTHS_BACK + partitions.MONTHS_AHEAD + 1
    for a, b in zip(monthly, monthly[1:], strict=False):
        assert a.end == b.start  # no gaps between months
    for p in monthly:
        assert p.start.day == 1 and p.start.hour == 0 and p.start.utcoffset() == timedelta(0)


def test_an_issue_lands_in_the_partition_of_its_month(demo):
    issue = _file()
    assert _partition_of(issue.id) == f"issues_issue_{issue.created_at.astimezone(UTC):%Y_%m}"
    last_month = timezone.now() - timedelta(days=35)
    older = _file(created_at=last_month)
    assert _partition_of(older.id) == f"issues_issue_{last_month.astimezone(UTC):%Y_%m}"
    # Django reads it back by id as from any table.
    assert Issue.objects.get(id=older.id).tracking_code == older.tracking_code


def test_tracking_codes_stay_unique_across_months(demo):
    first = _file()
    other = _file(created_at=timezone.now() - timedelta(days=70))
    assert _partition_of(first.id) != _partition_of(other.id)
    with pytest.raises(IntegrityError, match="issue_tracking_code_unique"):
        with transaction.atomic():
            Issue.objects.filter(id=other.id).update(tracking_code=first.tracking_code)
    clone = Issue.objects.get(id=first.id)
    clone.pk = None
    clone.created_at = timezone.now() - timedelta(days=40)
    with pytest.raises(IntegrityError, match="tracking_code"):
        with transaction.atomic():
            clone.save(force_insert=True)
    # A changed code frees the old one; a deleted issue frees its code.
    Issue.objects.filter(id=other.id).update(tracking_code="LLRENAMED01")
    Issue.objects.filter(id=first.id).update(tracking_code="LLRENAMED02")
    Issue.objects.filter(id=other.id).update(tracking_code="LLRENAMED02".replace("2", "3"))
    Issue.objects.filter(id=other.id).update(tracking_code="LLRENAMED01")
    Issue.objects.filter(id=other.id).delete()
    Issue.objects.filter(id=first.id).update(tracking_code="LLRENAMED01")
    with connection.cursor() as cur:
        cur.execute("SELECT code, issue_id FROM issues_trackingcode WHERE code LIKE 'LLRENAMED%%'")
        assert cur.fetchall() == [("LLRENAMED01", first.id)]


def test_references_to_issues_are_checked(demo):
    issue = _file()
    IssueEvent.objects.create(issue_id=issue.id, action="note", note="ok")
    missing = issue.id + 10_000_000
    with pytest.raises(IntegrityError, match=rf"issue_id\)=\({missing}\) is not present"):
        with transaction.atomic():
            IssueEvent.objects.create(issue_id=missing, action="note")
    with pytest.raises(IntegrityError, match="duplicate_of_id"):
        with transaction.atomic():
            Issue.objects.filter(id=issue.id).update(duplicate_of_id=missing)
    # A bulk insert is checked as one statement: one bad row refuses all.
    with pytest.raises(IntegrityError):
        with transaction.atomic():
            IssueEvent.objects.bulk_create(
                [
                    IssueEvent(issue_id=issue.id, action="note"),
                    IssueEvent(issue_id=missing, action="note"),
                ]
            )
    assert IssueEvent.objects.filter(issue_id=missing).count() == 0


def test_a_raw_delete_applies_the_on_delete_rules(demo):
    original = _file()
    duplicate = _file(created_at=timezone.now() - timedelta(days=40))
    Issue.objects.filter(id=duplicate.id).update(duplicate_of_id=original.id)
    assert IssueEvent.objects.filter(issue_id=original.id).exists()
    with connection.cursor() as cur:
        cur.execute("DELETE FROM issues_issue WHERE id = %s", [original.id])
    assert not IssueEvent.objects.filter(issue_id=original.id).exists()
    assert Issue.objects.get(id=duplicate.id).duplicate_of_id is None
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM issues_trackingcode WHERE issue_id = %s", [original.id])
        assert cur.fetchone()[0] == 0


def test_moving_an_issue_to_another_month_keeps_its_code_and_history(demo):
    issue = _file()
    events = IssueEvent.objects.filter(issue_id=issue.id).count()
    earlier = issue.created_at - timedelta(days=62)
    Issue.objects.filter(id=issue.id).update(created_at=earlier)
    assert _partition_of(issue.id) == f"issues_issue_{earlier.astimezone(UTC):%Y_%m}"
    assert IssueEvent.objects.filter(issue_id=issue.id).count() == events
    with connection.cursor() as cur:
        cur.execute(
            "SELECT issue_id FROM issues_trackingcode WHERE code = %s", [issue.tracking_code]
        )
        assert cur.fetchone() == (issue.id,)


def test_old_rows_wait_in_the_default_partition_and_ensure_moves_them(demo):
    long_ago = datetime(2019, 3, 14, 9, 30, tzinfo=UTC)
    issue = _file(created_at=long_ago)
    IssueEvent.objects.create(issue_id=issue.id, action="note", note="kept")
    assert _partition_of(issue.id) == "issues_issue_default"
    audit_before = AuditEntry.objects.count()

    created = partitions.ensure()
    assert "issues_issue_2019_03" in created
    assert _partition_of(issue.id) == "issues_issue_2019_03"
    # Moving is not a change: history, code and audit log untouched; nothing lost.
    assert IssueEvent.objects.filter(issue_id=issue.id, note="kept").exists()
    assert AuditEntry.objects.count() == audit_before
    with connection.cursor() as cur:
        cur.execute(
            "SELECT issue_id FROM issues_trackingcode WHERE code = %s", [issue.tracking_code]
        )
        assert cur.fetchone() == (issue.id,)
        cur.execute("SELECT count(*) FROM issues_issue_default")
        assert cur.fetchone()[0] == 0
    assert partitions.ensure() == []  # idempotent


def test_a_period_query_reads_only_its_months(demo):
    start = datetime(timezone.now().year, timezone.now().month, 1, tzinfo=UTC)
    with connection.cursor() as cur:
        cur.execute(
            "EXPLAIN SELECT count(*) FROM issues_issue WHERE created_at >= %s AND created_at < %s",
            [start, start + timedelta(days=20)],
        )
        plan = "\n".join(r[0] for r in cur.fetchall())
    assert f"issues_issue_{start:%Y_%m}" in plan
    scanned = set(re.findall(r"\bon (issues_issue_(?:\d{4}_\d{2}|default))\b", plan))
    assert scanned == {f"issues_issue_{start:%Y_%m}"}, plan


def test_a_transition_updates_the_issue_in_its_month_only(demo):
    """The loop's UPDATE names the issue's created_at, so PostgreSQL plans and probes one partition
    (by id alone it would plan and probe every month)."""
    from django.test.utils import CaptureQueriesContext

    issue = _file()
    with CaptureQueriesContext(connection) as queries:
        services.issue_transition(issue_id=issue.id, action="dispatch", actor_name="test")
    updates = [q["sql"] for q in queries if q["sql"].startswith('UPDATE "issues_issue"')]
    assert len(updates) == 1, updates
    with connection.cursor() as cur:
        cur.execute("EXPLAIN " + updates[0])
        plan = "\n".join(r[0] for r in cur.fetchall())
    month = f"issues_issue_{issue.created_at.astimezone(UTC):%Y_%m}"
    scanned = set(re.findall(r"\bon (issues_issue_(?:\d{4}_\d{2}|default))\b", plan))
    assert scanned == {month}, plan
    issue.refresh_from_db()
    assert issue.status == "dispatched"


def test_issue_partitions_command(demo, capsys):
    call_command("issue_partitions", "--ahead", "5", "--list")
    out = capsys.readouterr().out
    later = (timezone.now().astimezone(UTC).replace(day=1) + timedelta(days=5 * 31)).replace(day=1)
    assert f"issues_issue_{later:%Y_%m}" in out
    assert "issues_issue_default" in out and "partition(s) created" in out
    with pytest.raises(CommandError, match="--back and --ahead must be 0 or more"):
        call_command("issue_partitions", "--ahead", "-1")
