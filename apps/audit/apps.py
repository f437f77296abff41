from django.apps import AppConfig
from django.db.models.signals import post_migrate, pre_migrate


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"

    def ready(self):
        from apps.audit.triggers import generic_triggers, install_triggers

        pre_migrate.connect(generic_triggers, dispatch_uid="linli-audit-generic-triggers")
        post_migrate.connect(install_triggers, dispatch_uid="linli-audit-triggers")

        # A login's write (auth_user.last_login) happens in the login request, whose actor was set
        # before anyone was logged in: Django's own receiver is replaced by one that records it as
        # the user who logged in, not 'anonymous'.
        from django.contrib.auth.signals import user_logged_in

        from apps.audit.context import login_recorded

        user_logged_in.disconnect(dispatch_uid="update_last_login")
        user_logged_in.connect(login_recorded, dispatch_uid="update_last_login")
