from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_migrate


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"

    def ready(self):
        from apps.audit.triggers import generic_triggers, install_triggers

        pre_migrate.connect(generic_triggers, dispatch_uid="linli-audit-generic-triggers")
        post_migrate.connect(install_triggers, dispatch_uid="linli-audit-triggers")
