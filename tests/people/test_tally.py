"""The per-building tallies (apps.people.tally) equal a recount from the source tables after every kind
of write: households added, moved between buildings and neighbourhood grids, deleted; links made,
moved to another center, deleted; center households designated and removed (their links cascading);
raw SQL; TRUNCATE; and the bulk demo path."""

import pytest
from django.db import connection

from apps.people.models import CenterHousehold, CenterLink
from apps.territory.models import Area, Building, Household

RECOUNT_TALLY = """
SELECT h.building_id, h.neighbourhood_id, count(*)::int,
       count(*) FILTER (WHERE l.id IS NULL AND c.id IS NULL)::int, count(c.id)::int
  FROM territory_household h
  LEFT JOIN people_centerlink l ON l.household_id = h.id
  LEFT JOIN people_centerhousehold c ON c.household_id = h.id
 GROUP BY 1, 2
"""
RECOUNT_CENTERS = """
SELECT h.building_id, l.center_id, ch.building_id, count(*)::int
  FROM territory_household h
  JOIN people_centerlink l ON l.household_id = h.id
  JOIN people_centerhousehold c ON c.id = l.center_id
  JOIN territory_household ch ON ch.id = c.household_id
 GROUP BY 1, 2, 3
"""


def _set(sql):
    with connection.cursor() as cur:
        cur.execute(sql)
        return set(cur.fetchall())


def assert_tallies_match():
    tally = _set(
        "SELECT building_id, neighbourhood_id, households, unlinked, centers FROM people_buildingtally"
    )
    assert tally == _set(RECOUNT_TALLY)
    centers = "SELECT building_id, center_id, center_building_id, links FROM people_buildingcenter"
    assert _set(centers) == _set(RECOUNT_CENTERS)


@pytest.fixture
def centers(demo):
    assert CenterLink.objects.exists() and CenterHousehold.objects.exists()
    assert_tallies_match()  # as the demo seeding left them


def test_household_writes(centers):
    linked = CenterLink.objects.select_related("household").first().household
    other = Building.objects.exclude(id=linked.building_id).filter(households__gt=0).first()
    # a linked household moves to another building and out of its neighbourhood grid
    Household.objects.filter(id=linked.id).update(building=other, neighbourhood=None)
    assert_tallies_match()
    # a new household in that building, then one in a neighbourhood grid
    unit = other.units.first()
    new = Household.objects.create(building=other, unit=unit, floor=1, room="9901")
    assert_tallies_match()
    nbh = Area.objects.filter(level="neighbourhood").first()
    Household.objects.filter(id=new.id).update(neighbourhood=nbh)
    assert_tallies_match()
    # an update that moves nothing touches nothing
    with connection.cursor() as cur:
        cur.execute("UPDATE territory_household SET room = room WHERE building_id = %s", [other.id])
    assert_tallies_match()
    # deleting households (their residents and links cascade in Django first; a center household's
    # party member is protected)
    gone = Household.objects.filter(building=other, center__isnull=True)
    assert gone.filter(center_link__isnull=False).exists()
    gone.delete()
    assert_tallies_match()


def test_a_center_household_moving(centers):
    center = CenterHousehold.objects.filter(links__isnull=False).select_related("household").first()
    elsewhere = Building.objects.exclude(id=center.household.building_id).first()
    # its household moves: the buildings it looks after now name another building
    Household.objects.filter(id=center.household_id).update(building=elsewhere)
    assert_tallies_match()
    # the center row names another (new, unlinked) household of another building
    third = Building.objects.exclude(id__in=[elsewhere.id, center.household.building_id]).first()
    other = Household.objects.create(building=third, unit=third.units.first(), floor=1, room="9902")
    CenterHousehold.objects.filter(id=center.id).update(household=other)
    assert_tallies_match()


def test_link_and_center_writes(centers):
    link = CenterLink.objects.select_related("center__household").first()
    another = CenterHousehold.objects.exclude(id=link.center_id).first()
    # move a link to another center household, then delete it
    CenterLink.objects.filter(id=link.id).update(center=another)
    assert_tallies_match()
    CenterLink.objects.filter(id=link.id).delete()
    assert_tallies_match()
    # link it again (now by raw SQL), to a center in another building
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO people_centerlink (center_id, household_id, created_at) "
            "VALUES (%s, %s, now())",
            [another.id, link.household_id],
        )
    assert_tallies_match()
    # a center household removed: its links go with it (Django's cascade), its own household is
    # unlinked again
    CenterHousehold.objects.filter(id=another.id).delete()
    assert_tallies_match()
    # many links at once, in one statement
    CenterLink.objects.filter(household__building__grid__isnull=False).delete()
    assert_tallies_match()


def test_truncate_rebuilds(centers):
    with connection.cursor() as cur:
        cur.execute("TRUNCATE people_centerlink")
    assert_tallies_match()
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute("TRUNCATE territory_household CASCADE")
    assert_tallies_match()
    assert not _set("SELECT 1 FROM people_buildingtally")
