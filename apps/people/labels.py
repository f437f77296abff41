"""Words of the register of residents (住户登记) that the console and the phone page both show."""

from django.utils.translation import gettext as _
from django.utils.translation import pgettext


def register_labels() -> dict:
    return {
        "register": _("Register a resident"),
        "registerDo": _("Register"),
        "registered": _("Registered"),
        "household": _("Household"),
        "name": pgettext("person", "Name"),
        "phone": _("Phone"),
        "idNumber": _("ID number (optional)"),
        "head": _("Head of household"),
        "moveOut": _("Moved out"),
        "moveOutConfirm": _(
            "Has {name} moved out? They leave the register (the audit log keeps the record)."
        ),
        "movedOut": _("Taken off the register"),
    }
