"""Monthly partitions of issues_issue (migration 0004, docs/SCALING.md).

`ensure()` creates the partitions of a window of months around now and of every month whose rows wait
in the default partition (moving them); it runs after every migrate, at the end of the demo seeder and
from `manage.py issue_partitions` (schedule it monthly, e.g. from cron, so next month exists before it
starts; until then new rows land in the default partition and nothing is lost)."""

from dataclasses import dataclass
from datetime import datetime

from django.db import connections

MONTHS_BACK = 12
MONTHS_AHEAD = 3


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime | None  # None for the default partition
    end: datetime | None
    rows: int


def is_partitioned(using: str = "default") -> bool:
    with connections[using].cursor() as cur:
        cur.execute("SELECT relkind = 'p' FROM pg_class WHERE oid = to_regclass('issues_issue')")
        found = cur.fetchone()
    return bool(found and found[0])


def ensure(
    months_back: int = MONTHS_BACK, months_ahead: int = MONTHS_AHEAD, using: str = "default"
) -> list[str]:
    """Create the missing partitions; returns their names (oldest first)."""
    with connections[using].cursor() as cur:
        cur.execute(
            "SELECT p FROM linli_issue_partitions_ensure(%s, %s) p", [months_back, months_ahead]
        )
        return [r[0] for r in cur.fetchall()]


def partitions(using: str = "default") -> list[Partition]:
    """Every partition with its bounds and exact row count, oldest first, the default last."""
    with connections[using].cursor() as cur:
        cur.execute(
            """
            SELECT c.relname, pg_get_expr(c.relpartbound, c.oid)
              FROM pg_inherits h JOIN pg_class c ON c.oid = h.inhrelid
             WHERE h.inhparent = 'issues_issue'::regclass
            """
        )
        found = cur.fetchall()
        cur.execute("SELECT tableoid::regclass::text, count(*) FROM issues_issue GROUP BY 1")
        rows = dict(cur.fetchall())
        out = []
        for name, bound in found:
            start = end = None
            if bound != "DEFAULT":
                cur.execute(
                    "SELECT %s::timestamptz, %s::timestamptz",
                    bound.removeprefix("FOR VALUES FROM ('").removesuffix("')").split("') TO ('"),
                )
                start, end = cur.fetchone()
            out.append(Partition(name, start, end, rows.get(name, 0)))
    out.sort(key=lambda p: (p.start is None, p.start or datetime.min))
    return out


def install(sender=None, using="default", **kwargs):
    """post_migrate: keep the window of partitions current on every migrate. Idempotent."""
    if sender is not None and getattr(sender, "label", None) != "issues":
        return
    if is_partitioned(using):
        ensure(using=using)
