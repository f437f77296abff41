from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, no_translations
from django.db import connection


class Command(BaseCommand):
    help = "Empty every Linli table and migrate again (development only: all data is lost)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--yes", action="store_true", help="confirm that all data may be deleted"
        )

    @no_translations  # the command line speaks English, errors included
    def handle(self, *args, yes, **options):
        if not yes:
            raise CommandError("This deletes all data; pass --yes to confirm.")
        with connection.cursor() as cur:
            cur.execute(
                "DROP SCHEMA public CASCADE; CREATE SCHEMA public; CREATE EXTENSION postgis;"
            )
        call_command("migrate", verbosity=0, interactive=False)
        self.stdout.write("Database emptied and migrated.")
