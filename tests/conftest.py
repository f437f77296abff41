"""Every test talks to the real PostGIS cluster that `make test` starts (no SpatiaLite, no mocks).

The test database is migrated once per session and a small demo district (one community: 6 grids,
~36 buildings, ~1,300 households, seed 7) is loaded into it, so `db` tests see it and their own writes
are rolled back after each test. Tests that need a blank territory use `empty_territory`."""

import os
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
ARTIFACTS = ROOT / "test-artifacts"

# Playwright's sync API runs an event loop in the test thread; the ORM calls made by fixtures in the
# same thread are still synchronous, so allow them.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

DEMO_SCALE = 0.2


@pytest.fixture(autouse=True)
def english_outside_requests():
    """Outside a request the code runs in English, as management commands do (@no_translations);
    each request still speaks the language LanguageMiddleware picks for it."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    from apps.common.demo import seed_all

    with django_db_blocker.unblock():
        stats = seed_all(seed=7, scale=DEMO_SCALE)
    return stats


@pytest.fixture
def demo(db, django_db_setup):
    """The counts of the session's demo district (already in the database)."""
    return django_db_setup


@pytest.fixture
def empty_territory(db):
    """A blank territory for this test only (TRUNCATE is rolled back with the test's transaction)."""
    with connection.cursor() as cur:
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cur.execute(
            "TRUNCATE territory_household, territory_unit, territory_building, territory_areapart, "
            "territory_area CASCADE"
        )


@pytest.fixture
def shared_data():
    if not SHARED_DATA.exists():
        pytest.fail(
            f"shared data not found at {SHARED_DATA} (it sits beside the project, as in CI)"
        )
    return SHARED_DATA


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
