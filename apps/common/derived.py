"""Derived tables kept by database triggers (e.g. apps.people.tally, the issues' tracking codes), by
convention: a derived set `<set>` has triggers named `linli_derived_<set>_<op>` and a function
`linli_derived_rebuild_<set>()` that recomputes it from scratch. Bulk loaders switch those triggers off
while they load (see `TRIGGER_PATTERN`) and call `rebuild` with the triggers they switched off, once at
the end, instead of letting the triggers recompute after every batch."""

PREFIX = "linli_derived_"
TRIGGER_PATTERN = "linli\\_derived\\_%"  # LIKE pattern of the trigger names


def sets_of(triggers) -> list[str]:
    """The derived sets these trigger names belong to (`linli_derived_tally_ins` -> `tally`)."""
    return sorted(
        {name[len(PREFIX) :].rsplit("_", 1)[0] for name in triggers if name.startswith(PREFIX)}
    )


def rebuild(cur, triggers) -> None:
    """Recompute the derived sets whose triggers (these names) were switched off."""
    for name in sets_of(triggers):
        # a set name from the catalog's trigger names
        cur.execute(f"SELECT {PREFIX}rebuild_{name}()")
