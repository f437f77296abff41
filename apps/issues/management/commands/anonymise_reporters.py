"""Erase reporters' personal data from issues finished longer ago than the retention (PIPL): see
apps.issues.services.reporters_anonymise and LINLI_REPORTER_RETENTION_DAYS. Run it daily (cron)."""

from django.core.management.base import BaseCommand, CommandError, no_translations

from apps.audit.context import audit_actor
from apps.common.errors import DomainError
from apps.issues.services import reporters_anonymise, retention_days


class Command(BaseCommand):
    help = "Anonymise the reporters of issues closed longer ago than the retention period."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=None, help="override LINLI_REPORTER_RETENTION_DAYS"
        )
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")

    @no_translations  # the command line speaks English, errors included
    def handle(self, *args, days, dry_run, **opts):
        days = retention_days() if days is None else days
        try:
            with audit_actor("cmd:anonymise_reporters"):
                n = reporters_anonymise(days=days, dry_run=dry_run)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        verb = "would anonymise" if dry_run else "anonymised"
        self.stdout.write(f"{verb} the reporters of {n} issues finished more than {days} days ago")
