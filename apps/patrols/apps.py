from django.apps import AppConfig


class PatrolsConfig(AppConfig):
    name = "apps.patrols"
    label = "patrols"
