"""Analytics pages: the indicators dashboard (ECharts), its printable version, and the gaps/hotspot map.
Pages are shells; data comes from the JSON APIs in api.py (the printable page renders on the server)."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.translation import gettext as _

from apps.analytics import gaps, indicators, indicators_pdf, sources
from apps.analytics.stations import DETOUR_FACTOR, TIERS
from apps.common.errors import DomainError
from apps.common.routers import replica_reads
from apps.people.scope import request_scope
from apps.territory.models import Area


def _areas_in_scope(request) -> QuerySet[Area]:
    """The streets and communities the user may choose, by code (lazy: a megacity has 40,200)."""
    scope = request_scope(request)
    now = timezone.now()
    qs = Area.objects.filter(level__in=["street", "community"], valid_from__lte=now).exclude(
        valid_to__lte=now
    )
    if not scope.everything:
        if not scope.area_prefixes:
            raise PermissionDenied
        # streets and communities inside the user's prefixes; not the community holding a grid
        # leader's grid, whose indicators the API refuses them (apps.analytics.api.scoped_within)
        qs = qs.filter(scope.q("code"))
    return qs.order_by("code").only("code", "name", "level")


# More streets and communities than this (a megacity has 6,700 and 33,500): the area selector offers
# the streets, and only the communities of the chosen area's street, instead of 40,200 options.
AREA_CHOICES_MAX = 500


def _area_options(areas: QuerySet[Area], code: str, *, with_code: bool) -> str:
    """The selector's <option>s: every area in scope, or (above AREA_CHOICES_MAX) the streets and the
    communities of the chosen area's street. Built here rather than in a template loop, which took
    ~0.3 s for a megacity's 6,700 streets."""
    choices = list(areas[: AREA_CHOICES_MAX + 1])
    if len(choices) > AREA_CHOICES_MAX:
        street = code[:9]  # a street's code is 9 digits; its communities' codes extend it
        wanted = Q(level="street") | Q(code__startswith=street) if street else Q(level="street")
        choices = list(areas.filter(wanted))
    return format_html_join(
        "",
        '<option value="{}"{}>{}{}</option>',
        (
            (
                a.code,
                " selected" if a.code == code else "",
                "\u3000" if a.level == "community" else "",  # an ideographic space indents
                f"{a.name} ({a.code})" if with_code else a.name,
            )
            for a in choices
        ),
    )


def _allowed(areas: QuerySet[Area], code: str) -> None:
    if code and not areas.filter(code=code).exists():
        raise PermissionDenied


def _chosen(request, areas: QuerySet[Area]) -> str:
    """The area asked for (if the user may choose it), else the first in scope ("" if none)."""
    code = request.GET.get("code")
    if not code:
        return areas.values_list("code", flat=True).first() or ""
    _allowed(areas, code)
    return code


@login_required
def dashboard_page(request):
    areas = _areas_in_scope(request)
    code = _chosen(request, areas)
    config = {
        "code": code,
        "api": reverse("analytics-indicators"),
        "xlsx": reverse("analytics-indicators-xlsx"),
        "pdf": reverse("analytics-indicators-pdf"),
        "print": reverse("analytics-print"),
        "labels": {
            "trend": _("Monthly trend"),
            "rates": _("Rates"),
            "complaints": _("Complaints per 1,000 households"),
            "communities": _("Communities this month"),
            "loading": _("Loading…"),
            "failed": _("Could not load"),
            "missing": _("not available yet"),
            "month": _("Month"),
        },
    }
    return render(
        request,
        "analytics/dashboard.html",
        {
            "area_options": _area_options(areas, code, with_code=True),
            "code": code,
            "config": config,
            # the month shown (this month unless asked), so the field says what the charts end with
            "month": request.GET.get("month") or timezone.localdate().strftime("%Y-%m"),
        },
    )


@login_required
def print_page(request):
    areas = _areas_in_scope(request)
    code = _chosen(request, areas)
    try:
        with replica_reads():  # scope checked above, on the primary
            data = indicators.dashboard(
                code=code, month=request.GET.get("month") or None, months=12
            )
    except DomainError as exc:
        return render(request, "analytics/print.html", {"error": exc.message}, status=exc.status)
    tables = indicators_pdf.printable(data)  # the same tables as the PDF export
    return render(
        request,
        "analytics/print.html",
        {"data": data, **tables, "generated": timezone.localtime()},
    )


@login_required
def map_page(request):
    areas = _areas_in_scope(request)
    code = request.GET.get("code") or ""
    _allowed(areas, code)
    # without a choice, the user's one area if they have one (a grid leader's grid), as the API
    # narrows it (apps.analytics.api.scoped_within), so the map opens on it
    scope = request_scope(request)
    within = code or (
        scope.area_prefixes[0] if not scope.everything and len(scope.area_prefixes) == 1 else ""
    )
    issues_ready = sources._issues_ready()
    kinds = gaps.available_kinds()
    config = {
        "within": within,
        # more gaps than this: the map shows the counts and asks for a community instead of drawing
        "maxFeatures": settings.LINLI_GEOJSON_MAX_FEATURES,
        "page": reverse("analytics-map"),
        "tiers": {str(k): v for k, v in TIERS.items()},
        "detour": DETOUR_FACTOR,
        "urls": {
            "areas": reverse("areas-geojson"),
            "stations": reverse("analytics-stations"),
            "gaps": reverse("analytics-gaps-geojson"),
            "counts": reverse("analytics-gap-counts"),
            "suggest": reverse("analytics-suggest"),
            "h3": reverse("analytics-hotspots-h3") if issues_ready else None,
            "grids": reverse("analytics-hotspots-grids") if issues_ready else None,
            "heat": reverse("analytics-heat") if issues_ready else None,
            "console": reverse("map"),
        },
        "kinds": {k: str(gaps.KINDS[k].label) for k in kinds},
        "labels": {
            "stations": _("Service stations"),
            "walk": _("%(minutes)s-minute walk") % {"minutes": 15},
            "suggested": _("Suggested stations"),
            "suggest": _("Suggest 3 new stations"),
            "reaches": _("reaches %(n)s households"),
            "hotspots": _("Hotspots (Gi*)"),
            "heat": _("Heatmap"),
            "gridHot": _("Grid hotspots"),
            "loading": _("Loading…"),
            "failed": _("Could not load"),
            "gaps": _("Coverage gaps"),
            "openInConsole": _("Open its area in the console"),
            "area": _("Area"),
            "total": _("Total"),
            "none": _("No gaps of this kind."),
            "tooMany": _(
                "%(n)s gaps here: too many to draw on the map. Choose a community to see its gaps."
            ),
            "byCommunity": _("Gaps by community"),
            "classes": {
                "3": _("Hot spot, 99 %"),
                "2": _("Hot spot, 95 %"),
                "1": _("Hot spot, 90 %"),
                "0": _("Not significant"),
                "-1": _("Cold spot, 90 %"),
                "-2": _("Cold spot, 95 %"),
                "-3": _("Cold spot, 99 %"),
            },
            "noIssues": _("Hotspots appear once residents' issues are recorded."),
            "allCovered": _("Every household is already within this walk of a station."),
        },
    }
    return render(
        request,
        "analytics/map.html",
        {
            "area_options": _area_options(areas, code, with_code=False),
            "code": code,
            "map_config": config,
        },
    )
