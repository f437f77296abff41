"""A small hand-built territory whose gaps, coverage and indicators are known by construction.

Local metres (UTM 50N, origin near Baohe, Hefei), x to the east, y to the north:

    street 340111901 = community 340111901001 = box(0, 0, 2400, 1000)
    grid ...001 = box(0, 0, 1000, 1000)   active grid leader
    grid ...002 = box(1000, 0, 2000, 1000) its grid leader is inactive  -> grid_no_leader
    x 2000-2400 is in the community but in no grid                        -> building_no_grid (B_OUT)

    compounds (all in the community), 100 × 100 m at y 400-600:
      K1 commercial, served by company A (no party organisation)         -> company_no_party_org (A)
      K2 none (无物业)                                                    -> compound_no_property
      K3 proxy, but no company serves it                                 -> compound_no_property
      K4 self-managed                                                    (fine)
      K5 commercial, served by company B (has a party organisation)      (fine)

    one service station at (100, 500). Buildings (10 × 10 m, point at their centre):
      B1 ( 150, 500)   50 m straight → 65 m walk    5-minute tier, 10 households
      B2 ( 400, 500)  300 m → 390 m walk            10-minute tier, 6 households (3 in no neighbourhood grid)
      B3 (1200, 500) 1100 m → 1430 m walk           beyond 15 minutes, 8 households  -> station_far
      B4 ( 850, 500)  750 m → 975 m walk            15-minute tier, 4 households
      B_OUT (2200, 500) 2100 m                       beyond, in no grid, 5 households -> station_far
"""

from datetime import timedelta

from django.contrib.gis.geos import GEOSGeometry, Point
from django.utils import timezone
from pyproj import Transformer
from shapely.geometry import box

from apps.analytics.models import ServiceStation
from apps.people.models import PropertyCompany, PropertyService, StaffAssignment
from apps.territory.models import Building, Household
from apps.territory.services import area_counts_refresh, buildings_attach
from apps.territory.services import area_create as _area_create

ORIGIN = (500_000.0, 3_525_000.0)  # UTM 50N metres (~117.0 E, 31.85 N)
_to_wgs = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)

STREET = "340111901"
COMMUNITY = STREET + "001"
GRID1, GRID2 = COMMUNITY + "001", COMMUNITY + "002"


def lonlat(x, y):
    return _to_wgs.transform(ORIGIN[0] + x, ORIGIN[1] + y)


def poly(x0, y0, x1, y1) -> GEOSGeometry:
    ring = [lonlat(x, y) for x, y in box(x0, y0, x1, y1).exterior.coords]
    wkt = "MULTIPOLYGON(((" + ", ".join(f"{x:.9f} {y:.9f}" for x, y in ring) + ")))"
    return GEOSGeometry(wkt, srid=4326)


def point(x, y) -> Point:
    return Point(*lonlat(x, y), srid=4326)


def build_world() -> dict:
    """Areas start a day ago: now() in SQL is the start of the test's transaction."""
    w: dict = {}
    since = timezone.now() - timedelta(days=1)

    def area_create(**kw):
        return _area_create(valid_from=since, **kw)

    street = area_create(level="street", code=STREET, name="测试街道", geom=poly(0, 0, 2400, 1000))
    comm = area_create(
        level="community",
        code=COMMUNITY,
        name="测试社区",
        geom=poly(0, 0, 2400, 1000),
        parent=street,
    )
    g1 = area_create(
        level="grid", code=GRID1, name="一网格", geom=poly(0, 0, 1000, 1000), parent=comm
    )
    g2 = area_create(
        level="grid", code=GRID2, name="二网格", geom=poly(1000, 0, 2000, 1000), parent=comm
    )
    nbh = area_create(
        level="neighbourhood",
        code=GRID1 + "001",
        name="一邻里格",
        geom=poly(0, 0, 1000, 1000),
        parent=g1,
    )
    w.update(street=street, community=comm, grid1=g1, grid2=g2, neighbourhood=nbh)

    compounds = {}
    for i, mgmt in enumerate(["commercial", "none", "proxy", "self", "commercial"], start=1):
        x0 = 100 + (i - 1) * 400
        compounds[f"K{i}"] = area_create(
            level="compound",
            code=f"{COMMUNITY}C{i:03d}",
            name=f"小区{i}",
            geom=poly(x0, 700, x0 + 100, 800),
            parent=comm,
            management_type=mgmt,
        )
    w["compounds"] = compounds
    a = PropertyCompany.objects.create(name="甲物业", has_party_org=False)
    b = PropertyCompany.objects.create(name="乙物业", has_party_org=True)
    PropertyService.objects.create(company=a, compound=compounds["K1"])
    PropertyService.objects.create(company=b, compound=compounds["K5"])
    w["company_a"], w["company_b"] = a, b

    StaffAssignment.objects.create(name="张伟", role="grid_leader", area=g1, active=True)
    StaffAssignment.objects.create(name="李强", role="grid_leader", area=g2, active=False)

    w["station"] = ServiceStation.objects.create(
        name="测试党群服务站", point=point(100, 500), community=comm
    )

    specs = {"B1": (150, 10), "B2": (400, 6), "B3": (1200, 8), "B4": (850, 4), "B_OUT": (2200, 5)}
    buildings = {}
    for name, (x, hh) in specs.items():
        b_ = Building.objects.create(
            name=name, footprint=poly(x - 5, 495, x + 5, 505), households=hh
        )
        buildings[name] = b_
        no_nbh = 3 if name == "B2" else 0
        Household.objects.bulk_create(
            Household(
                building=b_,
                floor=1,
                room=f"{k + 1:02d}",
                neighbourhood=None if k < no_nbh or name == "B_OUT" else nbh,
            )
            for k in range(hh)
        )
    buildings_attach()
    area_counts_refresh()
    for b_ in buildings.values():
        b_.refresh_from_db()
    w["buildings"] = buildings
    return w
