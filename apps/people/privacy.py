"""Personal data: how it is masked and who may see it unmasked. Every list, export and API that returns
people goes through `PersonalDataAccess.render_*` (or the mask_* functions), so the rule lives here once.

The rule: superusers and city administrators see personal data everywhere; street staff in their
street, community staff in their community, grid leaders and grid workers in their grid. Everyone else
(planners, auditors, building/compound heads, property company and department staff, users without a
role) sees names as 张*三, phones as 138****5678 and ID numbers as 3401**********1234."""

from dataclasses import dataclass, field

from apps.people.models import StaffAssignment, StaffRole

# Roles that may see personal data, and the level of the area they see it in.
UNMASKED_ROLES = {
    StaffRole.STREET_STAFF: "street",
    StaffRole.COMMUNITY_STAFF: "community",
    StaffRole.GRID_LEADER: "grid",
    StaffRole.GRID_WORKER: "grid",
}


def mask_name(name: str) -> str:
    name = (name or "").strip()
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str) -> str:
    phone = phone or ""
    if len(phone) < 8:
        return "*" * len(phone)
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_id(id_number: str) -> str:
    id_number = id_number or ""
    if len(id_number) < 9:
        return "*" * len(id_number)
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


@dataclass
class PersonalDataAccess:
    """What one user may see. `everywhere` or the ids of streets, communities and grids."""

    everywhere: bool = False
    streets: set = field(default_factory=set)
    communities: set = field(default_factory=set)
    grids: set = field(default_factory=set)

    @property
    def nowhere(self) -> bool:
        return not (self.everywhere or self.streets or self.communities or self.grids)

    def allows(self, *, grid_id=None, community_id=None, street_id=None) -> bool:
        """May the user see personal data of someone living in this grid/community/street?"""
        if self.everywhere:
            return True
        return (
            (grid_id is not None and grid_id in self.grids)
            or (community_id is not None and community_id in self.communities)
            or (street_id is not None and street_id in self.streets)
        )

    def render_contact(self, name: str, phone: str, **place) -> dict:
        """name / phone of a staff member or head, unmasked only where allowed (`place`: the grid_id,
        community_id and street_id of where they work)."""
        if self.allows(**place):
            return {"name": name, "phone": phone, "masked": False}
        return {"name": mask_name(name), "phone": mask_phone(phone), "masked": True}

    def render_person(self, resident, *, grid_id=None, community_id=None, street_id=None) -> dict:
        """name / phone / id_number of a resident, unmasked only where allowed. The ID number is
        decrypted only when it is shown."""
        from apps.people.pii import decrypt

        if self.allows(grid_id=grid_id, community_id=community_id, street_id=street_id):
            return {
                "name": resident.name,
                "phone": resident.phone,
                "id_number": decrypt(resident.id_cipher) if resident.id_cipher else "",
                "masked": False,
            }
        return {
            "name": mask_name(resident.name),
            "phone": mask_phone(resident.phone),
            "id_number": resident.id_masked,
            "masked": True,
        }


def access_for(user) -> PersonalDataAccess:
    """The areas in which `user` may see personal data (one query, two for street staff)."""
    if user is None or not user.is_authenticated:
        return PersonalDataAccess()
    if user.is_superuser:
        return PersonalDataAccess(everywhere=True)
    access = PersonalDataAccess()
    rows = StaffAssignment.objects.filter(user=user, active=True).values_list(
        "role", "area_id", "area__level"
    )
    for role, area_id, level in rows:
        if role == StaffRole.CITY_ADMIN:
            access.everywhere = True
        elif role in UNMASKED_ROLES and area_id is not None and level == UNMASKED_ROLES[role]:
            {"street": access.streets, "community": access.communities, "grid": access.grids}[
                level
            ].add(area_id)
    if access.streets:  # a building knows its community, not its street: expand streets once
        from apps.territory.models import Area

        access.communities |= set(
            Area.objects.filter(parent_id__in=access.streets, level="community").values_list(
                "id", flat=True
            )
        )
    return access


def may_see_personal_data(user, *, grid_id=None, community_id=None, street_id=None) -> bool:
    return access_for(user).allows(grid_id=grid_id, community_id=community_id, street_id=street_id)
