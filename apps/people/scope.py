"""What part of the territory a user may see and change: the one rule every view, API, export and tile
goes through (`user_scope(user)`, then `scope.q("<code field>")` or `scope.covers_code(code)`).

Scopes are area-code prefixes: codes nest (apps/territory/codes.py), so a street officer's prefix covers
its communities, grids, neighbourhood grids and compounds, and a redrawn grid keeps its code, so scopes
survive redraws. Property companies see their compounds and what is dispatched to them; departments
what is dispatched to them; building heads their buildings.

    role                       scope
    superuser, city admin      everything
    auditor                    everything, read-only
    street / community staff   their street / community
    grid leader / worker       their grids
    compound head              their compounds, and the issues filed in them
    planner                    their street or community (plans), read-only elsewhere in it
    property company staff     their company's compounds + issues dispatched to the company
    department staff           issues dispatched to the department
    building head              their buildings
    anyone else                nothing (the public sees only what public pages show)
"""

from dataclasses import dataclass, field

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.people.models import PropertyService, StaffAssignment, StaffRole

COMMUNITY_DIGITS = 12  # a community's code (apps.territory.codes); a street's is 9

AREA_ROLES = {
    StaffRole.STREET_STAFF,
    StaffRole.COMMUNITY_STAFF,
    StaffRole.GRID_LEADER,
    StaffRole.GRID_WORKER,
    StaffRole.COMPOUND_HEAD,
    StaffRole.PLANNER,
}


@dataclass(frozen=True)
class Scope:
    everything: bool = False
    read_only: bool = False
    area_prefixes: tuple[str, ...] = ()
    company_ids: tuple[int, ...] = ()
    department_ids: tuple[int, ...] = ()
    building_ids: tuple[int, ...] = ()
    # compounds whose issues the user sees wherever they were routed (compound heads' compounds; a
    # property company sees only what is dispatched to it)
    compound_codes: tuple[str, ...] = ()
    roles: frozenset = field(default_factory=frozenset)

    @property
    def is_empty(self) -> bool:
        return not (
            self.everything
            or self.area_prefixes
            or self.company_ids
            or self.department_ids
            or self.building_ids
        )

    @property
    def covers_a_community(self) -> bool:
        """Whether some whole community is in scope (a street's or community's prefix; a grid leader's
        15-digit grid prefix is not): the pages that work on communities (planning, center
        households, the indicators) have something to show."""
        return self.everything or any(len(p) <= COMMUNITY_DIGITS for p in self.area_prefixes)

    def covers_code(self, code: str | None) -> bool:
        if self.everything:
            return True
        return bool(code) and any(code.startswith(p) for p in self.area_prefixes)

    def covers_place(
        self, *, area_code: str, compound_code: str | None, building_id: int | None
    ) -> bool | None:
        """Whether an issue filed at a place would be in scope (issues_q) by where it lies: True or
        False, or None when only its routing can tell (the user sees what is dispatched to their
        company or department)."""
        if (
            self.covers_code(area_code)
            or (compound_code and compound_code in self.compound_codes)
            or (building_id is not None and building_id in self.building_ids)
        ):
            return True
        return None if (self.company_ids or self.department_ids) else False

    def q(self, code_field: str) -> Q:
        """A filter on an area-code field (e.g. "code", "grid__code", "community__code")."""
        if self.everything:
            return Q()
        q = Q(pk__in=[])
        for prefix in self.area_prefixes:
            q |= Q(**{f"{code_field}__startswith": prefix})
        return q

    def buildings_q(self, path: str = "") -> Q:
        """A filter on buildings (or on rows reached through `path`, e.g. "household__building__"):
        a building is in scope when its grid, community or compound code is, or it is one of the
        user's buildings."""
        if self.everything:
            return Q()
        q = self.q(f"{path}grid__code") | self.q(f"{path}community__code")
        q |= self.q(f"{path}compound__code")
        if self.building_ids:
            q |= Q(**{f"{path}id__in": list(self.building_ids)})
        return q

    def issues_q(self, path: str = "") -> Q:
        """A filter on issues: inside the user's areas (intake area code), dispatched to their
        company or department, or in one of their buildings."""
        if self.everything:
            return Q()
        q = self.q(f"{path}area_code")
        # An issue's area_code is its neighbourhood grid's (or grid's) code, which no compound code
        # prefixes: compound heads reach their compounds' issues through the issue's compound.
        if self.compound_codes:
            q |= Q(**{f"{path}compound__code__in": list(self.compound_codes)})
        if self.company_ids:
            q |= Q(**{f"{path}responsible_company_id__in": list(self.company_ids)})
        if self.department_ids:
            q |= Q(**{f"{path}responsible_department_id__in": list(self.department_ids)})
        if self.building_ids:
            q |= Q(**{f"{path}building_id__in": list(self.building_ids)})
        return q

    def issues_sql(self, alias: str = "i") -> tuple[str, dict]:
        """The same rule as issues_q as a WHERE fragment over `alias` (issues_issue) for raw SQL."""
        if self.everything:
            return "TRUE", {}
        parts, params = [], {}
        for n, prefix in enumerate(self.area_prefixes):
            parts.append(f"{alias}.area_code LIKE %(scope_p{n})s")
            params[f"scope_p{n}"] = prefix + "%"
        if self.compound_codes:
            # alias is the caller's table alias, never user input
            parts.append(
                f"{alias}.compound_id IN (SELECT c.id FROM territory_area c WHERE c.level = 'compound'"  # noqa: S608
                " AND c.code = ANY(%(scope_compounds)s))"
            )
            params["scope_compounds"] = list(self.compound_codes)
        if self.company_ids:
            parts.append(f"{alias}.responsible_company_id = ANY(%(scope_companies)s)")
            params["scope_companies"] = list(self.company_ids)
        if self.department_ids:
            parts.append(f"{alias}.responsible_department_id = ANY(%(scope_departments)s)")
            params["scope_departments"] = list(self.department_ids)
        if self.building_ids:
            parts.append(f"{alias}.building_id = ANY(%(scope_buildings)s)")
            params["scope_buildings"] = list(self.building_ids)
        return ("(" + " OR ".join(parts) + ")") if parts else "FALSE", params

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


NOTHING = Scope()

# The roles that assign grid leaders, grid workers and heads in their own area (people.contact_assign).
ASSIGNING_ROLES = (StaffRole.STREET_STAFF, StaffRole.COMMUNITY_STAFF)


def assigning_scope(user) -> Scope:
    """Where `user` may assign and end grid leaders, grid workers and heads: everywhere for superusers
    and city administrators, their street or community for street and community staff, nowhere for
    anyone else (a grid leader does not appoint their successor; auditors only read)."""
    scope = user_scope(user)
    if scope.everything:
        return NOTHING if scope.read_only else Scope(everything=True, roles=scope.roles)
    codes = StaffAssignment.objects.filter(
        user=user, active=True, role__in=ASSIGNING_ROLES, area__isnull=False
    ).values_list("area__code", flat=True)
    return Scope(area_prefixes=tuple(sorted(set(codes))), roles=scope.roles)


def user_scope(user) -> Scope:
    if user is None or not user.is_authenticated or not user.is_active:
        return NOTHING
    if user.is_superuser:
        return Scope(everything=True, roles=frozenset({StaffRole.CITY_ADMIN}))
    assignments = list(
        StaffAssignment.objects.filter(user=user, active=True)
        .select_related("area")
        .only("role", "area__code", "company_id", "department_id", "building_id")
    )
    roles = frozenset(a.role for a in assignments)
    if StaffRole.CITY_ADMIN in roles:
        return Scope(everything=True, roles=roles)
    prefixes = {a.area.code for a in assignments if a.role in AREA_ROLES and a.area_id}
    companies = {
        a.company_id for a in assignments if a.role == StaffRole.PROPERTY_COMPANY and a.company_id
    }
    if companies:
        prefixes |= set(
            PropertyService.objects.filter(company_id__in=companies).values_list(
                "compound__code", flat=True
            )
        )
    # Keep only the outermost prefixes (a grid inside a community the user also holds adds nothing).
    outer = tuple(
        sorted(p for p in prefixes if not any(p != o and p.startswith(o) for o in prefixes))
    )
    if StaffRole.AUDITOR in roles and not outer and not companies:
        return Scope(everything=True, read_only=True, roles=roles)
    return Scope(
        area_prefixes=outer,
        company_ids=tuple(sorted(companies)),
        department_ids=tuple(sorted({a.department_id for a in assignments if a.department_id})),
        building_ids=tuple(sorted({a.building_id for a in assignments if a.building_id})),
        compound_codes=tuple(
            sorted(
                {
                    a.area.code
                    for a in assignments
                    if a.role == StaffRole.COMPOUND_HEAD and a.area_id
                }
            )
        ),
        roles=roles,
    )


def request_scope(request) -> Scope:
    """The scope of the request's user, computed once per request."""
    scope = getattr(request, "_linli_scope", None)
    if scope is None:
        scope = user_scope(getattr(request, "user", None))
        request._linli_scope = scope
    return scope


class ScopedStaff:
    """DRF permission for staff endpoints: a signed-in user with a non-empty scope; writes refused to
    read-only scopes (auditors). Objects outside the scope are the selectors' business (404)."""

    message = _("your role gives you no access here")

    def has_permission(self, request, view) -> bool:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return False
        scope = request_scope(request)
        if scope.is_empty:
            return False
        if request.method not in ("GET", "HEAD", "OPTIONS") and scope.read_only:
            self.message = _("your role is read-only")
            return False
        return True

    def has_object_permission(self, request, view, obj) -> bool:
        return True


class CityWide(ScopedStaff):
    """DRF permission for city-wide work (territory imports): a scope over everything (superusers,
    city administrators; auditors read only)."""

    message = _("only city administrators may do this")

    def has_permission(self, request, view) -> bool:
        return super().has_permission(request, view) and request_scope(request).everything
