from django.core.management.base import BaseCommand, no_translations

from apps.common.fingerprint import fingerprint


class Command(BaseCommand):
    help = "Print row counts and checksums of every table (compare a database with its restored backup)."

    @no_translations  # the command line speaks English, errors included
    def handle(self, *args, **options):
        for table, (rows, digest) in fingerprint().items():
            self.stdout.write(f"{table}\t{rows}\t{digest}")
