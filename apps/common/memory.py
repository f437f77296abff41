"""Building large results in Python."""

import gc
from contextlib import contextmanager


@contextmanager
def gc_paused():
    """Pause the cyclic garbage collector while a large result of plain dicts and lists is built.

    Every few hundred new containers the collector walks the young objects, and the older ones
    again and again as the result grows: for a city's ~180k gap items that was more than half of
    the time. Such results hold no reference cycles, so reference counting frees them as before;
    only cycle detection waits until the block ends (process-wide, for a few seconds at most)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
