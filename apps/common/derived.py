"""Derived tables kept by database triggers (e.g. apps.people.tally), by convention: their triggers are
named `linli_derived_*` and each such table set has a `linli_derived_rebuild_*()` function that
recomputes it from scratch. Bulk loaders switch those triggers off while they load (see
`TRIGGER_PATTERN`) and call `rebuild_all` once at the end, instead of letting the triggers recompute
after every batch."""

TRIGGER_PATTERN = "linli\\_derived\\_%"  # LIKE pattern of the trigger names


def rebuild_all(cur) -> None:
    """Call every linli_derived_rebuild_*() function of the database (none: nothing to do)."""
    cur.execute(
        "SELECT proname FROM pg_proc WHERE proname LIKE %s AND pronargs = 0 ORDER BY proname",
        ["linli\\_derived\\_rebuild\\_%"],
    )
    for (name,) in cur.fetchall():
        cur.execute(f"SELECT {name}()")  # noqa: S608 - a function name from the catalog
