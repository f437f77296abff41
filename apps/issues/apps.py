from django.apps import AppConfig
from django.db.models.signals import post_migrate


class IssuesConfig(AppConfig):
    name = "apps.issues"
    label = "issues"

    def ready(self):
        from apps.issues import partitions

        post_migrate.connect(partitions.install, dispatch_uid="linli-issue-partitions")
