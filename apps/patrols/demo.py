"""Demo patrols: four weeks of walks by the demo grid leaders through their grids, and compound heads'
visits to their compounds (some heads meet the 4-a-month target, some do not).

Logins (password `linli-demo`, like the people demo): `grid` (already there) and `grid2`… for the next
grid leaders of the first community; `head1`… for compound heads of the same grids. Walks go from building
to building in snake order at a walking pace, a fix every 30 s with a few metres of noise and the odd GPS
jump; they go through services.patrol_add_points, so the jump filter, the track and the buildings visited
are the real ones."""

import uuid
from datetime import timedelta

import numpy as np
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.utils import timezone
from pyproj import Transformer

from apps.patrols import conf
from apps.patrols.models import Patrol, PatrolCheckin
from apps.patrols.services import patrol_add_points
from apps.people.models import StaffAssignment, StaffRole
from apps.territory.models import Area, Building

DEMO_PASSWORD = "linli-demo"
LEADERS = 6  # grid leaders with a login and patrols
HEADS = 4  # compound heads with a login and visits
DAYS = 28
WALK_MPS = 1.2
FIX_EVERY_S = 30
LOCAL = "EPSG:32650"


def _walk(rng, buildings, to_utm, to_lonlat, start, *, laps=1):
    """Fixes (dicts for patrol_add_points) along the buildings in snake order, pausing at some of them
    (talking to residents), and the time at the end."""
    pts = []
    for b in buildings:
        c = b.footprint.point_on_surface
        pts.append(to_utm.transform(c.x, c.y))
    pts.sort(key=lambda p: (round(p[1] / 50), p[0] if round(p[1] / 50) % 2 == 0 else -p[0]))
    route = np.array(pts * laps, dtype=float)
    route[:, 1] -= 7  # the path in front of each building, 7 m south of its middle
    step = WALK_MPS * FIX_EVERY_S
    ticks = [route[0]]
    for a, b in zip(route[:-1], route[1:], strict=True):
        length = float(np.hypot(*(b - a)))
        n = max(1, int(np.ceil(length / step)))
        ticks += [a + (b - a) * (i / n) for i in range(1, n + 1)]
        if rng.random() < 0.5:  # a pause of 1-4 minutes at the building
            ticks += [b] * int(rng.integers(2, 9))
    fixes = []
    for i, (x, y) in enumerate(ticks):
        x, y = np.array([x, y]) + rng.normal(0, 3, 2)
        if rng.random() < 0.01:  # a multipath jump of a few hundred metres
            x += rng.choice([-1, 1]) * rng.uniform(300, 600)
        lon, lat = to_lonlat.transform(x, y)
        fixes.append(
            {
                "id": str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | i)),
                "t": (
                    start + timedelta(seconds=i * FIX_EVERY_S + int(rng.integers(0, 3)))
                ).isoformat(),
                "lon": round(lon, 7),
                "lat": round(lat, 7),
                "accuracy": round(float(rng.uniform(4, 18)), 1),
            }
        )
    return fixes, start + timedelta(seconds=(len(ticks) - 1) * FIX_EVERY_S + 30)


def _login(User, username, hashes: dict):
    if (
        "hash" not in hashes
    ):  # the people demo's hash of the same password, else one hash (slow: 1 s)
        existing = User.objects.filter(username="grid").values_list("password", flat=True).first()
        hashes["hash"] = existing or make_password(DEMO_PASSWORD)
    user, _ = User.objects.get_or_create(
        username=username, defaults={"password": hashes["hash"], "is_staff": True}
    )
    return user


def seed_demo(*, seed: int, scale: float) -> dict:
    rng = np.random.default_rng(seed + 606)
    User = get_user_model()
    password: dict = {}
    to_utm = Transformer.from_crs("EPSG:4326", LOCAL, always_xy=True)
    to_lonlat = Transformer.from_crs(LOCAL, "EPSG:4326", always_xy=True)

    leaders = list(
        StaffAssignment.objects.filter(role=StaffRole.GRID_LEADER, active=True)
        .select_related("area", "user")
        .order_by("area__code", "id")[:LEADERS]
    )
    for i, a in enumerate(leaders):
        if a.user_id is None:
            a.user = _login(User, f"grid{i + 1}", password)
            a.save(update_fields=["user"])

    # Compound heads of the compounds in the leaders' grids (made here when the people demo has none).
    heads = []
    for i, a in enumerate(leaders[:HEADS]):
        compound = (
            Area.objects.filter(level="compound", compound_buildings__grid=a.area)
            .distinct()
            .order_by("code")
            .first()
        )
        if compound is None:
            continue
        head = (
            StaffAssignment.objects.filter(role=StaffRole.COMPOUND_HEAD, area=compound, active=True)
            .order_by("id")
            .first()
        )
        if head is None:
            head = StaffAssignment.objects.create(
                name=f"{compound.name}小区长", role=StaffRole.COMPOUND_HEAD, area=compound
            )
        if head.user_id is None:
            head.user = _login(User, f"head{i + 1}", password)
            head.save(update_fields=["user"])
        heads.append((head, a.area, compound))

    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    patrols = points = 0
    distance = conf.visit_distance_m()

    def patrol(user, grid, buildings, start, laps):
        nonlocal patrols, points
        fixes, end = _walk(rng, buildings, to_utm, to_lonlat, start, laps=laps)
        p = Patrol.objects.create(
            client_id=uuid.UUID(int=int(rng.integers(0, 2**63))),
            user=user,
            grid=grid,
            started_at=start,
            ended_at=end,
            visit_distance_m=distance,
        )
        if rng.random() < 0.5:  # a check-in at one building on the way
            b = buildings[int(rng.integers(0, len(buildings)))]
            PatrolCheckin.objects.create(
                client_id=uuid.UUID(int=int(rng.integers(0, 2**63))),
                patrol=p,
                building=b,
                at=start + (end - start) / 2,
                distance_m=0,
            )
        points += patrol_add_points(patrol_id=p.id, user=user, points=fixes)["received"]
        patrols += 1

    for a in leaders:
        buildings = list(Building.objects.filter(grid=a.area).order_by("id"))
        if not buildings:
            continue
        for d in range(DAYS, 0, -1):
            day = today - timedelta(days=d)
            if rng.random() > (0.75 if day.weekday() < 5 else 0.2):
                continue
            start = day + timedelta(hours=8, minutes=int(rng.integers(30, 150)))
            patrol(a.user, a.area, buildings, start, laps=int(rng.integers(2, 5)))

    # Compound heads: head k aims at 2 + k visits a month, so the first ones miss the target of 4.
    for k, (head, grid, compound) in enumerate(heads):
        buildings = list(Building.objects.filter(compound=compound, grid=grid).order_by("id"))
        if not buildings:
            continue
        month_start = today.replace(day=1)
        prev_start = (month_start - timedelta(days=1)).replace(day=1)
        for first, last in ((prev_start, month_start), (month_start, today)):
            span = (last - first).days
            if span <= 0:
                continue
            visits = min(span, 2 + k) if first == prev_start else min(span, (2 + k) * span // 30)
            for d in sorted(rng.choice(span, size=visits, replace=False)):
                start = first + timedelta(days=int(d), hours=18, minutes=int(rng.integers(0, 60)))
                patrol(head.user, grid, buildings, start, laps=1)
    return {"patrols": patrols, "patrol_points": points, "compound_heads": len(heads)}
