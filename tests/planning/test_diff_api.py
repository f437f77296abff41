"""The editor's server side: the diff view's API (draft, unsaved and published), plan areas that keep
their ids across saves (what conflict recovery relies on), and the proposal's name in the UI's
language. Real PostGIS demo, rolled back after each test."""

import json

import pytest
import shapely
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.utils import translation
from rest_framework.test import APIClient

from apps.common.errors import DomainError
from apps.planning import services
from apps.planning.models import PlanArea
from apps.territory.models import Area, Building


@pytest.fixture
def community(demo):
    return Area.objects.filter(level="community", valid_to__isnull=True).order_by("code").first()


@pytest.fixture
def planner(community):
    from apps.people.services import staff_assign

    user = get_user_model().objects.create_user("diff-planner", password="x")
    staff_assign(name="规划员", role="planner", area=community, user=user)
    client = APIClient()
    client.force_authenticate(user)
    return client


def _geos(g) -> MultiPolygon:
    g = GEOSGeometry(g.wkt, srid=4326)
    return g if g.geom_type == "MultiPolygon" else MultiPolygon(g, srid=4326)


def _areas(plan):
    return [
        {"id": a.id, "code": a.code, "name": a.name, "geom": a.geom}
        for a in plan.areas.order_by("code")
    ]


def _split_grid(plan):
    """Cut the plan's first grid in two between its middle buildings (both halves hold some)."""
    areas = _areas(plan)
    target = areas[0]
    grid = Area.objects.get(level="grid", code=target["code"], valid_to__isnull=True)
    xs = sorted(b.footprint.point_on_surface.x for b in Building.objects.filter(grid=grid))
    assert len(xs) >= 2, "the demo grid has buildings"
    cut = (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2
    poly = shapely.from_wkt(target["geom"].wkt)
    minx, miny, maxx, maxy = poly.bounds
    left = poly.intersection(shapely.box(minx - 1, miny - 1, cut, maxy + 1))
    right = poly.difference(left)
    west = {
        b.id for b in Building.objects.filter(grid=grid) if b.footprint.point_on_surface.x < cut
    }
    east_households = sum(
        b.households for b in Building.objects.filter(grid=grid) if b.id not in west
    )
    areas[0] = {**target, "geom": _geos(left)}
    areas.append({"id": None, "code": "", "name": "", "geom": _geos(right)})
    return areas, grid, east_households


def _payload(areas):
    return [
        {"id": a["id"], "code": a["code"], "name": a["name"], "geom": a["geom"].json} for a in areas
    ]


def test_unsaved_split_and_removal_diff_lists_counts_and_polygons(community, planner):
    plan = services.plan_create_from_current(community=community, level="grid")
    areas, grid, east = _split_grid(plan)
    assert east > 0
    gone = areas[1]  # a second grid removed in the editor
    gone_grid = Area.objects.get(level="grid", code=gone["code"], valid_to__isnull=True)
    areas = [a for a in areas if a is not gone]
    res = planner.post(
        f"/api/planning/plans/{plan.id}/diff", {"areas": _payload(areas)}, format="json"
    )
    assert res.status_code == 200, res.json()
    d = res.json()
    assert d["changed"] == [grid.code] and d["removed"] == [gone["code"]] and len(d["added"]) == 1
    rows = {r["status"]: r for r in d["areas"]}
    assert [r["status"] for r in d["areas"]] == ["added", "changed", "removed"]
    before = sum(Building.objects.filter(grid=grid).values_list("households", flat=True))
    assert rows["changed"]["before"] == before
    assert rows["added"]["after"] == east and rows["added"]["before"] is None
    assert rows["changed"]["after"] == before - east
    assert rows["added"]["moved_in"] == east and rows["changed"]["moved_out"] == east
    assert rows["removed"]["after"] is None
    assert rows["removed"]["before"] == rows["removed"]["moved_out"]
    assert rows["removed"]["before"] == sum(
        Building.objects.filter(grid=gone_grid).values_list("households", flat=True)
    )
    assert d["households_moved"] == east + rows["removed"]["before"]
    # polygons: the new piece, the changed grid after and before, the removed grid
    sides = sorted(
        (f["properties"]["status"], f["properties"]["side"]) for f in d["features"]["features"]
    )
    assert sides == [
        ("added", "after"),
        ("changed", "after"),
        ("changed", "before"),
        ("removed", "before"),
    ]
    before_geom = next(
        f["geometry"]
        for f in d["features"]["features"]
        if f["properties"]["status"] == "changed" and f["properties"]["side"] == "before"
    )
    assert GEOSGeometry(str(before_geom).replace("'", '"')).equals(grid.geom)
    # nothing was saved by looking
    plan.refresh_from_db()
    assert plan.revision == 1 and plan.areas.count() == 6


def test_saved_and_published_diffs_show_the_same_changes_with_their_polygons(community, planner):
    plan = services.plan_create_from_current(community=community, level="grid")
    areas, grid, east = _split_grid(plan)
    plan = services.plan_save(plan=plan, revision=1, areas=areas)
    saved = planner.get(f"/api/planning/plans/{plan.id}/diff").json()
    assert saved["changed"] == [grid.code] and len(saved["added"]) == 1
    added = next(r for r in saved["areas"] if r["status"] == "added")
    assert added["after"] == east and PlanArea.objects.filter(pk=added["plan_area"]).exists()
    old_version = grid.id
    diff = services.plan_publish(plan=plan, revision=plan.revision)
    plan.refresh_from_db()
    assert services.plan_diff(plan=plan) == plan.diff  # without polygons: what was stored
    published = planner.get(f"/api/planning/plans/{plan.id}/diff").json()
    rows = {r["status"]: r for r in published["areas"]}
    # the new grid now has its code, and the rows keep the counts seen before publishing
    assert rows["added"]["code"] == diff["new_codes"][0] and len(rows["added"]["code"]) == 15
    assert rows["added"]["after"] == east and rows["changed"]["moved_out"] == east
    feats = published["features"]["features"]
    before = [f for f in feats if f["properties"]["side"] == "before"]
    assert len(before) == 1 and before[0]["properties"]["code"] == grid.code
    closed = Area.objects.get(pk=old_version)
    assert closed.valid_to is not None
    assert GEOSGeometry(str(before[0]["geometry"]).replace("'", '"')).equals(closed.geom)
    assert {f["properties"]["status"] for f in feats if f["properties"]["side"] == "after"} == {
        "added",
        "changed",
    }


def test_neighbourhood_merge_diff_counts_households_in_and_out(community):
    plan = services.plan_create_from_current(community=community, level="neighbourhood")
    rows = list(plan.areas.order_by("code"))
    a, b = next(
        (x, y)
        for x in rows
        for y in rows
        if x.code < y.code and x.code[:15] == y.code[:15] and x.geom.touches(y.geom)
    )
    areas = [{"id": r.id, "code": r.code, "geom": r.geom.json} for r in rows if r.id != b.id]
    for item in areas:
        if item["id"] == a.id:
            item["geom"] = a.geom.union(b.geom).json
    d = services.plan_diff(plan=plan, areas=areas, geometry=True)
    assert d["changed"] == [a.code] and d["removed"] == [b.code] and d["added"] == []
    by = {r["code"]: r for r in d["areas"]}
    assert by[a.code]["before"] == len(a.household_ids)
    assert by[a.code]["after"] == len(a.household_ids) + len(b.household_ids)
    assert by[a.code]["moved_in"] == len(b.household_ids) and by[a.code]["moved_out"] == 0
    assert by[b.code]["before"] == len(b.household_ids) == by[b.code]["moved_out"]
    assert d["households_moved"] == len(b.household_ids)


def test_saving_keeps_area_ids_and_names_a_bad_id(community, planner):
    plan = services.plan_create_from_current(community=community, level="grid")
    areas, _grid, _east = _split_grid(plan)
    ids = [a["id"] for a in areas if a["id"]]
    dropped = ids[-1]
    areas = [
        a for a in areas if a["id"] != dropped
    ]  # one area removed (a gap: a draft may have one)
    plan = services.plan_save(plan=plan, revision=1, areas=areas)
    now = set(plan.areas.values_list("id", flat=True))
    assert set(ids) - {dropped} <= now and dropped not in now
    assert len(now) == len(ids)  # one new row for the new piece, one row gone
    first = PlanArea.objects.get(pk=areas[0]["id"])
    assert first.geom.equals_exact(areas[0]["geom"], tolerance=1e-6)
    bad = _payload(_areas(plan))
    bad[1]["id"] = "x"
    res = planner.put(
        f"/api/planning/plans/{plan.id}", {"revision": plan.revision, "areas": bad}, format="json"
    )
    assert res.status_code == 400 and res.json()["field"] == "areas[1].id"
    bad[1]["id"] = bad[0]["id"]
    with pytest.raises(DomainError, match="given twice"):
        services.plan_save(plan=plan, revision=plan.revision, areas=bad)
    res = planner.post(f"/api/planning/plans/{plan.id}/diff", {"areas": "nope"}, format="json")
    assert res.status_code == 400 and res.json()["field"] == "areas"
    plan.refresh_from_db()
    assert plan.revision == 2 and set(plan.areas.values_list("id", flat=True)) == now


def test_the_proposal_is_named_in_the_language_of_the_ui(community):
    with translation.override("zh-hans"):
        zh = services.plan_propose(community=community)
    with translation.override("en"):
        en = services.plan_propose(community=community)
    assert (
        zh.name.startswith(community.name) and "自动方案" in zh.name and "proposal" not in zh.name
    )
    assert "proposal" in en.name


def test_api_errors_speak_chinese_by_default_and_english_on_request(community, planner):
    """The status in the message is its label, so the Chinese sentence is Chinese throughout."""
    plan = services.plan_create_from_current(community=community, level="grid")
    services.plan_discard(plan=plan, revision=plan.revision)
    body = {"revision": plan.revision, "areas": []}
    res = planner.put(f"/api/planning/plans/{plan.id}", body, format="json")
    assert res.status_code == 400
    assert res.json()["error"] == f"规划 {plan.id} 不是草稿（已放弃），只有草稿可以编辑"
    res = planner.put(f"/api/planning/plans/{plan.id}?lang=en", body, format="json")
    assert res.status_code == 400
    assert res.json()["error"] == (
        f"plan {plan.id} is not a draft (Discarded); only drafts can be edited"
    )

    draft = services.plan_create_from_current(community=community, level="grid")
    stale = {"revision": 7, "areas": _payload(_areas(draft))}
    url = f"/api/planning/plans/{draft.id}"
    res = planner.put(url + "?lang=zh-hans", stale, format="json")
    assert res.status_code == 409 and res.json()["field"] == "revision"
    assert res.json()["error"].startswith(f"规划 {draft.id} 已被他人保存（修订版 1，您的是 7）")
    res = planner.put(url + "?lang=en", stale, format="json")
    assert res.json()["error"].startswith(
        f"plan {draft.id} was saved by someone else (revision 1, yours was 7)"
    )


def test_polygons_read_back_from_the_editor_are_not_changes(community, planner):
    """The editor sends back what it read (GeoJSON, 7 decimals): that rounding is not a change, in
    the diff or when publishing (no new versions of untouched grids)."""
    plan = services.plan_create_from_current(community=community, level="grid")
    features = planner.get(f"/api/planning/plans/{plan.id}").json()["areas"]["features"]
    areas = [
        {"id": f["properties"]["id"], "code": f["properties"]["code"], "geom": f["geometry"]}
        for f in features
    ]
    d = planner.post(f"/api/planning/plans/{plan.id}/diff", {"areas": areas}, format="json").json()
    assert d["changed"] == [] and d["unchanged"] == 6 and d["households_moved"] == 0
    current = {
        a.code: a.id
        for a in Area.objects.filter(
            level="grid", code__startswith=community.code, valid_to__isnull=True
        )
    }
    plan = services.plan_save(plan=plan, revision=1, areas=areas)
    diff = services.plan_publish(plan=plan, revision=plan.revision)
    assert diff["changed"] == [] and diff["versions"] == current


def test_split_picks_the_candidate_the_line_cuts(planner):
    west = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    east = {"type": "Polygon", "coordinates": [[[1, 0], [3, 0], [3, 1], [1, 1], [1, 0]]]}
    # starts inside the west square, crosses the east one from side to side
    line = {"type": "LineString", "coordinates": [[0.5, 0.5], [3.5, 0.5]]}
    res = planner.post(
        "/api/planning/geometry/split", {"polygons": [west, east], "line": line}, format="json"
    )
    assert res.status_code == 200, res.json()
    body = res.json()
    assert body["index"] == 1 and len(body["pieces"]) == 2
    areas = sorted(shapely.from_geojson(json.dumps(p)).area for p in body["pieces"])
    assert areas == pytest.approx([1.0, 1.0])
    miss = planner.post(
        "/api/planning/geometry/split",
        {"polygons": [west], "line": {"type": "LineString", "coordinates": [[5, 5], [6, 6]]}},
        format="json",
    )
    assert miss.status_code == 400 and miss.json()["field"] == "line"
    bad = planner.post(
        "/api/planning/geometry/split", {"polygons": [west, "x"], "line": line}, format="json"
    )
    assert bad.status_code == 400 and bad.json()["field"] == "polygons[1]"
