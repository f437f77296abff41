"""Area codes, in the style of the Chinese statistical division codes (统计用区划代码).

    level          pattern                example                 made of
    street         9 digits               340111001               6-digit county (GB/T 2260) + 3-digit street
    community     12 digits               340111001002            street + 3-digit community
    grid          15 digits               340111001002003         community + 3-digit grid sequence
    neighbourhood 18 digits               340111001002003004      grid + 3-digit neighbourhood-grid sequence
    compound      12 digits + C + 3       340111001002C005        community + 'C' + 3-digit compound sequence

Codes are unique per level among versions whose validity overlaps (enforced in the database: a unique
index on current versions and a trigger for closed ones, `area_code_versions_disjoint`), so a redrawn grid
keeps its code in a new version. A child's code always starts with its parent's code.
Codes from imported files (adcodes, census GEOIDs) are kept in `Area.ext_code`.
"""

import re

from django.utils.translation import gettext as _

from apps.common.errors import DomainError
from apps.common.labels import choice_label

PATTERNS = {
    "street": r"^\d{9}$",
    "community": r"^\d{12}$",
    "grid": r"^\d{15}$",
    "neighbourhood": r"^\d{18}$",
    "compound": r"^\d{12}C\d{3}$",
}
_COMPILED = {level: re.compile(p) for level, p in PATTERNS.items()}
COUNTY_DIGITS = 6


def parent_code_of(level: str, code: str) -> str | None:
    """The code the parent must have, or None for a street (its parent is the county, not an area)."""
    if level == "street":
        return None
    if level == "compound":
        return code[:12]
    return code[:-3]


def validate_code(level: str, code: str, parent_code: str | None = None) -> None:
    pattern = _COMPILED.get(level)
    if pattern is None:
        raise DomainError(_("unknown level %(level)s") % {"level": repr(level)}, field="level")
    if not pattern.match(code):
        raise DomainError(
            _("code %(code)s is not a valid %(level)s code (expected %(pattern)s)")
            % {"code": repr(code), "level": _level_label(level), "pattern": PATTERNS[level]},
            field="code",
        )
    expected = parent_code_of(level, code)
    if parent_code is not None and expected != parent_code:
        raise DomainError(
            _("code %(code)s does not extend its parent's code %(parent)s")
            % {"code": repr(code), "parent": repr(parent_code)},
            field="code",
        )


def _level_label(level: str) -> str:
    from apps.territory.models import Level  # models imports this module

    return choice_label(Level, level)


def child_code(level: str, parent_code: str | None, seq: int, county: str | None = None) -> str:
    """Make the code of the seq-th child (1-based)."""
    if not 1 <= seq <= 999:
        raise DomainError(
            _("sequence %(seq)s out of range 1-999 for a %(level)s code")
            % {"seq": seq, "level": _level_label(level)},
            field="code",
        )
    if level == "street":
        if county is None or not re.fullmatch(r"\d{6}", county):
            raise DomainError(
                _("a street code needs a 6-digit county code, got %(county)s")
                % {"county": repr(county)},
                field="county",
            )
        return f"{county}{seq:03d}"
    if level == "compound":
        return f"{parent_code}C{seq:03d}"
    return f"{parent_code}{seq:03d}"
