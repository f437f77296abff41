"""Demo issues: a few hundred per scale unit over the last twelve months, at buildings of the demo
district, walked through the loop with realistic delays (most old issues closed and rated, recent ones
still open, some late, some reworked, a few rejected or duplicate). Deterministic for a seed; bulk
inserts only. Also an Open311 key for trying the API: `demo-open311-key`.

From BULK_MIN_SCALE (apps.common.demo) on, the issues are generated set-based in SQL instead
(`seed_bulk`, BULK_PER_SCALE per scale unit: ~10M for a megacity); see the comment above it."""

import io
from datetime import date, timedelta

import h3
import numpy as np
from django.contrib.gis.geos import Point
from django.db import connection
from django.utils import timezone

from apps.common.demo import (
    bulk_loading,
    bulk_mode,
    demo_sql_functions,
    planner_settings,
    progress_bar,
    salt,
)
from apps.issues import reasons, services
from apps.issues.models import (
    H3_RES,
    ApiKey,
    Category,
    Issue,
    IssueEvent,
    Source,
    Status,
    h3_cell_of,
)
from apps.issues.selectors import locate_many
from apps.territory.models import Area
from apps.territory.selectors import EDGE_EPS, consistent_chain

PER_SCALE = 400
TOP_WEIGHTS = {"property": 0.45, "enforcement": 0.2, "dispute": 0.2, "assistance": 0.15}
SOURCES = [Source.RESIDENT, Source.PATROL, Source.HOTLINE, Source.ONLINE, Source.MEETING]
SOURCE_P = [0.35, 0.3, 0.2, 0.12, 0.03]
TEXTS = {
    "property": [
        "楼道灯不亮",
        "电梯经常停运",
        "下水道堵塞, 污水外溢",
        "小区门禁坏了",
        "垃圾清运不及时",
        "绿化带杂草丛生",
        "地下车库漏水",
        "消防通道被占用",
    ],
    "enforcement": [
        "楼顶违章搭建",
        "店铺占道经营",
        "夜间施工噪音扰民",
        "群租房安全隐患",
        "小广告乱贴",
    ],
    "dispute": ["楼上漏水邻居不处理", "停车位纠纷", "物业费争议", "装修噪音引发矛盾", "拖欠工资"],
    "assistance": ["独居老人需要助餐", "残疾人出行需要帮助", "低保申请咨询", "困难家庭就医求助"],
}
_ALPHABET = list("23456789ABCDEFGHJKLMNPQRSTUVWXYZ")


def _building_points(rng) -> list[tuple[float, float]]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(footprint) p FROM territory_building "
            "ORDER BY id) t"
        )
        return cur.fetchall()


def seed_demo(*, seed: int, scale: float) -> dict:
    services.categories_load()
    ApiKey.objects.get_or_create(key="demo-open311-key", defaults={"name": "demo client"})
    partitions_ensure()
    if bulk_mode(scale):
        return seed_bulk(seed=seed, scale=scale)
    points = _building_points(np.random.default_rng(seed))
    if not points:
        return {"issues": 0}
    rng = np.random.default_rng(seed + 404)
    n = max(20, int(PER_SCALE * scale))
    # Issues are dated in whole seconds before `now`; they are located at the present moment, which
    # is after the territory was drawn (within the second `now` was rounded down from, maybe).
    located_at = timezone.now()
    now = located_at.replace(microsecond=0)
    tops = {c.code: c for c in Category.objects.filter(parent=None)}
    children = {code: list(c.children.order_by("sort")) for code, c in tops.items()}

    # Places: a building's point on surface moved up to ~40 m, so pins cluster at homes.
    picks = rng.integers(0, len(points), size=n)
    jitter = rng.normal(0, 0.00015, size=(n, 2))
    ages = rng.exponential(120, size=n).clip(0, 364)  # days; more recent issues than old ones
    created = [now - timedelta(days=float(a), hours=float(rng.uniform(0, 12))) for a in ages]
    coords = [
        (float(points[i][0] + jitter[k, 0]), float(points[i][1] + jitter[k, 1]))
        for k, i in enumerate(picks)
    ]
    located = locate_many([(x, y, located_at) for x, y in coords])
    area_ids = {v[0] for loc in located for key, v in loc.items() if key != "building"}
    areas_by_id = Area.objects.in_bulk(list(area_ids))
    routes: dict = {}

    issues, plans = [], []
    top_codes = list(TOP_WEIGHTS)
    for k in range(n):
        top = tops[top_codes[rng.choice(len(top_codes), p=list(TOP_WEIGHTS.values()))]]
        sub = children[top.code][int(rng.integers(0, len(children[top.code])))]
        loc = located[k]
        areas = {
            lv: areas_by_id[loc[lv][0]] if lv in loc else None
            for lv in ("street", "community", "grid", "neighbourhood", "compound")
        }
        key = (sub.id, *(a.id if a else None for a in areas.values()))
        if key not in routes:
            routes[key] = services.route_for(category=top, subcategory=sub, areas=areas)
        route = routes[key]
        t0 = created[k]
        sla = sub.sla_hours or top.sla_hours
        issue = Issue(
            tracking_code="LD" + "".join(rng.choice(_ALPHABET, size=8)),
            point=Point(*coords[k], srid=4326),
            h3_cell=h3_cell_of(Point(*coords[k], srid=4326)),
            address="",
            category=top,
            subcategory=sub,
            description=str(rng.choice(TEXTS[top.code])),
            source=SOURCES[int(rng.choice(len(SOURCES), p=SOURCE_P))],
            priority=str(rng.choice(["low", "normal", "normal", "normal", "high", "urgent"])),
            created_at=t0,
            due_at=t0 + timedelta(hours=sla),
            street=areas["street"],
            community=areas["community"],
            grid=areas["grid"],
            neighbourhood=areas["neighbourhood"],
            compound=areas["compound"],
            building_id=loc.get("building"),
            outside=areas["street"] is None,
            area_code=services.area_code_of(areas),
            token=f"demo-{seed}-{k}",
            **route.as_fields(),
        )
        events = [
            ("create", "", Status.COLLECTED, t0, [reasons.step("received", source=issue.source)]),
            ("route", Status.COLLECTED, Status.COLLECTED, t0, route.reason),
        ]
        _walk(issue, events, rng, now, sla, route)
        issues.append(issue)
        plans.append(events)

    Issue.objects.bulk_create(issues, batch_size=1000)
    IssueEvent.objects.bulk_create(
        [
            IssueEvent(
                issue=issue,
                action=a,
                from_status=f,
                to_status=t,
                at=at,
                **_what(said),
                actor_name="demo",
            )
            for issue, events in zip(issues, plans, strict=True)
            for a, f, t, at, said in events
        ],
        batch_size=5000,
    )
    return {"issues": len(issues)}


def _what(said) -> dict:
    """An event's words: a list is the system's steps (IssueEvent.reason), a string a person's note."""
    return {"reason": said} if isinstance(said, list) else {"note": said}


def _walk(issue: Issue, events: list, rng, now, sla: int, route) -> None:
    """Advance the issue along the loop with random delays; stop at the first step still in the future."""
    t = issue.created_at
    status = Status.COLLECTED

    def step(action, target, hours, note=""):
        nonlocal t, status
        at = t + timedelta(hours=float(hours))
        if at > now:
            return False
        events.append((action, status, target, at, note))
        t, status = at, target
        return True

    def handle(median_share: float) -> bool:
        """accept → resolve; handling time log-normal around a share of the SLA (a tail runs late)."""
        if not step("accept", Status.ACCEPTED, rng.uniform(0.5, 12)):
            return False
        if not step(
            "resolve", Status.RESOLVED, sla * rng.lognormal(np.log(median_share), 0.6), "已处置"
        ):
            return False
        issue.resolved_at = t
        return True

    def rate(p) -> int | None:
        rating = int(rng.choice([1, 2, 3, 4, 5], p=p))
        if not step(
            "rate", Status.RATED, rng.uniform(4, 72), [reasons.step("rating", rating=rating)]
        ):
            return None
        issue.rating = rating
        return rating

    def run():
        r = rng.random()
        if r < 0.04:
            if step("reject", Status.REJECTED, rng.uniform(1, 24), "不属于受理范围"):
                issue.closed_at = t
            return
        if r < 0.07:
            if step("duplicate", Status.DUPLICATE, rng.uniform(1, 12), "重复上报"):
                issue.closed_at = t
            return
        if route.kind == "none":
            return
        if rng.random() < 0.1 and not step(
            "consult", Status.CONSULTED, rng.uniform(2, 48), "民主协商"
        ):
            return
        if not step("dispatch", Status.DISPATCHED, rng.uniform(0.5, 8)):
            return
        if rng.random() < 0.06:  # the handler never picks it up: open and, in time, overdue
            return
        if not handle(0.45):
            return
        if rng.random() < 0.25:  # not rated: closed by staff after a call-back
            if step("close", Status.CLOSED, rng.uniform(48, 120), "居民未评价, 回访后结案"):
                issue.closed_at = t
            return
        rating = rate([0.04, 0.05, 0.13, 0.35, 0.43])
        if rating is None:
            return
        if rating <= 2 and rng.random() < 0.7:
            if not step("reopen", Status.DISPATCHED, rng.uniform(2, 24), "居民不满意, 返工"):
                return
            issue.rework_count += 1
            issue.rating = None
            issue.resolved_at = None
            issue.due_at = t + timedelta(hours=sla)
            if not handle(0.4) or rate([0, 0, 0.3, 0.4, 0.3]) is None:
                return
        if step("close", Status.CLOSED, rng.uniform(24, 96), "总结提升"):
            issue.closed_at = t

    run()
    issue.status = status
    issue.updated_at = t


def partitions_ensure() -> None:
    """Make sure the monthly partitions of the demo's year exist (when issues are partitioned), so the
    rows go to their months rather than the default partition."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT to_regprocedure('linli_issue_partitions_ensure(integer, integer)') IS NOT NULL"
        )
        if cur.fetchone()[0]:
            cur.execute("SELECT count(*) FROM linli_issue_partitions_ensure(13, 3)")


# ---------------------------------------------------------------- bulk path (large scales)
#
# Issues are generated inside PostgreSQL, one INSERT ... SELECT per batch of BULK_BATCH issues, with
# no row passing through Python:
#
# 1. Spots (`_demo_spot`): every building gets an entrance point inside its footprint per unit (up to
#    MAX_SPOT_UNITS) and one point in front of it (pavement, parking). Issues are pinned at spots, as
#    hotline records are geocoded to addresses; a spot's weight is the building's households times a
#    log-normal "problem building" factor, times HOT_FACTOR near a few planted hotspots.
# 2. Each spot is located once with the rule of `apps.issues.selectors.locate_many` (areas valid now,
#    covering within EDGE_EPS; one consistent chain; the compound of the chosen community with the
#    lowest code; the lowest-id building whose footprint holds the point). A spot covered by one area
#    per level whose codes extend each other is resolved in SQL; any other spot (shared edges) is
#    resolved by `consistent_chain` itself. Its H3 cell (resolution 15, as intake's h3_cell_of) and its
#    routing inputs (the compound's property company, the grid leader) are looked up once too.
# 3. Issue counts are allocated to spots in proportion to their weights (exactly round(BULK_PER_SCALE
#    × scale) in all); issue number k of the city draws every random choice from hash(k, salt), so the
#    rows do not depend on batch sizes or plans. Categories by TOP_WEIGHTS (enforcement more likely in
#    front of a building), subcategories uniform, received times over the last 365 days by a seasonal
#    (summer peak, Spring Festival dip) and weekly profile and an hour-of-day profile; statuses, times
#    and ratings by the same loop as `_walk`, written as CASE expressions; routing by the rules of
#    `services.route_for`.
# 4. History (IssueEvent) is written for the issues of the first street only (where the demo logins
#    work): the rest of the app reads events only to show an issue's history, and ~6 events per issue
#    would be ~60M rows for a megacity (docs/BENCHMARKS.md).

BULK_PER_SCALE = 1500  # ~10M issues at megacity scale (6,700)
BULK_BATCH = 250_000  # issues per INSERT (progress; bounded transition tables for the triggers)
MAX_SPOT_UNITS = 6
FRONT_DEG = 0.00008  # the spot in front of a building: ~9 m south of its footprint
HOT_FACTOR = 4.0  # weight of buildings near a planted hotspot
HOT_RADIUS_DEG = 0.0035  # ~350 m
# Of a hotspot building's issues, this share is the hotspot's own: its category, and for an emerging
# hotspot a time in the last four weeks.
HOT_SHARE = 0.75
HOT_CODES = [
    "property-parking",
    "enforcement-noise",
    "property-sanitation",
    "enforcement-vending",
    "property-repair",
    "enforcement-construction",
]
OUTSIDE_WEIGHTS = {"property": 0.3, "enforcement": 0.4, "dispute": 0.2, "assistance": 0.1}
PRIORITIES = ["low", "normal", "normal", "normal", "high", "urgent"]
QUANTILES = 4096  # resolution of the lookup tables for days, minutes and categories

# Salts of the draws (apps.common.demo.salt): one per independent random choice.
S_BUILDING, S_HOT = 901, 902
(U_HOT, U_CAT, U_TXT, U_SRC, U_PRI, U_DAY, U_MIN, U_SEC, U_BRANCH, U_REJ, U_DUP, U_CONSULT,
 U_CON, U_DIS, U_NEVER, U_ACC, Z_RES, U_UNRATED, U_CLOSE1, U_RATE, U_RATING, U_REOPEN, U_REO,
 U_ACC2, Z_RES2, U_RATE2, U_RATING2, U_CLOSE2) = range(1, 29)  # fmt: skip

# Unlogged tables, not temporary ones, for what parallel workers read (they cannot read temporary
# tables): the spots (`_locate_spots`), and the places, categories and departments the issue rows are
# generated from (`seed_bulk`). Dropped by seed_bulk (`SHARED_TABLES`), and with the transaction if it
# fails.
SHARED_TABLES = ("_demo_spot", "_demo_place", "_demo_cat", "_demo_dept")
SPOTS_SQL = """
CREATE UNLOGGED TABLE _demo_spot AS
SELECT b.id * 8 + k.k AS id, b.id AS bid, k.k > 0 AS inside,
       CASE WHEN k.k = 0 THEN (b.x0 + b.x1) / 2 ELSE b.x0 + (k.k - 0.5) / b.u * (b.x1 - b.x0) END AS x,
       CASE WHEN k.k = 0 THEN b.y0 - %(front)s ELSE b.y0 + 0.3 * (b.y1 - b.y0) END AS y,
       b.w * CASE WHEN k.k = 0 THEN 0.2 ELSE 0.8 / b.u END AS w
  FROM (SELECT id, ST_XMin(footprint) AS x0, ST_XMax(footprint) AS x1,
               ST_YMin(footprint) AS y0, ST_YMax(footprint) AS y1,
               LEAST(GREATEST(COALESCE(units_count, 1), 1), %(max_units)s) AS u,
               (COALESCE(households, 0) + 4) * exp(0.7 * pg_temp.demo_z(id, %(s_building)s)) AS w
          FROM territory_building WHERE footprint IS NOT NULL) b
 CROSS JOIN LATERAL generate_series(0, b.u) AS k(k)
"""

# A few hotspot centres (buildings drawn by hash) and the buildings within HOT_RADIUS_DEG of them.
HOT_SQL = """
CREATE TEMP TABLE _demo_hot ON COMMIT DROP AS
WITH centres AS (
    SELECT (row_number() OVER (ORDER BY hashint8extended(id, %(s_hot)s), id) - 1)::int AS h,
           ST_PointOnSurface(footprint) AS g
      FROM (SELECT id, footprint FROM territory_building WHERE footprint IS NOT NULL
             ORDER BY hashint8extended(id, %(s_hot)s), id LIMIT %(n_hot)s) c
)
SELECT DISTINCT ON (b.id) b.id AS bid, c.h
  FROM centres c JOIN territory_building b ON ST_DWithin(b.footprint, c.g, %(radius)s)
 ORDER BY b.id, c.h
"""

# Step 2: the areas and building of each spot, as locate_many would find them. Joins and GROUP BY, not
# a LATERAL aggregate or a correlated subquery per spot: PostgreSQL 15 runs neither in parallel
# workers (their parameters are parallel-restricted), and the joins let it split the GiST probes
# between workers. Spots with no area or building keep their row (LEFT JOIN; counts 0).
LOCATE_SQL = """
SELECT s.id, COALESCE(c.n_street, 0) AS n_street, COALESCE(c.n_community, 0) AS n_community,
       COALESCE(c.n_grid, 0) AS n_grid, COALESCE(c.n_neighbourhood, 0) AS n_neighbourhood,
       c.street_id, c.street_code, c.community_id, c.community_code, c.grid_id, c.grid_code,
       c.neighbourhood_id, c.neighbourhood_code, c.compound_ids, c.compound_codes,
       (COALESCE(c.n_street, 0) <= 1 AND COALESCE(c.n_community, 0) <= 1 AND COALESCE(c.n_grid, 0) <= 1
        AND COALESCE(c.n_neighbourhood, 0) <= 1
        AND (c.community_code IS NULL OR c.street_code IS NULL
             OR starts_with(c.community_code, c.street_code))
        AND (c.grid_code IS NULL
             OR starts_with(c.grid_code, COALESCE(c.community_code, c.street_code, '')))
        AND (c.neighbourhood_code IS NULL
             OR starts_with(c.neighbourhood_code,
                            COALESCE(c.grid_code, c.community_code, c.street_code, '')))
       ) AS simple,
       bb.building_id
  FROM _demo_spot s
  LEFT JOIN (
    SELECT id,
           count(*) FILTER (WHERE level = 'street') AS n_street,
           count(*) FILTER (WHERE level = 'community') AS n_community,
           count(*) FILTER (WHERE level = 'grid') AS n_grid,
           count(*) FILTER (WHERE level = 'neighbourhood') AS n_neighbourhood,
           min(area_id) FILTER (WHERE level = 'street') AS street_id,
           min(code) FILTER (WHERE level = 'street') AS street_code,
           min(area_id) FILTER (WHERE level = 'community') AS community_id,
           min(code) FILTER (WHERE level = 'community') AS community_code,
           min(area_id) FILTER (WHERE level = 'grid') AS grid_id,
           min(code) FILTER (WHERE level = 'grid') AS grid_code,
           min(area_id) FILTER (WHERE level = 'neighbourhood') AS neighbourhood_id,
           min(code) FILTER (WHERE level = 'neighbourhood') AS neighbourhood_code,
           array_agg(area_id ORDER BY code, area_id) FILTER (WHERE level = 'compound') AS compound_ids,
           array_agg(code ORDER BY code, area_id) FILTER (WHERE level = 'compound') AS compound_codes
      FROM (SELECT DISTINCT s.id, p.level, a.id AS area_id, a.code
              FROM _demo_spot s
              JOIN territory_areapart p
                ON ST_DWithin(p.geom, ST_SetSRID(ST_MakePoint(s.x, s.y), 4326), %(eps)s)
               AND p.valid_from <= %(at)s AND (p.valid_to IS NULL OR p.valid_to > %(at)s)
              JOIN territory_area a ON a.id = p.area_id
             WHERE s.id BETWEEN %(lo)s AND %(hi)s) found
     GROUP BY id
  ) c ON c.id = s.id
  LEFT JOIN (
    SELECT s.id, min(b.id) AS building_id
      FROM _demo_spot s
      JOIN territory_building b ON ST_Intersects(b.footprint, ST_SetSRID(ST_MakePoint(s.x, s.y), 4326))
     WHERE s.id BETWEEN %(lo)s AND %(hi)s
     GROUP BY s.id
  ) bb ON bb.id = s.id
 WHERE s.id BETWEEN %(lo)s AND %(hi)s
"""

CANDIDATES_SQL = """
SELECT DISTINCT s.id, p.level, a.id, a.code
  FROM _demo_spot s
  JOIN territory_areapart p
    ON ST_DWithin(p.geom, ST_SetSRID(ST_MakePoint(s.x, s.y), 4326), %(eps)s)
   AND p.valid_from <= %(at)s AND (p.valid_to IS NULL OR p.valid_to > %(at)s)
  JOIN territory_area a ON a.id = p.area_id
 WHERE s.id = ANY(%(ids)s)
"""

# Step 2, continued, and step 3: one row per spot with everything an issue there needs, and its share
# of the issues ([first, first + n) of the city's issue numbers).
PLACE_SQL = """
CREATE UNLOGGED TABLE _demo_place AS
WITH w AS (
    SELECT s.id, s.x, s.y, s.inside, hot.h AS hot,
           s.w * CASE WHEN hot.h IS NULL THEN 1 ELSE %(hot_factor)s END AS w
      FROM _demo_spot s LEFT JOIN _demo_hot hot ON hot.bid = s.bid
), alloc AS (
    -- integer weights (milli-units) summed exactly (sum of bigint is numeric): the shares of
    -- consecutive spots telescope, so every issue number 0..n-1 goes to exactly one spot
    SELECT i.*, sum(i.wi) OVER (ORDER BY i.id) AS cum, sum(i.wi) OVER () AS total
      FROM (SELECT w.*, GREATEST(1, round(w.w * 1000))::bigint AS wi FROM w) i
)
SELECT a.id, a.x, a.y, a.inside, a.hot,
       (%(hot_rows)s::int[])[1 + a.hot %% cardinality(%(hot_rows)s::int[])] AS hot_k,
       a.hot %% 3 = 0 AS recent,
       h.cell AS h3_cell,
       l.street_id, l.community_id, l.grid_id, l.neighbourhood_id, l.building_id,
       (SELECT u.cid FROM unnest(l.compound_ids, l.compound_codes) AS u(cid, ccode)
         WHERE starts_with(u.ccode, COALESCE(l.community_code, ''))
         ORDER BY u.ccode, u.cid LIMIT 1) AS compound_id,
       COALESCE(l.neighbourhood_code, l.grid_code, l.community_code, l.street_code, '') AS area_code,
       ld.leader_id,
       div(%(n)s * (a.cum - a.wi), a.total)::bigint AS first,
       (div(%(n)s * a.cum, a.total) - div(%(n)s * (a.cum - a.wi), a.total))::int AS n
  FROM alloc a
  JOIN _demo_loc l ON l.id = a.id
  JOIN _demo_h3 h ON h.id = a.id
  LEFT JOIN (SELECT area_id, min(id) AS leader_id FROM people_staffassignment
              WHERE role = 'grid_leader' AND active GROUP BY area_id) ld ON ld.area_id = l.grid_id
"""

# The property company of each compound a spot is in (PropertyService is one-to-one per compound).
COMPANY_SQL = """
ALTER TABLE _demo_place ADD COLUMN company_id bigint;
UPDATE _demo_place p SET company_id = s.company_id
  FROM (SELECT compound_id, min(company_id) AS company_id FROM people_propertyservice
         GROUP BY compound_id) s
 WHERE s.compound_id = p.compound_id;
CREATE INDEX ON _demo_place (id);
ANALYZE _demo_place;
"""

# services.department_for for every street and department kind the categories name.
DEPARTMENTS_SQL = """
CREATE UNLOGGED TABLE _demo_dept AS
SELECT st.id AS street_id, k.kind,
       COALESCE((SELECT min(d.id) FROM people_department d WHERE d.kind = k.kind AND d.street_id = st.id),
                (SELECT min(d.id) FROM people_department d WHERE d.kind = k.kind AND d.street_id IS NULL))
           AS dept_id
  FROM (SELECT DISTINCT street_id AS id FROM _demo_place WHERE street_id IS NOT NULL) st
 CROSS JOIN unnest(%(kinds)s::text[]) AS k(kind)
"""

# Step 3: the issues of the spots matching {where}, with every step of the loop on each one's path (as
# _walk: NULL off the path), as epoch seconds (float arithmetic; timestamps only in the output).
# Built as levels (`_level`): each adds columns computed from the level below it, which it reads as a
# subquery in FROM, fenced by OFFSET NULL so that every value is computed once per row (pulled up,
# PostgreSQL would repeat an expression wherever it is referenced). Neither LATERAL subqueries nor
# OFFSET 0: in PostgreSQL 15 a LATERAL subquery's outer values are parameters only the leader may
# evaluate, and OFFSET 0 (an int4 literal cast to bigint, not a constant to the planner) counts as a
# LIMIT, so either keeps the statement on one core. OFFSET NULL is a constant "no offset".
GENERATE_BASE_SQL = """
SELECT g.num, s.id AS spot, s.x, s.y, s.h3_cell, s.street_id, s.community_id, s.grid_id,
       s.neighbourhood_id, s.compound_id, s.building_id, s.area_code, s.company_id, s.leader_id,
       s.hot_k, s.inside, s.recent,
       (s.hot IS NOT NULL AND pg_temp.demo_u(g.num, %(s_hot)s) < %(hot_share)s) AS hot_issue,
       pg_temp.demo_u(g.num, %(s_cat)s) AS cat,
       pg_temp.demo_u(g.num, %(s_src)s) AS src,
       pg_temp.demo_u(g.num, %(s_pri)s) AS pri
  FROM _demo_place s
 CROSS JOIN LATERAL generate_series(s.first, s.first + s.n - 1) AS g(num)
 WHERE {where}"""

# The category, department and texts; routing, as services.route_for; received: a day by the seasonal
# and weekly profile (the last 28 days for an emerging hotspot's own issues), a minute by the
# hour-of-day profile.
GENERATE_LEVELS = [
    (
        "u",
        """d.dept_id, c.top_id, c.sub_id, c.sla,
       c.texts[1 + floor(pg_temp.demo_u(u.num, %(s_txt)s) * cardinality(c.texts))::int] AS description,
       (%(sources)s::text[])[{source_index}] AS source,
       (%(priorities)s::text[])[1 + floor(u.pri * %(n_pri)s)::int] AS priority,
       CASE WHEN u.street_id IS NULL THEN 'none'
            WHEN c.rtype = 'property' AND u.company_id IS NOT NULL THEN 'property_company'
            WHEN c.rtype = 'property' AND u.leader_id IS NOT NULL THEN 'grid_leader'
            WHEN c.rtype = 'department' AND d.dept_id IS NOT NULL THEN 'department'
            WHEN u.community_id IS NOT NULL THEN 'community'
            ELSE 'none' END AS kind,
       %(midnight)s
           - 86400 * CASE WHEN u.hot_issue AND u.recent
                          THEN floor(pg_temp.demo_u(u.num, %(s_day)s) * 28)::int
                          ELSE (%(days)s::int[])[
                              1 + floor(pg_temp.demo_u(u.num, %(s_day)s) * %(q)s)::int] END
           + 60 * (%(minutes)s::int[])[1 + floor(pg_temp.demo_u(u.num, %(s_min)s) * %(q)s)::int]
           + floor(pg_temp.demo_u(u.num, %(s_sec)s) * 60) AS v_t0""",
        """
  JOIN _demo_cat c ON c.k = CASE
        WHEN u.hot_issue THEN u.hot_k
        WHEN u.inside THEN (%(cats_inside)s::int[])[1 + floor(u.cat * %(q)s)::int]
        ELSE (%(cats_outside)s::int[])[1 + floor(u.cat * %(q)s)::int] END
  LEFT JOIN _demo_dept d ON d.street_id = u.street_id AND d.kind = c.dept_kind""",
    ),
    # never in the last 90 seconds or later (then a day earlier); the draws of the branch and ratings
    (
        "r",
        """r.v_t0 - CASE WHEN r.v_t0 > %(now)s - 90 THEN 86400 ELSE 0 END AS t0,
       pg_temp.demo_u(r.num, %(s_branch)s) AS b_u,
       pg_temp.demo_u(r.num, %(s_rating)s) AS r1,
       pg_temp.demo_u(r.num, %(s_rating2)s) AS r2""",
        "",
    ),
    # which branch of the loop, the draws of each step and its duration (seconds)
    (
        "t",
        """CASE WHEN t.b_u < 0.04 THEN 'reject' WHEN t.b_u < 0.07 THEN 'duplicate'
            WHEN t.kind = 'none' THEN 'none' ELSE 'loop' END AS branch,
       3600 * (1 + 23 * pg_temp.demo_u(t.num, %(s_rej)s)) AS d_rej,
       3600 * (1 + 11 * pg_temp.demo_u(t.num, %(s_dup)s)) AS d_dup,
       pg_temp.demo_u(t.num, %(s_consult)s) < 0.1 AS consult,
       3600 * (2 + 46 * pg_temp.demo_u(t.num, %(s_con)s)) AS d_con,
       pg_temp.demo_u(t.num, %(s_never)s) < 0.06 AS never,
       pg_temp.demo_u(t.num, %(s_unrated)s) < 0.25 AS unrated,
       1 + (t.r1 >= 0.04)::int + (t.r1 >= 0.09)::int + (t.r1 >= 0.22)::int + (t.r1 >= 0.57)::int
           AS rating1,
       3 + (t.r2 >= 0.3)::int + (t.r2 >= 0.7)::int AS rating2,
       pg_temp.demo_u(t.num, %(s_reopen)s) < 0.7 AS reopen,
       3600 * (0.5 + 7.5 * pg_temp.demo_u(t.num, %(s_dis)s)) AS d_dis,
       3600 * (0.5 + 11.5 * pg_temp.demo_u(t.num, %(s_acc)s)) AS d_acc,
       3600 * t.sla * exp(ln(0.45) + 0.6 * pg_temp.demo_z(t.num, %(z_res)s)) AS d_res,
       3600 * (48 + 72 * pg_temp.demo_u(t.num, %(s_close1)s)) AS d_close1,
       3600 * (4 + 68 * pg_temp.demo_u(t.num, %(s_rate)s)) AS d_rate,
       3600 * (2 + 22 * pg_temp.demo_u(t.num, %(s_reo)s)) AS d_reo,
       3600 * (0.5 + 11.5 * pg_temp.demo_u(t.num, %(s_acc2)s)) AS d_acc2,
       3600 * t.sla * exp(ln(0.4) + 0.6 * pg_temp.demo_z(t.num, %(z_res2)s)) AS d_res2,
       3600 * (4 + 68 * pg_temp.demo_u(t.num, %(s_rate2)s)) AS d_rate2,
       3600 * (24 + 72 * pg_temp.demo_u(t.num, %(s_close2)s)) AS d_close2""",
        "",
    ),
    # the steps on the issue's path: dispatch (after a consultation), accept, resolve, then closed
    # unrated or rated; after a poor rating a reopen (rework) and the same again
    (
        "k",
        """CASE WHEN k.consult THEN k.t0 + k.d_con ELSE k.t0 END AS b0,
       k.branch = 'loop' AND NOT k.never AS acc""",
        "",
    ),
    ("o", "o.b0 + o.d_dis + o.d_acc + o.d_res AS res, o.acc AND NOT o.unrated AS rate", ""),
    (
        "p",
        """p.res + p.d_rate + p.d_reo + p.d_acc2 + p.d_res2 AS res2,
       p.rate AND p.rating1 <= 2 AND p.reopen AS reo""",
        "",
    ),
    (
        "w",
        """CASE WHEN w.branch = 'reject' THEN w.t0 + w.d_rej END AS t_rej,
       CASE WHEN w.branch = 'duplicate' THEN w.t0 + w.d_dup END AS t_dup,
       CASE WHEN w.branch = 'loop' AND w.consult THEN w.t0 + w.d_con END AS t_con,
       CASE WHEN w.branch = 'loop' THEN w.b0 + w.d_dis END AS t_dis,
       CASE WHEN w.acc THEN w.b0 + w.d_dis + w.d_acc END AS t_acc1,
       CASE WHEN w.acc THEN w.res END AS t_res1,
       CASE WHEN w.rate THEN w.res + w.d_rate END AS t_rate1,
       CASE WHEN w.reo THEN w.res + w.d_rate + w.d_reo END AS t_reo,
       CASE WHEN w.reo THEN w.res2 - w.d_res2 END AS t_acc2,
       CASE WHEN w.reo THEN w.res2 END AS t_res2,
       CASE WHEN w.reo THEN w.res2 + w.d_rate2 END AS t_rate2,
       CASE WHEN w.acc AND w.unrated THEN w.res + w.d_close1
            WHEN w.reo THEN w.res2 + w.d_rate2 + w.d_close2
            WHEN w.rate THEN w.res + w.d_rate + w.d_close2 END AS t_close""",
        "",
    ),
]

# Status and times of a generated row: the last step on its path that is not after %(now)s.
PATH_LEVELS = [
    (
        "x",
        """COALESCE(x.t_reo <= %(now)s, false) AS reworked,
       CASE WHEN x.t_rej <= %(now)s THEN 'rejected'
            WHEN x.t_dup <= %(now)s THEN 'duplicate'
            WHEN x.t_close <= %(now)s THEN 'closed'
            WHEN x.t_rate2 <= %(now)s THEN 'rated'
            WHEN x.t_res2 <= %(now)s THEN 'resolved'
            WHEN x.t_acc2 <= %(now)s THEN 'accepted'
            WHEN x.t_reo <= %(now)s THEN 'dispatched'
            WHEN x.t_rate1 <= %(now)s THEN 'rated'
            WHEN x.t_res1 <= %(now)s THEN 'resolved'
            WHEN x.t_acc1 <= %(now)s THEN 'accepted'
            WHEN x.t_dis <= %(now)s THEN 'dispatched'
            WHEN x.t_con <= %(now)s THEN 'consulted'
            ELSE 'collected' END AS status,
       CASE WHEN x.t_rej <= %(now)s THEN x.t_rej
            WHEN x.t_dup <= %(now)s THEN x.t_dup
            WHEN x.t_close <= %(now)s THEN x.t_close
            WHEN x.t_rate2 <= %(now)s THEN x.t_rate2
            WHEN x.t_res2 <= %(now)s THEN x.t_res2
            WHEN x.t_acc2 <= %(now)s THEN x.t_acc2
            WHEN x.t_reo <= %(now)s THEN x.t_reo
            WHEN x.t_rate1 <= %(now)s THEN x.t_rate1
            WHEN x.t_res1 <= %(now)s THEN x.t_res1
            WHEN x.t_acc1 <= %(now)s THEN x.t_acc1
            WHEN x.t_dis <= %(now)s THEN x.t_dis
            WHEN x.t_con <= %(now)s THEN x.t_con END AS at""",
        "",
    ),
    (
        "y",
        """COALESCE(y.at, y.t0) AS updated_at,
       CASE WHEN y.status IN ('closed', 'rejected', 'duplicate') THEN y.at END AS closed_at,
       CASE WHEN y.reworked THEN CASE WHEN y.t_res2 <= %(now)s THEN y.t_res2 END
            WHEN y.t_res1 <= %(now)s THEN y.t_res1 END AS resolved_at,
       CASE WHEN y.reworked THEN CASE WHEN y.t_rate2 <= %(now)s THEN y.rating2 END
            WHEN y.t_rate1 <= %(now)s THEN y.rating1 END AS rating,
       CASE WHEN y.reworked THEN y.t_reo ELSE y.t0 END + 3600 * y.sla AS due_at""",
        "",
    ),
]

# Tracking codes: 'LD' and eight characters of a bijection of the id modulo 2^40 (two rounds of a
# multiplication by an odd number and an xorshift, then a constant xor; the multipliers are below
# 2^23, so no product overflows a bigint), unique by construction for ids below 2^40.
CODE_LEVELS = [
    ("m", "(((%(id0)s + m.num) & 1099511627775) * 5444251) & 1099511627775 AS m_x", ""),
    ("n", "(((n.m_x # (n.m_x >> 19)) * 3476923) & 1099511627775) AS k_x", ""),
]


def _level(sql: str, alias: str, columns: str, joins: str = "") -> str:
    """The rows of `sql` (as `alias`) with `columns` added, computed once per row (OFFSET NULL)."""
    return f"SELECT {alias}.*, {columns}\n  FROM ({sql}\n) {alias}{joins}\n OFFSET NULL"  # noqa: S608 - code constants


def _levels(sql: str, levels) -> str:
    for alias, columns, joins in levels:
        sql = _level(sql, alias, columns, joins)
    return sql


# The columns of issues_issue the bulk demo fills, and ROWS_SQL their values (in this order), from a
# row q of the levels above.
ISSUE_COLUMNS = """
    id, tracking_code, point, {h3_column} address, category_id, subcategory_id, description,
    reporter_name, reporter_phone, reporter_email, source, priority, status, created_at, updated_at,
    due_at, resolved_at, closed_at, rework_count, rating, rating_comment, responsible_kind,
    responsible_company_id, responsible_department_id, responsible_staff_id, responsible_area_id,
    street_id, community_id, grid_id, neighbourhood_id, compound_id, building_id, outside, area_code,
    ext_ref, token, media_url, attributes"""
ROWS_SQL = """
SELECT %(id0)s + q.num, 'LD' || pg_temp.demo_code(q.k_x # (q.k_x >> 21) # %(code_key)s),
       ST_SetSRID(ST_MakePoint(q.x, q.y), 4326), {h3_value} '', q.top_id, q.sub_id, q.description,
       '', '', '', q.source, q.priority, q.status, to_timestamp(q.t0), to_timestamp(q.updated_at),
       to_timestamp(q.due_at), to_timestamp(q.resolved_at), to_timestamp(q.closed_at),
       q.reworked::int, q.rating, '', q.kind,
       CASE WHEN q.kind = 'property_company' THEN q.company_id END,
       CASE WHEN q.kind = 'department' THEN q.dept_id END,
       CASE WHEN q.kind = 'grid_leader' THEN q.leader_id END,
       CASE WHEN q.kind = 'grid_leader' THEN q.grid_id WHEN q.kind = 'community' THEN q.community_id END,
       q.street_id, q.community_id, q.grid_id, q.neighbourhood_id, q.compound_id, q.building_id,
       q.street_id IS NULL, q.area_code, '', %(token)s || q.num, '', '{{}}'::jsonb
  FROM ({rows}
) q
"""

# Eight characters of the tracking-code alphabet from the low 40 bits of x (a one-expression function,
# so the planner inlines it).
DEMO_CODE_SQL = (
    "CREATE OR REPLACE FUNCTION pg_temp.demo_code(x bigint) RETURNS text LANGUAGE sql IMMUTABLE"
    " PARALLEL SAFE"
    " AS $$ SELECT "
    + " || ".join(
        f"substr('{''.join(_ALPHABET)}', ((x >> {5 * i}) & 31)::int + 1, 1)"
        for i in range(7, -1, -1)
    )
    + " $$"
)

# Spring Festival (the first day of the lunar year): complaints drop in the fortnight around it.
SPRING_FESTIVAL = {
    2024: date(2024, 2, 10),
    2025: date(2025, 1, 29),
    2026: date(2026, 2, 17),
    2027: date(2027, 2, 6),
    2028: date(2028, 1, 26),
    2029: date(2029, 2, 13),
    2030: date(2030, 2, 3),
}
WEEKDAY_WEIGHTS = (1.15, 1.1, 1.05, 1.05, 1.0, 0.8, 0.75)  # Monday first
HOUR_WEIGHTS = (
    0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.45, 0.9, 1.4, 1.7, 1.7, 1.4,
    1.0, 1.1, 1.4, 1.5, 1.4, 1.2, 1.0, 1.1, 1.0, 0.8, 0.5, 0.3,
)  # fmt: skip


def _quantiles(values, weights) -> list:
    """QUANTILES values such that a uniform index into them draws `values` by `weights`."""
    cdf = np.cumsum(np.asarray(weights, dtype=float))
    cdf /= cdf[-1]
    at = np.searchsorted(cdf, (np.arange(QUANTILES) + 0.5) / QUANTILES, side="right")
    return [values[int(i)] for i in np.minimum(at, len(values) - 1)]


def day_weights(today: date) -> list[float]:
    """Relative number of issues received `back` days before today, back = 0..364: a summer peak
    (heat, water, power, noise with open windows), a dip around the Spring Festival, fewer at weekends."""
    out = []
    for back in range(365):
        day = today - timedelta(days=back)
        w = 1 + 0.25 * np.cos(2 * np.pi * (day.timetuple().tm_yday - 196) / 365.25)
        festival = SPRING_FESTIVAL.get(day.year, date(day.year, 2, 1))
        if abs((day - festival).days) <= 7:
            w *= 0.6
        out.append(w * WEEKDAY_WEIGHTS[day.weekday()])
    return out


def minute_quantiles() -> list[int]:
    """Minutes of the day (0-1439) by HOUR_WEIGHTS, uniform within the hour."""
    return _quantiles(list(range(1440)), [HOUR_WEIGHTS[m // 60] for m in range(1440)])


def _categories(cur) -> tuple[list, list, list, list]:
    """Fill _demo_cat (one row per subcategory, k = 1, 2, ...) and return the quantile tables of k
    for spots inside and in front of buildings, the k of the hotspot categories, and the department
    kinds routing may look for."""
    tops = list(Category.objects.filter(parent=None, active=True).order_by("sort", "code"))
    rows, by_top = [], {}
    for top in tops:
        for sub in top.children.filter(active=True).order_by("sort", "code"):
            k = len(rows) + 1
            kind = sub.department_kind or top.department_kind
            texts = TEXTS.get(top.code) or [top.name]
            rows.append(
                (
                    k,
                    top.id,
                    sub.id,
                    top.code,
                    top.responsible_type,
                    kind,
                    sub.sla_hours or top.sla_hours,
                    texts,
                    sub.code,
                )
            )
            by_top.setdefault(top.code, []).append(k)
    if not rows:
        raise ValueError("no issue categories: load them first (services.categories_load)")
    cur.execute(
        "CREATE UNLOGGED TABLE _demo_cat (k int PRIMARY KEY, top_id bigint, sub_id bigint,"
        " top_code text, rtype text, dept_kind text, sla int, texts text[])"
    )
    cur.executemany(
        "INSERT INTO _demo_cat VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", [r[:8] for r in rows]
    )

    def table(weights):
        ks, ws = [], []
        for code, keys in by_top.items():
            for k in keys:
                ks.append(k)
                ws.append(weights.get(code, 0.05) / len(keys))
        return _quantiles(ks, ws)

    hot = [r[0] for r in rows if r[8] in HOT_CODES] or [r[0] for r in rows]
    kinds = sorted({r[5] for r in rows if r[5]})
    return table(TOP_WEIGHTS), table(OUTSIDE_WEIGHTS), hot, kinds


def _spot_cells(cur) -> int:
    """_demo_h3: the H3 cell (resolution 15, as intake's h3_cell_of) of every spot. Spots are read with
    a server-side cursor a slice at a time; the cells go back with COPY."""
    cell = h3.api.basic_int.latlng_to_cell
    cur.execute("CREATE TEMP TABLE _demo_h3 (id bigint, cell bigint) ON COMMIT DROP")
    reader = connection.connection.cursor(name="demo_spot_cells")
    reader.itersize = 200_000
    reader.execute("SELECT id, x, y FROM _demo_spot")
    n = 0
    while rows := reader.fetchmany(200_000):
        buf = io.StringIO("".join(f"{i}\t{cell(y, x, H3_RES)}\n" for i, x, y in rows))
        cur.cursor.copy_expert("COPY _demo_h3 (id, cell) FROM STDIN", buf)
        n += len(rows)
    reader.close()
    return n


def _locate_spots(cur, at) -> None:
    """_demo_loc: LOCATE_SQL for every spot, a slice of spot ids at a time (progress). Each slice is a
    CREATE TABLE AS, which PostgreSQL runs with parallel workers (an INSERT ... SELECT it never does):
    the GiST probes of 3.6M spots of a megacity are the issues' longest step on one core."""
    params = {"eps": EDGE_EPS, "at": at, "lo": 0, "hi": -1}
    cur.execute(f"CREATE TEMP TABLE _demo_loc ON COMMIT DROP AS {LOCATE_SQL} WITH NO DATA", params)
    cur.execute("SELECT min(id), max(id), count(*) FROM _demo_spot")
    lo, hi, n = cur.fetchone()
    if not n:
        return
    step = max(1, (hi - lo + 1) // 20)
    with progress_bar(n, "issue spots located", "spot") as update:
        for start in range(lo, hi + 1, step):
            cur.execute(
                f"CREATE TEMP TABLE _demo_loc_slice AS {LOCATE_SQL}",
                {**params, "lo": start, "hi": start + step - 1},
            )
            update(cur.rowcount)
            cur.execute("INSERT INTO _demo_loc SELECT * FROM _demo_loc_slice")
            cur.execute("DROP TABLE _demo_loc_slice")


def _resolve_ambiguous(cur, at) -> int:
    """Spots on shared edges (more than one area of a level, or codes that do not chain): the chain of
    apps.territory.selectors.consistent_chain, as locate_many picks it."""
    cur.execute("SELECT id FROM _demo_loc WHERE NOT simple")
    ids = [r[0] for r in cur.fetchall()]
    if not ids:
        return 0
    cur.execute(CANDIDATES_SQL, {"ids": ids, "eps": EDGE_EPS, "at": at})
    found: dict[int, list] = {i: [] for i in ids}
    for spot, level, area_id, code in cur.fetchall():
        found[spot].append((level, area_id, code))
    columns = {lv: ([], []) for lv in ("street", "community", "grid", "neighbourhood", "compound")}
    for spot in ids:
        chain = consistent_chain(found[spot])
        for level, (id_list, code_list) in columns.items():
            area_id, code = chain.get(level, (None, None))
            id_list.append(area_id)
            code_list.append(code)
    cur.execute(
        """UPDATE _demo_loc l SET street_id = u.s, street_code = u.sc, community_id = u.c,
                  community_code = u.cc, grid_id = u.g, grid_code = u.gc, neighbourhood_id = u.n,
                  neighbourhood_code = u.nc,
                  compound_ids = CASE WHEN u.k IS NULL THEN NULL ELSE ARRAY[u.k] END,
                  compound_codes = CASE WHEN u.k IS NULL THEN NULL ELSE ARRAY[u.kc] END,
                  simple = true
             FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::bigint[], %s::text[], %s::bigint[],
                         %s::text[], %s::bigint[], %s::text[], %s::bigint[], %s::text[])
                  AS u(id, s, sc, c, cc, g, gc, n, nc, k, kc)
            WHERE l.id = u.id""",
        [ids, *(x for lv in columns.values() for x in lv)],
    )
    return len(ids)


def seed_bulk(*, seed: int, scale: float, per_scale: int = BULK_PER_SCALE) -> dict:
    """The issues of a large demo, set-based (see the comment above BULK_PER_SCALE): exactly
    round(per_scale × scale) issues (at least 20), full histories for the first street's."""
    n_total = max(20, round(per_scale * scale))
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM territory_building")
        if not cur.fetchone()[0]:
            return {"issues": 0}
        plan = bulk_prepare(cur, seed=seed, scale=scale, n_total=n_total)
        written = 0
        # Into empty tables the rows go with no index, key or per-row trigger, all rebuilt once at the
        # end (bulk_loading): through the live table a row cost ~300 µs, nine tenths of it its 23
        # indexes, the tracking code's row trigger and the foreign keys' deferred checks.
        # Each batch is generated by a CREATE TABLE AS (its columns named as the table's), then
        # copied into the table.
        columns = plan["columns"]
        # No Memoize nodes: the planner puts them over the LATERAL steps, whose keys (the row's own
        # draws) never repeat; hashing them cost 40 % of a batch.
        with (
            bulk_loading("issues_issue"),
            planner_settings(cur, enable_memoize="off"),
            progress_bar(n_total, "issues", "issue") as update,
        ):
            for lo, hi, n in plan["batches"]:
                cur.execute(
                    f"CREATE TEMP TABLE _demo_batch AS SELECT * FROM ({plan['rows']}) b ({columns})",  # noqa: S608
                    {**plan["params"], "lo": lo, "hi": hi},
                )
                cur.execute(
                    f"INSERT INTO issues_issue ({columns}) SELECT * FROM _demo_batch"  # noqa: S608
                )
                written += cur.rowcount
                cur.execute("DROP TABLE _demo_batch")
                update(int(n))
        if written != n_total:
            raise RuntimeError(f"wrote {written} issues, planned {n_total}")
        events = _sample_events(cur, plan["params"])
        cur.execute(f"DROP TABLE IF EXISTS {', '.join(SHARED_TABLES)}")
        cur.execute("ANALYZE issues_issue")
    return {
        "issues": written,
        "issue_events": events,
        "issue_spots": plan["spots"],
        "issue_spots_on_edges": plan["ambiguous"],
        "issue_hotspots": plan["hotspots"],
    }


def bulk_prepare(cur, *, seed: int, scale: float, n_total: int) -> dict:
    """Steps 1 and 2 and the allocation: the temporary tables the INSERTs read, the ids, the
    columns, the rows' statement and its parameters, and the batches (spot id ranges) to run it on."""
    # Issues are dated in whole seconds; spots are located at the present moment, which is after the
    # territory was drawn, though maybe within the second `now` is rounded down from.
    located_at = timezone.now()
    now = located_at.replace(microsecond=0)
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    demo_sql_functions()
    cur.execute(DEMO_CODE_SQL)
    # left by a run outside a transaction
    cur.execute(f"DROP TABLE IF EXISTS {', '.join(SHARED_TABLES)}")
    cats_inside, cats_outside, hot_rows, kinds = _categories(cur)
    cur.execute(
        SPOTS_SQL,
        {"front": FRONT_DEG, "max_units": MAX_SPOT_UNITS, "s_building": salt(seed, S_BUILDING)},
    )
    n_hot = max(3, min(24, round(scale / 100)))
    cur.execute(HOT_SQL, {"s_hot": salt(seed, S_HOT), "n_hot": n_hot, "radius": HOT_RADIUS_DEG})
    cur.execute("ANALYZE _demo_spot")
    cur.execute("ANALYZE _demo_hot")
    n_spots = _spot_cells(cur)
    _locate_spots(cur, located_at)
    ambiguous = _resolve_ambiguous(cur, located_at)
    cur.execute("ANALYZE _demo_loc")
    cur.execute("ANALYZE _demo_h3")
    cur.execute(PLACE_SQL, {"hot_factor": HOT_FACTOR, "hot_rows": hot_rows, "n": n_total})
    cur.execute("DROP TABLE _demo_spot")  # _demo_place has what the issues need of the spots
    cur.execute(COMPANY_SQL)
    cur.execute(DEPARTMENTS_SQL, {"kinds": kinds})
    cur.execute("ANALYZE _demo_dept")

    # Ids are counted from the sequence, taken for the whole run under a lock that keeps other
    # writers out until the seeding transaction ends.
    cur.execute("LOCK TABLE issues_issue IN SHARE ROW EXCLUSIVE MODE")
    cur.execute("SELECT nextval(pg_get_serial_sequence('issues_issue', 'id'))")
    id0 = cur.fetchone()[0]
    cur.execute(
        "SELECT setval(pg_get_serial_sequence('issues_issue', 'id'), %s)", [id0 + n_total - 1]
    )
    params = {
        "now": now.timestamp(),
        "now_at": now,
        "midnight": midnight.timestamp(),
        "q": QUANTILES,
        "days": _quantiles(list(range(365)), day_weights(midnight.date())),
        "minutes": minute_quantiles(),
        "cats_inside": cats_inside,
        "cats_outside": cats_outside,
        "sources": [str(s) for s in SOURCES],
        "priorities": PRIORITIES,
        "n_pri": len(PRIORITIES),
        "hot_share": HOT_SHARE,
        "id0": id0,
        "code_key": int(np.random.default_rng(seed).integers(0, 1 << 40)),
        "token": f"demo-{seed}-",
    }
    params.update(_draw_salts(seed))
    h3_column, h3_value = ("h3_cell,", "q.h3_cell,") if _has_h3_column() else ("", "")
    rows = ROWS_SQL.format(
        h3_value=h3_value,
        rows=_levels(_generate_sql("s.id BETWEEN %(lo)s AND %(hi)s"), CODE_LEVELS),
    )
    cur.execute(
        "SELECT min(id), max(id), sum(n) FROM _demo_place WHERE n > 0"
        " GROUP BY first / %s ORDER BY 1",
        [BULK_BATCH],
    )
    return {
        "params": params,
        "columns": ISSUE_COLUMNS.format(h3_column=h3_column),
        "rows": rows,
        "batches": cur.fetchall(),
        "spots": n_spots,
        "ambiguous": ambiguous,
        "hotspots": n_hot,
    }


def _draw_salts(seed: int) -> dict:
    names = {
        "s_hot": U_HOT, "s_cat": U_CAT, "s_txt": U_TXT, "s_src": U_SRC, "s_pri": U_PRI,
        "s_day": U_DAY, "s_min": U_MIN, "s_sec": U_SEC, "s_branch": U_BRANCH, "s_rej": U_REJ,
        "s_dup": U_DUP, "s_consult": U_CONSULT, "s_con": U_CON, "s_dis": U_DIS, "s_never": U_NEVER,
        "s_acc": U_ACC, "z_res": Z_RES, "s_unrated": U_UNRATED, "s_close1": U_CLOSE1,
        "s_rate": U_RATE, "s_rating": U_RATING, "s_reopen": U_REOPEN, "s_reo": U_REO,
        "s_acc2": U_ACC2, "z_res2": Z_RES2, "s_rate2": U_RATE2, "s_rating2": U_RATING2,
        "s_close2": U_CLOSE2,
    }  # fmt: skip
    return {name: salt(seed, k * 16) for name, k in names.items()}


def _has_h3_column() -> bool:
    return any(f.name == "h3_cell" for f in Issue._meta.get_fields())


def _generate_sql(where: str) -> str:
    """The issues of the spots matching `where` (on _demo_place s), each with its path and status."""
    # The source: the index of the first cumulative share of SOURCE_P above the draw.
    cdf = np.cumsum(SOURCE_P)[:-1]
    index = "1 + " + " + ".join(f"(u.src >= {float(c)!r})::int" for c in cdf)
    levels = [(a, c.replace("{source_index}", index), j) for a, c, j in GENERATE_LEVELS]
    return _levels(_levels(GENERATE_BASE_SQL.format(where=where), levels), PATH_LEVELS)


# The first street's issues with the time of each step (timestamps, as the issue rows have them).
SAMPLE_SQL = """
SELECT %(id0)s + q.num AS id, q.sub_id AS subcategory, to_timestamp(q.t0) AS t0, q.kind, q.street_id,
       q.community_id, q.grid_id, q.neighbourhood_id, q.compound_id, q.building_id, q.rating1,
       q.rating2, q.unrated, q.status, q.source,
       to_timestamp(q.t_rej) AS t_rej, to_timestamp(q.t_dup) AS t_dup, to_timestamp(q.t_con) AS t_con,
       to_timestamp(q.t_dis) AS t_dis, to_timestamp(q.t_acc1) AS t_acc1,
       to_timestamp(q.t_res1) AS t_res1, to_timestamp(q.t_rate1) AS t_rate1,
       to_timestamp(q.t_reo) AS t_reo, to_timestamp(q.t_acc2) AS t_acc2,
       to_timestamp(q.t_res2) AS t_res2, to_timestamp(q.t_rate2) AS t_rate2,
       to_timestamp(q.t_close) AS t_close
  FROM ({generate}
) q
 ORDER BY 1
"""


def _sample_events(cur, params: dict) -> int:
    """The history of the first street's issues: create, route (with the reason services.route_for
    gives), then every step of the loop up to the issue's status."""
    street = Area.objects.filter(level="street", valid_to__isnull=True).order_by("code").first()
    if street is None:
        return 0
    sql = SAMPLE_SQL.format(generate=_generate_sql("s.street_id = %(street)s"))
    cur.execute(sql, {**params, "street": street.id})
    rows = cur.fetchall()
    cols = [d[0] for d in cur.description]
    subs = {c.id: c for c in Category.objects.exclude(parent=None).select_related("parent")}
    area_ids = {r[k] for r in rows for k in range(4, 9) if r[k] is not None}
    areas_by_id = Area.objects.in_bulk(list(area_ids))
    routes: dict = {}
    events = []
    for r in rows:
        row = dict(zip(cols, r, strict=True))
        sub = subs[row["subcategory"]]
        areas = {
            lv: areas_by_id.get(row[f"{lv}_id"])
            for lv in ("street", "community", "grid", "neighbourhood", "compound")
        }
        key = (sub.id, *(a.id if a else None for a in areas.values()))
        if key not in routes:
            routes[key] = services.route_for(
                category=sub.parent, subcategory=sub, areas=areas
            ).reason
        t0 = row["t0"]
        steps = [
            ("create", Status.COLLECTED, t0, [reasons.step("received", source=row["source"])]),
            ("route", Status.COLLECTED, t0, routes[key]),
            ("reject", Status.REJECTED, row["t_rej"], "不属于受理范围"),
            ("duplicate", Status.DUPLICATE, row["t_dup"], "重复上报"),
            ("consult", Status.CONSULTED, row["t_con"], "民主协商"),
            ("dispatch", Status.DISPATCHED, row["t_dis"], ""),
            ("accept", Status.ACCEPTED, row["t_acc1"], ""),
            ("resolve", Status.RESOLVED, row["t_res1"], "已处置"),
            ("rate", Status.RATED, row["t_rate1"], [reasons.step("rating", rating=row["rating1"])]),
            ("reopen", Status.DISPATCHED, row["t_reo"], "居民不满意, 返工"),
            ("accept", Status.ACCEPTED, row["t_acc2"], ""),
            ("resolve", Status.RESOLVED, row["t_res2"], "已处置"),
            ("rate", Status.RATED, row["t_rate2"], [reasons.step("rating", rating=row["rating2"])]),
            (
                "close",
                Status.CLOSED,
                row["t_close"],
                "居民未评价, 回访后结案" if row["unrated"] else "总结提升",
            ),
        ]
        status = ""
        for action, target, at, said in steps:
            if at is None:
                continue
            if at > params["now_at"]:
                break
            events.append(
                IssueEvent(
                    issue_id=row["id"],
                    action=action,
                    from_status=status,
                    to_status=target,
                    at=at,
                    **_what(said),
                    actor_name="demo",
                )
            )
            status = target
    IssueEvent.objects.bulk_create(events, batch_size=5000)
    return len(events)
