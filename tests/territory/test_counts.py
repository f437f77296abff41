"""Cached household and building counts: a refresh of some areas gives what a full refresh gives for
them, and leaves every other area alone. On the demo district, rolled back."""

import pytest

from apps.territory import services
from apps.territory.models import Area, Building, Household

pytestmark = pytest.mark.django_db


def _areas_of(*ids: int) -> set[int]:
    rows = Building.objects.filter(id__in=ids).values_list("community_id", "grid_id", "compound_id")
    return {a for row in rows for a in row if a is not None}


def _counts() -> dict[int, tuple[int, int]]:
    return {
        a: (h, b)
        for a, h, b in Area.objects.filter(valid_to__isnull=True).values_list(
            "id", "households", "buildings"
        )
    }


def test_a_scoped_refresh_fixes_what_the_change_touched_and_nothing_else(demo):
    assert services.area_counts_refresh() == 0  # the demo's counts are right to begin with
    grids = list(Area.objects.filter(level="grid", valid_to__isnull=True).order_by("code"))
    assert len(grids) >= 3
    g_from, g_to, bystander = grids[0], grids[1], grids[2]
    moved = Building.objects.filter(grid=g_from).order_by("id").first()
    grown = Building.objects.filter(grid=g_from).order_by("id").last()
    assert moved.compound_id is not None
    community = g_from.parent
    # an unrelated area with a wrong count: a scoped refresh must not touch it
    Area.objects.filter(pk=bystander.pk).update(households=bystander.households + 1000)

    touched = _areas_of(moved.id, grown.id)  # before the change
    Building.objects.filter(pk=moved.pk).update(grid=g_to, compound=None)
    Building.objects.filter(pk=grown.pk).update(households=grown.households + 7)
    nbh_from = Household.objects.filter(building=grown).values_list("neighbourhood_id", flat=True)[
        0
    ]
    nbh_to = Area.objects.filter(level="neighbourhood", parent=g_to, valid_to__isnull=True)
    nbh_to = nbh_to.values_list("id", flat=True)[0]
    hh = Household.objects.filter(neighbourhood_id=nbh_from).order_by("id")[:3]
    Household.objects.filter(pk__in=[h.pk for h in hh]).update(neighbourhood_id=nbh_to)
    touched |= _areas_of(moved.id, grown.id)  # and after
    touched |= {nbh_from, nbh_to}

    before = _counts()
    changed = services.area_counts_refresh(areas=touched)
    after = _counts()
    # both grids, the compound, the community, the street and two neighbourhood grids
    assert changed == 7
    assert {k for k in after if after[k] != before[k]} <= touched | {community.parent_id}
    assert after[bystander.pk] == before[bystander.pk]  # still wrong: outside the scope
    assert after[g_from.pk][1] == before[g_from.pk][1] - 1  # the moved building
    assert after[g_to.pk][1] == before[g_to.pk][1] + 1
    assert after[moved.compound_id][1] == before[moved.compound_id][1] - 1
    assert after[community.pk][0] == before[community.pk][0] + 7  # the grown building's households
    assert after[community.parent_id][0] == before[community.parent_id][0] + 7
    assert after[nbh_to][0] == before[nbh_to][0] + 3
    assert after[nbh_from][0] == before[nbh_from][0] - 3
    # a full refresh now only has the bystander to fix
    assert services.area_counts_refresh() == 1
    assert services.area_counts_refresh(areas=[]) == 0


def test_a_scoped_refresh_of_a_street_recounts_it_from_all_its_communities(demo):
    street = Area.objects.filter(level="street", valid_to__isnull=True).order_by("code").first()
    right = (street.households, street.buildings)
    Area.objects.filter(pk=street.pk).update(households=0, buildings=0)
    assert services.area_counts_refresh(areas=[street.pk]) == 1
    street.refresh_from_db()
    assert (street.households, street.buildings) == right


def test_areas_of_new_buildings_and_of_reattached_ones(demo):
    top = services.max_building_id()
    assert services.areas_of_buildings_after(top) == set()
    below = Building.objects.filter(id__lte=top).order_by("-id").first()
    assert services.areas_of_buildings_after(top - 1) == _areas_of(below.id)
    # a building attached to the wrong grid: re-attaching it names the grid it left and the one it
    # joined, and nothing for a building that stays where it is
    grids = list(Area.objects.filter(level="grid", valid_to__isnull=True).order_by("code"))
    b = Building.objects.filter(grid=grids[0]).order_by("id").first()
    Building.objects.filter(pk=b.pk).update(grid=grids[1])
    assert services.buildings_reattach(ids=[b.id]) == {grids[0].id, grids[1].id}
    assert Building.objects.get(pk=b.pk).grid_id == grids[0].id
    assert services.buildings_reattach(ids=[b.id]) == set()
