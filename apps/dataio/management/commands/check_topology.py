"""manage.py check_topology [--level L] [--within CODE] [--format text|geojson] [--min-area M2]."""

import json

from django.core.management.base import BaseCommand, CommandError, no_translations

from apps.common.errors import DomainError
from apps.dataio.topology import findings_geojson, topology_check
from apps.territory.models import Level


class Command(BaseCommand):
    help = "Report gaps, overlaps, crossings, buildings in no grid or two, and empty areas."

    def add_arguments(self, parser):
        parser.add_argument("--level", choices=Level.values, help="check this level only")
        parser.add_argument("--within", help="code of an area to check inside")
        parser.add_argument("--format", choices=["text", "geojson"], default="text")
        parser.add_argument(
            "--min-area", type=float, default=1.0, help="ignore slivers below this many m²"
        )

    @no_translations  # the command line speaks English, errors included
    def handle(self, *args, **options):
        try:
            findings = topology_check(
                level=options["level"], within=options["within"], min_area=options["min_area"]
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if options["format"] == "geojson":
            self.stdout.write(json.dumps(findings_geojson(findings), ensure_ascii=False))
            return
        for f in findings:
            self.stdout.write(f"{f['kind']:<20} {f['level']:<14} {f['code']:<20} {f['message']}")
        counts = {}
        for f in findings:
            counts[f["kind"]] = counts.get(f["kind"], 0) + 1
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no findings"
        self.stdout.write(f"{len(findings)} findings ({summary})")
