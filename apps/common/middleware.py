from django.conf import settings
from django.utils import translation


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
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", language)
        if remember:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME, language, samesite="Lax", max_age=365 * 86400
            )
        translation.deactivate()
        return response
