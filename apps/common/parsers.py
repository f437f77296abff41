"""Request parsing shared by every API: every endpoint takes a JSON object (named fields), so any
other JSON value (a list, a number, true, null) is a 400 that says so, not an AttributeError deep in a
view; and the yes/no query parameters (`parse_bool`)."""

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from apps.common.errors import DomainError


def parse_bool(name: str, raw: str) -> bool:
    """A yes/no query parameter: true/false or 1/0 (any case); anything else is a 400 naming it."""
    if raw.lower() not in ("true", "false", "1", "0"):
        raise DomainError(
            _("%(name)s=%(value)s: use true or false") % {"name": name, "value": repr(raw)},
            field=name,
        )
    return raw.lower() in ("true", "1")


class ObjectJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if not isinstance(data, dict):
            raise ParseError(_not_an_object(data))
        return data


def _not_an_object(value) -> str:
    """One whole message per kind of JSON value (the kind's name and the sentence are translated
    together)."""
    if value is None:
        return _("the request body must be a JSON object with named fields, not null")
    if isinstance(value, bool):
        return _("the request body must be a JSON object with named fields, not a boolean")
    if isinstance(value, int | float):
        return _("the request body must be a JSON object with named fields, not a number")
    if isinstance(value, str):
        return _("the request body must be a JSON object with named fields, not a string")
    return _("the request body must be a JSON object with named fields, not a list")
