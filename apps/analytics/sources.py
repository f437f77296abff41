"""Point sources the hotspot engine reads: any relation with the columns

    id bigint, geom geometry(Point, 4326), category text, created_at timestamptz,
    building_id bigint NULL, area_code text ('' when unknown: the deepest area code at intake)

The relations are SQL constants written here (never user input); a source is chosen by name from the
registry. Residents' issues are the main source once apps.issues is installed; tests register their own
(e.g. the San Francisco 311 cases in a temporary table)."""

from dataclasses import dataclass

from django.apps import apps as django_apps
from django.utils.translation import gettext as _

from apps.common.errors import DomainError


@dataclass(frozen=True)
class PointSource:
    name: str
    relation: str  # a parenthesised SELECT or a table name producing the columns above
    # True when the relation also has `cell bigint NULL`: the point's H3 cell at resolution 15
    # (issues store it at intake). Counts then group cells in SQL; rows without one use the point.
    has_cells: bool = False


SOURCES: dict[str, PointSource] = {}

# Residents' issues: the top-level category code, the intake area code. Dismissed issues (rejected,
# duplicates) are not complaints about a place and are left out.
ISSUES_RELATION = """(
    SELECT i.id, i.point AS geom, c.code AS category, i.created_at, i.building_id, i.area_code,
           i.h3_cell AS cell
      FROM issues_issue i JOIN issues_category c ON c.id = i.category_id
     WHERE i.status NOT IN ('rejected', 'duplicate')
)"""


def register_source(source: PointSource) -> None:
    SOURCES[source.name] = source


def get_source(name: str) -> PointSource:
    if name == "issues" and "issues" not in SOURCES and _issues_ready():
        register_source(PointSource("issues", ISSUES_RELATION, has_cells=True))
    try:
        return SOURCES[name]
    except KeyError:
        if SOURCES:
            message = _("unknown point source %(name)s; known: %(known)s")
        else:
            message = _(
                "unknown point source %(name)s; none is known yet (the issues app is not installed)"
            )
        raise DomainError(
            message % {"name": repr(name), "known": ", ".join(sorted(SOURCES))}, field="source"
        ) from None


def _issues_ready() -> bool:
    if not django_apps.is_installed("apps.issues"):
        return False
    try:
        django_apps.get_model("issues", "Issue")
    except LookupError:
        return False
    return True
