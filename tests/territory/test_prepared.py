"""The prepared LOCATE statement answers exactly like the plain LOCATE_SQL, and the per-connection
bookkeeping of apps/common/prepared.py survives reconnects, rollbacks and deallocation."""

import pytest
from django.db import DatabaseError, connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.common.prepared import Prepared
from apps.territory.selectors import EDGE_EPS, LOCATE, LOCATE_SQL, locate


def _rows(sql, params=()):
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _held(conn, name) -> int:
    """How many statements of that name the connection's server session holds."""
    with conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = %s", [name])
        return cur.fetchone()[0]


def _sent(conn, fn):
    """(fn's result, the first word of every statement it sent on conn)."""
    with CaptureQueriesContext(conn) as captured:
        result = fn()
    return result, [q["sql"].split()[0] for q in captured.captured_queries]


def _backend(conn) -> int:
    with conn.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        return cur.fetchone()[0]


def _points() -> list[tuple[float, float]]:
    """Interior points of buildings and of neighbourhood grids, vertices shared by grids, midpoints of
    edges shared by two grids, and points outside the territory."""
    points = _rows(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(footprint) p FROM territory_building"
        " ORDER BY id LIMIT 15) s"
    )
    points += _rows(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM territory_area"
        " WHERE level = 'neighbourhood' ORDER BY code LIMIT 10) s"
    )
    points += _rows(
        """SELECT DISTINCT ST_X(pt), ST_Y(pt) FROM (
             SELECT (ST_DumpPoints(geom)).geom pt FROM territory_area WHERE level = 'grid') v,
           LATERAL (SELECT count(*) n FROM territory_area g
                     WHERE g.level = 'grid' AND ST_Intersects(g.geom, v.pt)) c
           WHERE n >= 3 LIMIT 10"""
    )
    points += _rows(
        """SELECT ST_X(p), ST_Y(p) FROM (
             SELECT ST_LineInterpolatePoint(ST_LineMerge(ST_Intersection(ST_Boundary(x.geom),
                    ST_Boundary(y.geom))), 0.5) p
               FROM territory_area x JOIN territory_area y
                 ON x.level = 'grid' AND y.level = 'grid' AND x.id < y.id
                AND ST_Touches(x.geom, y.geom)
                AND GeometryType(ST_LineMerge(ST_Intersection(ST_Boundary(x.geom),
                                                              ST_Boundary(y.geom)))) = 'LINESTRING'
              ORDER BY x.id, y.id LIMIT 10) e"""
    )
    return points + [(0.0, 0.0), (117.0, 31.0), (-122.4, 37.77)]


def _plain(lon, lat, at):
    return _rows(LOCATE_SQL, {"lon": lon, "lat": lat, "at": at, "eps": EDGE_EPS})


def _prepared(lon, lat, at, using="default"):
    return LOCATE.fetchall({"lon": lon, "lat": lat, "at": at, "eps": EDGE_EPS}, using=using)


@pytest.mark.parametrize("plan_mode", ["auto", "force_custom_plan", "force_generic_plan"])
def test_prepared_locate_returns_the_same_rows_as_the_plain_sql(demo, plan_mode):
    points = _points()
    assert len(points) > 30
    with connection.cursor() as cur:  # rolled back with the test's transaction
        cur.execute(f"SET LOCAL plan_cache_mode = {plan_mode}")
    at = timezone.now()
    hits = 0
    for lon, lat in points + points:  # twice: past the five custom plans of plan_cache_mode auto
        expected = _plain(lon, lat, at)
        assert sorted(_prepared(lon, lat, at)) == sorted(expected)
        hits += bool(expected)
    assert hits >= 2 * (len(points) - 3)  # every point inside the territory found something
    stats = _rows(
        "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = %s",
        [LOCATE.name],
    )
    assert len(stats) == 1
    if plan_mode == "force_generic_plan":
        assert stats[0][0] > 0


def test_first_call_on_a_connection_is_one_round_trip(demo, django_assert_num_queries):
    LOCATE.deallocate()
    lon, lat = _rows(
        "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(footprint) p FROM territory_building"
        " ORDER BY id LIMIT 1) s"
    )[0]
    with django_assert_num_queries(1):  # PREPARE and EXECUTE travel together
        first = locate(lon=lon, lat=lat)
    assert _held(connection, LOCATE.name) == 1
    with django_assert_num_queries(1):
        assert locate(lon=lon, lat=lat) == first


@pytest.fixture
def second(demo):
    """A second connection that has run the prepared locate once: (connection, lon, lat, at, rows)."""
    conn = connections.create_connection("default")
    try:
        at = timezone.now()
        lon, lat = _points()[0]
        expected = sorted(_plain(lon, lat, at))
        assert sorted(_prepared(lon, lat, at, using=conn)) == expected
        yield conn, lon, lat, at, expected
    finally:
        conn.close()


def test_prepared_again_on_a_new_connection(second):
    """After close() (CONN_MAX_AGE, a failed health check) the new session prepares it again."""
    other, lon, lat, at, expected = second
    first_backend = _backend(other)
    assert _held(other, LOCATE.name) == 1
    other.close()
    rows, sent = _sent(other, lambda: _prepared(lon, lat, at, using=other))
    assert sorted(rows) == expected
    assert sent == ["PREPARE"]  # known to be needed: no failed EXECUTE first
    assert _backend(other) != first_backend
    assert _held(other, LOCATE.name) == 1


def test_deallocated_behind_its_back_is_prepared_again(second):
    other, lon, lat, at, expected = second
    with other.cursor() as cur:
        cur.execute("DEALLOCATE ALL")  # as a pooler's DISCARD ALL would
    rows, sent = _sent(other, lambda: _prepared(lon, lat, at, using=other))
    assert sorted(rows) == expected
    assert sent == ["EXECUTE", "PREPARE"]  # failed once, prepared again, retried
    assert _held(other, LOCATE.name) == 1


def test_survives_a_rolled_back_transaction(demo):
    """PREPARE is not transactional: prepared inside a rolled-back savepoint, it is still there."""
    LOCATE.deallocate()
    at = timezone.now()
    lon, lat = _points()[0]
    expected = sorted(_plain(lon, lat, at))
    with pytest.raises(ZeroDivisionError), transaction.atomic():
        assert sorted(_prepared(lon, lat, at)) == expected
        raise ZeroDivisionError
    assert _held(connection, LOCATE.name) == 1
    rows, sent = _sent(connection, lambda: _prepared(lon, lat, at))
    assert sorted(rows) == expected
    assert sent == ["EXECUTE"]


def test_a_call_inside_a_failed_transaction_fails_then_works_after_rollback(demo):
    LOCATE.deallocate()
    at = timezone.now()
    lon, lat = _points()[0]
    expected = sorted(_plain(lon, lat, at))
    with transaction.atomic():
        with pytest.raises(DatabaseError):
            _rows("SELECT 1 / 0")
        with pytest.raises(DatabaseError):  # "current transaction is aborted": nothing was prepared
            _prepared(lon, lat, at)
        transaction.set_rollback(True)
    assert _held(connection, LOCATE.name) == 0
    assert sorted(_prepared(lon, lat, at)) == expected
    assert _held(connection, LOCATE.name) == 1


def test_an_execute_that_fails_after_prepare_is_resolved_next_time(db):
    """The first call's EXECUTE fails after its PREPARE succeeded: inside a transaction the next call
    runs the plain SQL; outside one it finds the statement prepared."""
    divide = Prepared("linli_test_divide", "SELECT 10 / %(d)s::int", {"d": "int"})
    other = connections.create_connection("default")
    try:
        with pytest.raises(DatabaseError):
            divide.fetchall({"d": 0}, using=other)
        assert _held(other, divide.name) == 1  # the PREPARE stayed
        rows, sent = _sent(other, lambda: divide.fetchall({"d": 5}, using=other))
        assert rows == [(2,)]
        assert sent == ["SELECT", "EXECUTE"]  # asked pg_prepared_statements, then executed
        assert _held(other, divide.name) == 1
    finally:
        other.close()
    divide.deallocate()
    with pytest.raises(DatabaseError), transaction.atomic():
        divide.fetchall({"d": 0})
    rows, sent = _sent(connection, lambda: divide.fetchall({"d": 2}))
    assert rows == [(5,)]
    assert sent == ["SELECT"]  # inside the test's transaction: the plain SQL
    assert _held(connection, divide.name) == 1


def test_disabled_for_transaction_poolers_runs_the_plain_sql(demo, monkeypatch):
    LOCATE.deallocate()
    at = timezone.now()
    lon, lat = _points()[0]
    expected = sorted(_plain(lon, lat, at))
    monkeypatch.setitem(connection.settings_dict, "DISABLE_SERVER_SIDE_CURSORS", True)
    assert sorted(_prepared(lon, lat, at)) == expected
    monkeypatch.undo()
    monkeypatch.setenv("LINLI_PREPARED_STATEMENTS", "false")
    assert sorted(_prepared(lon, lat, at)) == expected
    assert _held(connection, LOCATE.name) == 0


def test_placeholders_and_types_must_match():
    with pytest.raises(ValueError, match="differ"):
        Prepared("linli_test_bad", "SELECT %(a)s, %(b)s", {"a": "int"})
    with pytest.raises(ValueError, match="identifier"):
        Prepared("bad name", "SELECT 1", {})
    literal = Prepared("linli_test_like", "SELECT 'a%%' LIKE %(p)s", {"p": "text"})
    assert literal.prepare_sql == "PREPARE linli_test_like (text) AS SELECT 'a%%' LIKE $1"
    assert literal.execute_sql == "EXECUTE linli_test_like (%s)"


def test_deallocated_inside_a_transaction_fails_once_then_is_prepared_again(demo):
    """Inside a transaction the EXECUTE of a deallocated statement aborts it (the error propagates);
    the statement is forgotten, so the next call (after the savepoint's rollback) prepares it again."""
    at = timezone.now()
    lon, lat = _points()[0]
    expected = sorted(_plain(lon, lat, at))
    assert sorted(_prepared(lon, lat, at)) == expected  # inside the test's transaction
    with connection.cursor() as cur:
        cur.execute(f"DEALLOCATE {LOCATE.name}")  # only ours: the connection is shared
    with pytest.raises(DatabaseError), transaction.atomic():
        _prepared(lon, lat, at)
    for expect_sent in (["PREPARE"], ["EXECUTE"]):
        rows, sent = _sent(connection, lambda: _prepared(lon, lat, at))
        assert sorted(rows) == expected and sent == expect_sent
    assert _held(connection, LOCATE.name) == 1
