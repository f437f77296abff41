"""Gap kinds that read the people app's owners' committees and center households (党员中心户).
Registered by apps.analytics.gaps when those models exist (GapKind.needs names them).

Center-household limits come from the people app's policy: the community's CenterPolicy row, else the
row without a community, else the built-in defaults (max 30 links, 200 m), the same rule as
apps.people.selectors.center_policy, written here as SQL so a whole city is one statement."""

from django.utils.translation import gettext_lazy

from apps.analytics.sentences import _

# Policy per community: the community's row, else the default row, else built-in numbers.
POLICY_CTE = """
policy AS (
    SELECT c.id AS community_id,
           COALESCE(pc.max_links, pd.max_links, 30) AS max_links,
           COALESCE(pc.max_distance_m, pd.max_distance_m, 200) AS max_distance_m
      FROM territory_area c
      LEFT JOIN people_centerpolicy pc ON pc.community_id = c.id
      LEFT JOIN people_centerpolicy pd ON pd.community_id IS NULL
     WHERE c.level = 'community'
)
"""

COMPOUND_NO_COMMITTEE_SQL = """
SELECT 'compound', a.id, a.name, p.code, CASE WHEN %(geometry)s THEN ST_AsGeoJSON(a.geom, 7) END,
       json_build_object('households', a.households)
  FROM territory_area a
  JOIN territory_area p ON p.id = a.parent_id
 WHERE a.level = 'compound' AND a.valid_from <= now() AND (a.valid_to IS NULL OR a.valid_to > now())
   AND p.code LIKE %(prefix)s
   AND NOT EXISTS (SELECT 1 FROM people_ownerscommittee oc WHERE oc.compound_id = a.id)
 ORDER BY a.code
"""

NEIGHBOURHOOD_NO_CENTER_SQL = """
SELECT 'neighbourhood', a.id, a.name, a.code, CASE WHEN %(geometry)s THEN ST_AsGeoJSON(a.geom, 7) END,
       json_build_object('households', a.households)
  FROM territory_area a
 WHERE a.level = 'neighbourhood' AND a.valid_from <= now() AND (a.valid_to IS NULL OR a.valid_to > now())
   AND a.code LIKE %(prefix)s
   AND NOT EXISTS (SELECT 1 FROM people_buildingtally t
                    WHERE t.neighbourhood_id = a.id AND t.centers > 0)
 ORDER BY a.code
"""

# Households neither linked to a center household nor one themselves, per building.
HOUSEHOLD_NO_CENTER_SQL = """
SELECT 'building', b.id, COALESCE(k.name || ' ', '') || b.name, COALESCE(g.code, c.code, ''),
       CASE WHEN %(geometry)s THEN ST_AsGeoJSON(b.footprint, 7) END, json_build_object('households', x.n, 'total', b.households)
  FROM (SELECT building_id, sum(unlinked) AS n FROM people_buildingtally
         GROUP BY building_id HAVING sum(unlinked) > 0) x
  JOIN territory_building b ON b.id = x.building_id
  LEFT JOIN territory_area c ON c.id = b.community_id
  LEFT JOIN territory_area g ON g.id = b.grid_id
  LEFT JOIN territory_area k ON k.id = b.compound_id
 WHERE COALESCE(g.code, c.code, '') LIKE %(prefix)s
 ORDER BY b.id
"""

# Linked households whose building is farther (geodesic, between the buildings' points on surface)
# from their center household's building than the community's policy allows. Pairs of buildings closer
# than the limit in plain degrees × 112 km (more than a degree of latitude or longitude measures
# anywhere) are within it and skip the geodesic distance.
HOUSEHOLD_FAR_CENTER_SQL = f"""
WITH {POLICY_CTE},
pair AS (
    SELECT building_id, center_building_id AS center_building, sum(links) AS n
      FROM people_buildingcenter
     WHERE center_building_id <> building_id
     GROUP BY 1, 2
),
far AS (
    SELECT pair.building_id, pair.center_building, pair.n, round(d.m::numeric) AS d,
           COALESCE(pol.max_distance_m, 200) AS limit_m
      FROM pair
      JOIN territory_building hb ON hb.id = pair.building_id
      JOIN territory_building cb ON cb.id = pair.center_building
      LEFT JOIN policy pol ON pol.community_id = hb.community_id
     CROSS JOIN LATERAL (SELECT ST_PointOnSurface(hb.footprint) AS hp,
                                ST_PointOnSurface(cb.footprint) AS cp) p
     CROSS JOIN LATERAL (SELECT ST_Distance(p.hp::geography, p.cp::geography) AS m) d
     WHERE NOT ST_DWithin(p.hp, p.cp, COALESCE(pol.max_distance_m, 200) / 112000.0)
       AND d.m > COALESCE(pol.max_distance_m, 200)
)
SELECT 'building', b.id, COALESCE(k.name || ' ', '') || b.name, COALESCE(g.code, c.code, ''),
       CASE WHEN %(geometry)s THEN ST_AsGeoJSON(b.footprint, 7) END,
       json_build_object('households', far.n, 'distance_m', far.d, 'limit_m', far.limit_m,
                         'center_building', cbn.name)
  FROM far
  JOIN territory_building b ON b.id = far.building_id
  JOIN territory_building cbn ON cbn.id = far.center_building
  LEFT JOIN territory_area c ON c.id = b.community_id
  LEFT JOIN territory_area g ON g.id = b.grid_id
  LEFT JOIN territory_area k ON k.id = b.compound_id
 WHERE COALESCE(g.code, c.code, '') LIKE %(prefix)s
 ORDER BY b.id
"""  # noqa: S608 - POLICY_CTE is a code constant

CENTER_OVER_CAPACITY_SQL = f"""
WITH {POLICY_CTE}
SELECT 'center', ch.id, COALESCE(k.name || ' ', '') || b.name || ' ' || h.room, COALESCE(g.code, c.code, ''),
       CASE WHEN %(geometry)s THEN ST_AsGeoJSON(ST_PointOnSurface(b.footprint), 7) END,
       json_build_object('links', x.n, 'max_links', COALESCE(pol.max_links, 30))
  FROM (SELECT center_id, sum(links) AS n FROM people_buildingcenter GROUP BY center_id
        HAVING sum(links) > LEAST(30, (SELECT min(max_links) FROM policy))) x
  JOIN people_centerhousehold ch ON ch.id = x.center_id
  JOIN territory_household h ON h.id = ch.household_id
  JOIN territory_building b ON b.id = h.building_id
  LEFT JOIN policy pol ON pol.community_id = b.community_id
  LEFT JOIN territory_area c ON c.id = b.community_id
  LEFT JOIN territory_area g ON g.id = b.grid_id
  LEFT JOIN territory_area k ON k.id = b.compound_id
 WHERE x.n > COALESCE(pol.max_links, 30) AND COALESCE(g.code, c.code, '') LIKE %(prefix)s
 ORDER BY ch.id
"""  # noqa: S608 - POLICY_CTE is a code constant


def kinds():
    from apps.analytics.gaps import GapKind

    committees = ("people.OwnersCommittee",)
    centers = ("people.CenterHousehold", "people.CenterLink", "people.CenterPolicy")
    return [
        GapKind(
            "compound_no_committee",
            gettext_lazy("Compounds with no owners' committee"),
            COMPOUND_NO_COMMITTEE_SQL,
            lambda name, d, p: (
                _("Compound %(name)s (%(households)s households) has no owners' committee.")
                % {"name": name, "households": d["households"]}
            ),
            needs=committees,
        ),
        GapKind(
            "neighbourhood_no_center",
            gettext_lazy("Neighbourhood grids with no center household"),
            NEIGHBOURHOOD_NO_CENTER_SQL,
            lambda name, d, p: (
                _(
                    "Neighbourhood grid %(name)s (%(households)s households) has no party-member center "
                    "household."
                )
                % {"name": name, "households": d["households"]}
            ),
            needs=centers,
        ),
        GapKind(
            "household_no_center",
            gettext_lazy("Households linked to no center household"),
            HOUSEHOLD_NO_CENTER_SQL,
            lambda name, d, p: (
                _(
                    "%(households)s of the %(total)s households of building %(name)s are linked to no "
                    "center household."
                )
                % {"name": name, "households": d["households"], "total": d["total"]}
            ),
            needs=centers,
        ),
        GapKind(
            "household_far_center",
            gettext_lazy("Households too far from their center household"),
            HOUSEHOLD_FAR_CENTER_SQL,
            lambda name, d, p: (
                _(
                    "%(households)s households of building %(name)s are linked to a center household in "
                    "%(center)s, %(distance)s m away (the limit is %(limit)s m)."
                )
                % {
                    "name": name,
                    "households": d["households"],
                    "center": d["center_building"],
                    "distance": d["distance_m"],
                    "limit": d["limit_m"],
                }
            ),
            needs=centers,
        ),
        GapKind(
            "center_over_capacity",
            gettext_lazy("Center households over capacity"),
            CENTER_OVER_CAPACITY_SQL,
            lambda name, d, p: (
                _(
                    "The center household %(name)s looks after %(links)s households, more than the "
                    "%(max)s allowed."
                )
                % {"name": name, "links": d["links"], "max": d["max_links"]}
            ),
            needs=centers,
        ),
    ]
