"""Read-replica routing: REPLICA_DATABASE_URL adds a "replica" alias; tile reads and opted-in analytics
reads go there, writes stay on the primary. Tested with a real second database on the same cluster."""

import os
import subprocess
import sys
import textwrap

import psycopg2
import pytest
from django.db import connection

from apps.common.routers import ReplicaRouter, read_alias, replica_reads
from apps.territory.models import Area
from tests.conftest import ROOT
from tests.tiles.test_tiles import demo_centre, tile_of

REPLICA_DB = "linli_test_replica"


def _url(name: str) -> str:
    s = connection.settings_dict
    return f"postgis://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT']}/{name}"


def _run(code: str, **env) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "DJANGO_SETTINGS_MODULE": "geo.settings", "DEBUG": "true", **env}
    full_env.pop("REPLICA_DATABASE_URL", None) if "REPLICA_DATABASE_URL" not in env else None
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_without_a_replica_everything_reads_the_primary(db):
    assert read_alias() == "default"
    router = ReplicaRouter()
    assert router.db_for_read(Area) == "default"
    with replica_reads() as alias:
        assert alias == "default"
        assert router.db_for_read(Area) == "default"
    assert router.db_for_write(Area) == "default"
    assert router.allow_migrate("replica", "territory") is False
    assert router.allow_migrate("default", "territory") is True


@pytest.mark.parametrize(
    "value,message",
    [
        ("mysql://u@h/db", "REPLICA_DATABASE_URL='mysql://u@h/db': Linli needs PostGIS"),
        ("postgis://u@h:5432/", "names no database"),
        ("postgis://u@h:port/db", "REPLICA_DATABASE_URL is malformed"),
    ],
)
def test_a_bad_replica_url_stops_start_up(value, message):
    done = _run("import django; django.setup()", REPLICA_DATABASE_URL=value)
    assert done.returncode != 0
    assert "ImproperlyConfigured" in done.stderr and message in done.stderr


@pytest.fixture
def replica_database(demo):
    """A second database on the same cluster, migrated, holding a different territory (seed 3)."""
    settings = connection.settings_dict
    admin = psycopg2.connect(
        dbname="postgres", user=settings["USER"], host=settings["HOST"], port=settings["PORT"]
    )
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {REPLICA_DB}")
        cur.execute(f"CREATE DATABASE {REPLICA_DB}")
    with (
        psycopg2.connect(
            dbname=REPLICA_DB, user=settings["USER"], host=settings["HOST"], port=settings["PORT"]
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("CREATE EXTENSION postgis; CREATE EXTENSION btree_gist")
    env = {"DATABASE_URL": _url(REPLICA_DB)}
    for code in [
        "import django; django.setup(); from django.core.management import call_command;"
        " call_command('migrate', verbosity=0)",
        "import django; django.setup(); from apps.territory.demo import seed_demo;"
        " seed_demo(seed=3, scale=0.2)",
    ]:
        done = _run(code, **env)
        assert done.returncode == 0, done.stderr
    yield _url(REPLICA_DB)
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {REPLICA_DB} WITH (FORCE)")
    admin.close()


def test_tiles_and_analytics_read_the_replica_and_writes_go_to_the_primary(replica_database):
    """The primary is this session's test database (demo seed 7), the replica holds seed 3: their
    compound names differ, so each answer shows which database it came from."""
    primary = _url(connection.settings_dict["NAME"])
    tile = tile_of(*demo_centre(), 15)  # the demo district (~300 × 450 m) at zoom 15 (names shown)
    code = """
        import django, json, mapbox_vector_tile
        django.setup()
        from django.core.cache import cache
        from django.db import connections
        from django.test import Client
        from apps.common.routers import replica_reads
        from apps.territory.models import Area
        z, x, y = TILE
        cache.clear()
        tile = Client().get(f"/tiles/compound/{z}/{x}/{y}.mvt")
        names = sorted(f["properties"]["name"] for f in
                       mapbox_vector_tile.decode(tile.content)["compound"]["features"])
        plain = sorted(Area.objects.filter(level="compound").values_list("name", flat=True))
        with replica_reads():
            analytics = sorted(Area.objects.filter(level="compound").values_list("name", flat=True))
        street = Area.objects.get(level="street")
        Area.objects.filter(pk=street.pk).update(name="primary-write")  # autocommit: a real write
        on_primary = connections["default"].cursor()
        on_primary.execute("SELECT count(*) FROM territory_area WHERE name = 'primary-write'")
        on_replica = connections["replica"].cursor()
        on_replica.execute("SELECT count(*) FROM territory_area WHERE name = 'primary-write'")
        Area.objects.filter(pk=street.pk).update(name=street.name)
        print(json.dumps({"tile": names, "plain": plain, "analytics": analytics,
                          "written": [on_primary.fetchone()[0], on_replica.fetchone()[0]]}))
    """
    code = f"TILE = {tile!r}\n" + textwrap.dedent(code)
    done = _run(code, DATABASE_URL=primary, REPLICA_DATABASE_URL=replica_database)
    assert done.returncode == 0, done.stderr
    import json

    out = json.loads(done.stdout.strip().splitlines()[-1])
    primary_names = sorted(Area.objects.filter(level="compound").values_list("name", flat=True))
    with (
        psycopg2.connect(
            dbname=REPLICA_DB,
            user=connection.settings_dict["USER"],
            host=connection.settings_dict["HOST"],
            port=connection.settings_dict["PORT"],
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT name FROM territory_area WHERE level = 'compound' ORDER BY name")
        replica_names = [r[0] for r in cur.fetchall()]
    assert primary_names != replica_names  # the two databases really differ
    assert out["tile"] == replica_names  # tiles came from the replica
    assert out["analytics"] == replica_names  # opted-in ORM reads too
    assert out["plain"] == primary_names  # everything else reads the primary
    assert out["written"] == [1, 0]  # and writes went to the primary only
