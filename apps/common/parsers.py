"""Request body parsing shared by every API: every endpoint takes a JSON object (named fields), so any
other JSON value (a list, a number, true, null) is a 400 that says so, not an AttributeError deep in a
view."""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class ObjectJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if not isinstance(data, dict):
            raise ParseError(
                f"the request body must be a JSON object with named fields, not {_kind(data)}"
            )
        return data


def _kind(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list"
