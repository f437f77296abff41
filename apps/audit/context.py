"""Who is writing: the `linli.actor` setting that the audit triggers read."""

import contextlib

from django.db import connection


def set_actor(actor: str) -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('linli.actor', %s, false)", [actor[:200]])


@contextlib.contextmanager
def audit_actor(actor: str):
    """Attribute the writes inside the block to `actor` (commands: 'cmd:import_areas by root')."""
    set_actor(actor)
    try:
        yield
    finally:
        set_actor("")


def actor_of(user) -> str:
    if user is None or not user.is_authenticated:
        return "anonymous"
    return f"user:{user.pk}:{user.get_username()}"


SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


class AuditActorMiddleware:
    """The writes of every request are attributed to its user (or 'anonymous'), then the actor is reset so
    a persistent connection never carries it into the next request. Safe methods do not write, so they
    skip the two extra statements (reads stay one round trip)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in SAFE_METHODS:
            return self.get_response(request)
        set_actor(actor_of(getattr(request, "user", None)))
        try:
            return self.get_response(request)
        finally:
            set_actor("")
