"""What the system writes into an issue's history (why it was routed to whom, where it came from, a
rating, a joint meeting) is kept as steps, each a key and its parameters (`IssueEvent.reason`), and
put into words in the reader's language when shown. A person's own words stay in `IssueEvent.note`.

A step is a dict: {"key": "property_company", "compound": "芙蓉公寓", "company": "华润万象"}. Names are
stored as they were; values of choices (a source, a department kind, a responsible kind, a status)
are stored as values and shown by their labels. Steps are shown joined by " → ", the way a routing
decision reads: cause → cause → who handles it."""

import json

from django.utils.translation import gettext_lazy as _

from apps.common.labels import choice_label

MESSAGES = {
    "received": _("received from %(source)s"),
    "imported": _("imported from %(source)s record %(ref)s"),
    "imported_as": _("imported as %(status)s"),
    "outside": _("outside the territory: not routed, staff decide"),
    "no_community": _("no community covers the point: not routed"),
    "community": _("community %(community)s (%(code)s)"),
    "property_company": _("compound %(compound)s → property company %(company)s"),
    "no_property_company": _("compound %(compound)s has no property company"),
    "no_compound": _("not inside a compound"),
    "grid_leader": _("grid leader %(leader)s of grid %(grid)s"),
    "no_grid_leader": _("no grid leader"),
    "department": _("category %(category)s → department %(department)s (%(department_kind)s)"),
    "no_department": _("no %(department_kind)s department serves street %(street)s"),
    "category": _("category %(category)s"),
    "by_hand": _("dispatched by hand → %(responsible_kind)s %(name)s"),
    "rating": _("rating %(rating)s"),
    "duplicate": _("duplicate of %(code)s"),
    "decision": _("joint meeting %(month)s"),
}


def _choices():
    from apps.issues.models import ResponsibleKind, Source, Status
    from apps.people.models import DepartmentKind

    return {
        "source": Source,
        "status": Status,
        "department_kind": DepartmentKind,
        "responsible_kind": ResponsibleKind,
    }


def step(key: str, **params) -> dict:
    """One step; `key` must be one of MESSAGES (a typo fails here, not when the history is read)."""
    if key not in MESSAGES:
        raise KeyError(f"unknown history step {key!r}")
    return {"key": key, **params}


def step_text(s: dict) -> str:
    message = MESSAGES.get(s.get("key"))
    if message is None:  # written by a later version: show what there is
        return str(s.get("key", ""))
    choices = _choices()
    params = {
        name: choice_label(choices[name], value) if name in choices and value else value
        for name, value in s.items()
        if name != "key"
    }
    try:
        return str(message) % params
    except (KeyError, TypeError, ValueError):
        return str(s.get("key"))


def reason_text(reason) -> str:
    """The steps in words, in the active language ("" for none); `reason` as the model holds it or as
    a raw cursor reads the jsonb (Django has psycopg2 return it as text)."""
    if isinstance(reason, str):
        reason = json.loads(reason)
    return " → ".join(step_text(s) for s in reason or [] if isinstance(s, dict))


def history_text(reason, note: str) -> str:
    """What a history entry says: the system's steps, then the person's note."""
    return "; ".join(t for t in (reason_text(reason), note) if t)


def event_text(event) -> str:
    return history_text(event.reason, event.note)
