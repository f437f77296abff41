from django.conf import settings
from django.contrib.gis.db.models import Extent
from django.db.models import Sum
from django.db.models.functions import Length
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from apps.common.labels import plural_forms
from apps.issues.labels import ACTION_NAMES
from apps.issues.models import (
    DISMISSED,
    FINISHED,
    OPEN,
    Priority,
    ResponsibleKind,
    Source,
    Status,
)
from apps.people.labels import register_labels
from apps.people.models import StaffRole
from apps.people.scope import request_scope
from apps.territory.models import Level, ManagementType
from apps.territory.selectors import current_areas
from apps.tiles.layers import COUNT_RADIUS_PX, POINTS_FROM_ZOOM
from apps.tiles.layers import LAYERS as TILE_LAYERS

# Above this many features a layer is drawn from vector tiles (/tiles/...) instead of one GeoJSON
# download: a browser copes with a few thousand SVG paths, not with a city's buildings.
# Layers that can grow past that: the buildings and the neighbourhood grids (~30 households each).
TILED_LAYERS = {"buildings": "buildings", "neighbourhood": "neighbourhood"}
# Above this many issues in the current filters (in the user's scope), the console's issues layer is
# drawn from the `issues` vector tiles (counts below zoom 14, points from 14) instead of one GeoJSON
# download of clustered pins; the page asks /api/console/issue-count on every filter change.
ISSUES_GEOJSON_MAX = 5000  # settings.LINLI_ISSUES_GEOJSON_MAX overrides


def issues_geojson_max() -> int:
    return int(getattr(settings, "LINLI_ISSUES_GEOJSON_MAX", ISSUES_GEOJSON_MAX))


def _feature_counts() -> dict:
    """Features per big layer, from the cached area counts (no scan of the buildings table)."""
    current = current_areas()
    return {
        "buildings": current.filter(level=Level.STREET).aggregate(n=Sum("buildings"))["n"] or 0,
        "neighbourhood": current.filter(level=Level.NEIGHBOURHOOD).count(),
    }


def _tiles_spec_for(layer) -> dict:
    url = reverse("tile", args=[layer.name, 0, 0, 0]).replace("/0/0/0.mvt", "/{z}/{x}/{y}.mvt")
    return {"url": url, "layer": layer.name, "minZoom": layer.min_zoom}


def _tiles_spec(key: str, count: int) -> dict:
    return _tiles_spec_for(TILE_LAYERS[TILED_LAYERS[key]]) | {"count": count}


def map_page(request):
    """The territory map: every level as a layer, click for the chain. Layers too big for GeoJSON
    (or all tileable ones with ?tiles=1) come as vector tiles."""
    counts = _feature_counts()
    force_tiles = request.GET.get("tiles") == "1"
    limit = settings.LINLI_GEOJSON_MAX_FEATURES
    tiled = {
        key: _tiles_spec(key, count)
        for key, count in counts.items()
        if force_tiles or count > limit
    }
    levels = {value: str(label) for value, label in Level.choices} | {"building": _("Building")}
    layer_specs = [
        ("street", True),
        ("community", True),
        ("grid", True),
        ("neighbourhood", False),
        ("compound", True),
    ]
    config = {
        "locateUrl": reverse("locate"),
        "layers": [
            {
                "key": key,
                "label": levels[key],
                "visible": visible,
                "url": f"{reverse('areas-geojson')}?level={key}",
                "tiles": tiled.get(key),
            }
            for key, visible in layer_specs
        ]
        + [
            {
                "key": "buildings",
                "label": _("Buildings"),
                "visible": True,
                "url": reverse("buildings-geojson"),
                "tiles": tiled.get("buildings"),
            }
        ],
        "labels": {
            "levels": levels,
            "mgmtTypes": {value: str(label) for value, label in ManagementType.choices},
            "loading": _("Loading…"),
            "failed": _("Could not load"),
            "empty": _("No areas yet: load a district with `manage.py seed_demo` or import one."),
            "outside": _("This point is outside the territory."),
            "point": _("Selected point"),
            "chain": _("Belongs to"),
            "level": _("Level"),
            "code": _("Code"),
            "households": _("Households"),
            "buildings": _("Buildings"),
            "address": _("Address"),
            "floors": _("Floors"),
            "units": _("Units"),
            "mgmt": _("Management"),
            "version": _("Version"),
        },
    }
    config["labels"].update(_console_labels())
    # Staff: signed in with a role (a scope). Signed in without one, the page is the public map and
    # says so, instead of a console whose every request would be refused.
    staff = request.user.is_authenticated and not request_scope(request).is_empty
    no_role = ""
    if request.user.is_authenticated and not staff:
        no_role = _("Your account has no role yet: ask an administrator to assign you one.")
        config["labels"]["peopleLogin"] = no_role
    config["user"] = {"name": request.user.get_username()} if staff else None
    config["urls"] = _console_urls(request, staff=staff)
    config["home"] = _home_bbox(request)
    config["workAreas"] = _work_areas(request)
    if staff:
        config["issueTiles"] = _issue_tiles_spec(force_tiles)
    return render(
        request,
        "web/map.html",
        {"map_config": config, "staff": staff, "no_role": no_role},
    )


def _issue_tiles_spec(force: bool) -> dict:
    """How the console draws issues as vector tiles when there are too many for GeoJSON."""
    layer = TILE_LAYERS["issues"]
    spec = _tiles_spec_for(layer)
    return spec | {
        "limit": issues_geojson_max(),
        "force": force,  # /?tiles=1: tiles whatever the count
        "pointsFromZoom": POINTS_FROM_ZOOM,
        "countRadiusPx": COUNT_RADIUS_PX,
        # the console's status choices "open" and "closed" as the tiles' comma lists
        "statusGroups": {
            "open": [str(s) for s in OPEN],
            "closed": [str(s) for s in FINISHED + DISMISSED],
        },
    }


def nav_pages(request) -> dict:
    """Context processor: `nav_pages`, the pages of the top bar (web/_nav.html), computed only when a
    template renders them (a callable in the context is called by the template engine)."""
    return {"nav_pages": lambda: _pages(request)}


def _pages(request) -> list[tuple[str, str]]:
    """The staff pages a user's roles open, for the top bar (each page checks access itself)."""
    if not request.user.is_authenticated:
        return []
    scope = request_scope(request)
    if scope.is_empty and not request.user.is_superuser:
        return []
    admin = request.user.is_superuser or scope.has_role(StaffRole.CITY_ADMIN)
    pages = [("phone", _("Phone view"))]
    if scope.covers_a_community:  # these pages work on whole communities
        pages += [
            ("planning", _("Grid planning")),
            ("people-centers-page", _("Center households")),
            ("analytics-dashboard", _("Analysis")),
        ]
    else:  # a grid leader: the gaps and hotspots of their grids
        pages.append(("analytics-map", _("Analysis")))
    if admin:
        pages.append(("dataio-import", _("Import")))
    if admin or scope.has_role(StaffRole.AUDITOR):
        pages.append(("audit", _("Audit log")))
    return [(url, str(label)) for name, label in pages if (url := _url(name))]


def _home_bbox(request) -> list[float] | None:
    """Where the map opens for a signed-in user with areas (a grid leader: their grid), as
    [west, south, east, north]; None opens on the whole territory."""
    if not request.user.is_authenticated:
        return None
    scope = request_scope(request)
    if scope.everything or not scope.area_prefixes:
        return None
    extent = current_areas().filter(scope.q("code")).aggregate(e=Extent("geom"))["e"]
    return list(extent) if extent else None


# The console's home panel shows the indicators of the user's own area; a user with many (a city
# office's departments, a street's staff over several streets) is named by the first few.
WORK_AREAS_MAX = 5


def _work_areas(request) -> list[dict]:
    """The current areas whose codes are the user's area prefixes (a community's staff: their
    community; a grid leader: their grids), largest first, for the console's home panel."""
    if not request.user.is_authenticated:
        return []
    scope = request_scope(request)
    if scope.everything or not scope.area_prefixes:
        return []
    areas = (
        current_areas()
        .filter(code__in=scope.area_prefixes)
        .exclude(level=Level.COMPOUND)
        .order_by(Length("code"), "code")
        .values("code", "name", "level")[:WORK_AREAS_MAX]
    )
    return list(areas)


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


# Service stations come from apps.analytics when it has them; the console shows the layer only then.
STATION_URL_NAMES = ("analytics-stations", "stations-geojson", "stations")


def _console_urls(request, *, staff: bool) -> dict:
    urls = {
        "search": reverse("territory-search"),
        "area": reverse("area-detail", args=[0]).rsplit("/", 1)[0] + "/",
    }
    if not staff:
        return urls
    return urls | {
        "issues": reverse("issues"),
        "issuesGeojson": reverse("issues-geojson"),
        "issuesPlace": reverse("issues-place"),
        "issuesCount": reverse("console-issue-count"),
        "issue": reverse("issue-detail", args=[0]).rsplit("/", 1)[0] + "/",
        "issuesActions": reverse("issues-bulk-action", args=["x"]).rsplit("/", 1)[0] + "/",
        "categories": reverse("issues-categories"),
        "indicators": reverse("issues-indicators"),
        "centers": reverse("people-centers"),
        "residents": reverse("people-residents"),
        "contacts": reverse("people-contacts"),
        "households": reverse("people-households"),
        "stations": next((u for u in map(_url, STATION_URL_NAMES) if u), None),
    }


def _console_labels() -> dict:
    return {
        "statuses": {value: str(label) for value, label in Status.choices},
        "sources": {value: str(label) for value, label in Source.choices},
        "priorities": {value: str(label) for value, label in Priority.choices},
        "actions": {key: str(label) for key, label in ACTION_NAMES.items()},
        "issues": _("Issues"),
        "photo": _("Photo"),
        "addNote": _("Add a note"),
        "stepPhotos": _("Photos of the work done"),
        # the register of residents (住户登记) in a building's panel
        "register": {
            **register_labels(),
            "moreResidents": _("More residents than shown: see the residents export."),
        },
        "dispatchTo": _("Dispatch to"),
        "keepResponsible": _("as routed: %(name)s"),
        "chooseResponsible": _("choose who handles it"),
        "responsibleKinds": {value: str(label) for value, label in ResponsibleKind.choices},
        "heatmap": _("Issue heatmap"),
        "centers": _("Center households"),
        "stations": _("Service stations"),
        "overdue": _("Overdue"),
        "openIssues": _("Open issues"),
        "noOpenIssues": _("No open issues here."),
        "indicators": _("Indicators (last 12 months)"),
        "received": pgettext("issue count", "Received"),
        "closureRate": _("Closure rate"),
        "onTimeRate": _("On-time rate"),
        "reworkRate": _("Rework rate"),
        "satisfaction": _("Satisfaction"),
        "per1000": _("Per 1,000 households"),
        "avgHours": _("Average handling hours"),
        "people": _("People"),
        "centerOf": _("Center household"),
        "linked": _("linked households"),
        "coverage": _("Coverage"),
        "residents": _("Residents"),
        "noPeople": _("No center households here."),
        "contacts": _("Who to call"),
        "noContacts": _("No one is assigned here yet."),
        "company": _("Property company"),
        "assign": _("Assign someone here"),
        "assignDo": _("Assign"),
        "assigned": _("Assigned"),
        "replaced": _("the previous grid leader's assignment ended today"),
        "role": _("Role"),
        "personName": pgettext("person", "Name"),
        "phone": _("Phone"),
        "login": _("Login (optional)"),
        "loginHint": _("their user name, to work in this role"),
        "endAssignment": _("end"),
        "endConfirm": _("End {name}'s assignment today?"),
        "ended": _("Assignment ended"),
        "gridStaff": _("Grids and their staff"),
        "noLeader": _("no grid leader"),
        "peopleLogin": _("Log in to see issues and people."),
        "history": _("History"),
        "actionsTitle": _("Actions"),
        "noActions": _("Your role may not act on this issue now."),
        "note": _("Note"),
        "rating": _("Rating (1-5)"),
        "duplicateOf": _("Repeats the issue with tracking code"),
        "done": _("Done"),
        "category": _("Category"),
        "subcategory": _("Subcategory"),
        "status": _("Status"),
        "priority": _("Priority"),
        "source": _("Source"),
        "received_at": _("Received at"),
        "due": _("Due"),
        "responsible": _("Responsible"),
        "reporter": _("Reporter"),
        "description": _("Description"),
        "rework": _("Rework count"),
        "issueCount": _("issues shown"),
        # the home panel (my work)
        "myWork": _("My work"),
        "awaitingMe": _("Awaiting me"),
        "overdueOpen": _("Overdue and still open"),
        "nothingAwaiting": _("Nothing awaits you now."),
        "noOverdue": _("Nothing is overdue."),
        "inAll": _("{n} in all, soonest due first"),
        "showOnMap": _("Show them on the map"),
        "bulkDo": _("{action} the chosen ({n})"),
        # how far the due time is ("3 days overdue", "due in 5 hours")
        "days": plural_forms(lambda n: ngettext("%(n)s day", "%(n)s days", n)),
        "hours": plural_forms(lambda n: ngettext("%(n)s hour", "%(n)s hours", n)),
        "underAnHour": _("under an hour"),
        "dueIn": _("due in {t}"),
        "overdueBy": _("{t} overdue"),
        "bulkDone": _("{action}: {n} issues done"),
        "clickHint": _(
            "Click an area or a building to see its name, code, household count and the chain "
            "of areas it belongs to."
        ),
        "searchEmpty": _("Nothing found."),
        "noSuchArea": _("No current area has the code {code}."),
        "newIssue": _("New issue"),
        "pickPoint": _("Click the map where the issue is."),
        "submit": _("File the issue"),
        "cancel": _("Cancel"),
        "filed": _("Issue filed"),
        "reporterName": _("Reporter name"),
        "reporterPhone": _("Reporter phone"),
        "nearby": _("Open issues of this category nearby"),
        "any": _("Any"),
        "trackingCode": _("Tracking code"),
        # issues drawn from vector tiles ({n}: the GeoJSON limit)
        "issuesOver": _("more than {n} issues · vector tiles"),
        "issuesTiles": _("{n} issues · vector tiles"),
        "issuesTilesHint": _(
            "Too many issues for pins: below zoom 14 the map shows how many issues each circle "
            "stands for (click one to zoom in), from zoom 14 every issue (click one to open it). "
            "Narrow the filters for pins and the heatmap."
        ),
    }
