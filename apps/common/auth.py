"""Login with lockout: after LOGIN_FAILURE_LIMIT failures for one username (or 4x that from one address)
within LOGIN_LOCKOUT_MINUTES, further attempts are refused with 429 until the window passes."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import views as auth_views
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


class LoginView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        username = (request.POST.get("username") or "").strip()
        ip = client_ip(request)
        if is_locked_out(username=username, ip=ip):
            form = self.get_form()
            form.add_error(
                None,
                _("Too many failed logins. Try again in %(minutes)d minutes.")
                % {"minutes": WINDOW.seconds // 60},
            )
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            return response
        response = super().post(request, *args, **kwargs)
        if response.status_code == 200:  # the form was shown again: wrong credentials
            LoginFailure.objects.create(username=username.lower()[:150], ip=ip)
        else:
            LoginFailure.objects.filter(username=username.lower()).delete()
        return response
