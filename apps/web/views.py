from django.conf import settings
from django.db.models import Q, Sum
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.territory.models import Area, Level, ManagementType
from apps.tiles.layers import LAYERS as TILE_LAYERS

# Above this many features a layer is drawn from vector tiles (/tiles/...) instead of one GeoJSON
# download: a browser copes with a few thousand SVG paths, not with a city's buildings.
GEOJSON_MAX_FEATURES = 3000  # settings.LINLI_GEOJSON_MAX_FEATURES overrides
# Layers that can grow past that: the buildings and the neighbourhood grids (~30 households each).
TILED_LAYERS = {"buildings": "buildings", "neighbourhood": "neighbourhood"}


def _feature_counts() -> dict:
    """Features per big layer, from the cached area counts (no scan of the buildings table)."""
    now = timezone.now()
    current = Area.objects.filter(valid_from__lte=now).filter(
        Q(valid_to__isnull=True) | Q(valid_to__gt=now)
    )
    return {
        "buildings": current.filter(level=Level.STREET).aggregate(n=Sum("buildings"))["n"] or 0,
        "neighbourhood": current.filter(level=Level.NEIGHBOURHOOD).count(),
    }


def _tiles_spec(key: str, count: int) -> dict:
    layer = TILE_LAYERS[TILED_LAYERS[key]]
    url = reverse("tile", args=[layer.name, 0, 0, 0]).replace("/0/0/0.mvt", "/{z}/{x}/{y}.mvt")
    return {"url": url, "layer": layer.name, "minZoom": layer.min_zoom, "count": count}


def map_page(request):
    """The territory map: every level as a layer, click for the chain. Layers too big for GeoJSON
    (or all tileable ones with ?tiles=1) come as vector tiles."""
    counts = _feature_counts()
    force_tiles = request.GET.get("tiles") == "1"
    limit = getattr(settings, "LINLI_GEOJSON_MAX_FEATURES", GEOJSON_MAX_FEATURES)
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
    return render(request, "web/map.html", {"map_config": config})
