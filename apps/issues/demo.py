"""Demo issues: a few hundred per scale unit over the last twelve months, at buildings of the demo
district, walked through the loop with realistic delays (most old issues closed and rated, recent ones
still open, some late, some reworked, a few rejected or duplicate). Deterministic for a seed; bulk
inserts only. Also an Open311 key for trying the API: `demo-open311-key`."""

from datetime import timedelta

import numpy as np
from django.contrib.gis.geos import Point
from django.db import connection
from django.utils import timezone

from apps.issues import services
from apps.issues.models import ApiKey, Category, Issue, IssueEvent, Source, Status
from apps.issues.selectors import locate_many
from apps.territory.models import Area

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
    points = _building_points(np.random.default_rng(seed))
    if not points:
        return {"issues": 0}
    rng = np.random.default_rng(seed + 404)
    n = max(20, int(PER_SCALE * scale))
    now = timezone.now().replace(microsecond=0)
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
    located = locate_many([(x, y, now) for x, y in coords])
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
            ("create", "", Status.COLLECTED, t0, "received"),
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
                note=note,
                actor_name="demo",
            )
            for issue, events in zip(issues, plans, strict=True)
            for a, f, t, at, note in events
        ],
        batch_size=5000,
    )
    return {"issues": len(issues)}


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
        if not step("rate", Status.RATED, rng.uniform(4, 72), f"rating {rating}"):
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
