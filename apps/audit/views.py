"""/audit/: the audit log (every write: who, when, what, before/after) and the personal-data access log,
searchable by city administrators and auditors."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.translation import gettext as _

from apps.audit import selectors
from apps.common.errors import DomainError
from apps.people.models import StaffRole
from apps.people.scope import request_scope


def may_read_logs(request) -> bool:
    user = request.user
    if user.is_superuser:
        return True
    return request_scope(request).has_role(StaffRole.CITY_ADMIN, StaffRole.AUDITOR)


@login_required
def audit_page(request):
    tab = "pii" if request.GET.get("log") == "pii" else "changes"
    context = {"tab": tab, "tables": selectors.audited_tables(), "ops": selectors.OPS}
    if not may_read_logs(request):
        context["error"] = _("Only city administrators and auditors read the audit log.")
        return render(request, "audit/log.html", context, status=403)
    try:
        f = selectors.parse_filter(request.GET)
    except DomainError as exc:
        context["error"] = exc.message
        return render(request, "audit/log.html", context, status=400)
    if tab == "pii":
        rows, more = selectors.pii_search(f)
    else:
        rows, more = selectors.audit_search(f)
    query = request.GET.copy()
    query.pop("page", None)
    context.update(f=f, rows=rows, more=more, query=query.urlencode())
    return render(request, "audit/log.html", context)
