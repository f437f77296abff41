"""Read replicas: tile and analytics reads may go to a replica, everything else stays on the primary.

When REPLICA_DATABASE_URL is set, geo/settings.py adds a "replica" database alias and this router.
Routing is opt-in per read path, never global: a page that shows what its user just wrote must read the
primary (a replica lags). Tile rendering reads `read_alias()`. Analytics read endpoints run their work
inside `with replica_reads(): ...`: ORM reads there go to the replica through ReplicaRouter, and raw SQL
opens `read_cursor()` (a cursor on `routed_alias()`), so both read the same database. Writes and
migrations always go to the primary, and so does every read while the primary is inside a transaction
(it must see that transaction's own writes).
"""

from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

REPLICA_ALIAS = "replica"

_replica_reads: ContextVar[bool] = ContextVar("linli_replica_reads", default=False)


def read_alias() -> str:
    """The alias for reads that tolerate replication lag: the replica when one is configured."""
    return REPLICA_ALIAS if REPLICA_ALIAS in settings.DATABASES else DEFAULT_DB_ALIAS


def routed_alias() -> str:
    """The alias a read should use here and now: `read_alias()` inside `replica_reads()`, else the
    primary. Inside a transaction on the primary, always the primary."""
    if not _replica_reads.get() or connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return read_alias()


def read_cursor():
    """A cursor for raw-SQL reads on `routed_alias()` (use as `with read_cursor() as cur:`)."""
    return connections[routed_alias()].cursor()


@contextmanager
def replica_reads():
    """Reads inside this block (ORM, and raw SQL through `read_cursor()`) go to the replica when one
    is configured. Yields the alias they use."""
    token = _replica_reads.set(True)
    try:
        yield routed_alias()
    finally:
        _replica_reads.reset(token)


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        return routed_alias()

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica is a copy of the primary: objects from either may relate

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db != REPLICA_ALIAS  # the replica gets its schema by replication
