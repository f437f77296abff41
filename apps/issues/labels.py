"""Words that go into messages to a person: the loop's actions and the separator of lists."""

from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy

# How a loop action is named in a message. In English it is the action's code itself (what an API
# client sends); other languages have their verb (the context says these short words are actions).
ACTION_LABELS = {
    "consult": pgettext_lazy("issue action", "consult"),
    "dispatch": pgettext_lazy("issue action", "dispatch"),
    "accept": pgettext_lazy("issue action", "accept"),
    "return": pgettext_lazy("issue action", "return"),
    "resolve": pgettext_lazy("issue action", "resolve"),
    "rate": pgettext_lazy("issue action", "rate"),
    "close": pgettext_lazy("issue action", "close"),
    "reject": pgettext_lazy("issue action", "reject"),
    "duplicate": pgettext_lazy("issue action", "duplicate"),
    "reopen": pgettext_lazy("issue action", "reopen"),
}


def action_label(action: str) -> str:
    return str(ACTION_LABELS.get(action, action))


def words_join(items) -> str:
    """Items of a list in a message, with the language's separator (、 in Chinese)."""
    return pgettext("list separator", ", ").join(str(i) for i in items)


# How the console and the phone name an action on its button, and each kind of history entry.
ACTION_NAMES = {
    "consult": gettext_lazy("Consult"),
    "dispatch": gettext_lazy("Dispatch"),
    "accept": gettext_lazy("Accept"),
    "return": gettext_lazy("Return"),
    "resolve": gettext_lazy("Resolve"),
    "rate": gettext_lazy("Rate"),
    "close": gettext_lazy("Close"),
    "reject": gettext_lazy("Reject"),
    "duplicate": gettext_lazy("Mark duplicate"),
    "reopen": gettext_lazy("Reopen (rework)"),
    # history entries that are not loop actions
    "create": gettext_lazy("Taken in"),
    "route": gettext_lazy("Routed"),
    "note": gettext_lazy("Note"),
    "decision": gettext_lazy("Joint meeting decision"),
}
