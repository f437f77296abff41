"""The planner's pages: the plan list of a community and the editor. Login required."""

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import Http404
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext, pgettext

from apps.common.labels import plural_forms
from apps.people.scope import request_scope
from apps.planning.models import Plan
from apps.planning.selectors import community_state
from apps.territory.selectors import area_current, current_areas

LOGIN_URL = "planning-login"


class PlannerLoginView(LoginView):
    template_name = "planning/login.html"


@login_required(login_url=LOGIN_URL)
def plans_page(request):
    scope = request_scope(request)
    communities = list(
        current_areas(level="community")
        .filter(scope.q("code"))
        .order_by("code")
        .values("code", "name")
    )
    code = request.GET.get("community") or (communities[0]["code"] if communities else "")
    if code not in {c["code"] for c in communities}:
        raise Http404("no such community in your scope")
    plans = Plan.objects.filter(community__code=code).select_related("community")
    state = community_state(community=area_current(level="community", code=code)) if code else []
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
                "state": state,
                "labels": {
                    "working": _("Working…"),
                    "failed": _("Failed"),
                    "stateSummary": _(
                        "{bad} of {n} neighbourhood grids are outside {min}–{max} households; "
                        "{gap} households are in no neighbourhood grid."
                    ),
                    "total": _("Community"),
                },
            },
        },
    )


@login_required(login_url=LOGIN_URL)
def editor_page(request, plan_id: int):
    plan = get_object_or_404(Plan.objects.select_related("community"), pk=plan_id)
    if not request_scope(request).covers_code(plan.community.code):
        raise Http404("no such plan in your scope")
    config = {
        "plan": plan.id,
        "community": plan.community.code,
        "planUrl": reverse("planning-plan", args=[plan.id]),
        "checkUrl": reverse("planning-check", args=[plan.id]),
        "rangeUrl": reverse("planning-range", args=[plan.id]),
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
                "changes are still on the map."
            ),
            "reapplied": _(
                "Loaded revision %(rev)s and re-applied your changes to %(n)s areas (%(d)s removed): "
                "check them and save again."
            ),
            "notDraft": _(
                "The plan is no longer a draft (%(status)s): your changes cannot be saved in it. "
                "They stay on the map."
            ),
            "valid": _("No errors"),
            # plural forms for the page to pick by count (one is English's only other form)
            "errors": plural_forms(lambda n: ngettext("%(n)s error", "%(n)s errors", n)),
            "warnings": plural_forms(lambda n: ngettext("%(n)s warning", "%(n)s warnings", n)),
            "countsSep": pgettext("between counts", ", "),
            "nHouseholds": _("%(n)s households"),
            "new": _("new"),
            "splitHint": _("Draw a line across one polygon (from outside to outside) to split it."),
            "mergeHint": _("Click two neighbouring polygons, then press Merge again."),
            "selectTwo": _("Select two polygons first."),
            "published": _("Published"),
            "confirmPublish": _(
                "Publish this plan? Its areas replace the current ones for everyone (the old "
                "versions are kept)."
            ),
            "confirmPublishUnsaved": _(
                "Publish this plan? Your unsaved edits are saved first as a new revision, then its "
                "areas replace the current ones for everyone (the old versions are kept)."
            ),
            "rangeSaved": _("Households per area set; the checks and colours follow it"),
            "proposing": _("Proposing…"),
            "unsaved": _("Unsaved changes"),
            "diff": {
                "draft": _("What publishing changes, compared with the current areas"),
                "unsaved": _("(unsaved edits included)"),
                "published": _("What publishing changed on %(date)s"),
                "added": _("added"),
                "removed": _("removed"),
                "changed": _("changed"),
                "unchanged": _("unchanged"),
                "moved": _("households moved"),
                "none": _("No changes"),
                "area": _("Area"),
                "households": _("Households before → after"),
                "movedInOut": _("Moved in / out"),
                "new": _("new"),
            },
            "legend": {
                "title": _("Households against the target of %(t)s (range %(lo)s–%(hi)s)"),
                "titleMean": _(
                    "Households against the mean of %(t)s per area (range %(lo)s–%(hi)s; "
                    "the plan has no target)"
                ),
                "farUnder": _("far too few"),
                "under": _("too few"),
                "near": _("near the target"),
                "nearMean": _("near the mean"),  # a plan without a target
                "over": _("too many"),
                "farOver": _("far too many"),
            },
            "report": {
                "title": _("Automatic proposal"),
                "groups": _("neighbourhood grids"),
                "households": _("households min / mean / max"),
                "within": _("within %(range)s"),
                "bound": _("at most %(v)s reachable"),
                "contiguous": _("contiguous"),
                "compactness": _("compactness (Polsby-Popper)"),
                "runtime": _("runtime"),
                "seconds": _("%(v)s s"),
                "outOfRange": _("out of range"),
            },
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
