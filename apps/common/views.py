"""Project-wide error views."""

import sys

from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.defaults import server_error as django_server_error

RETRY_AFTER_SECONDS = 10


def server_error(request):
    """handler500: a database that cannot be reached (restarting, failing over, a lost connection)
    answers 503 with Retry-After, so clients and load balancers retry instead of treating the request
    as a bug; every other uncaught exception is Django's plain 500."""
    exc = sys.exc_info()[1]
    unreachable = isinstance(exc, OperationalError | InterfaceError) or (
        isinstance(exc, DatabaseError) and "server closed the connection" in str(exc)
    )
    if not unreachable:
        return django_server_error(request)
    message = _("the database is unavailable for a moment; try again shortly")
    if request.path.startswith(("/api/", "/open311/")) or "json" in request.headers.get(
        "Accept", ""
    ):
        response = JsonResponse({"error": message, "code": "unavailable"}, status=503)
    else:
        response = HttpResponse(message, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
