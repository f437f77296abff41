"""Plans on the demo district: proposal constraints, validation findings, publish, diff, re-attachment,
conflicts. Every test runs on the real PostGIS demo and rolls back."""

from collections import defaultdict
from datetime import timedelta

import pytest
import shapely
from django.contrib.auth import get_user_model
from django.contrib.gis.geos import GEOSGeometry, MultiPolygon
from django.core.management import CommandError, call_command
from django.db.models import Q
from rest_framework.test import APIClient

from apps.common.errors import Conflict, DomainError
from apps.people.models import CenterLink, StaffAssignment
from apps.planning import services
from apps.planning.models import Plan, PlanArea, PlanStatus
from apps.territory.models import Area, Building, Household
from apps.territory.selectors import locate
from apps.territory.services import area_counts_refresh


@pytest.fixture
def community(demo):
    return Area.objects.filter(level="community", valid_to__isnull=True).order_by("code").first()


def _areas(plan):
    return [
        {"id": a.id, "code": a.code, "name": a.name, "geom": a.geom}
        for a in plan.areas.order_by("code")
    ]


# --- the proposal -----------------------------------------------------------------------------------


def test_proposal_meets_every_constraint_on_the_demo(community):
    plan = services.plan_propose(community=community, target=30, min_hh=20, max_hh=40)
    r = plan.report
    assert r["contiguous"] == 1.0
    assert r["households"] == Household.objects.filter(building__community=community).count()
    # out-of-range groups carry a reason; the rest are within range
    rows = list(plan.areas.all())
    out = [a for a in rows if not 20 <= a.households <= 40]
    assert len(out) == len(r["out_of_range"])
    assert all(a.note for a in out)
    assert r["within_range"] >= 0.9
    # every household in exactly one neighbourhood grid, and the polygons are contiguous
    seen = defaultdict(int)
    for a in rows:
        for h in a.household_ids:
            seen[h] += 1
        assert a.geom.num_geom == 1, f"{a.code} is not one polygon"
    assert set(seen.values()) == {1}
    assert len(seen) == r["households"]
    # never split a household or a building of at most 40 households; a split building goes by units,
    # and a unit only by consecutive floor ranges when it holds more than 40
    group_of = {h: a.id for a in rows for h in a.household_ids}
    by_building = defaultdict(list)
    for h in Household.objects.filter(id__in=list(group_of)).select_related("unit"):
        by_building[h.building_id].append(h)
    for hhs in by_building.values():
        groups = {group_of[h.id] for h in hhs}
        if len(hhs) <= 40:
            assert len(groups) == 1
            continue
        by_unit = defaultdict(list)
        for h in hhs:
            by_unit[h.unit.number].append(h)
        for unit_hhs in by_unit.values():
            unit_groups = defaultdict(list)
            for h in unit_hhs:
                unit_groups[group_of[h.id]].append(h.floor)
            if len(unit_hhs) <= 40:
                assert len(unit_groups) == 1
            else:
                ranges = sorted((min(f), max(f)) for f in unit_groups.values())
                for (_a, b), (c, _d) in zip(ranges[:-1], ranges[1:], strict=True):
                    assert b <= c, "floor ranges of one unit overlap"
    # validation: no gap, no overlap, nothing outside, everyone placed
    check = services.plan_check(plan=plan)
    assert check["valid"], [f["message"] for f in check["findings"] if f["severity"] == "error"]
    kinds = {f["kind"] for f in check["findings"]}
    assert kinds <= {"count"}


def test_neighbourhood_grids_never_cross_a_grid_line(community):
    plan = services.plan_propose(community=community)
    grids = list(Area.objects.filter(level="grid", parent=community, valid_to__isnull=True))
    for a in plan.areas.all():
        owners = [g for g in grids if g.geom.intersection(a.geom).area > 1e-10]
        assert len(owners) == 1, a.code
        assert a.code == "" or a.code.startswith(owners[0].code)


def test_propose_grids_command_reports_quality(community, capsys):
    call_command("propose_grids", community=community.code, target=30, min_hh=20, max_hh=40)
    out = capsys.readouterr().out
    assert "neighbourhood grids" in out and "contiguous: 100.0%" in out and "[25, 35]" in out
    with pytest.raises(CommandError, match="no current community with code '999'"):
        call_command("propose_grids", community="999")
    with pytest.raises(CommandError, match=r"need 0 < min \(50\)"):
        call_command("propose_grids", community=community.code, min_hh=50)


# --- validation findings ----------------------------------------------------------------------------


def test_a_removed_grid_leaves_a_gap_and_unassigned_buildings(community):
    plan = services.plan_create_from_current(community=community, level="grid")
    assert services.plan_check(plan=plan)["valid"]
    areas = _areas(plan)[1:]
    result = services.plan_check(plan=plan, areas=areas)
    kinds = {f["kind"] for f in result["findings"] if f["severity"] == "error"}
    assert {"gap", "unassigned"} <= kinds
    gap = next(f for f in result["findings"] if f["kind"] == "gap")
    assert gap["geometry"]["type"] == "Polygon"
    # the gap is where the first grid was
    first = plan.areas.order_by("code").first()
    assert GEOSGeometry(str(gap["geometry"]).replace("'", '"')).intersects(first.geom)


def test_overlap_and_outside_are_found_with_their_geometry(community):
    plan = services.plan_create_from_current(community=community, level="grid")
    areas = _areas(plan)
    first = areas[0]["geom"]
    grown = first.buffer(0.0003)  # ~30 m over its neighbours and out of the community
    areas[0]["geom"] = MultiPolygon(grown, srid=4326) if grown.geom_type == "Polygon" else grown
    result = services.plan_check(plan=plan, areas=areas)
    kinds = {f["kind"] for f in result["findings"]}
    assert {"overlap", "outside"} <= kinds
    overlap = next(f for f in result["findings"] if f["kind"] == "overlap")
    assert len(overlap["codes"]) == 2 and overlap["geometry"] is not None
    assert not result["valid"]


def test_counts_out_of_range_are_warnings_with_counts(community):
    plan = services.plan_create_from_current(community=community, level="neighbourhood")
    plan.min_households, plan.max_households = 29, 31
    plan.save()
    result = services.plan_check(plan=plan)
    counts = [f for f in result["findings"] if f["kind"] == "count"]
    assert counts and all(f["severity"] == "warning" for f in counts)
    assert sum(c["households"] for c in result["counts"]) == len(
        {h for a in plan.areas.all() for h in a.household_ids}
    )


def test_bad_input_names_the_area_and_changes_nothing(community):
    plan = services.plan_create_from_current(community=community, level="grid")
    before = list(plan.areas.values_list("id", flat=True))
    areas = _areas(plan)
    areas[2]["geom"] = {"type": "LineString", "coordinates": [[117.27, 31.86], [117.28, 31.86]]}
    with pytest.raises(DomainError, match="expected a Polygon or MultiPolygon") as exc:
        services.plan_save(plan=plan, revision=plan.revision, areas=areas)
    assert exc.value.field == "areas[2].geom"
    areas[2]["geom"] = {"type": "Polygon", "coordinates": "nonsense"}
    with pytest.raises(DomainError, match="area #3: the geometry cannot be read"):
        services.plan_save(plan=plan, revision=plan.revision, areas=areas)
    plan.refresh_from_db()
    assert plan.revision == 1
    assert list(plan.areas.values_list("id", flat=True)) == before


# --- conflicts ----------------------------------------------------------------------------------------


def test_a_stale_save_is_refused_and_nothing_is_lost(community):
    plan = services.plan_create_from_current(community=community, level="grid")
    first = _areas(plan)
    first[0]["name"] = "第一位规划员的名字"
    services.plan_save(plan=plan, revision=1, areas=first)
    second = _areas(plan)
    second[0]["name"] = "第二位规划员的名字"
    with pytest.raises(Conflict, match=r"saved by someone else \(revision 2, yours was 1\)"):
        services.plan_save(plan=plan, revision=1, areas=second)
    plan.refresh_from_db()
    assert plan.revision == 2
    assert plan.areas.filter(name="第一位规划员的名字").count() == 1
    assert not plan.areas.filter(name="第二位规划员的名字").exists()
    with pytest.raises(Conflict):
        services.plan_publish(plan=plan, revision=1)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.DRAFT


# --- publish, versions, re-attachment, diff ---------------------------------------------------------


def test_publishing_a_proposal_makes_new_versions_and_moves_households(community):
    before = timezone_now()
    old_nbh = {
        a.code: a.id
        for a in Area.objects.filter(
            level="neighbourhood", code__startswith=community.code, valid_to__isnull=True
        )
    }
    some_household = Household.objects.filter(neighbourhood_id__in=old_nbh.values()).first()
    old_id = some_household.neighbourhood_id
    links = CenterLink.objects.filter(center__household__building__community=community)
    links_before = set(links.values_list("center__household_id", "household_id"))
    assert links_before  # the demo has center households with linked households
    plan = services.plan_propose(community=community)
    expected = services.plan_diff(plan=plan)
    assert expected["households_moved"] > 0
    diff = services.plan_publish(plan=plan, revision=plan.revision)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.PUBLISHED and plan.published_at is not None
    assert set(diff["removed"]) == set(expected["removed"])
    assert set(diff["changed"]) == set(expected["changed"])
    assert len(diff["new_codes"]) == len(expected["added"])
    # the old versions are closed but still there, and still answer for an earlier moment
    old = Area.objects.get(pk=old_id)
    assert old.valid_to is not None
    b = some_household.building
    p = b.footprint.point_on_surface
    then = locate(lon=p.x, lat=p.y, at=before - timedelta(seconds=1))
    assert then["neighbourhood"]["id"] in old_nbh.values()
    # every household of the community now points at a current neighbourhood grid of the plan
    current = set(diff["versions"].values())
    hh = Household.objects.filter(building__community=community)
    assert hh.exclude(neighbourhood_id__in=current).count() == 0
    for a in plan.areas.all():
        v = Area.objects.get(pk=diff["versions"][a.code])
        assert v.valid_to is None and v.code == a.code
        assert v.households == len(a.household_ids)  # counts refreshed
        assert v.parent.valid_to is None and a.code.startswith(v.parent.code)
    assert (
        sum(Area.objects.filter(pk__in=current).values_list("households", flat=True)) == hh.count()
    )
    assert area_counts_refresh() == 0  # the publish refreshed every count its moves changed
    # the stored diff is what the diff view shows afterwards
    assert services.plan_diff(plan=plan) == plan.diff
    # center-household links join households, not areas: all survive, and both ends now sit in the
    # new neighbourhood grids
    assert set(links.values_list("center__household_id", "household_id")) == links_before
    ends = Household.objects.filter(
        Q(center__isnull=False, building__community=community) | Q(center_link__in=links)
    )
    assert ends.exclude(neighbourhood_id__in=current).count() == 0


def test_publishing_a_grid_plan_moves_buildings_staff_and_children(community):
    plan = services.plan_create_from_current(community=community, level="grid")
    areas = _areas(plan)
    g1, g2 = areas[0], areas[1]  # side by side in the demo
    strip = g2["geom"].intersection(g1["geom"].buffer(0.0004))  # ~40 m of grid 2 go to grid 1
    new1 = g1["geom"].union(strip)
    new2 = g2["geom"].difference(strip)
    g1["geom"] = new1 if new1.geom_type == "MultiPolygon" else MultiPolygon(new1, srid=4326)
    g2["geom"] = new2 if new2.geom_type == "MultiPolygon" else MultiPolygon(new2, srid=4326)
    plan = services.plan_save(plan=plan, revision=1, areas=areas)
    check = services.plan_check(plan=plan)
    assert check["valid"], [f["message"] for f in check["findings"]]
    old1 = Area.objects.get(level="grid", code=g1["code"], valid_to__isnull=True)
    old2 = Area.objects.get(level="grid", code=g2["code"], valid_to__isnull=True)
    leader = StaffAssignment.objects.filter(area=old1).first()
    moved = [
        b.id
        for b in Building.objects.filter(grid=old2)
        if strip.contains(b.footprint.point_on_surface)
    ]
    assert moved, "the demo has a building in the strip"
    diff = services.plan_publish(plan=plan, revision=plan.revision)
    assert sorted(diff["changed"]) == sorted([g1["code"], g2["code"]])
    assert diff["households_moved"] == sum(
        Building.objects.filter(id__in=moved).values_list("households", flat=True)
    )
    new1_area = Area.objects.get(pk=diff["versions"][g1["code"]])
    assert new1_area.version == old1.version + 1
    assert Building.objects.filter(id__in=moved, grid=new1_area).count() == len(moved)
    leader.refresh_from_db()
    assert leader.area_id == new1_area.id
    assert diff["staff_moved"] >= 1
    # neighbourhood grids hang from the new version of their grid
    assert not Area.objects.filter(
        level="neighbourhood", parent__in=[old1, old2], valid_to__isnull=True
    ).exists()
    new1_area.refresh_from_db()
    assert new1_area.households == sum(
        Building.objects.filter(grid=new1_area).values_list("households", flat=True)
    )
    assert area_counts_refresh() == 0  # the publish refreshed every count its moves changed


def test_an_invalid_plan_is_not_published(community):
    plan = services.plan_create_from_current(community=community, level="grid")
    plan = services.plan_save(plan=plan, revision=1, areas=_areas(plan)[1:])
    with pytest.raises(DomainError, match="the plan has .* errors"):
        services.plan_publish(plan=plan, revision=plan.revision)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.DRAFT
    assert Area.objects.filter(level="grid", code__startswith=community.code).count() == 6


def test_removing_a_grid_with_neighbourhood_grids_is_an_error(community):
    plan = services.plan_create_from_current(community=community, level="grid")
    areas = _areas(plan)
    merged = areas[0]["geom"].union(areas[1]["geom"])
    areas = [{**areas[0], "geom": merged}] + areas[2:]
    result = services.plan_check(plan=plan, areas=areas)
    assert any(f["kind"] == "orphans" for f in result["findings"])


def test_saving_keeps_split_towers_and_moves_whole_buildings(community):
    plan = services.plan_create_from_current(community=community, level="neighbourhood")
    rows = list(plan.areas.order_by("code"))
    # merge two neighbouring areas in the editor: their households add up
    a, b = next(
        (x, y)
        for x in rows
        for y in rows
        if x.code < y.code and x.code[:15] == y.code[:15] and x.geom.touches(y.geom)
    )
    areas = [{"id": r.id, "code": r.code, "geom": r.geom} for r in rows if r.id != b.id]
    for item in areas:
        if item["id"] == a.id:
            item["geom"] = a.geom.union(b.geom)
    services.plan_save(plan=plan, revision=1, areas=areas)
    merged = PlanArea.objects.get(plan=plan, code=a.code)
    assert set(merged.household_ids) == set(a.household_ids) | set(b.household_ids)
    # areas untouched keep exactly their households (split towers included)
    for r in rows:
        if r.id not in (a.id, b.id):
            assert set(PlanArea.objects.get(plan=plan, code=r.code).household_ids) == set(
                r.household_ids
            )


# --- API ---------------------------------------------------------------------------------------------


def test_api_requires_login_and_serves_plans(community):
    client = APIClient()
    assert client.get(f"/api/planning/plans?community={community.code}").status_code == 403
    from apps.people.services import staff_assign

    user = get_user_model().objects.create_user("p1", password="x")
    client.force_authenticate(user)
    # signed in without a role: no scope, nothing to see
    assert client.get(f"/api/planning/plans?community={community.code}").status_code == 403
    staff_assign(name="规划员", role="planner", area=community, user=user)
    res = client.post(
        "/api/planning/proposals", {"community": community.code, "target": 30}, format="json"
    )
    assert res.status_code == 201, res.json()
    body = res.json()
    assert body["areas"]["type"] == "FeatureCollection" and body["report"]["groups"] > 0
    pid = body["id"]
    res = client.post(f"/api/planning/plans/{pid}/check", {}, format="json")
    assert res.json()["valid"] is True
    stale = client.put(f"/api/planning/plans/{pid}", {"revision": 99, "areas": []}, format="json")
    assert stale.status_code == 409 and stale.json()["code"] == "conflict"
    bad = client.post("/api/planning/proposals", {"community": community.code, "min": "x"})
    assert bad.status_code == 400 and bad.json()["field"] == "min"
    # split a polygon by a line, merge it back
    poly = {
        "type": "Polygon",
        "coordinates": [[[0, 0], [2, 0], [2, 1], [0, 1], [0, 0]]],
    }
    line = {"type": "LineString", "coordinates": [[1, -1], [1, 2]]}
    pieces = client.post(
        "/api/planning/geometry/split", {"polygon": poly, "line": line}, format="json"
    ).json()["pieces"]
    assert len(pieces) == 2
    merged = client.post(
        "/api/planning/geometry/merge", {"polygons": pieces}, format="json"
    ).json()["geometry"]
    assert shapely.from_geojson(str(merged).replace("'", '"')).area == pytest.approx(2.0)
    miss = client.post(
        "/api/planning/geometry/split",
        {"polygon": poly, "line": {"type": "LineString", "coordinates": [[5, 5], [6, 6]]}},
        format="json",
    )
    assert miss.status_code == 400 and miss.json()["field"] == "line"


def timezone_now():
    from django.utils import timezone

    return timezone.now()


def test_only_a_planner_of_the_community_may_publish(community):
    from apps.people.services import staff_assign

    plan = services.plan_create_from_current(community=community, level="grid")
    user = get_user_model().objects.create_user("p2", password="x")
    client = APIClient()
    client.force_authenticate(user)
    res = client.post(f"/api/planning/plans/{plan.id}/publish", {"revision": 1}, format="json")
    assert res.status_code == 403  # no role at all
    staff_assign(name="社区干部", role="community_staff", area=community, user=user)
    res = client.post(f"/api/planning/plans/{plan.id}/publish", {"revision": 1}, format="json")
    assert res.status_code == 403
    assert res.json()["error"] == f"只有社区 {community.code}（或其所属街道）的规划人员才能发布"
    staff_assign(name="规划员", role="planner", area=community, user=user)
    res = client.post(f"/api/planning/plans/{plan.id}/publish", {"revision": 1}, format="json")
    assert res.status_code == 200, res.json()
    assert res.json()["diff"]["changed"] == [] and res.json()["diff"]["unchanged"] == 6


def test_a_new_area_keeps_its_number_when_the_plan_is_saved(community):
    """The findings name a new area (no code yet) "#n" by its place in the plan: new areas come
    after the coded ones, in the order they were drawn, before and after saving."""
    plan = services.plan_create_from_current(community=community, level="grid")
    areas = _areas(plan)
    n = len(areas)
    for a in areas[:2]:  # a small square inside each of the first two grids: two overlaps
        p = a["geom"].point_on_surface
        square = GEOSGeometry(
            shapely.box(p.x - 0.0003, p.y - 0.0003, p.x + 0.0003, p.y + 0.0003).wkt, srid=4326
        )
        areas.append({"id": None, "code": "", "name": "", "geom": MultiPolygon(square)})

    def named(result):
        return sorted(tuple(f["codes"]) for f in result["findings"] if f["kind"] == "overlap")

    payload = [{**a, "geom": a["geom"].geojson} for a in areas]
    unsaved = named(services.plan_check(plan=plan, areas=payload))
    assert unsaved == sorted([(areas[0]["code"], f"#{n + 1}"), (areas[1]["code"], f"#{n + 2}")])
    services.plan_save(plan=plan, revision=1, areas=payload)
    assert named(services.plan_check(plan=plan)) == unsaved
    saved = PlanArea.objects.filter(plan=plan, code="").order_by("id")
    assert [a.geom.point_on_surface.coords for a in saved] == [
        a["geom"].point_on_surface.coords for a in areas[n:]
    ]


def test_a_grid_plan_gets_a_household_range_and_its_checks_follow(community):
    """A grid plan starts without a target or range (no count check); the planner sets them and the
    check reports the grids outside; bad values are refused by field and change nothing."""
    from apps.people.services import staff_assign

    plan = services.plan_create_from_current(community=community, level="grid")
    assert (plan.target_households, plan.min_households, plan.max_households) == (None,) * 3
    before = services.plan_check(plan=plan)
    assert not [f for f in before["findings"] if f["kind"] == "count"]
    sizes = sorted(c["households"] for c in before["counts"])
    user = get_user_model().objects.create_user("p3", password="x")
    staff_assign(name="规划员", role="planner", area=community, user=user)
    client = APIClient()
    client.force_authenticate(user)
    url = f"/api/planning/plans/{plan.id}/range"
    lo, hi = sizes[1], sizes[-2]  # the smallest and the largest grid fall outside
    res = client.put(url, {"target": (lo + hi) // 2, "min": lo, "max": hi}, format="json")
    assert res.status_code == 200, res.json()
    assert (res.json()["target"], res.json()["min"], res.json()["max"]) == ((lo + hi) // 2, lo, hi)
    after = services.plan_check(plan=Plan.objects.get(pk=plan.pk))
    outside = [f for f in after["findings"] if f["kind"] == "count"]
    assert len(outside) == sum(1 for n in sizes if not lo <= n <= hi) >= 2
    for body, field in [
        ({"min": hi, "max": lo}, "min"),
        ({"target": hi + 1, "min": lo, "max": hi}, "target"),
        ({"target": 0}, "target"),
        ({"max": "many"}, "max"),
    ]:
        bad = client.put(url, body, format="json")
        assert bad.status_code == 400 and bad.json()["field"] == field, body
    plan.refresh_from_db()
    assert (plan.min_households, plan.max_households) == (lo, hi)
    cleared = client.put(url, {"target": None, "min": None, "max": None}, format="json").json()
    assert (cleared["target"], cleared["min"], cleared["max"]) == (None, None, None)
    services.plan_publish(plan=plan, revision=plan.revision)
    res = client.put(url, {"target": 30}, format="json")
    assert res.status_code == 400 and "不是草稿" in res.json()["error"]


def test_the_community_as_drawn_now_counts_each_grids_neighbourhood_grids_and_gaps(community):
    """The plan list's table: per current grid its households, the household counts of its current
    neighbourhood grids and its households in none; checked against the ORM, then after a gap is
    made and after a proposal is published (new versions, the old ones closed)."""
    from apps.planning.selectors import community_state

    def expected():
        rows = []
        for g in Area.objects.filter(
            level="grid", parent=community, valid_to__isnull=True
        ).order_by("code"):
            nbh = Area.objects.filter(level="neighbourhood", parent=g, valid_to__isnull=True)
            current = set(nbh.values_list("id", flat=True))
            rows.append(
                {
                    "code": g.code,
                    "name": g.name,
                    "households": g.households,
                    "neighbourhoods": sorted(nbh.values_list("households", flat=True)),
                    "unassigned": Household.objects.filter(building__grid=g)
                    .exclude(neighbourhood_id__in=current)
                    .count(),
                }
            )
        return rows

    state = community_state(community=community)
    assert state == expected() and len(state) > 1
    assert all(r["unassigned"] == 0 for r in state)  # the demo leaves no gap
    assert (
        sum(len(r["neighbourhoods"]) for r in state)
        == Area.objects.filter(
            level="neighbourhood", code__startswith=community.code, valid_to__isnull=True
        ).count()
    )
    # a gap: one building's households in no neighbourhood grid
    building = Building.objects.filter(grid__code=state[1]["code"]).order_by("id").first()
    moved = Household.objects.filter(building=building).update(neighbourhood=None)
    state = community_state(community=community)
    assert moved and state[1]["unassigned"] == moved and state == expected()
    Household.objects.filter(building=building).update(
        neighbourhood=Area.objects.filter(level="neighbourhood", parent__code=state[1]["code"])
        .order_by("code")
        .first()
    )
    # published: only the new versions count
    plan = services.plan_propose(community=community)
    services.plan_publish(plan=plan, revision=plan.revision)
    state = community_state(community=community)
    assert state == expected()
    assert sorted(h for r in state for h in r["neighbourhoods"]) == sorted(
        len(a.household_ids) for a in plan.areas.all()
    )
