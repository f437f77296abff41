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


def login_recorded(sender, user, **kwargs) -> None:
    """Django's update_last_login, attributed to the user who logged in (receiver of user_logged_in);
    the actor in force before (the request's, or none outside one) is put back after."""
    from django.contrib.auth.models import update_last_login

    with connection.cursor() as cur:
        cur.execute("SELECT current_setting('linli.actor', true)")
        before = cur.fetchone()[0] or ""
    set_actor(actor_of(user))
    try:
        update_last_login(sender, user, **kwargs)
    finally:
        set_actor(before)


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
