"""Read replicas: tile and analytics reads may go to a replica, everything else stays on the primary.

When REPLICA_DATABASE_URL is set, geo/settings.py adds a "replica" database alias and this router.
Routing is opt-in per read path, never global: a page that shows what its user just wrote must read the
primary (a replica lags). Tile rendering reads `read_alias()`; analytics code wraps its ORM reads in
`with replica_reads(): ...`. Writes and migrations always go to the primary.
"""

from contextlib import contextmanager
from contextvars import ContextVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

REPLICA_ALIAS = "replica"

_replica_reads: ContextVar[bool] = ContextVar("linli_replica_reads", default=False)


def read_alias() -> str:
    """The alias for reads that tolerate replication lag: the replica when one is configured."""
    return REPLICA_ALIAS if REPLICA_ALIAS in settings.DATABASES else DEFAULT_DB_ALIAS


@contextmanager
def replica_reads():
    """ORM reads inside this block go to the replica (when configured)."""
    token = _replica_reads.set(True)
    try:
        yield read_alias()
    finally:
        _replica_reads.reset(token)


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        return read_alias() if _replica_reads.get() else DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # the replica is a copy of the primary: objects from either may relate

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db != REPLICA_ALIAS  # the replica gets its schema by replication
