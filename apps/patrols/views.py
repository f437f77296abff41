"""The grid leader's phone page (/m/) and its service worker (offline shell)."""

from pathlib import Path

from django.apps import apps as django_apps
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import ensure_csrf_cookie

from apps.common.labels import plural_forms
from apps.patrols import conf
from apps.people.labels import register_labels

SW_PATH = Path(__file__).resolve().parent / "static" / "patrols" / "sw.js"


def labels() -> dict:
    return {
        "loading": _("Loading…"),
        "loadFailed": _("Could not load your grids"),
        "noGrids": _("You are not assigned to a grid; ask community staff to assign you."),
        "locating": _("Finding your position…"),
        "noLocation": _("Location unavailable"),
        "locationDenied": _("Location permission denied: allow it in the browser settings."),
        "myPosition": _("My position"),
        "start": _("Start patrol"),
        "stop": _("Stop patrol"),
        "stopping": _("Stopping…"),
        "starting": _("Starting…"),
        "active": _("On patrol"),
        "since": pgettext("patrol started at", "since"),
        "recorded": _("recorded"),
        "waiting": _("waiting to send"),
        "online": pgettext("network", "Online"),
        "offline": pgettext(
            "network", "Offline: points are kept on this phone and sent when back online"
        ),
        "sendFailed": _("Sending failed"),
        "rejected": _("left out of the track"),
        "checkin": _("Check in"),
        "checkedIn": _("Checked in"),
        "checkinQueued": _("Check-in saved, will be sent when online"),
        "buildings": _("Buildings"),
        "history": _("My patrols"),
        "noHistory": _("No patrols yet."),
        "stopped": _("Patrol finished"),
        "visited": _("buildings visited"),
        "points": _("points"),
        "km": _("km"),
        "m": _("m"),
        "minutes": _("min"),
        "grid": _("Grid"),
        "households": pgettext("after a number", "households"),
        "needsPatrol": _("Start a patrol to check in."),
        "issues": _("Open issues nearby"),
        "noIssues": _("No open issues in your grids."),
        "resumed": _("Active patrol resumed"),
        "startFailed": _("Could not start the patrol"),
        "error": _("Error"),
        "reported": _("Issue reported, tracking code"),
        "reportFailed": _("Could not report the issue"),
        "reportNeedsNetwork": _("Reporting an issue needs a connection; try again when online."),
        "reportNeedsPosition": _("Your position is not known yet."),
        "overdue": _("overdue"),
        "awaitingMe": _("Awaiting me"),
        "issuesFound": plural_forms(
            lambda n: ngettext("%(n)s issue reported", "%(n)s issues reported", n)
        ),
        "openIssues": plural_forms(lambda n: ngettext("%(n)s open issue", "%(n)s open issues", n)),
    }


def issues_installed() -> bool:
    """The residents' issues app provides an Issue model once it has landed."""
    try:
        django_apps.get_model("issues", "Issue")
    except LookupError:
        return False
    return True


@never_cache
@ensure_csrf_cookie
@login_required
def phone_page(request):
    """My grids and buildings on a map, patrols with an offline queue, check-ins, my patrol history."""
    urls = {
        "myMap": reverse("patrols-my-map"),
        "patrols": reverse("patrols"),
        "sw": reverse("phone-sw"),
        "page": reverse("phone"),
        # a building's residents by flat, and its register for those who keep it (住户登记)
        "residents": reverse("people-residents"),
        "households": reverse("people-households"),
    }
    issues = issues_installed()
    labels_ = labels()
    if issues:
        from apps.issues.labels import ACTION_NAMES
        from apps.issues.models import Status

        urls |= {
            "issues": reverse("issues"),
            "categories": reverse("issues-categories"),
            # one issue: /api/issues/<id> and /api/issues/<id>/actions/<action>
            "issue": reverse("issue-detail", args=[0]).rsplit("/", 1)[0] + "/",
        }
        labels_["statuses"] = {value: str(label) for value, label in Status.choices}
        labels_["actions"] = {key: str(label) for key, label in ACTION_NAMES.items()}
        labels_["issue"] = {
            "back": _("Back to the list"),
            "trackingCode": _("Tracking code"),
            "description": _("Description"),
            "address": _("Address"),
            "received": _("Received at"),
            "due": _("Due"),
            "responsible": _("Responsible"),
            "reporter": _("Reporter"),
            "note": _("Note"),
            "rating": _("Rating"),
            "duplicateOf": _("Repeats the issue with tracking code"),
            "history": _("History"),
            "noActions": _("Your role may not act on this issue now."),
            "done": _("Done"),
            "showOnMap": _("Show on the map"),
            "addNote": _("Add a note"),
            "stepPhotos": _("Photos of the work done"),
        }
    labels_["register"] = {
        **register_labels(),
        "residents": _("Residents"),
        "open": _("Residents and register"),
        "none": _("No residents registered here."),
        "back": _("Back to the list"),
    }
    config = {
        "user": request.user.get_username(),
        "urls": urls,
        "issues": issues,
        "visitDistance": conf.visit_distance_m(),
        "labels": labels_,
    }
    return render(request, "patrols/phone.html", {"phone_config": config})


def service_worker(request):
    """Served under /m/ so its scope covers the phone page (a worker's scope is its own folder)."""
    response = HttpResponse(SW_PATH.read_text(), content_type="text/javascript")
    response["Cache-Control"] = "no-cache"
    return response
