"""The faster intake path keeps intake's behaviour (docs/BENCHMARKS.md, "Issue intake over HTTP"):
the per-process category cache sees every change at once (also uncommitted and rolled-back ones), the
one-statement insert writes the rows and history the ORM wrote, several rate-limit keys count in one
statement as one hit() each, an api key's last use is kept to the minute, and an intake changes the
issues tiles' data version although that is spread over several rows."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from apps.common import ratelimit
from apps.common.errors import DomainError
from apps.issues import services
from apps.issues.models import ApiKey, Category, Issue, IssueEvent, Source, Status
from apps.tiles.layers import LAYERS
from apps.tiles.selectors import data_versions

from .conftest import point_in

pytestmark = pytest.mark.django_db

CODE = "property-sanitation"


def _file(here, category=CODE, **kwargs) -> Issue:
    return services.issue_create(
        point=here, category=category, description="垃圾没有清运", source=Source.PATROL, **kwargs
    )


class _Rollback(Exception):
    pass


def test_a_category_change_is_seen_by_the_next_intake(a_grid):
    here = point_in(a_grid)
    before = _file(here)
    sub = Category.objects.get(code=CODE)
    sla = (sub.sla_hours or sub.parent.sla_hours) + 5
    Category.objects.filter(pk=sub.pk).update(sla_hours=sla)
    later = _file(here)
    assert later.due_at - later.created_at == timedelta(hours=sla)
    assert before.due_at - before.created_at != timedelta(hours=sla)
    Category.objects.filter(pk=sub.pk).update(active=False)
    with pytest.raises(DomainError, match="unknown category") as refused:
        _file(here)
    assert refused.value.code == "unknown_category"
    Category.objects.filter(pk=sub.pk).update(active=True)
    assert _file(here).subcategory_id == sub.pk


def test_a_rolled_back_category_change_is_forgotten(a_grid):
    here = point_in(a_grid)
    _file(here)  # the cache holds the categories now
    with pytest.raises(_Rollback):
        with transaction.atomic():
            Category.objects.filter(code=CODE).update(active=False)
            assert services.category_active(CODE) is None  # this transaction's own change
            raise _Rollback
    assert services.category_active(CODE).code == CODE
    assert _file(here).subcategory.code == CODE


def test_cached_categories_are_fresh_instances_with_their_parent():
    one, two = services.category_active(CODE), services.category_active(CODE)
    assert one is not two and one.parent is not two.parent
    assert one.parent == Category.objects.get(code=CODE).parent
    one.name = "changed"
    assert services.category_active(CODE).name != "changed"


def test_the_one_statement_insert_writes_what_the_orm_wrote(a_grid, django_user_model):
    here = point_in(a_grid)
    user = django_user_model.objects.create_user("clerk", first_name="王")
    issue = _file(
        here, actor=user, attributes={"room": "3-2-501"}, address=" 1 号楼 ", reporter_name="张三"
    )
    stored = Issue.objects.get(pk=issue.pk)
    for field in Issue._meta.concrete_fields:
        assert getattr(stored, field.attname) == getattr(issue, field.attname), field.name
    assert stored.point.equals_exact(here, 1e-12) and stored.created_by_id == user.pk
    assert stored.attributes == {"room": "3-2-501"} and stored.address == "1 号楼"
    events = list(IssueEvent.objects.filter(issue_id=issue.pk).order_by("id"))
    assert [(e.action, e.from_status, e.to_status) for e in events] == [
        ("create", "", Status.COLLECTED),
        ("route", Status.COLLECTED, Status.COLLECTED),
    ]
    assert all(e.actor_id == user.pk and e.actor_name == "王" for e in events)
    assert all(e.at == stored.created_at for e in events)
    assert events[1].reason and events[0].reason == [{"key": "received", "source": Source.PATROL}]
    with connection.cursor() as cur:
        cur.execute(
            "SELECT table_name, op FROM audit_auditentry WHERE (table_name, row_pk) IN"
            " (('issues_issue', %s), ('issues_issueevent', %s), ('issues_issueevent', %s))",
            [str(issue.pk), str(events[0].pk), str(events[1].pk)],
        )
        assert sorted(cur.fetchall()) == [
            ("issues_issue", "INSERT"),
            ("issues_issueevent", "INSERT"),
            ("issues_issueevent", "INSERT"),
        ]


def test_a_hit_counts_in_its_window_and_old_windows_are_pruned(monkeypatch):
    from datetime import UTC, datetime

    from apps.common.models import RateBucket

    assert ratelimit.hit("t:key:a", limit=2, window_seconds=60) is False
    assert ratelimit.hit("t:key:a", limit=2, window_seconds=60) is False
    assert ratelimit.hit("t:key:a", limit=2, window_seconds=60) is True  # the 3rd hit
    start = datetime(2026, 1, 1, 10, 0, 37, tzinfo=UTC)
    assert ratelimit.window_start(start, 60) == datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    RateBucket.objects.create(key="t:old", window_start=datetime(2020, 1, 1, tzinfo=UTC), hits=1)
    pruning_second = int(datetime.now(UTC).timestamp()) // 97 * 97
    ratelimit.prune_sometimes(datetime.fromtimestamp(pruning_second, UTC))
    assert not RateBucket.objects.filter(key="t:old").exists()
    assert RateBucket.objects.filter(key="t:key:a").exists()


def test_the_last_use_of_an_api_key_is_kept_to_the_minute(client, a_grid):
    here = point_in(a_grid)
    key = ApiKey.objects.create(name="client", key="k-minute")
    data = {"api_key": key.key, "service_code": CODE, "lat": here.y, "long": here.x}
    data["description"] = "路灯不亮"
    assert client.post("/open311/v2/requests.json", data).status_code == 201
    first = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first is not None and timezone.now() - first < timedelta(minutes=1)
    assert client.post("/open311/v2/requests.json", data).status_code == 201
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first  # within the minute: not rewritten
    old = timezone.now() - timedelta(minutes=2)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=old)
    assert client.post("/open311/v2/requests.json", data).status_code == 201
    assert ApiKey.objects.get(pk=key.pk).last_used_at > old


def test_an_intake_changes_the_issues_tiles_data_version(a_grid):
    here = point_in(a_grid)
    layer = LAYERS["issues"]
    before = data_versions(layer, using="default")
    _file(here)
    after = data_versions(layer, using="default")
    assert after != before and "issues_issue#" in after
    Issue.objects.filter(area_code__startswith=a_grid.code).update(priority="high")
    assert data_versions(layer, using="default") != after
