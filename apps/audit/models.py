"""The audit log: one row per row written to any Linli table, with who, when, what, before and after.

Written only by database triggers (see triggers.py), so every writer is covered: views, services,
commands, bulk loads, raw SQL. Append-only: a trigger refuses UPDATE and DELETE on this table."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class AuditEntry(models.Model):
    at = models.DateTimeField(_("time"), db_default=models.Func(function="now"))
    actor = models.CharField(_("actor"), max_length=200, blank=True)
    table_name = models.CharField(_("table"), max_length=100)
    op = models.CharField(_("operation"), max_length=8)
    row_pk = models.CharField(_("row"), max_length=64, blank=True)
    before = models.JSONField(_("before"), null=True)
    after = models.JSONField(_("after"), null=True)
    txid = models.BigIntegerField(_("transaction"), db_default=models.Func(function="txid_current"))

    class Meta:
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit entries")
        indexes = [
            # Search: "what happened to this row", "what did this person do", newest first.
            models.Index(fields=["table_name", "row_pk"], name="audit_table_row"),
            models.Index(fields=["actor", "-at"], name="audit_actor_at"),
            models.Index(fields=["-at"], name="audit_at"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor or '-'} {self.op} {self.table_name}#{self.row_pk}"


class PiiAccess(models.Model):
    """One showing of personal data in clear (PIPL): who saw whose data, when, how many people, why.
    Written by apps.audit.pii.pii_access_log from every list, detail and export that unmasks; masked
    output is not logged. Append-only like the audit log (a trigger refuses UPDATE and DELETE)."""

    at = models.DateTimeField(_("time"), db_default=models.Func(function="now"))
    actor = models.CharField(_("actor"), max_length=200)
    what = models.CharField(_("what"), max_length=60, help_text=_("e.g. residents.csv, issue"))
    subject = models.CharField(_("whose"), max_length=200, help_text=_("e.g. grid 12, issue 7"))
    people = models.PositiveIntegerField(_("people shown unmasked"))
    reason = models.CharField(
        pgettext_lazy("audit log column", "reason"), max_length=300, blank=True
    )
    path = models.CharField(_("request"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("personal data access")
        verbose_name_plural = _("personal data accesses")
        indexes = [models.Index(fields=["actor", "-at"], name="pii_actor_at")]

    def __str__(self):
        return (
            f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.what} {self.subject} ({self.people})"
        )
