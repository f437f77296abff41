from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.csrf import ensure_csrf_cookie

from apps.people.scope import request_scope
from apps.people.selectors import center_policy, policy_dict
from apps.territory.models import Area


@login_required
@ensure_csrf_cookie
def centers_page(request):
    """Center households on the map: lines to linked households, click buildings to link/unlink,
    auto-suggest a plan, review and accept it."""
    communities = list(
        Area.objects.filter(level="community", valid_to__isnull=True)
        .filter(request_scope(request).q("code"))  # only the communities the user works in
        .order_by("code")
        .values("id", "name", "code")
    )
    config = {
        "communities": communities,
        "policy": policy_dict(
            center_policy(community_id=communities[0]["id"] if communities else None)
        ),
        "urls": {
            "buildings": reverse("buildings-geojson"),
            "centers": reverse("people-centers"),
            "links": reverse("people-center-links"),
            "lasso": reverse("people-center-lasso"),
            "households": reverse("people-households"),
            "proposals": reverse("people-proposals"),
            "accept": reverse("people-proposal-accept", args=[0]),
        },
        "labels": {
            "loading": _("Loading…"),
            "failed": _("Could not load"),
            "coverage": _("Coverage by grid"),
            "grid": _("Grid"),
            "households": _("Households"),
            "covered": _("Covered"),
            "centers": _("Center households"),
            "center": _("Center household"),
            "member": _("Party member"),
            "linked": _("Linked households"),
            "limits": _("Limits"),
            "overload": _("Over capacity"),
            "underload": _("Below the minimum"),
            "distance": _("Links beyond the distance rule"),
            "far": _("too far"),
            "link": _("Link"),
            "unlink": _("Unlink"),
            "move": _("Move here"),
            "lasso": _("Lasso"),
            "lassoHint": _("Draw around buildings; close the shape on its first point."),
            "lassoDone": _("Linked households:"),
            "makeCenter": _("Make center household"),
            "pickCenter": _("Click a red center household first, then a building."),
            "wouldOverload": _("Linking more would exceed the limit"),
            "wouldBeFar": _("This building is beyond the distance rule"),
            "suggest": _("Auto-suggest"),
            "accept": _("Accept proposal"),
            "proposal": _("Proposal (draft): review, adjust, accept"),
            "live": _("Current plan"),
            "accepted": pgettext("proposal", "Accepted"),
            "room": _("Room"),
            "of": _("of"),
        },
    }
    return render(request, "people/centers.html", {"config": config})
