"""Two phones (or a phone retrying) at the same moment: real concurrent transactions on PostGIS."""

import threading
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from apps.common.demo import seed_all
from apps.common.errors import Conflict
from apps.patrols.models import Patrol, PatrolPoint
from apps.patrols.services import patrol_add_points, patrol_start
from apps.people.models import StaffAssignment
from apps.territory.models import Area
from tests.patrols.paths import fixes, grid_walk

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def leader_tx():
    if not Area.objects.exists():
        seed_all(seed=7, scale=0.2)
    a = StaffAssignment.objects.select_related("user", "area").get(user__username="grid")
    return a.user, a.area


def race(*calls):
    """Run the calls at once in threads (one database connection each); return results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # the test inspects what each side was told
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_starts_at_once_make_one_patrol(leader_tx):
    user, grid = leader_tx
    results = race(
        lambda: patrol_start(user=user, grid_id=grid.id, client_id=str(uuid.uuid4())),
        lambda: patrol_start(user=user, grid_id=grid.id, client_id=str(uuid.uuid4())),
    )
    conflicts = [r for r in results if isinstance(r, Conflict)]
    started = [r for r in results if isinstance(r, tuple)]
    assert len(conflicts) == 1 and len(started) == 1, results
    assert Patrol.objects.filter(user=user, ended_at__isnull=True).count() == 1


def test_the_same_batch_sent_twice_at_once_is_stored_once(leader_tx):
    user, grid = leader_tx
    patrol, _ = patrol_start(user=user, grid_id=grid.id, client_id=str(uuid.uuid4()))
    pts = fixes(grid_walk(grid, steps=8), start=timezone.now(), every_s=1)
    results = race(
        lambda: patrol_add_points(patrol_id=patrol.id, user=user, points=pts),
        lambda: patrol_add_points(patrol_id=patrol.id, user=user, points=pts),
    )
    assert sorted(r["accepted"] for r in results) == [0, 8], results
    assert sorted(r["duplicates"] for r in results) == [0, 8]
    assert PatrolPoint.objects.filter(patrol=patrol).count() == 8
