"""Pages: the public resident form and tracking page (no login), the joint-meeting agenda (staff)."""

import io

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from apps.common import ratelimit
from apps.common.errors import DomainError, NotFound
from apps.common.exports import safe_cell
from apps.issues import selectors, services
from apps.issues.models import Category, Issue, Status
from apps.issues.reasons import event_text
from apps.people.scope import request_scope
from apps.territory.selectors import area_current

# Public form limits: submissions per client IP per window, counted in the database (apps.common.ratelimit)
# so every server worker sees the same count.
REPORT_LIMIT = 5
REPORT_WINDOW_SECONDS = 600
HONEYPOT = "website"


def rate_limited(request, *, bucket: str, limit: int, window: int) -> bool:
    """Count one hit for this IP; True when over the limit."""
    return ratelimit.hit(
        f"issues:{bucket}:ip:{ratelimit.client_ip(request)}", limit=limit, window_seconds=window
    )


def _category_groups():
    groups = {}
    for c in Category.objects.filter(active=True).select_related("parent").order_by("sort", "code"):
        if c.parent is None:
            groups.setdefault(c.id, {"category": c, "children": []})
        else:
            groups.setdefault(c.parent_id, {"category": c.parent, "children": []})[
                "children"
            ].append(c)
    return list(groups.values())


@require_http_methods(["GET", "POST"])
def report_form(request):
    """Phone-friendly form for residents: pin (map click or GPS), category, description, photos."""
    context = {
        "groups": _category_groups(),
        "values": request.POST if request.method == "POST" else {},
        "honeypot": HONEYPOT,
        "max_mb": services.PHOTO_MAX_BYTES // 1048576,
    }
    if request.method == "GET":
        return render(request, "issues/report.html", context)
    if request.POST.get(HONEYPOT):
        # A bot filled the hidden field: answer like a success, store nothing.
        return render(request, "issues/report_done.html", {"code": None}, status=200)
    if rate_limited(request, bucket="report", limit=REPORT_LIMIT, window=REPORT_WINDOW_SECONDS):
        context["error"] = _(
            "Too many reports from this connection; please try again in a few minutes."
        )
        return render(request, "issues/report.html", context, status=429)
    p = request.POST
    if not (p.get("lon") or "").strip() or not (p.get("lat") or "").strip():
        # a resident has no "lon" to fill in: say what to do, in the form's words
        context["error"] = _("Mark where the problem is: tap the map, or use your location.")
        context["error_field"] = "lon"
        return render(request, "issues/report.html", context, status=400)
    try:
        point = services.point_parse(p.get("lon"), p.get("lat"))
        issue = services.issue_create(
            point=point,
            category=p.get("category"),
            description=p.get("description"),
            address=p.get("address", ""),
            source="resident",
            reporter_name=p.get("name", ""),
            reporter_phone=p.get("phone", ""),
            photos=request.FILES.getlist("photos"),
            actor_name=_("resident"),
        )
    except DomainError as exc:
        context["error"] = exc.message
        context["error_field"] = exc.field
        return render(request, "issues/report.html", context, status=400)
    # Post/Redirect/Get: reloading the thank-you page must not file the report again
    response = redirect(f"{reverse('issue-report-done')}?code={issue.tracking_code}")
    response.status_code = 303
    return response


@require_http_methods(["GET"])
def report_done(request):
    """The thank-you page after a report, with its tracking code (only a code that exists is shown)."""
    code = (request.GET.get("code") or "").strip().upper()
    known = bool(code) and Issue.objects.filter(tracking_code=code).exists()
    return render(request, "issues/report_done.html", {"code": code if known else None})


# What the resident sees of the history: the loop's steps, not who did them nor internal notes.
PUBLIC_ACTIONS = {
    "create": gettext_lazy("Received"),
    "consult": gettext_lazy("Discussed with residents"),
    "dispatch": gettext_lazy("Dispatched"),
    "accept": gettext_lazy("Accepted by the handler"),
    "return": gettext_lazy("Returned by the handler"),
    "resolve": gettext_lazy("Resolved"),
    "rate": gettext_lazy("Rated"),
    "close": gettext_lazy("Closed"),
    "reject": gettext_lazy("Not accepted"),
    "duplicate": gettext_lazy("Merged with an earlier report"),
    "reopen": gettext_lazy("Reopened for rework"),
    "import": gettext_lazy("Imported"),
}


# The steps whose words the resident is owed on the tracking page: what was done, why a report was not
# taken up or what it repeats (Open311 shows the latest of these as `status_notes` too). Notes of the
# other steps (a handler's return, a consultation, staff notes) stay with staff.
PUBLIC_NOTES = ("resolve", "reject", "duplicate")
# The resident's rating, worst to best (the scale the satisfaction indicator counts 4 and 5 of)
RATING_WORDS = {
    1: gettext_lazy("very dissatisfied"),
    2: gettext_lazy("dissatisfied"),
    3: gettext_lazy("so-so"),
    4: gettext_lazy("satisfied"),
    5: gettext_lazy("very satisfied"),
}


@require_http_methods(["GET", "POST"])
def track_page(request):
    """Status of an issue by tracking code; once resolved, the resident rates it here (居民评单)."""
    code = (request.GET.get("code") or request.POST.get("code") or "").strip().upper()
    context = {"code": code}
    if not code:
        return render(request, "issues/track.html", context)
    try:
        issue = selectors.issue_get(tracking_code=code)
    except NotFound:
        context["error"] = _("No issue with this tracking code.")
        return render(request, "issues/track.html", context, status=404)
    if request.method == "POST":
        if rate_limited(request, bucket="rate", limit=20, window=REPORT_WINDOW_SECONDS):
            context["error"] = _("Too many requests; please try again later.")
            return render(request, "issues/track.html", context, status=429)
        try:
            services.issue_transition(
                issue_id=issue.id,
                action="rate",
                rating=request.POST.get("rating"),
                note=request.POST.get("comment", "")[:1000],
                actor_name=_("resident"),
            )
        except DomainError as exc:
            context["error"] = exc.message
        else:
            return redirect(f"{request.path}?code={code}")
    context.update(
        issue=issue,
        status_label=Status(issue.status).label,
        can_rate=issue.status == Status.RESOLVED,
        history=[
            {
                "at": e.at,
                "label": PUBLIC_ACTIONS[e.action],
                "note": event_text(e) if e.action in PUBLIC_NOTES else "",
            }
            for e in issue.events.all()
            if e.action in PUBLIC_ACTIONS
        ],
        ratings=list(RATING_WORDS.items()),
        rating_word=RATING_WORDS.get(issue.rating, ""),
        now=timezone.now(),
    )
    return render(request, "issues/track.html", context)


def _agenda_context(code: str, month_raw: str, scope) -> dict:
    """The agenda narrowed to the user's scope: staff of the community see it whole, a grid leader
    their grid's issues, a company or department what is dispatched to it; no scope: not found."""
    community = area_current(level="community", code=code)
    if scope.is_empty:
        raise NotFound(_("no community with code %(code)s in your scope") % {"code": repr(code)})
    month = selectors.parse_month(month_raw)
    return {
        "agenda": selectors.agenda(community=community, month=month, scope=scope),
        "month": month,
        "community": community,
    }


@login_required
@require_http_methods(["GET", "POST"])
def agenda_page(request, code: str, month: str):
    """Printable agenda of the community's monthly joint meeting; decisions recorded per issue."""
    try:
        context = _agenda_context(code, month, request_scope(request))
    except NotFound as exc:
        return render(request, "issues/agenda.html", {"error": exc.message}, status=404)
    except DomainError as exc:
        return render(request, "issues/agenda.html", {"error": exc.message}, status=400)
    if request.method == "POST":
        scope = request_scope(request)
        if scope.read_only or not scope.covers_code(context["community"].code):
            context["error"] = _("Only the community's staff record decisions.")
            return render(request, "issues/agenda.html", context, status=403)
        raw = request.POST.get("issue", "0") or "0"
        try:
            try:
                issue_id = int(raw)
            except ValueError:
                raise DomainError(
                    _("%(name)s=%(value)s is not a whole number")
                    % {"name": "issue", "value": repr(raw)},
                    field="issue",
                ) from None
            services.meeting_decision_record(
                community=context["community"],
                month=context["month"],
                issue_id=issue_id,
                decision=request.POST.get("decision", ""),
                actor=request.user,
            )
        except DomainError as exc:
            context["error"] = exc.message
            return render(request, "issues/agenda.html", context, status=400)
        return redirect(request.path)
    return render(request, "issues/agenda.html", context)


@login_required
def agenda_xlsx(request, code: str, month: str):
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    try:
        context = _agenda_context(code, month, request_scope(request))
    except DomainError as exc:
        return HttpResponse(
            exc.message, status=exc.status, content_type="text/plain; charset=utf-8"
        )
    agenda = context["agenda"]
    wb = Workbook()
    ws = wb.active
    ws.title = agenda["month"]
    ws.append(
        [safe_cell(f"{agenda['community']['name']} {agenda['month']} " + _("joint meeting agenda"))]
    )
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([])
    header = [
        _("Category"),
        _("Responsible"),
        _("Tracking code"),
        _("Subcategory"),
        _("Description"),
        _("Address"),
        _("Grid"),
        _("Status"),
        _("Received"),
        _("Due"),
        _("Overdue"),
        _("Rework"),
        _("Decision"),
    ]
    ws.append(header)
    for cell in ws[3]:
        cell.font = Font(bold=True)
    for group in agenda["groups"]:
        for it in group["issues"]:
            ws.append(
                [
                    safe_cell(v)
                    for v in (
                        group["category"],
                        group["responsible"],
                        it["tracking_code"],
                        it["subcategory"],
                        it["description"],
                        it["address"],
                        it["grid"],
                        it["status_label"],
                        timezone.localtime(it["created_at"]).strftime("%Y-%m-%d %H:%M"),
                        timezone.localtime(it["due_at"]).strftime("%Y-%m-%d %H:%M"),
                        _("yes") if it["overdue"] else "",
                        it["rework_count"] or "",
                        it["decision"],
                    )
                ]
            )
            for cell in ws[ws.max_row]:
                if isinstance(cell.value, str):
                    cell.data_type = "s"  # text, never a formula (apps.common.exports)
    for col, width in zip(
        "ABCDEFGHIJKLM", (12, 20, 13, 12, 50, 24, 14, 10, 17, 17, 8, 8, 40), strict=True
    ):
        ws.column_dimensions[col].width = width
    for row in ws.iter_rows(min_row=4, min_col=5, max_col=5):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    buf = io.BytesIO()
    wb.save(buf)
    response = HttpResponse(
        buf.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="agenda-{code}-{agenda["month"]}.xlsx"'
    return response


def issue_for_code(code: str) -> Issue:
    return selectors.issue_get(tracking_code=code)
