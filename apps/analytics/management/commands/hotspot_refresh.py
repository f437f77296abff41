from django.core.management.base import BaseCommand, CommandError, no_translations
from tqdm import tqdm

from apps.analytics.services import hotspot_counts_refresh
from apps.common.errors import DomainError


class Command(BaseCommand):
    help = (
        "Count new points (residents' issues) into the precomputed hotspot table, by H3 cell × "
        "category × week. Incremental; run it on a schedule (e.g. every 5 minutes) or after imports."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", default="issues")
        parser.add_argument(
            "--rebuild", action="store_true", help="drop the counts and recount all"
        )

    @no_translations  # the command line speaks English, errors included
    def handle(self, *args, source, rebuild, **options):
        try:
            with tqdm(unit="point", disable=options["verbosity"] == 0) as bar:
                stats = hotspot_counts_refresh(source=source, rebuild=rebuild, progress=bar.update)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{stats['points_added']:,} points counted for {source}; up to id {stats['last_id']}"
            )
        )
