from urllib.parse import unquote

from django.conf import settings
from django.http import JsonResponse
from django.http.request import RawPostDataException
from django.utils import translation

OPEN311_PREFIX = "/open311/"


class LanguageMiddleware:
    """Simplified Chinese unless the user chose otherwise. Unlike Django's LocaleMiddleware this ignores
    the browser's Accept-Language: the product speaks Chinese by default. A choice comes from `?lang=`
    (remembered in the language cookie) or from the cookie that /i18n/setlang/ sets."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.supported = {code for code, _ in settings.LANGUAGES}

    def __call__(self, request):
        chosen = request.GET.get("lang")
        remember = chosen in self.supported
        if not remember:
            chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME)
        language = chosen if chosen in self.supported else settings.LANGUAGE_CODE
        if request.path.startswith(OPEN311_PREFIX):
            # Open311 (GeoReport v2) speaks English to its machine clients, whatever the UI's language
            language, remember = "en", False
        request.LANGUAGE_CODE = language
        # (override, not activate/deactivate: the thread's language before the request comes back)
        with translation.override(language):
            response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        if remember:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax", max_age=365 * 86400
            )
        return response


class RejectNulMiddleware:
    """PostgreSQL text cannot hold NUL (U+0000): a query string or a form/JSON body carrying one gets a
    400 that names the problem here, instead of a ValueError from the driver deep in a view. File
    uploads (multipart) are binary and pass through; their text fields are checked by Django's forms."""

    TEXT_BODIES = ("application/json", "application/x-www-form-urlencoded", "text/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._has_nul(request):
            return JsonResponse(
                {
                    "error": "text may not contain NUL (\\u0000) characters",
                    "code": "invalid",
                },
                status=400,
            )
        return self.get_response(request)

    def _has_nul(self, request) -> bool:
        if "\x00" in unquote(request.META.get("QUERY_STRING", "")):
            return True
        content_type = request.META.get("CONTENT_TYPE", "")
        if not content_type.startswith(self.TEXT_BODIES):
            return False
        try:
            body = request.body
        except RawPostDataException:  # already streamed by someone else
            return False
        if b"\x00" in body or b"\\u0000" in body:
            return True
        return "\x00" in unquote(body.decode("latin-1")) if b"%00" in body else False
