"""Period parameters (start/end, start_date/end_date): a date alone is a whole day, the end inclusive."""

from datetime import datetime

import pytest
from django.utils import timezone

from apps.common.errors import DomainError
from apps.issues.selectors import parse_when


def local(*args):
    return timezone.make_aware(datetime(*args))


def test_a_date_alone_is_a_whole_day_and_the_end_day_is_included():
    assert parse_when("2026-03-31", "start") == local(2026, 3, 31)
    assert parse_when("2026-03-31", "end", end=True) == local(2026, 4, 1)
    # a date-time is taken as given, in any offset, and returned as the same instant
    assert parse_when("2026-03-31T10:00:00+00:00", "end", end=True) == local(2026, 3, 31, 18)


@pytest.mark.parametrize("raw", ["2026-13-01", "yesterday", "9999-12-31T23:59:59-23:59"])
def test_bad_or_unrepresentable_dates_are_refused_by_name(raw):
    with pytest.raises(DomainError) as e:
        parse_when(raw, "end", end=True)
    assert e.value.field == "end"


def test_issues_on_the_last_day_of_a_period_are_counted(demo, client, django_user_model):
    from apps.issues.models import Issue

    issue = Issue.objects.order_by("id").first()
    day = timezone.localtime(issue.created_at).date()
    admin = django_user_model.objects.create_superuser("periods-admin", password="x-password-123")
    client.force_login(admin)
    body = client.get("/api/issues", {"start": str(day), "end": str(day), "limit": 1000}).json()
    ids = (
        {f["id"] for f in body["features"]}
        if "features" in body
        else {r["id"] for r in body["results"]}
    )
    assert issue.id in ids
