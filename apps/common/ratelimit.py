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


def limit_setting(name: str, default: int) -> int:
    """A limit from settings (LINLI_<NAME>, e.g. LINLI_OPEN311_PER_KEY), else the environment variable
    of the same name (deployments and bench/load.py set it there), else `default`."""
    value = getattr(settings, f"LINLI_{name}", None)
    if value is None:
        value = os.environ.get(f"LINLI_{name}") or default
    return int(value)


def window_start(now: datetime, window_seconds: int) -> datetime:
    """The start of the fixed window `now` falls in."""
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_seconds, UTC)


def prune_sometimes(now: datetime) -> None:
    """Call when a hit opened a new window: now and then (one second in 97), drop the windows older
    than a day."""
    if int(now.timestamp()) % 97 == 0:
        with connection.cursor() as cur:
            cur.execute(PRUNE_SQL, {"before": now - timedelta(days=1)})


def hit(key: str, *, limit: int, window_seconds: int) -> bool:
    """Count one hit of `key` in the current window; True when it is over `limit` (refuse it)."""
    now = datetime.now(UTC)
    with connection.cursor() as cur:
        cur.execute(HIT_SQL, {"key": key[:200], "start": window_start(now, window_seconds)})
        hits = cur.fetchone()[0]
    if hits == 1:
        prune_sometimes(now)
    return hits > limit


def client_ip(request) -> str:
    """The client address as the server sees it (behind a proxy, configure it to set REMOTE_ADDR)."""
    return request.META.get("REMOTE_ADDR", "") or "unknown"
