"""gettext for the gap sentences, memoized for the duration of one gap listing.

A city-wide listing builds ~100k sentences from a dozen messages. Django's gettext looks the active
language up through asgiref's context-local storage on every call (~50 µs here), which made the
sentences cost more than the SQL. Inside `memoized()` each message is translated once (in the language
active when the listing started) and reused; outside it `_` is plain gettext."""

import threading
from contextlib import contextmanager

from django.utils.translation import gettext

_local = threading.local()


def _(message: str) -> str:
    memo = getattr(_local, "memo", None)
    if memo is None:
        return gettext(message)
    try:
        return memo[message]
    except KeyError:
        memo[message] = text = gettext(message)
        return text


@contextmanager
def memoized():
    outer = getattr(_local, "memo", None)
    _local.memo = {} if outer is None else outer
    try:
        yield
    finally:
        _local.memo = outer
