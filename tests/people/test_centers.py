"""Linking rules of center households and the refusals that change nothing."""

import pytest

from apps.common.errors import DomainError
from apps.people import services
from apps.people.models import (
    CenterHousehold,
    CenterLink,
    CenterPolicy,
    PartyMember,
    PartyOrganization,
    Resident,
)
from apps.territory.models import Area, Household
from tests.people.helpers import bad_id, valid_id


def _member_household_without_center():
    pm = (
        PartyMember.objects.filter(resident__household__center__isnull=True)
        .select_related("resident__household")
        .first()
    )
    return pm, pm.resident.household


def _fresh_center():
    """A center household with no links, in a community whose plan is cleared first."""
    CenterLink.objects.all().delete()
    CenterHousehold.objects.all().delete()
    pm, hh = _member_household_without_center()
    return services.center_designate(household=hh, party_member=pm)


def test_bad_id_checksum_is_refused_and_nothing_is_written(demo):
    hh = Household.objects.first()
    before = Resident.objects.count()
    with pytest.raises(DomainError, match="check digit") as exc:
        services.resident_create(household=hh, name="张三", id_number=bad_id())
    assert exc.value.field == "id_number"
    assert Resident.objects.count() == before


def test_the_same_id_number_twice_is_refused(demo):
    hh = Household.objects.first()
    services.resident_create(household=hh, name="张三", phone="13812345678", id_number=valid_id())
    with pytest.raises(DomainError, match="already registered"):
        services.resident_create(household=hh, name="李四", id_number=valid_id())


def test_a_non_member_household_cannot_be_a_center(demo):
    hh = Household.objects.exclude(residents__party_member__isnull=False).first()
    with pytest.raises(DomainError, match="has no party member"):
        services.center_designate(household=hh)
    assert not CenterHousehold.objects.filter(household=hh).exists()


def test_a_household_is_linked_to_at_most_one_center(demo):
    center = _fresh_center()
    neighbour = Household.objects.filter(building=center.household.building).exclude(
        id=center.household_id
    )[0]
    services.center_link(center=center, household=neighbour)
    with pytest.raises(DomainError, match="already linked to this center"):
        services.center_link(center=center, household=neighbour)
    pm2, hh2 = _member_household_without_center()
    other = services.center_designate(household=hh2, party_member=pm2)
    with pytest.raises(DomainError, match="already linked to another center"):
        services.center_link(center=other, household=neighbour)
    assert CenterLink.objects.filter(household=neighbour).count() == 1


def test_the_database_refuses_a_second_link_too(demo):
    from django.db import IntegrityError, transaction

    center = _fresh_center()
    hh = Household.objects.exclude(id=center.household_id).first()
    CenterLink.objects.create(center=center, household=hh)
    with pytest.raises(IntegrityError), transaction.atomic():
        CenterLink.objects.create(center=center, household=hh)


def test_linking_beyond_capacity_is_refused(demo):
    center = _fresh_center()
    community = center.household.building.community
    CenterPolicy.objects.create(community=community, min_links=1, max_links=3, max_distance_m=500)
    others = Household.objects.filter(building__community=community).exclude(
        id=center.household_id
    )[:4]
    for hh in others[:3]:
        services.center_link(center=center, household=hh)
    with pytest.raises(DomainError, match="already looks after 3 households, the limit is 3"):
        services.center_link(center=center, household=others[3])
    assert center.links.count() == 3


def test_distance_and_neighbourhood_rules(demo):
    center = _fresh_center()
    community = center.household.building.community
    policy = CenterPolicy.objects.create(community=community, max_distance_m=50)
    far = (
        Household.objects.filter(building__community=community)
        .exclude(building__grid=center.household.building.grid)
        .first()
    )
    with pytest.raises(DomainError, match=r"m from the center household, more than the 50 m"):
        services.center_link(center=center, household=far)
    policy.rule = "neighbourhood"
    policy.save()
    other_nbh = (
        Household.objects.filter(building=center.household.building)
        .exclude(neighbourhood=center.household.neighbourhood)
        .first()
        or far
    )
    with pytest.raises(DomainError, match="not in the center household's neighbourhood grid"):
        services.center_link(center=center, household=other_nbh)
    same = Household.objects.filter(neighbourhood=center.household.neighbourhood).exclude(
        id=center.household_id
    )[0]
    services.center_link(center=center, household=same)


def test_party_org_tree_is_checked(demo):
    committee = PartyOrganization.objects.filter(kind="committee").first()
    with pytest.raises(
        DomainError,
        match="a building party group belongs to a grid party branch, not to a community party "
        "committee",
    ):
        services.party_org_create(name="x", kind="group", parent=committee)
    grid = Area.objects.filter(level="grid").first()
    branch = services.party_org_create(name="b", kind="branch", parent=committee, area=grid)
    assert services.party_org_create(name="g", kind="group", parent=branch).parent == branch


def test_proposal_accept_replaces_the_plan_and_only_once(demo):
    from apps.common.errors import Conflict
    from apps.people.selectors import coverage

    grid = Area.objects.filter(level="grid").order_by("code").first()
    CenterLink.objects.filter(household__building__grid=grid).delete()
    assert coverage(area=grid)[0]["coverage"] < 1
    proposal = services.proposal_create(area=grid)
    assert proposal.stats["coverage"] == 1.0
    # staff adjust the draft: unlink one household, it becomes uncovered
    link = proposal.links.first()
    services.proposal_link_set(proposal=proposal, household=link.household, center_household=None)
    services.proposal_accept(proposal=proposal)
    row = coverage(area=grid)[0]
    assert row["covered"] == row["households"] - 1
    with pytest.raises(Conflict):
        services.proposal_accept(proposal=proposal)


def test_move_takes_a_household_from_its_center_in_one_step(demo):
    center = _fresh_center()
    hh = Household.objects.filter(building=center.household.building).exclude(
        id=center.household_id
    )[0]
    services.center_link(center=center, household=hh)
    pm2, hh2 = _member_household_without_center()
    other = services.center_designate(household=hh2, party_member=pm2)
    services.center_link(center=other, household=hh, move=True)
    assert CenterLink.objects.get(household=hh).center_id == other.id


def _building_box(building, pad=0.00005):
    from django.contrib.gis.geos import Polygon

    x0, y0, x1, y1 = building.footprint.extent
    return Polygon.from_bbox((x0 - pad, y0 - pad, x1 + pad, y1 + pad))


def test_lasso_links_the_unlinked_households_of_the_buildings_it_touches(demo):
    center = _fresh_center()
    building = center.household.building
    CenterPolicy.objects.create(
        community=building.community, min_links=1, max_links=100, max_distance_m=500
    )
    expected = Household.objects.filter(building=building).exclude(id=center.household_id)
    expected = expected.filter(center__isnull=True).count()
    result = services.center_link_area(center=center, polygon=_building_box(building))
    assert result == {"linked": expected, "linked_elsewhere": 0}
    assert center.links.count() == expected
    with pytest.raises(DomainError, match="no household without a center household"):
        services.center_link_area(center=center, polygon=_building_box(building))


def test_a_lasso_beyond_capacity_is_refused_and_links_nothing(demo):
    center = _fresh_center()
    building = center.household.building
    CenterPolicy.objects.create(community=building.community, min_links=1, max_links=5)
    with pytest.raises(
        DomainError, match=r"the lasso holds \d+ unlinked households; .* room for 5"
    ):
        services.center_link_area(center=center, polygon=_building_box(building))
    assert center.links.count() == 0
