from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from apps.territory.models import Level, ManagementType


def map_page(request):
    """The territory map: every level as a layer, click for the chain."""
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
            }
            for key, visible in layer_specs
        ]
        + [
            {
                "key": "buildings",
                "label": _("Buildings"),
                "visible": True,
                "url": reverse("buildings-geojson"),
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
