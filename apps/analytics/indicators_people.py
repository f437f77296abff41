"""Indicators from the people app: party members among owners' committee members, and center-household
coverage of households. Used by apps.analytics.indicators when the models exist; formulas in
docs/ANALYTICS.md. These have no history in the people app beyond creation times, so a month shows the
state at its end as far as creation times tell (members and links created after it are left out)."""

from django.apps import apps as django_apps

from apps.common.routers import read_cursor

# Committee members of committees of the area's current compounds; party members among them.
COMMITTEE_SQL = """
SELECT count(*), count(pm.id)
  FROM people_committeemember cm
  JOIN people_ownerscommittee oc ON oc.id = cm.committee_id
  JOIN territory_area a ON a.id = oc.compound_id
  LEFT JOIN people_partymember pm ON pm.resident_id = cm.resident_id
 WHERE a.code LIKE %(prefix)s AND oc.formed < %(at)s::date
"""

# Households of the area's buildings (by the grid/community the building is attached to) that are a
# center household or linked to one, created before `at`.
CENTER_SQL = """
SELECT count(*),
       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM people_centerlink l
                                       WHERE l.household_id = h.id AND l.created_at < %(at)s)
                           OR EXISTS (SELECT 1 FROM people_centerhousehold ch
                                       WHERE ch.household_id = h.id AND ch.designated_at < %(at)s))
  FROM territory_household h
  JOIN territory_building b ON b.id = h.building_id
  LEFT JOIN territory_area c ON c.id = b.community_id
 WHERE c.code LIKE %(prefix)s
"""


def _exists(*labels) -> bool:
    try:
        for label in labels:
            django_apps.get_model(label)
    except LookupError:
        return False
    return True


def month_indicators(*, code: str, at, households: int) -> dict:
    out = {}
    params = {"prefix": code + "%", "at": at}
    with read_cursor() as cur:
        if _exists("people.OwnersCommittee", "people.CommitteeMember", "people.PartyMember"):
            cur.execute(COMMITTEE_SQL, params)
            members, party = cur.fetchone()
            out["committee_party_share"] = {
                "value": round(party / members, 6) if members else None,
                "num": party,
                "den": members,
            }
        if _exists("people.CenterHousehold", "people.CenterLink"):
            cur.execute(CENTER_SQL, params)
            total, covered = cur.fetchone()
            out["center_coverage"] = {
                "value": round(covered / total, 6) if total else None,
                "num": covered,
                "den": total,
            }
    return out
