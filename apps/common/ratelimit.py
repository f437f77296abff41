"""Rate limits shared by every server worker: a fixed-window counter per (endpoint, client) in the
database (common_ratebucket), incremented with one INSERT ... ON CONFLICT statement, so two workers
never both let the n+1-th hit through. Used by the public report form (per IP) and Open311 POST (per
API key and per IP); the login lockout has its own table (apps.common.auth)."""

import os
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection

# Upsert the window's row and return its new count: atomic under concurrency (the unique constraint
# serialises the increments of one key); the ORM has no single-statement upsert-and-return.
HIT_SQL = """
INSERT INTO common_ratebucket (key, window_start, hits) VALUES (%(key)s, %(start)s, 1)
ON CONFLICT (key, window_start) DO UPDATE SET hits = common_ratebucket.hits + 1
RETURNING hits
"""
PRUNE_SQL = "DELETE FROM common_ratebucket WHERE window_start < %(before)s"
# Several keys' hits in one statement (one round trip, one commit): rows in the order given, so two
# such statements over the same keys lock them in the same order.
HIT_MANY_SQL = """
INSERT INTO common_ratebucket (key, window_start, hits)
SELECT k, %(start)s, 1 FROM unnest(%(keys)s::varchar(200)[]) WITH ORDINALITY AS t(k, n) ORDER BY n
ON CONFLICT (key, window_start) DO UPDATE SET hits = common_ratebucket.hits + 1
RETURNING key, hits
"""


def limit_setting(name: str, default: int) -> int:
    """A limit from settings (LINLI_<NAME>, e.g. LINLI_OPEN311_PER_KEY), else the environment variable
    of the same name (deployments and bench/load.py set it there), else `default`."""
    value = getattr(settings, f"LINLI_{name}", None)
    if value is None:
        value = os.environ.get(f"LINLI_{name}") or default
    return int(value)


def hit(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one hit of `key` in the current window; True when it is over `limit` (refuse it)."""
    now = datetime.now(UTC)
    epoch = int(now.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % window_seconds, UTC)
    with connection.cursor() as cur:
        cur.execute(HIT_SQL, {"key": key[:200], "start": start})
        hits = cur.fetchone()[0]
        if hits == 1 and epoch % 97 == 0:  # now and then, drop windows older than a day
            cur.execute(PRUNE_SQL, {"before": now - timedelta(days=1)})
    return hits > limit


def hit_many(limits: list[tuple[str, int]], *, window_seconds: int) -> list[bool]:
    """hit() for several (key, limit) pairs of one window in a single statement; for each, True when
    it is over its limit. The same counts as one hit() per pair (a key given twice counts twice)."""
    keys = [key[:200] for key, _limit in limits]
    if len(set(keys)) != len(keys):  # one statement cannot update a row twice
        return [hit(key, limit=limit, window_seconds=window_seconds) for key, limit in limits]
    now = datetime.now(UTC)
    epoch = int(now.timestamp())
    start = datetime.fromtimestamp(epoch - epoch % window_seconds, UTC)
    with connection.cursor() as cur:
        cur.execute(HIT_MANY_SQL, {"keys": keys, "start": start})
        hits = dict(cur.fetchall())
        if 1 in hits.values() and epoch % 97 == 0:  # now and then, drop windows older than a day
            cur.execute(PRUNE_SQL, {"before": now - timedelta(days=1)})
    return [hits[key] > limit for key, (_key, limit) in zip(keys, limits, strict=True)]


def client_ip(request) -> str:
    """The client address as the server sees it (behind a proxy, configure it to set REMOTE_ADDR)."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"
