"""Read-replica routing: REPLICA_DATABASE_URL adds a "replica" alias; tile reads and the analytics read
endpoints go there, writes stay on the primary. Tested with a real second database on the same cluster,
holding a different demo district, so every answer shows which database it came from."""

import json
import os
import subprocess
import sys
import textwrap
from datetime import timedelta

import psycopg2
import pytest
from django.db import connection
from django.utils import timezone

from apps.analytics.sources import get_source
from apps.common.routers import ReplicaRouter, read_alias, replica_reads, routed_alias
from apps.territory.models import Area
from tests.conftest import ROOT
from tests.tiles.test_tiles import demo_centre, tile_of


def _replica_db() -> str:
    """A scratch database named after this session's test database, so parallel sessions never share
    one."""
    return f"{connection.settings_dict['NAME']}_replica"


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
        assert routed_alias() == "default"
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
    """A second database on the same cluster, migrated, holding a different demo (seed 3: territory,
    people, issues, stations...) whose hotspot counts are precomputed (the primary's are not)."""
    name = _replica_db()
    settings = connection.settings_dict
    admin = psycopg2.connect(
        dbname="postgres", user=settings["USER"], host=settings["HOST"], port=settings["PORT"]
    )
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        cur.execute(f"CREATE DATABASE {name}")
    with (
        psycopg2.connect(
            dbname=name, user=settings["USER"], host=settings["HOST"], port=settings["PORT"]
        ) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("CREATE EXTENSION postgis; CREATE EXTENSION btree_gist")
    env = {"DATABASE_URL": _url(name)}
    done = _run(
        """
        import django; django.setup()
        from django.core.management import call_command
        from apps.analytics.services import hotspot_counts_refresh
        from apps.common.demo import seed_all
        call_command("migrate", verbosity=0)
        seed_all(seed=3, scale=0.2)
        hotspot_counts_refresh(source="issues")
        """,
        **env,
    )
    assert done.returncode == 0, done.stderr
    try:
        yield _url(name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


# The analytics read endpoints, called through the Django test client as a city administrator. The same
# code runs against primary + replica, the replica alone and the primary alone.
ANALYTICS = """
import django, json
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client


def get(client, url):
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code, response.content[:300])
    return json.loads(response.content)


def analytics(start):
    client = Client()
    client.force_login(get_user_model().objects.get(username="admin"))
    h3 = get(client, f"/api/analytics/hotspots/h3.geojson?res=8&start={start}")
    grids = get(client, f"/api/analytics/hotspots/grids.geojson?start={start}")
    gaps = get(client, "/api/analytics/gaps")
    gaps_by_street = get(client, "/api/analytics/gaps/counts?by=street")["areas"]
    street = next(a["code"] for a in gaps_by_street if a["code"])
    indicators = get(client, f"/api/analytics/indicators?code={street}&months=2")
    return {
        "hotspots": {
            "counts_from": h3["properties"]["counts_from"],
            "total": h3["properties"]["total"],
            "cells": sorted([f["properties"]["h3"], f["properties"]["count"], f["properties"]["class"]]
                            for f in h3["features"]),
        },
        "grid_hotspots": sorted([f["properties"]["code"], f["properties"]["name"],
                                 f["properties"]["count"], f["properties"]["class"]]
                                for f in grids["features"]),
        "gaps": sorted([i["kind"], i["object_id"], i["name"], i["explanation"]] for i in gaps["items"]),
        "gaps_by_street": gaps_by_street,
        "coverage": get(client, "/api/analytics/stations/coverage")["total"],
        "indicators": {"area": indicators["area"], "latest": indicators["latest"]},
    }
"""


def _analytics(start: str, **env) -> dict:
    done = _run(ANALYTICS + f"print(json.dumps(analytics({start!r})))", **env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_tiles_and_analytics_read_the_replica_and_writes_go_to_the_primary(replica_database):
    """The primary is this session's test database (demo seed 7), the replica holds seed 3: their
    compound names, issues and gaps differ, so each answer shows which database it came from."""
    primary = _url(connection.settings_dict["NAME"])
    tile = tile_of(*demo_centre(), 15)  # the demo district (~300 × 450 m) at zoom 15 (names shown)
    start = (timezone.localdate() - timedelta(days=360)).isoformat()
    code = """
        from django.core.cache import cache
        from django.db import connections, transaction
        from apps.analytics.models import HotspotCellCount, HotspotRefreshState
        from apps.analytics.services import hotspot_counts_refresh
        from apps.common.routers import replica_reads
        from apps.territory.models import Area
        import mapbox_vector_tile

        def compounds(using=None):
            qs = Area.objects.filter(level="compound")
            qs = qs.using(using) if using else qs
            return sorted(qs.values_list("name", flat=True))

        z, x, y = TILE
        cache.clear()
        tile = Client().get(f"/tiles/compound/{z}/{x}/{y}.mvt")
        names = sorted(f["properties"]["name"] for f in
                       mapbox_vector_tile.decode(tile.content)["compound"]["features"])
        plain = compounds()
        with replica_reads():
            opted_in = compounds()
        with transaction.atomic(), replica_reads() as alias:  # a transaction on the primary
            in_transaction = [alias, compounds()]
        street = Area.objects.get(level="street")
        # a real write (autocommit), left out of the audit log: it is committed to the session's
        # database, whose log other tests read (test_generated_demo_data_is_not_audited)
        connections["default"].cursor().execute("SET linli.audit = 'off'")
        Area.objects.filter(pk=street.pk).update(name="primary-write")
        on_primary = connections["default"].cursor()
        on_primary.execute("SELECT count(*) FROM territory_area WHERE name = 'primary-write'")
        on_replica = connections["replica"].cursor()
        on_replica.execute("SELECT count(*) FROM territory_area WHERE name = 'primary-write'")
        Area.objects.filter(pk=street.pk).update(name=street.name)
        # The precomputed-count build is a write: even inside replica_reads() it reads and writes the
        # primary (this session's test database, so its rows are removed again).
        state = lambda using: list(HotspotRefreshState.objects.using(using)
                                   .filter(source="issues").values_list("last_id", "refreshed_at"))
        had_state, replica_before = bool(state("default")), state("replica")
        try:
            with replica_reads():
                refresh = hotspot_counts_refresh(source="issues")
            refreshed = [state("default")[0][0], state("replica") == replica_before]
        finally:
            if not had_state:
                HotspotCellCount.objects.using("default").filter(source="issues").delete()
                HotspotRefreshState.objects.using("default").filter(source="issues").delete()
        print(json.dumps({"tile": names, "plain": plain, "opted_in": opted_in,
                          "in_transaction": in_transaction,
                          "written": [on_primary.fetchone()[0], on_replica.fetchone()[0]],
                          "refresh": refresh, "refreshed": refreshed, "had_state": had_state,
                          "analytics": analytics(START)}))
    """
    code = ANALYTICS + f"TILE = {tile!r}\nSTART = {start!r}\n" + textwrap.dedent(code)
    done = _run(code, DATABASE_URL=primary, REPLICA_DATABASE_URL=replica_database)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])

    primary_names = sorted(Area.objects.filter(level="compound").values_list("name", flat=True))
    with (
        psycopg2.connect(
            dbname=_replica_db(),
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
    assert out["opted_in"] == replica_names  # ORM reads inside replica_reads() too
    assert out["in_transaction"] == [
        "default",
        primary_names,
    ]  # unless the primary is in a transaction
    assert out["plain"] == primary_names  # everything else reads the primary
    assert out["written"] == [1, 0]  # and writes went to the primary only

    # The hotspot refresh inside replica_reads() counted the primary's issues into the primary.
    with connection.cursor() as cur:
        relation = get_source("issues").relation
        cur.execute(f"SELECT count(*), max(id) FROM {relation} src")  # noqa: S608 - a code constant
        primary_points, primary_last = cur.fetchone()
    assert not out["had_state"]
    assert out["refresh"]["points_added"] == primary_points > 0
    assert out["refreshed"] == [primary_last, True]  # the replica's watermark was left alone

    # The analytics endpoints answered from the replica: exactly what the replica alone answers, and
    # not what the primary alone answers.
    from_replica = _analytics(start, DATABASE_URL=replica_database)
    from_primary = _analytics(start, DATABASE_URL=primary)
    api = out["analytics"]
    assert api == from_replica
    assert (
        api["hotspots"]["counts_from"] == "precomputed"
    )  # only the replica has precomputed counts
    assert from_primary["hotspots"]["counts_from"] == "points"
    assert api["hotspots"]["total"] > 0 and api["hotspots"]["cells"]
    for part in ("hotspots", "grid_hotspots", "gaps", "gaps_by_street", "coverage", "indicators"):
        assert api[part] != from_primary[part], part
