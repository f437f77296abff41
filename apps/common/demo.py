"""Seeding the whole demo: the territory first, then every app that adds demo data of its own.

An app takes part by defining `seed_demo(*, seed: int, scale: float) -> dict` in `apps/<app>/demo.py`;
it runs after the territory, in INSTALLED_APPS order, inside the same transaction, and returns counts."""

import importlib

from django.apps import apps as django_apps
from django.db import connection, transaction

from apps.territory import demo as territory_demo


def app_seeders():
    for config in django_apps.get_app_configs():
        if not config.name.startswith("apps.") or config.label == "territory":
            continue
        try:
            module = importlib.import_module(f"{config.name}.demo")
        except ModuleNotFoundError as exc:
            if exc.name == f"{config.name}.demo":
                continue
            raise
        if hasattr(module, "seed_demo"):
            yield config.label, module.seed_demo


@transaction.atomic
def seed_all(*, seed: int = 7, scale: float = 1.0, progress=None) -> dict:
    # Generated data is not anybody's write: skip the audit log for this transaction only.
    with connection.cursor() as cur:
        cur.execute("SELECT set_config('linli.audit', 'off', true)")
    stats = territory_demo.seed_demo(seed=seed, scale=scale, progress=progress)
    for _label, seeder in app_seeders():
        stats.update(seeder(seed=seed, scale=scale) or {})
    return stats
