"""Writes about people and organisations. Each function is one transaction."""

from datetime import date

import numpy as np
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.common.errors import Conflict, DomainError, NotFound
from apps.common.labels import choice_label
from apps.people import pii, selectors
from apps.people.models import (
    PARTY_ORG_PARENT,
    ROLE_AREA_LEVEL,
    CenterHousehold,
    CenterLink,
    CenterProposal,
    CommitteeKind,
    CommitteeMember,
    Department,
    OwnersCommittee,
    PartyMember,
    PartyMemberKind,
    PartyOrganization,
    PartyOrgKind,
    PropertyCompany,
    ProposalCenter,
    ProposalLink,
    ProposalStatus,
    Resident,
    StaffAssignment,
    StaffRole,
)
from apps.territory.models import Area, Building, Household, Level


@transaction.atomic
def staff_assign(
    *,
    name: str,
    role: str,
    area: Area | None = None,
    building: Building | None = None,
    company: PropertyCompany | None = None,
    department: Department | None = None,
    user=None,
    phone: str = "",
    since: date | None = None,
) -> StaffAssignment:
    """Attach a person to a role; the area must be of the level the role works at."""
    if role not in StaffRole.values:
        raise DomainError(_("unknown role %(role)s") % {"role": repr(role)}, field="role")
    role_label = choice_label(StaffRole, role)
    expected = ROLE_AREA_LEVEL[role]
    if expected is None and area is not None:
        raise DomainError(
            _("a %(role)s is not attached to an area") % {"role": role_label}, field="area"
        )
    if expected is not None:
        levels = expected if isinstance(expected, tuple) else (expected,)
        names = {
            "role": role_label,
            "level": choice_label(Level, levels[0]),
            "other": choice_label(Level, levels[-1]),
        }
        if area is None:
            if len(levels) == 1:
                message = _("a %(role)s needs an area of level %(level)s") % names
            else:
                message = _("a %(role)s needs an area of level %(level)s or %(other)s") % names
            raise DomainError(message, field="area")
        if area.level not in levels:
            names |= {"actual": choice_label(Level, area.level), "code": area.code}
            if len(levels) == 1:
                message = (
                    _("a %(role)s is attached to a %(level)s, not to a %(actual)s (%(code)s)")
                    % names
                )
            else:
                message = (
                    _(
                        "a %(role)s is attached to a %(level)s or a %(other)s, "
                        "not to a %(actual)s (%(code)s)"
                    )
                    % names
                )
            raise DomainError(message, field="area")
    if role == StaffRole.BUILDING_HEAD and building is None:
        raise DomainError(_("a building head needs a building"), field="building")
    if role == StaffRole.PROPERTY_COMPANY and company is None:
        raise DomainError(_("property company staff need a company"), field="company")
    if role == StaffRole.DEPARTMENT and department is None:
        raise DomainError(_("department staff need a department"), field="department")
    return StaffAssignment.objects.create(
        name=name,
        role=role,
        area=area,
        building=building,
        company=company,
        department=department,
        user=user,
        phone=phone,
        since=since,
    )


# The roles community and street staff assign from the console (contact_assign): the people on the
# ground. Community and street staff accounts themselves are set up by administrators (/admin/).
ASSIGNABLE_ROLES = (
    StaffRole.GRID_LEADER,
    StaffRole.GRID_WORKER,
    StaffRole.COMPOUND_HEAD,
    StaffRole.BUILDING_HEAD,
)


def assignable_roles(*, area: Area | None = None, building: Building | None = None) -> list[str]:
    """The roles that may be assigned at a place: a building's head; the roles working at the area's
    level (a grid: leader and worker; a compound: its head); none at other levels."""
    if building is not None:
        return [StaffRole.BUILDING_HEAD]
    return [r for r in ASSIGNABLE_ROLES if area is not None and ROLE_AREA_LEVEL[r] == area.level]


@transaction.atomic
def contact_assign(
    *,
    role: str,
    name: str,
    phone: str = "",
    username: str = "",
    area: Area | None = None,
    building: Building | None = None,
) -> tuple[StaffAssignment, list[StaffAssignment]]:
    """Assign someone to a role at a place (an area or a building), from today. `username` links a
    login, which then works in that role. A grid has one leader: a new one replaces the one before,
    whose assignment ends today. Returns (the assignment, the ones it replaced)."""
    from django.contrib.auth import get_user_model

    allowed = assignable_roles(area=area, building=building)
    if role not in allowed:
        place = (
            _("a building")
            if building is not None
            else choice_label(Level, area.level)
            if area is not None
            else "?"
        )
        raise DomainError(
            _("%(role)s cannot be assigned to %(place)s; possible: %(allowed)s")
            % {
                "role": choice_label(StaffRole, role) if role in StaffRole.values else repr(role),
                "place": place,
                "allowed": ", ".join(choice_label(StaffRole, r) for r in allowed) or "–",
            },
            field="role",
        )
    name = (name or "").strip()
    if not name:
        raise DomainError(_("a name is required"), field="name")
    if len(name) > StaffAssignment._meta.get_field("name").max_length:
        raise DomainError(_("the name is too long"), field="name")
    phone = pii.phone_normalise(phone) if (phone or "").strip() else ""
    user = None
    if (username or "").strip():
        user = get_user_model().objects.filter(username=username.strip(), is_active=True).first()
        if user is None:
            raise DomainError(
                _("there is no active login named %(username)s") % {"username": repr(username)},
                field="username",
            )
    if area is not None:
        # one assignment at a time per area: two leaders assigned at once would both stay
        area = Area.objects.select_for_update().get(pk=area.pk)
        if area.valid_to is not None:
            raise DomainError(
                _("%(code)s is a version that is no longer current") % {"code": area.code},
                field="area",
            )
    today = timezone.localdate()
    replaced = []
    if role == StaffRole.GRID_LEADER:
        replaced = list(StaffAssignment.objects.filter(role=role, area=area, active=True))
        StaffAssignment.objects.filter(pk__in=[r.pk for r in replaced]).update(
            active=False, until=today
        )
    assignment = staff_assign(
        name=name,
        role=role,
        area=area,
        building=building,
        user=user,
        phone=phone,
        since=today,
    )
    return assignment, replaced


@transaction.atomic
def contact_end(*, assignment: StaffAssignment) -> StaffAssignment:
    """End an assignment today (kept, inactive, for the record)."""
    assignment = StaffAssignment.objects.select_for_update().get(pk=assignment.pk)
    if not assignment.active:
        raise Conflict(_("%(name)s no longer holds this role") % {"name": assignment.name})
    assignment.active = False
    assignment.until = timezone.localdate()
    assignment.save(update_fields=["active", "until"])
    return assignment


# --- Residents, party members, organisations -------------------------------------------------------


@transaction.atomic
def resident_create(
    *, household: Household, name: str, phone: str = "", id_number: str = "", is_head=False
) -> Resident:
    name = (name or "").strip()
    if not name:
        raise DomainError(_("a resident needs a name"), field="name")
    phone = pii.phone_normalise(phone) if phone else ""
    protected = {}
    if id_number:
        normalised = pii.id_normalise(id_number)
        protected = pii.id_protect(normalised)
        if Resident.objects.filter(id_hash=protected["id_hash"]).exists():
            raise DomainError(
                _("a resident with this ID number is already registered"), field="id_number"
            )
    return Resident.objects.create(
        household=household, name=name, phone=phone, is_head=is_head, **protected
    )


@transaction.atomic
def resident_register(
    *, household: Household, name: str, phone: str = "", id_number: str = "", is_head=False
) -> Resident:
    """Register someone who lives in a household (住户登记, from the console). A household has one
    head: registering a new head makes the previous one an ordinary member."""
    name = (name or "").strip()
    if len(name) > Resident._meta.get_field("name").max_length:
        raise DomainError(_("the name is too long"), field="name")
    # the household row locked: two heads registered at once cannot both stay heads
    household = Household.objects.select_for_update().get(pk=household.pk)
    try:
        with transaction.atomic():  # the same ID number registered at the same moment elsewhere
            resident = resident_create(
                household=household,
                name=name,
                phone=(phone or "").strip(),
                id_number=(id_number or "").strip(),
                is_head=bool(is_head),
            )
    except IntegrityError:
        raise DomainError(
            _("a resident with this ID number is already registered"), field="id_number"
        ) from None
    if resident.is_head:
        Resident.objects.filter(household=household, is_head=True).exclude(pk=resident.pk).update(
            is_head=False
        )
    return resident


@transaction.atomic
def resident_move_out(*, resident: Resident) -> None:
    """Take someone who moved away off the register (the audit log keeps the row). Refused while
    they hold a party membership or an owners' committee seat: those are ended first, on purpose."""
    resident = Resident.objects.select_for_update().get(pk=resident.pk)
    from apps.people.privacy import mask_name

    who = mask_name(resident.name)
    if PartyMember.objects.filter(resident=resident).exists():
        raise Conflict(
            _("%(name)s is a party member: transfer or end the membership before moving them out")
            % {"name": who}
        )
    if CommitteeMember.objects.filter(resident=resident).exists():
        raise Conflict(
            _("%(name)s sits on an owners' committee: end the seat before moving them out")
            % {"name": who}
        )
    resident.delete()


@transaction.atomic
def party_org_create(
    *,
    name: str,
    kind: str,
    parent: PartyOrganization | None = None,
    area: Area | None = None,
    building: Building | None = None,
) -> PartyOrganization:
    if kind not in PartyOrgKind.values:
        raise DomainError(
            _("unknown party organisation kind %(kind)s") % {"kind": repr(kind)}, field="kind"
        )
    expected = PARTY_ORG_PARENT[kind]
    if expected is None and parent is not None:
        raise DomainError(_("a community party committee is the root of its tree"), field="parent")
    if expected is not None and (parent is None or parent.kind != expected):
        names = {
            "kind": choice_label(PartyOrgKind, kind),
            "parent": choice_label(PartyOrgKind, expected),
        }
        if parent is None:
            message = _("a %(kind)s belongs to a %(parent)s") % names
        else:
            names["actual"] = choice_label(PartyOrgKind, parent.kind)
            message = _("a %(kind)s belongs to a %(parent)s, not to a %(actual)s") % names
        raise DomainError(message, field="parent")
    if kind == PartyOrgKind.COMMITTEE and (area is None or area.level != "community"):
        raise DomainError(_("a community party committee is attached to a community"), field="area")
    if kind == PartyOrgKind.BRANCH and (area is None or area.level != "grid"):
        raise DomainError(_("a grid party branch is attached to a grid"), field="area")
    return PartyOrganization.objects.create(
        name=name, kind=kind, parent=parent, area=area, building=building
    )


@transaction.atomic
def party_member_create(
    *,
    resident: Resident,
    organization: PartyOrganization,
    kind: str,
    joined: date | None = None,
    workplace: str = "",
) -> PartyMember:
    if kind not in PartyMemberKind.values:
        raise DomainError(
            _("unknown party member kind %(kind)s (community, in_service, retired)")
            % {"kind": repr(kind)},
            field="kind",
        )
    if PartyMember.objects.filter(resident=resident).exists():
        raise DomainError(
            _("this resident is already registered as a party member"), field="resident"
        )
    if joined and joined > timezone.localdate():
        raise DomainError(_("the date joined is in the future"), field="joined")
    return PartyMember.objects.create(
        resident=resident, organization=organization, kind=kind, joined=joined, workplace=workplace
    )


@transaction.atomic
def owners_committee_create(*, compound: Area, kind: str, formed: date) -> OwnersCommittee:
    if compound.level != "compound":
        raise DomainError(
            _("an owners' committee belongs to a compound, not a %(level)s")
            % {"level": choice_label(Level, compound.level)},
            field="compound",
        )
    if kind not in CommitteeKind.values:
        raise DomainError(_("unknown committee kind %(kind)s") % {"kind": repr(kind)}, field="kind")
    if OwnersCommittee.objects.filter(compound=compound).exists():
        raise DomainError(
            _("%(compound)s already has a committee") % {"compound": compound.name},
            field="compound",
        )
    return OwnersCommittee.objects.create(compound=compound, kind=kind, formed=formed)


@transaction.atomic
def committee_member_add(
    *, committee: OwnersCommittee, resident: Resident, role: str = "member"
) -> CommitteeMember:
    if resident.household.building.compound_id != committee.compound_id:
        raise DomainError(_("a committee member must live in the compound"), field="resident")
    if CommitteeMember.objects.filter(committee=committee, resident=resident).exists():
        raise DomainError(_("already a member of this committee"), field="resident")
    return CommitteeMember.objects.create(committee=committee, resident=resident, role=role)


# --- Center households -----------------------------------------------------------------------------


def _policy_for_household(household_id: int):
    community_id = (
        Household.objects.filter(id=household_id)
        .values_list("building__community_id", flat=True)
        .first()
    )
    return selectors.center_policy(community_id=community_id)


@transaction.atomic
def center_designate(*, household: Household, party_member: PartyMember | None = None):
    """Make a party member's household a center household."""
    members = PartyMember.objects.filter(resident__household=household)
    if party_member is None:
        party_member = members.order_by("id").first()
    if party_member is None:
        raise DomainError(
            _("household %(household)s has no party member, so it cannot be a center household")
            % {"household": household},
            field="household",
        )
    if party_member.resident.household_id != household.id:
        raise DomainError(
            _("the party member does not live in this household"), field="party_member"
        )
    if CenterHousehold.objects.filter(household=household).exists():
        raise DomainError(_("this household is already a center household"), field="household")
    if CenterLink.objects.filter(household=household).exists():
        raise DomainError(
            _("this household is looked after by another center household; unlink it first"),
            field="household",
        )
    return CenterHousehold.objects.create(household=household, party_member=party_member)


@transaction.atomic
def center_link(*, center: CenterHousehold, household: Household, move: bool = False) -> CenterLink:
    """Link a household to a center household, within the policy's capacity and rule. A household
    linked to another center is refused, unless `move` (then it leaves the other center)."""
    # Lock the center so two staff linking at once cannot push it beyond capacity.
    center = CenterHousehold.objects.select_for_update().get(pk=center.pk)
    policy = _policy_for_household(center.household_id)
    if household.id == center.household_id:
        raise DomainError(_("a center household does not look after itself"), field="household")
    if CenterHousehold.objects.filter(household=household).exists():
        raise DomainError(_("this household is itself a center household"), field="household")
    existing = CenterLink.objects.filter(household=household).select_related("center").first()
    if existing is not None and not (move and existing.center_id != center.id):
        if existing.center_id == center.id:
            message = _("household %(household)s is already linked to this center household")
        else:
            message = _("household %(household)s is already linked to another center household")
        raise DomainError(message % {"household": household}, field="household")
    count = center.links.count()
    if count >= policy.max_links:
        raise DomainError(_full_message(count, policy.max_links), field="center")
    _check_rule(policy, center.household_id, household)
    if existing is not None:
        existing.delete()
    try:
        with transaction.atomic():
            return CenterLink.objects.create(center=center, household=household)
    except IntegrityError:
        raise Conflict(
            _("household %(household)s was linked by someone else just now")
            % {"household": household}
        ) from None


def _full_message(count: int, limit: int) -> str:
    return _(
        "the center household already looks after %(count)s households, the limit is %(limit)s"
    ) % {"count": count, "limit": limit}


def _check_rule(policy, center_household_id: int, household: Household):
    if policy.rule == "neighbourhood":
        center_nbh = (
            Household.objects.filter(id=center_household_id)
            .values_list("neighbourhood_id", flat=True)
            .first()
        )
        if household.neighbourhood_id is None or household.neighbourhood_id != center_nbh:
            raise DomainError(
                _("the household is not in the center household's neighbourhood grid"),
                field="household",
            )
    else:
        d = selectors.household_distance_m(center_household_id, household.id)
        if d > policy.max_distance_m:
            raise DomainError(
                _(
                    "the household is %(distance)s m from the center household, "
                    "more than the %(limit)s m allowed"
                )
                % {"distance": f"{d:.0f}", "limit": policy.max_distance_m},
                field="household",
            )


@transaction.atomic
def center_link_area(*, center: CenterHousehold, polygon) -> dict:
    """Link every unlinked household of the buildings a drawn polygon (lasso) touches. All or nothing:
    refused when they do not fit the center's capacity or one breaks the rule. Households already
    looked after by a center are left where they are and counted."""
    from django.contrib.gis.geos import GEOSGeometry

    if not isinstance(polygon, GEOSGeometry) or polygon.geom_type not in (
        "Polygon",
        "MultiPolygon",
    ):
        raise DomainError(_("draw a polygon around the buildings"), field="polygon")
    if polygon.srid is None:
        polygon.srid = 4326
    if not polygon.valid:
        raise DomainError(
            _("the lasso is not a valid polygon: %(reason)s") % {"reason": polygon.valid_reason},
            field="polygon",
        )
    center = CenterHousehold.objects.select_for_update().get(pk=center.pk)
    policy = _policy_for_household(center.household_id)
    inside = (
        Household.objects.filter(building__footprint__intersects=polygon)
        .exclude(id=center.household_id)
        .filter(center__isnull=True)
    )
    free = list(inside.filter(center_link__isnull=True).order_by("id").values_list("id", flat=True))
    elsewhere = inside.exclude(center_link__isnull=True).exclude(center_link__center=center).count()
    if not free:
        raise DomainError(
            _("the lasso holds no household without a center household"), field="polygon"
        )
    count = center.links.count()
    room = policy.max_links - count
    if len(free) > room:
        raise DomainError(
            _(
                "the lasso holds %(count)s unlinked households; the center household has room "
                "for %(room)s (limit %(limit)s)"
            )
            % {"count": len(free), "room": max(room, 0), "limit": policy.max_links},
            field="polygon",
        )
    rows = {r[0]: r for r in selectors.household_points(household_ids=[center.household_id, *free])}
    xyz = selectors.dwelling_xyz([rows[center.household_id]] + [rows[h] for h in free])
    for h, point in zip(free, xyz[1:], strict=True):
        if policy.rule == "neighbourhood":
            if rows[h][1] < 0 or rows[h][1] != rows[center.household_id][1]:
                raise DomainError(
                    _("household %(household)s is not in the center household's neighbourhood grid")
                    % {"household": h},
                    field="polygon",
                )
        elif (d := float(np.linalg.norm(point - xyz[0]))) > policy.max_distance_m:
            raise DomainError(
                _(
                    "household %(household)s is %(distance)s m from the center household, "
                    "more than the %(limit)s m allowed"
                )
                % {"household": h, "distance": f"{d:.0f}", "limit": policy.max_distance_m},
                field="polygon",
            )
    try:
        with transaction.atomic():
            CenterLink.objects.bulk_create(CenterLink(center=center, household_id=h) for h in free)
    except IntegrityError:
        raise Conflict(_("some of these households were linked by someone else just now")) from None
    return {"linked": len(free), "linked_elsewhere": elsewhere}


@transaction.atomic
def center_unlink(*, household: Household) -> None:
    deleted, _rows = CenterLink.objects.filter(household=household).delete()
    if not deleted:
        raise NotFound(
            _("household %(household)s is not linked to a center household")
            % {"household": household}
        )


@transaction.atomic
def center_undesignate(*, center: CenterHousehold) -> None:
    center.delete()  # its links go with it


# --- Auto-suggest ----------------------------------------------------------------------------------

# Each household may be linked to one of its 8 nearest eligible candidates only: the MIP shrinks
# 4-5x (a 360-household grid: 15,000 -> 2,900 link variables) and on the demo grids the optimum is the
# same as with all candidates (tests/people/test_solver.py checks one grid).
NEAREST_CANDIDATES = 8


@transaction.atomic
def proposal_create(
    *,
    area: Area,
    user=None,
    progress=None,
    gap: float = 0.0,
    time_limit: float = 60.0,
    nearest: int | None = NEAREST_CANDIDATES,
) -> CenterProposal:
    """Solve the center-household plan for a community or grid (one MIP per grid) and store it as a
    draft proposal. Staff review it on the map, adjust it, then accept it. Each household considers its
    `nearest` closest eligible candidates (None: all of them; see docs/PEOPLE.md)."""
    from apps.people.solver import solve

    community_id = area.id if area.level == "community" else area.parent_id
    policy = selectors.center_policy(community_id=community_id)
    proposal = CenterProposal.objects.create(
        area=area, created_by=user, policy=selectors.policy_dict(policy)
    )
    grids, total = [], 0.0
    center_rows, link_rows = [], []
    for grid, problem, members in selectors.solver_problems(area=area, policy=policy):
        sol = solve(problem, gap=gap, time_limit=time_limit, nearest=nearest)
        total += sol.total_distance
        grids.append(
            {
                "grid_id": grid.id,
                "code": grid.code,
                "name": grid.name,
                "households": len(problem.households),
                "candidates": len(problem.candidates),
                "centers": len(sol.centers),
                "covered": sol.covered,
                "coverage": round(sol.covered / len(problem.households), 4)
                if len(problem.households)
                else None,
                "total_distance_m": round(sol.total_distance, 1),
                "status": sol.status,
            }
        )
        for hh, linked in sol.centers.items():
            pc = ProposalCenter(proposal=proposal, household_id=hh, party_member_id=members[hh])
            center_rows.append(pc)
            link_rows.append((pc, linked))
        if progress:
            progress(grid)
    ProposalCenter.objects.bulk_create(center_rows)
    ProposalLink.objects.bulk_create(
        ProposalLink(proposal=proposal, center=pc, household_id=h)
        for pc, linked in link_rows
        for h in linked
    )
    households = sum(g["households"] for g in grids)
    covered = sum(g["covered"] for g in grids)
    proposal.stats = {
        "grids": grids,
        "households": households,
        "covered": covered,
        "coverage": round(covered / households, 4) if households else None,
        "total_distance_m": round(total, 1),
        "nearest_candidates": nearest,
    }
    proposal.save(update_fields=["stats"])
    return proposal


def _draft(proposal: CenterProposal) -> CenterProposal:
    proposal = CenterProposal.objects.select_for_update().get(pk=proposal.pk)
    if proposal.status != ProposalStatus.DRAFT:
        raise Conflict(
            _("the proposal is %(status)s, only a draft can change")
            % {"status": choice_label(ProposalStatus, proposal.status)}
        )
    return proposal


@transaction.atomic
def proposal_link_set(
    *, proposal: CenterProposal, household: Household, center_household: Household | None
) -> None:
    """Adjust a draft: link `household` to the proposal's center at `center_household` (None: unlink)."""
    proposal = _draft(proposal)
    ProposalLink.objects.filter(proposal=proposal, household=household).delete()
    if center_household is None:
        return
    center = ProposalCenter.objects.filter(proposal=proposal, household=center_household).first()
    if center is None:
        raise DomainError(_("that household is not a center in this proposal"), field="center")
    if (
        household.id == center_household.id
        or ProposalCenter.objects.filter(proposal=proposal, household=household).exists()
    ):
        raise DomainError(_("this household is itself a center household"), field="household")
    policy = selectors.center_policy(
        community_id=proposal.area.id
        if proposal.area.level == "community"
        else proposal.area.parent_id
    )
    count = center.links.count()
    if count >= policy.max_links:
        raise DomainError(_full_message(count, policy.max_links), field="center")
    _check_rule(policy, center_household.id, household)
    ProposalLink.objects.create(proposal=proposal, center=center, household=household)


@transaction.atomic
def proposal_accept(*, proposal: CenterProposal, user=None) -> dict:
    """Replace the center households of the proposal's grids with the proposal's. Race-safe: the
    status moves from draft to accepted with a conditional UPDATE."""
    changed = CenterProposal.objects.filter(pk=proposal.pk, status=ProposalStatus.DRAFT).update(
        status=ProposalStatus.ACCEPTED, accepted_at=timezone.now()
    )
    if not changed:
        raise Conflict(_("the proposal was already accepted or discarded"))
    grid_ids = [g.id for g in selectors.scope_grids(area=proposal.area)]
    in_scope = Household.objects.filter(building__grid_id__in=grid_ids).values("id")
    CenterLink.objects.filter(household_id__in=in_scope).delete()
    CenterHousehold.objects.filter(household_id__in=in_scope).delete()
    centers = list(ProposalCenter.objects.filter(proposal=proposal))
    # Households of the proposal may meanwhile be linked to centers outside the scope: free them.
    linked = list(
        ProposalLink.objects.filter(proposal=proposal).values_list("center_id", "household_id")
    )
    CenterLink.objects.filter(household_id__in=[h for _c, h in linked]).delete()
    CenterLink.objects.filter(household_id__in=[c.household_id for c in centers]).delete()
    live = CenterHousehold.objects.bulk_create(
        CenterHousehold(household_id=c.household_id, party_member_id=c.party_member_id)
        for c in centers
    )
    live_of = {c.id: lc.id for c, lc in zip(centers, live, strict=True)}
    CenterLink.objects.bulk_create(
        CenterLink(center_id=live_of[c], household_id=h) for c, h in linked
    )
    return {"centers": len(live), "links": len(linked)}
