"""HTTP API of people and organisations: parse, call a service or selector, render. Every response that
contains a person goes through apps.people.privacy (masked unless the user's role allows)."""

from django.db.models import Q
from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.audit.pii import export_reason, pii_access_log
from apps.common.errors import DomainError, NotFound
from apps.common.exports import csv_bytes
from apps.common.geometry import check_geometry
from apps.common.labels import choice_label
from apps.people import selectors, services
from apps.people.models import (
    CenterHousehold,
    CenterProposal,
    OwnersCommittee,
    PartyMember,
    PartyOrganization,
    Resident,
    StaffAssignment,
    StaffRole,
)
from apps.people.privacy import access_for
from apps.people.scope import ScopedStaff, assigning_scope, request_scope
from apps.territory.models import Area, Building, Household

PAGE = 200


def _int(request, name, *, required=False):
    raw = request.query_params.get(
        name, request.data.get(name) if hasattr(request, "data") else None
    )
    if raw in (None, ""):
        if required:
            raise DomainError(_("%(name)s is required") % {"name": name}, field=name)
        return None
    values = {"name": name, "value": repr(raw)}
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise DomainError(_("%(name)s=%(value)s is not an integer") % values, field=name) from None
    if not -(2**63) <= value < 2**63:  # PostgreSQL's bigint (ids, OFFSET)
        raise DomainError(_("%(name)s=%(value)s is out of range") % values, field=name)
    return value


def _area(request) -> Area:
    """The `area` parameter: an area inside the user's scope (else 404, as if it did not exist)."""
    area_id = _int(request, "area", required=True)
    area = Area.objects.filter(pk=area_id).filter(request_scope(request).q("code")).first()
    if area is None:
        raise NotFound(_("no area with id %(id)s") % {"id": area_id}, field="area")
    return area


def _proposal(request, proposal_id) -> CenterProposal:
    """A center proposal whose area is inside the user's scope (else 404)."""
    try:
        pid = int(proposal_id)
    except (TypeError, ValueError):
        raise DomainError(
            _("%(name)s=%(value)s is not an integer")
            % {"name": "proposal", "value": repr(proposal_id)},
            field="proposal",
        ) from None
    scope = request_scope(request)
    proposal = CenterProposal.objects.filter(pk=pid).filter(scope.q("area__code")).first()
    if proposal is None:
        raise NotFound(_("no proposal with id %(id)s") % {"id": pid}, field="proposal")
    return proposal


def _person(access, resident) -> dict:
    b = resident.household.building
    return {
        "id": resident.id,
        "household": resident.household_id,
        **access.render_person(resident, grid_id=b.grid_id, community_id=b.community_id),
        "is_head": resident.is_head,
    }


def _log_unmasked(request, *, what: str, subject: str, people: list[dict], reason: str = ""):
    """PIPL: record who saw how many people unmasked, where, and why (apps.audit.pii)."""
    pii_access_log(
        user=request.user,
        what=what,
        subject=subject,
        people=sum(1 for p in people if not p.get("masked", True)),
        reason=reason or request.query_params.get("reason", ""),
        path=request.get_full_path(),
    )


def _subject(given: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in given.items() if v is not None)


class ResidentsApi(APIView):
    permission_classes = [ScopedStaff]

    @extend_schema(
        summary="Residents of a household, building or grid (masked unless your role allows)",
        parameters=[
            OpenApiParameter("household", OpenApiTypes.INT),
            OpenApiParameter("building", OpenApiTypes.INT),
            OpenApiParameter("grid", OpenApiTypes.INT),
            OpenApiParameter("offset", OpenApiTypes.INT),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        qs = (
            Resident.objects.select_related("household__building")
            .filter(request_scope(request).buildings_q("household__building__"))
            .order_by("id")
        )
        filters = {
            "household": "household_id",
            "building": "household__building_id",
            "grid": "household__building__grid_id",
        }
        given = {k: _int(request, k) for k in filters}
        if all(v is None for v in given.values()):
            raise DomainError(_("give a household, building or grid"), field="household")
        for k, v in given.items():
            if v is not None:
                qs = qs.filter(**{filters[k]: v})
        offset = _int(request, "offset") or 0
        if offset < 0:
            raise DomainError(
                _("offset=%(offset)s must be 0 or more") % {"offset": offset}, field="offset"
            )
        access = access_for(request.user)
        rows = list(qs[offset : offset + PAGE + 1])
        results = [_person(access, r) for r in rows[:PAGE]]
        _log_unmasked(request, what="residents", subject=_subject(given), people=results)
        body = {"results": results, "next_offset": offset + PAGE if len(rows) > PAGE else None}
        # for one building or household: whether this user keeps its register (the console's form)
        place = (
            Building.objects.filter(pk=given["building"]).first()
            if given["building"] is not None
            else Building.objects.filter(household_set__id=given["household"]).first()
            if given["household"] is not None
            else None
        )
        if place is not None:
            body["can_edit"] = _may_edit_residents(request, place, access)
        return Response(body)

    @extend_schema(
        summary="Register a resident in a household ({household, name, phone?, id_number?, "
        "is_head?}): staff who may see personal data there",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        if not isinstance(request.data, dict):
            raise DomainError(_("the body must be a JSON object"))
        _int(request, "household", required=True)  # missing or not a number: 400 saying so
        household = _household(request, "household")
        access = access_for(request.user)
        if not _may_edit_residents(request, household.building, access):
            raise PermissionDenied(_("your role may not change the register of residents here"))
        data = request.data
        resident = services.resident_register(
            household=household,
            name=str(data.get("name") or ""),
            phone=str(data.get("phone") or ""),
            id_number=str(data.get("id_number") or ""),
            is_head=data.get("is_head") in (True, "true", "1", "on"),
        )
        person = _person(access, resident)
        _log_unmasked(
            request, what="residents", subject=f"household {household.id}", people=[person]
        )
        return Response(person, status=201)


def _may_edit_residents(request, building: Building, access) -> bool:
    """Who keeps a building's register: staff who may see its residents' personal data there
    (apps.people.privacy), and not read-only (auditors)."""
    if request_scope(request).read_only:
        return False
    return access.allows(grid_id=building.grid_id, community_id=building.community_id)


class ResidentMoveOutApi(APIView):
    """POST: a resident moved away: off the register (the audit log keeps the row)."""

    permission_classes = [ScopedStaff]

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT, 409: OpenApiTypes.OBJECT})
    def post(self, request, resident_id: int):
        resident = (
            Resident.objects.select_related("household__building")
            .filter(pk=resident_id)
            .filter(request_scope(request).buildings_q("household__building__"))
            .first()
        )
        if resident is None:
            raise NotFound(_("no resident with id %(id)s") % {"id": resident_id}, field="resident")
        if not _may_edit_residents(request, resident.household.building, access_for(request.user)):
            raise PermissionDenied(_("your role may not change the register of residents here"))
        household = resident.household_id
        services.resident_move_out(resident=resident)
        return Response({"id": resident_id, "household": household, "moved_out": True})


def _contact_place(request) -> tuple[Area | None, Building | None]:
    """The `area` or `building` parameter (query or body): a place inside the user's scope, else 404."""
    building_id = _int(request, "building")
    if building_id is None and _int(request, "area") is None:
        raise DomainError(_("give an area or a building"), field="area")
    if building_id is None:
        return _area(request), None
    building = (
        Building.objects.select_related("compound", "grid", "community")
        .filter(pk=building_id)
        .filter(request_scope(request).buildings_q())
        .first()
    )
    if building is None:
        raise NotFound(_("no building with id %(id)s") % {"id": building_id}, field="building")
    return None, building


def _may_assign(request, *, area=None, building=None) -> bool:
    """Whether the user assigns staff at this place (apps.people.scope.assigning_scope)."""
    scope = getattr(request, "_linli_assigning", None)
    if scope is None:
        scope = request._linli_assigning = assigning_scope(request.user)
    if area is not None:
        return scope.covers_code(area.code)
    places = (building.community, building.grid, building.compound)
    return any(scope.covers_code(a.code) for a in places if a is not None)


def _contacts_response(request, *, area=None, building=None, status=200, **extra) -> Response:
    data = selectors.contacts(access=access_for(request.user), area=area, building=building)
    may = _may_assign(request, area=area, building=building)
    for c in data["results"]:
        c["can_end"] = may and c["role"] in services.ASSIGNABLE_ROLES
    roles = services.assignable_roles(area=area, building=building) if may else []
    data["assignable"] = [{"role": r, "role_name": choice_label(StaffRole, r)} for r in roles]
    subject = f"building {building.id}" if building is not None else f"area {area.id}"
    shown = data["results"] + [c for g in data.get("grids", []) for c in g["staff"]]
    _log_unmasked(request, what="contacts", subject=subject, people=shown)
    return Response(data | extra, status=status)


class ContactsApi(APIView):
    """GET: who to call about an area or a building. POST: assign someone there (street and community
    staff in their area, city administrators)."""

    permission_classes = [ScopedStaff]

    @extend_schema(
        summary="Who to call about an area or a building: its staff and heads, nearest first, and "
        "the property company of its compound (masked unless your role allows); `assignable`: the "
        "roles you may assign there",
        parameters=[
            OpenApiParameter("area", OpenApiTypes.INT),
            OpenApiParameter("building", OpenApiTypes.INT),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        area, building = _contact_place(request)
        return _contacts_response(request, area=area, building=building)

    @extend_schema(
        summary="Assign a grid leader, grid worker, compound head or building head at a place "
        "({role, name, phone?, username?, area | building}); a new grid leader replaces the one "
        "before. Answers the place's contacts and `replaced`",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        if not isinstance(request.data, dict):
            raise DomainError(_("the body must be a JSON object"))
        area, building = _contact_place(request)
        if not _may_assign(request, area=area, building=building):
            raise PermissionDenied(_("your role may not assign staff here"))
        data = request.data
        assignment, replaced = services.contact_assign(
            role=str(data.get("role") or ""),
            name=str(data.get("name") or ""),
            phone=str(data.get("phone") or ""),
            username=str(data.get("username") or ""),
            area=area,
            building=building,
        )
        return _contacts_response(
            request,
            area=area,
            building=building,
            status=201,
            created=assignment.id,
            replaced=[r.id for r in replaced],
        )


class ContactEndApi(APIView):
    """POST: end an assignment today (street and community staff in their area)."""

    permission_classes = [ScopedStaff]

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, assignment_id: int):
        scope = request_scope(request)
        found = (
            StaffAssignment.objects.select_related(
                "area", "building__community", "building__grid", "building__compound"
            )
            .filter(pk=assignment_id)
            .filter(
                scope.q("area__code") | Q(building__in=Building.objects.filter(scope.buildings_q()))
            )
            .first()
        )
        if found is None:
            raise NotFound(
                _("no assignment with id %(id)s") % {"id": assignment_id}, field="assignment"
            )
        if found.role not in services.ASSIGNABLE_ROLES:
            raise DomainError(
                _("a %(role)s is not assigned here; an administrator changes it")
                % {"role": choice_label(StaffRole, found.role)},
                field="assignment",
            )
        if not _may_assign(request, area=found.area, building=found.building):
            raise PermissionDenied(_("your role may not assign staff here"))
        ended = services.contact_end(assignment=found)
        return Response({"id": ended.id, "active": ended.active, "until": ended.until})


class PartyMembersApi(APIView):
    permission_classes = [ScopedStaff]

    @extend_schema(
        summary="Party members of an organisation or grid (masked unless your role allows)",
        parameters=[
            OpenApiParameter("organization", OpenApiTypes.INT),
            OpenApiParameter("grid", OpenApiTypes.INT),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        qs = (
            PartyMember.objects.select_related("resident__household__building", "organization")
            .filter(request_scope(request).buildings_q("resident__household__building__"))
            .order_by("id")
        )
        org, grid = _int(request, "organization"), _int(request, "grid")
        if org is None and grid is None:
            raise DomainError(_("give an organization or a grid"), field="organization")
        if org is not None:
            qs = qs.filter(organization_id=org)
        if grid is not None:
            qs = qs.filter(resident__household__building__grid_id=grid)
        access = access_for(request.user)
        results = [
            {
                **_person(access, m.resident),
                "id": m.id,
                "resident": m.resident_id,
                "organization": {"id": m.organization_id, "name": m.organization.name},
                "kind": m.kind,
                "joined": m.joined,
            }
            for m in qs[: PAGE * 5]
        ]
        _log_unmasked(
            request,
            what="party-members",
            subject=_subject({"organization": org, "grid": grid}),
            people=results,
        )
        return Response({"results": results})


class PartyOrgsApi(APIView):
    permission_classes = [ScopedStaff]

    @extend_schema(summary="The party organisation tree", responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        scope = request_scope(request)
        orgs = list(
            PartyOrganization.objects.filter(
                scope.q("area__code") | scope.buildings_q("building__")
            )
            .order_by("id")
            .values("id", "name", "kind", "parent_id", "area_id", "building_id")
        )
        counts = {}
        for org_id in PartyMember.objects.filter(
            organization_id__in=[o["id"] for o in orgs]
        ).values_list("organization_id", flat=True):
            counts[org_id] = counts.get(org_id, 0) + 1
        nodes = {o["id"]: {**o, "members": counts.get(o["id"], 0), "children": []} for o in orgs}
        roots = []
        for o in nodes.values():  # an organisation whose parent is outside the scope is a root here
            (nodes[o["parent_id"]]["children"] if o["parent_id"] in nodes else roots).append(o)
        return Response({"results": roots})


class CommitteesApi(APIView):
    permission_classes = [ScopedStaff]

    @extend_schema(summary="Owners' committees with members", responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        access = access_for(request.user)
        party = set(PartyMember.objects.values_list("resident_id", flat=True))
        out = []
        scope = request_scope(request)
        # the committees of the compounds in the scope, and of those with a building in it (a grid
        # leader's grid holds buildings of compounds that reach beyond it)
        committees = OwnersCommittee.objects.filter(
            scope.q("compound__code")
            | Q(compound_id__in=Building.objects.filter(scope.buildings_q()).values("compound_id"))
        )
        for oc in committees.select_related("compound").prefetch_related(
            "committeemember_set__resident__household__building"
        ):
            out.append(
                {
                    "id": oc.id,
                    "compound": {"id": oc.compound_id, "name": oc.compound.name},
                    "kind": oc.kind,
                    "formed": oc.formed,
                    "members": [
                        {
                            **_person(access, cm.resident),
                            "role": cm.role,
                            "party_member": cm.resident_id in party,
                        }
                        for cm in oc.committeemember_set.all()
                    ],
                }
            )
        _log_unmasked(
            request,
            what="committees",
            subject="owners' committees",
            people=[m for oc in out for m in oc["members"]],
        )
        return Response({"results": out})


class CentersApi(APIView):
    permission_classes = [ScopedStaff]

    @extend_schema(
        summary="Center households and their links in a community or grid (live or a proposal)",
        parameters=[
            OpenApiParameter("area", OpenApiTypes.INT, required=True),
            OpenApiParameter("proposal", OpenApiTypes.INT),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        area = _area(request)
        proposal_id = _int(request, "proposal")
        proposal = _proposal(request, proposal_id) if proposal_id else None
        data = selectors.center_map(area=area, access=access_for(request.user), proposal=proposal)
        data["coverage"] = selectors.coverage(area=area)
        return Response(data)

    @extend_schema(
        summary="Designate a party member's household as center household",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        household = _household(request, "household", scope=request_scope(request))
        center = services.center_designate(household=household)
        return Response({"id": center.id, "household": household.id}, status=201)


def _household(request, name, *, scope=None) -> Household:
    """A household by id from the request body, inside the user's scope (else 404)."""
    hid = request.data.get(name)
    scope = scope or request_scope(request)
    try:
        return Household.objects.filter(scope.buildings_q("building__")).get(pk=int(hid))
    except (TypeError, ValueError):
        raise DomainError(
            _("%(name)s must be a household id") % {"name": name}, field=name
        ) from None
    except Household.DoesNotExist:
        raise NotFound(_("no household with id %(id)s") % {"id": hid}, field=name) from None


class CenterLinksApi(APIView):
    """POST {household, center_household} links (in a proposal if `proposal` is given); DELETE unlinks."""

    permission_classes = [ScopedStaff]

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        household = _household(request, "household")
        center_household = _household(request, "center_household")
        proposal_id = request.data.get("proposal")
        if proposal_id:
            proposal = _proposal(request, proposal_id)
            services.proposal_link_set(
                proposal=proposal, household=household, center_household=center_household
            )
        else:
            center = CenterHousehold.objects.filter(household=center_household).first()
            if center is None:
                raise DomainError(
                    _("that household is not a center household"), field="center_household"
                )
            services.center_link(
                center=center, household=household, move=bool(request.data.get("move"))
            )
        return Response(
            {"household": household.id, "center_household": center_household.id}, status=201
        )

    @extend_schema(request=OpenApiTypes.OBJECT, responses={204: None})
    def delete(self, request):
        household = _household(request, "household")
        proposal_id = request.data.get("proposal")
        if proposal_id:
            proposal = _proposal(request, proposal_id)
            services.proposal_link_set(
                proposal=proposal, household=household, center_household=None
            )
        else:
            services.center_unlink(household=household)
        return Response(status=204)


class CenterLassoApi(APIView):
    """POST {center_household, polygon: GeoJSON geometry}: link the buildings' unlinked households."""

    permission_classes = [ScopedStaff]

    @extend_schema(request=OpenApiTypes.OBJECT, responses={201: OpenApiTypes.OBJECT})
    def post(self, request):
        import json

        from django.contrib.gis.geos import GEOSException, GEOSGeometry

        center_household = _household(request, "center_household")
        center = CenterHousehold.objects.filter(household=center_household).first()
        if center is None:
            raise DomainError(
                _("that household is not a center household"), field="center_household"
            )
        try:
            polygon = GEOSGeometry(json.dumps(request.data.get("polygon")), srid=4326)
        except (GEOSException, ValueError, TypeError):
            raise DomainError(_("polygon must be a GeoJSON polygon"), field="polygon") from None
        check_geometry(polygon, field="polygon")
        return Response(services.center_link_area(center=center, polygon=polygon), status=201)


class ProposalsApi(APIView):
    permission_classes = [ScopedStaff]

    @extend_schema(
        summary="Auto-suggest center households for a community or grid (a draft proposal)",
        request=OpenApiTypes.OBJECT,
        responses={201: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        area = _area(request)
        proposal = services.proposal_create(area=area, user=request.user)
        return Response(
            {"id": proposal.id, "status": proposal.status, **proposal.stats}, status=201
        )


class ProposalAcceptApi(APIView):
    permission_classes = [ScopedStaff]

    @extend_schema(request=None, responses={200: OpenApiTypes.OBJECT})
    def post(self, request, proposal_id: int):
        proposal = _proposal(request, proposal_id)
        return Response(services.proposal_accept(proposal=proposal, user=request.user))


class HouseholdsApi(APIView):
    """Households of a building, with their center (for clicking buildings on the map)."""

    permission_classes = [ScopedStaff]

    @extend_schema(
        parameters=[OpenApiParameter("building", OpenApiTypes.INT, required=True)],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request):
        building = _int(request, "building", required=True)
        scope = request_scope(request)
        if not Building.objects.filter(scope.buildings_q(), pk=building).exists():
            raise NotFound(_("no building with id %(id)s") % {"id": building}, field="building")
        members = set(
            PartyMember.objects.filter(resident__household__building_id=building).values_list(
                "resident__household_id", flat=True
            )
        )
        rows = (
            Household.objects.filter(building_id=building)
            .order_by("unit__number", "floor", "room")
            .values(
                "id",
                "unit__number",
                "floor",
                "room",
                "center_link__center__household_id",
                "center__id",
            )
        )
        return Response(
            {
                "results": [
                    {
                        "id": r["id"],
                        "unit": r["unit__number"],
                        "floor": r["floor"],
                        "room": r["room"],
                        "center_household": r["center_link__center__household_id"],
                        "is_center": r["center__id"] is not None,
                        "has_party_member": r["id"] in members,
                    }
                    for r in rows
                ]
            }
        )


class ResidentsCsvApi(APIView):
    """CSV export of a grid's or building's residents, masked by the same rule as every list."""

    permission_classes = [ScopedStaff]

    @extend_schema(
        summary="Residents as CSV (masked unless your role allows)",
        parameters=[
            OpenApiParameter("grid", OpenApiTypes.INT),
            OpenApiParameter("building", OpenApiTypes.INT),
            OpenApiParameter(
                "reason", OpenApiTypes.STR, required=True, description="why (logged, PIPL)"
            ),
        ],
        responses={200: OpenApiTypes.STR},
    )
    def get(self, request):
        grid, building = _int(request, "grid"), _int(request, "building")
        if grid is None and building is None:
            raise DomainError(_("give a grid or a building"), field="grid")
        qs = Resident.objects.select_related("household__building", "household__unit").order_by(
            "household__building__address", "household__unit__number", "household__room", "id"
        )
        if grid is not None:
            qs = qs.filter(household__building__grid_id=grid)
        if building is not None:
            qs = qs.filter(household__building_id=building)
        qs = qs.filter(request_scope(request).buildings_q("household__building__"))
        reason = export_reason(request.query_params)
        access = access_for(request.user)
        unmasked = 0

        def rows():
            nonlocal unmasked
            for r in qs.iterator(chunk_size=2000):
                hh = r.household
                person = access.render_person(
                    r, grid_id=hh.building.grid_id, community_id=hh.building.community_id
                )
                unmasked += not person["masked"]
                yield [
                    hh.building.address,
                    hh.unit.number if hh.unit else "",
                    hh.room,
                    person["name"],
                    person["phone"],
                    person["id_number"],
                    "是" if r.is_head else "",
                ]

        body = csv_bytes(["楼栋地址", "单元", "房号", "姓名", "手机号", "身份证号", "户主"], rows())
        pii_access_log(
            user=request.user,
            what="residents.csv",
            subject=_subject({"grid": grid, "building": building}),
            people=unmasked,
            reason=reason,
            path=request.get_full_path(),
        )
        response = HttpResponse(body, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="residents.csv"'
        return response
