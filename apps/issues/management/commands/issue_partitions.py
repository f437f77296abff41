"""Create next months' partitions of issues and move rows waiting in the default partition.

    manage.py issue_partitions                 # 12 months back, 3 ahead (the defaults)
    manage.py issue_partitions --ahead 6 --list

Run it monthly (cron) so a month's partition exists before the month starts; rows of a month without
its partition wait in the default partition, and the next run moves them."""

from django.core.management.base import BaseCommand, CommandError, no_translations

from apps.issues import partitions


class Command(BaseCommand):
    help = "Create the monthly partitions of issues (a window around now) and list them."

    def add_arguments(self, parser):
        parser.add_argument("--back", type=int, default=partitions.MONTHS_BACK, help="months back")
        parser.add_argument(
            "--ahead", type=int, default=partitions.MONTHS_AHEAD, help="months ahead"
        )
        parser.add_argument("--list", action="store_true", help="list every partition and its rows")

    @no_translations  # the command line speaks English, errors included
    def handle(self, *args, back, ahead, list, **options):
        if back < 0 or ahead < 0:
            raise CommandError(f"--back and --ahead must be 0 or more (got {back}, {ahead})")
        if not partitions.is_partitioned():
            raise CommandError("issues_issue is not partitioned: run manage.py migrate first")
        created = partitions.ensure(back, ahead)
        for name in created:
            self.stdout.write(f"created {name}")
        self.stdout.write(f"{len(created)} partition(s) created")
        if list:
            for p in partitions.partitions():
                span = "default" if p.start is None else f"{p.start:%Y-%m-%d} .. {p.end:%Y-%m-%d}"
                self.stdout.write(f"{p.name:28} {span:26} {p.rows:>10,} rows")
