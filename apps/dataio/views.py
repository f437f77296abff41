from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from apps.territory.models import Area, Level


@staff_member_required
def import_page(request):
    """Upload a GIS file, choose level and fields, see the dry run on a map, then commit."""
    config = {
        "uploadUrl": reverse("dataio-upload"),
        "previewUrl": reverse("dataio-preview", args=["UPLOAD"]),
        "commitUrl": reverse("dataio-commit", args=["UPLOAD"]),
        "levels": {value: str(label) for value, label in Level.choices},
        # the current streets drawn under the dry run, so a file in the wrong place or datum shows
        # beside the territory it should match (not when there are too many to draw as GeoJSON)
        "streetsUrl": f"{reverse('areas-geojson')}?level=street"
        if Area.objects.filter(level="street", valid_to__isnull=True).count()
        <= settings.LINLI_GEOJSON_MAX_FEATURES
        else None,
        "labels": {
            "territory": _("Current streets"),
            "uploading": _("Uploading…"),
            "checking": _("Checking…"),
            "committing": _("Writing…"),
            "read": _("Features read"),
            "ok": _("Valid"),
            "repaired": _("Repaired"),
            "rejected": pgettext("import rows", "Rejected"),
            "parents_matched": _("Parents matched"),
            "duplicated_codes": _("Codes duplicated"),
            "new": _("New areas"),
            "new_version": _("New versions"),
            "unchanged": _("Unchanged"),
            "not_in_file": _("Not in file"),
            "not_in_file_title": _("Current areas the file does not have (kept, not retired)"),
            "existing": _("Already imported"),
            "households": _("Households (estimated)"),
            "row": _("Row"),
            "code": _("Code"),
            "name": _("Name"),
            "reason": _("Reason"),
            "committed": _("Written: %(n)s"),
            "none": _("(none)"),
            "failed": _("Failed"),
        },
    }
    return render(request, "dataio/import.html", {"config": config, "level_choices": Level.choices})
