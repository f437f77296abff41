"""Personal identifiers: validation (GB 11643-1999 citizen ID numbers, mainland mobile numbers),
encryption at rest (Fernet) and keyed hashes (HMAC-SHA256) for lookups and duplicate detection.

The key comes from the environment variable LINLI_PII_KEY (any string of at least 32 characters; a
Fernet key and an HMAC key are derived from it with HKDF). Only when DEBUG is on, a development key is
derived from SECRET_KEY, so `make run` works without configuration; production must set the key and
keep it: rows encrypted under one key cannot be read under another."""

import base64
import functools
import hashlib
import hmac
import os
import re

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext as _

from apps.common.errors import DomainError
from geo.settings import env_bool

# GB 11643-1999: 17 digits, then a check character over ISO 7064 MOD 11-2.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_RE = re.compile(r"^\d{17}[\dX]$")
_PHONE_RE = re.compile(r"^1[3-9]\d{9}$")


def id_check_char(first17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def id_normalise(raw: str, *, field: str = "id_number") -> str:
    """Return the 18-character ID number (upper-case X) or raise DomainError saying what is wrong."""
    value = str(raw or "").strip().upper().replace(" ", "")
    if not _ID_RE.match(value):
        raise DomainError(
            _("an ID number has 17 digits and a check digit or X (18 characters)"), field=field
        )
    month, day = int(value[10:12]), int(value[12:14])
    if not (1 <= month <= 12 and 1 <= day <= 31):
        raise DomainError(_("the ID number's date of birth is not a date"), field=field)
    expected = id_check_char(value[:17])
    if value[17] != expected:
        raise DomainError(
            _("the ID number's check digit is %(given)s, GB 11643 expects %(expected)s")
            % {"given": value[17], "expected": expected},
            field=field,
        )
    return value


def phone_normalise(raw: str, *, field: str = "phone") -> str:
    """A mainland mobile number (11 digits starting 13-19); '+86', spaces and dashes are dropped."""
    value = re.sub(r"[\s-]", "", str(raw or ""))
    if value.startswith("+86"):
        value = value[3:]
    if not _PHONE_RE.match(value):
        raise DomainError(
            _("%(value)s is not a mobile number (11 digits starting with 13-19)")
            % {"value": repr(raw)},
            field=field,
        )
    return value


@functools.cache
def _keys(secret: str) -> tuple[Fernet, bytes]:
    def derive(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(
            secret.encode()
        )

    return Fernet(base64.urlsafe_b64encode(derive(b"linli-pii-fernet"))), derive(b"linli-pii-hmac")


def keys() -> tuple[Fernet, bytes]:
    secret = os.environ.get("LINLI_PII_KEY", "")
    if not secret:
        # The environment's DEBUG, not settings.DEBUG: the test runner turns the latter off.
        if not (settings.DEBUG or env_bool("DEBUG", False)):
            raise ImproperlyConfigured("LINLI_PII_KEY must be set when DEBUG is false")
        secret = "dev-pii:" + settings.SECRET_KEY
    if len(secret) < 32:
        raise ImproperlyConfigured("LINLI_PII_KEY must be at least 32 characters")
    return _keys(secret)


def id_hash(id_number: str) -> str:
    return hmac.new(keys()[1], id_number.encode(), hashlib.sha256).hexdigest()


def encrypt(value: str) -> str:
    return keys()[0].encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    if not token:
        return ""
    try:
        return keys()[0].decrypt(token.encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "a stored ID number cannot be decrypted: LINLI_PII_KEY differs from the key it was "
            "encrypted with"
        ) from None


def id_protect(id_number: str) -> dict:
    """The columns a Resident stores for a (normalised) ID number."""
    from apps.people.privacy import mask_id

    return {
        "id_cipher": encrypt(id_number),
        "id_hash": id_hash(id_number),
        "id_masked": mask_id(id_number),
    }
