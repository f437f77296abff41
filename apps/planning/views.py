"""The planner's pages: the plan list of a community and the editor. Login required."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _

from apps.planning.models import Plan
from apps.territory.selectors import current_areas

LOGIN_URL = "planning-login"


class PlannerLoginView(LoginView):
    template_name = "planning/login.html"


@login_required(login_url=LOGIN_URL)
def plans_page(request):
    communities = list(current_areas(level="community").order_by("code").values("code", "name"))
    code = request.GET.get("community") or (communities[0]["code"] if communities else "")
    plans = Plan.objects.filter(community__code=code).select_related("community")
    return render(
        request,
        "planning/plans.html",
        {
            "communities": communities,
            "code": code,
            "plans": plans.order_by("-created_at")[:50],
            "config": {
                "community": code,
                "plansUrl": reverse("planning-plans"),
                "proposalsUrl": reverse("planning-proposals"),
                "editorUrl": reverse("planning-editor", args=[0]),
                "labels": {"working": _("Working…"), "failed": _("Failed")},
            },
        },
    )


@login_required(login_url=LOGIN_URL)
def editor_page(request, plan_id: int):
    plan = get_object_or_404(Plan.objects.select_related("community"), pk=plan_id)
    config = {
        "plan": plan.id,
        "community": plan.community.code,
        "planUrl": reverse("planning-plan", args=[plan.id]),
        "checkUrl": reverse("planning-check", args=[plan.id]),
        "diffUrl": reverse("planning-diff", args=[plan.id]),
        "publishUrl": reverse("planning-publish", args=[plan.id]),
        "proposalsUrl": reverse("planning-proposals"),
        "splitUrl": reverse("planning-split"),
        "mergeUrl": reverse("planning-merge"),
        "editorUrl": reverse("planning-editor", args=[0]),
        "communityUrl": f"{reverse('areas-geojson')}?level=community&within={plan.community.code}",
        "gridsUrl": f"{reverse('areas-geojson')}?level=grid&within={plan.community.code}",
        "buildingsUrl": f"{reverse('buildings-geojson')}?within={plan.community.code}",
        "labels": {
            "loading": _("Loading…"),
            "failed": _("Failed"),
            "saved": _("Saved as revision %(rev)s"),
            "conflict": _("Not saved"),
            "conflictDetail": _(
                "someone else saved this plan (revision %(theirs)s; you loaded %(mine)s). Your "
                "changes are still on the map: reload the plan in another tab, compare, and apply "
                "them again."
            ),
            "valid": _("No errors"),
            "errors": _("%(n)s errors, %(w)s warnings"),
            "households": _("households"),
            "new": _("new"),
            "splitHint": _("Draw a line across one polygon (from outside to outside) to split it."),
            "mergeHint": _("Click two neighbouring polygons, then press Merge again."),
            "selectTwo": _("Select two polygons first."),
            "published": _("Published"),
            "proposing": _("Proposing…"),
            "unsaved": _("Unsaved changes"),
            "kinds": {
                "gap": _("Gap"),
                "overlap": _("Overlap"),
                "outside": _("Outside parent"),
                "count": _("Count out of range"),
                "unassigned": _("Unassigned"),
                "duplicate": _("In two areas"),
                "contiguity": _("Not contiguous"),
                "invalid": _("Invalid polygon"),
                "empty": _("Empty"),
                "orphans": _("Orphaned neighbourhood grids"),
            },
        },
    }
    return render(request, "planning/editor.html", {"plan": plan, "config": config})
