"""Linli settings. Everything that differs between machines comes from the environment, parsed strictly:
a malformed value stops start-up with ImproperlyConfigured instead of silently falling back.

Defaults point at the project-local PostGIS cluster that `make` starts, so nothing needs configuring.
"""

import os
from pathlib import Path

import dj_database_url
from csp.constants import NONCE
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no, on/off)"
    )


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    items = [item.strip() for item in raw.split(",")]
    if any(not item for item in items):
        raise ImproperlyConfigured(f"{name}={raw!r} has an empty entry")
    return items


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is false")
    SECRET_KEY = "dev-only-not-secret-linli-local-cluster"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])


def env_database(name: str, default: str) -> dict:
    url = os.environ.get(name, default)
    if not url.startswith(("postgis://", "postgres://", "postgresql://")):
        raise ImproperlyConfigured(
            f"{name}={url!r}: Linli needs PostGIS (postgis://user@host:port/db)"
        )
    try:
        db = dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} is malformed: {exc}") from None
    if not db.get("NAME"):
        raise ImproperlyConfigured(f"{name}={url!r} names no database")
    db["ENGINE"] = "django.contrib.gis.db.backends.postgis"
    # Check a persistent connection before reusing it: after a database restart (or a killed backend)
    # the next request reconnects instead of failing.
    db["CONN_HEALTH_CHECKS"] = True
    db.setdefault("OPTIONS", {})["application_name"] = "linli"
    return db


DATABASES = {"default": env_database("DATABASE_URL", "postgis://linli@127.0.0.1:54329/linli")}
# An optional read replica for tile and analytics reads (apps/common/routers.py); writes stay on default.
if os.environ.get("REPLICA_DATABASE_URL", "").strip():
    DATABASES["replica"] = env_database("REPLICA_DATABASE_URL", "")
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
    DATABASE_ROUTERS = ["apps.common.routers.ReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_gis",
    "drf_spectacular",
    "leaflet",
    "csp",
    "apps.common",
    "apps.audit",
    "apps.territory",
    "apps.people",
    "apps.issues",
    "apps.dataio",
    "apps.planning",
    "apps.tiles",
    "apps.patrols",
    "apps.analytics",
    "apps.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "apps.common.middleware.RejectNulMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "apps.common.middleware.LanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.audit.context.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# Debian 12 ships GDAL 3.6, which cannot block file/network access in SRS strings; Linli never hands
# user-supplied SRS text to Django's GDAL (imports go through pyogrio with --srid as an integer).
SILENCED_SYSTEM_CHECKS = ["gis.W001"]

# --- Security ---------------------------------------------------------------------------------------
# Production (DEBUG false) is HTTPS-only with HSTS; behind a TLS-terminating proxy set BEHIND_TLS_PROXY.
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 3600)
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 365 * 86400)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
    if env_bool("BEHIND_TLS_PROXY", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_LOCKOUT_MINUTES = env_int("LOGIN_LOCKOUT_MINUTES", 15)

# Upload limits: request bodies held in memory, files spooled to disk above this size.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5000

ROOT_URLCONF = "geo.urls"
WSGI_APPLICATION = "geo.wsgi.application"
ASGI_APPLICATION = "geo.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "apps.common.context_processors.csp_nonce",
                "apps.web.views.nav_pages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Simplified Chinese by default, English on request (language switcher, ?lang=, Accept-Language).
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
# Each app keeps its translations in apps/<app>/locale (make messages APP=...).
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# Front-end libraries come from npm (package.json, pinned by package-lock.json) and are served by the app.
# Only the dist folders are collected, so `collectstatic` stays small.
_NPM = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    ("vendor/markercluster", _NPM / "leaflet.markercluster" / "dist"),
    ("vendor/heat", _NPM / "leaflet.heat" / "dist"),
    ("vendor/geoman", _NPM / "@geoman-io" / "leaflet-geoman-free" / "dist"),
    ("vendor/echarts", _NPM / "echarts" / "dist"),
    ("vendor/protomaps", _NPM / "protomaps-leaflet" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# In development (runserver, tests) static files are served from the app folders as they change.
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.common.api.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Sessions only (the login page, with its lockout): HTTP Basic would let anyone guess passwords
    # against the API without the lockout. Open311 clients use their api_key.
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PARSER_CLASSES": [
        "apps.common.parsers.ObjectJSONParser",  # a body is a JSON object, else 400
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    # The schema is validated by tests/test_openapi.py and fuzzed by `make fuzz`; keep `check --deploy`
    # about deployment settings.
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
    "TITLE": "Linli API",
    "DESCRIPTION": "Spatial grid management for neighbourhood governance",
    "VERSION": "0.1.0",
    # The plain Django views (Open311 GeoReport v2, vector tiles) are added to the schema here, so it
    # is the whole API (apps/common/openapi.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.common.openapi.postprocess_plain_views",
    ],
}

# Map layers with more features than this are not sent as GeoJSON: the territory map draws them from
# vector tiles, the gaps map asks for an area first.
LINLI_GEOJSON_MAX_FEATURES = env_int("LINLI_GEOJSON_MAX_FEATURES", 3000)

# Map defaults: the demo district in Hefei, Baohe. No basemap by default (works offline);
# LINLI_BASEMAP_URL may name an XYZ tile URL (OSM, Tianditu, ...).
LINLI_BASEMAP_URL = os.environ.get("LINLI_BASEMAP_URL", "")
LINLI_BASEMAP_ATTRIBUTION = os.environ.get("LINLI_BASEMAP_ATTRIBUTION", "")
LEAFLET_CONFIG = {
    "DEFAULT_CENTER": (31.86, 117.28),
    "DEFAULT_ZOOM": 14,
    "MIN_ZOOM": 3,
    "MAX_ZOOM": 20,
    "TILES": [("Basemap", LINLI_BASEMAP_URL, {"attribution": LINLI_BASEMAP_ATTRIBUTION})]
    if LINLI_BASEMAP_URL
    else [],
    "RESET_VIEW": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

# Content-Security-Policy (django-csp): scripts only from this site or inline with the per-request nonce
# (templates: <script nonce="{{ csp_nonce }}">; django-leaflet's map script uses it). Leaflet positions
# elements with inline styles, hence 'unsafe-inline' for styles only. Tiles of an optional basemap host.
_basemap_host = ""
if LINLI_BASEMAP_URL:
    from urllib.parse import urlsplit

    _u = urlsplit(LINLI_BASEMAP_URL.replace("{s}", "a"))
    _basemap_host = f"{_u.scheme}://{_u.netloc.replace('a.', '*.', 1) if '{s}' in LINLI_BASEMAP_URL else _u.netloc}"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"] + ([_basemap_host] if _basemap_host else []),
        "connect-src": ["'self'"],
        "font-src": ["'self'", "data:"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
    }
}
