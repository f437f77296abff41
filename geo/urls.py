from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.contrib.auth.views import LogoutView
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from apps.common.auth import LoginView, PasswordChangeDoneView, PasswordChangeView

urlpatterns = [
    # Tiles first: a map view asks for dozens of them, and URL resolving tries patterns in order.
    path("", include("apps.tiles.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/logout/", LogoutView.as_view(), name="logout"),
    path("accounts/password/", PasswordChangeView.as_view(), name="password-change"),
    path("accounts/password/done/", PasswordChangeDoneView.as_view(), name="password-change-done"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include("apps.territory.urls")),
    # Each domain app mounts its own paths (api/..., pages) at the root.
    path("", include("apps.people.urls")),
    path("", include("apps.issues.urls")),
    path("", include("apps.dataio.urls")),
    path("", include("apps.planning.urls")),
    path("", include("apps.patrols.urls")),
    path("", include("apps.analytics.urls")),
    path("", include("apps.audit.urls")),
    path("", include("apps.web.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
handler500 = "apps.common.views.server_error"
