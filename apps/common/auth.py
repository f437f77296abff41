"""Login with lockout: after LOGIN_FAILURE_LIMIT failures for one username (or 4x that from one address)
within LOGIN_LOCKOUT_MINUTES, further attempts are refused with 429 until the window passes. A signed-in
user's password change, whose wrong old passwords count towards the same lockout."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.common.models import LoginFailure

LIMIT = getattr(settings, "LOGIN_FAILURE_LIMIT", 5)
WINDOW = timedelta(minutes=getattr(settings, "LOGIN_LOCKOUT_MINUTES", 15))


def client_ip(request) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def is_locked_out(*, username: str, ip: str | None) -> bool:
    since = timezone.now() - WINDOW
    recent = LoginFailure.objects.filter(at__gte=since)
    if username and recent.filter(username=username.lower()).count() >= LIMIT:
        return True
    return ip is not None and recent.filter(ip=ip).count() >= LIMIT * 4


def failure_record(*, username: str, ip: str | None) -> None:
    LoginFailure.objects.create(username=username.lower()[:150], ip=ip)


def failures_clear(*, username: str) -> None:
    LoginFailure.objects.filter(username=username.lower()).delete()


class LockoutMixin:
    """For the form views whose wrong passwords count towards the lockout."""

    def locked_out(self, message: str):
        """The form again with `message` (its %(minutes)d: the lockout window), answered with 429."""
        form = self.get_form()
        form.add_error(None, message % {"minutes": WINDOW.seconds // 60})
        response = self.render_to_response(self.get_context_data(form=form))
        response.status_code = 429
        return response


class LoginView(LockoutMixin, auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = (request.POST.get("username") or "").strip()
        ip = client_ip(request)
        if is_locked_out(username=username, ip=ip):
            return self.locked_out(_("Too many failed logins. Try again in %(minutes)d minutes."))
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form was shown again: wrong credentials
            failure_record(username=username, ip=ip)
        else:
            failures_clear(username=username)
        return response


class PasswordChangeView(LockoutMixin, auth_views.PasswordChangeView):
    """A signed-in user changes their own password (the old one first). A wrong old password counts as
    a failed login for the username, so a session left open cannot be used to guess it; the user
    stays signed in (Django updates the session's hash)."""

    template_name = "web/password_change.html"
    success_url = reverse_lazy("password-change-done")

    def post(self, request, *args, **kwargs):
        if is_locked_out(username=request.user.get_username(), ip=client_ip(request)):
            return self.locked_out(_("Too many wrong passwords. Try again in %(minutes)d minutes."))
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        if "old_password" in form.errors:
            failure_record(username=self.request.user.get_username(), ip=client_ip(self.request))
        return super().form_invalid(form)

    def form_valid(self, form):
        failures_clear(username=self.request.user.get_username())
        return super().form_valid(form)


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "web/password_change_done.html"
