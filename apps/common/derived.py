"""Derived tables kept by database triggers (e.g. apps.people.tally, the issues' tracking codes), by
convention: a derived set `<set>` has triggers named `linli_derived_<set>_<op>` and a function
`linli_derived_rebuild_<set>()` that recomputes it from scratch. Bulk loaders switch those triggers off
while they load (see `TRIGGER_PATTERN`) and call `rebuild` with the triggers they switched off, once at
the end, instead of letting the triggers recompute after every batch."""

from contextlib import contextmanager
from contextvars import ContextVar

PREFIX = "linli_derived_"
TRIGGER_PATTERN = "linli\\_derived\\_%"  # LIKE pattern of the trigger names


def sets_of(triggers) -> list[str]:
    """The derived sets these trigger names belong to (`linli_derived_tally_ins` -> `tally`)."""
    return sorted(
        {name[len(PREFIX) :].rsplit("_", 1)[0] for name in triggers if name.startswith(PREFIX)}
    )


# The sets whose rebuild waits for the end of a `rebuilds_deferred()` block (None: not in one).
_pending: ContextVar[set | None] = ContextVar("linli_derived_pending", default=None)


def rebuild(cur, triggers) -> None:
    """Recompute the derived sets whose triggers (these names) were switched off; inside
    `rebuilds_deferred()`, note them for its end instead."""
    pending = _pending.get()
    if pending is not None:
        pending.update(sets_of(triggers))
        return
    _rebuild_sets(cur, sets_of(triggers))


def _rebuild_sets(cur, names) -> None:
    for name in names:
        # a set name from the catalog's trigger names
        cur.execute(f"SELECT {PREFIX}rebuild_{name}()")


@contextmanager
def rebuilds_deferred(connection):
    """Rebuild each derived set once, at the end of the block, however many bulk loads inside it
    asked for it (seed_all: the territory's load and the people's both rebuild the tallies, from
    scratch; the first would be thrown away). Nothing may read a deferred set inside the block. On an
    error nothing is rebuilt (the transaction is rolled back anyway)."""
    if _pending.get() is not None:  # already deferring: the outer block rebuilds
        yield
        return
    pending: set = set()
    token = _pending.set(pending)
    try:
        yield
    finally:
        _pending.reset(token)
    with connection.cursor() as cur:
        _rebuild_sets(cur, sorted(pending))
