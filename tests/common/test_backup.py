import subprocess
import uuid
from pathlib import Path

import psycopg2
from django.db import connection

from apps.common.fingerprint import fingerprint

ROOT = Path(__file__).resolve().parents[2]


class _Conn:
    """Just enough of a Django connection for fingerprint(): a psycopg2 connection to another database."""

    def __init__(self, raw):
        self.raw = raw

    def cursor(self):
        return self.raw.cursor()


def test_backup_restores_into_a_fresh_database_with_equal_counts_and_checksums(demo, tmp_path):
    settings = connection.settings_dict
    env = {"PATH": "/usr/bin:/bin", "PGPORT": str(settings["PORT"]), "LINLI_DB": settings["NAME"]}
    dump = tmp_path / "linli.dump"
    # The session's demo data is committed, so pg_dump (another connection) sees exactly what we see.
    subprocess.run(
        ["bash", ROOT / "scripts/backup.sh", "backup", dump],
        check=True,
        env=env,
        capture_output=True,
    )
    original = fingerprint()
    assert original["territory_household"][0] == demo["households"]

    target = f"linli_restore_check_{uuid.uuid4().hex[:8]}"
    try:
        out = subprocess.run(
            ["bash", ROOT / "scripts/backup.sh", "restore", dump, target],
            check=True,
            env=env,
            capture_output=True,
            text=True,
        )
        assert "Restored" in out.stdout
        raw = psycopg2.connect(host="127.0.0.1", port=settings["PORT"], user="linli", dbname=target)
        try:
            restored = fingerprint(_Conn(raw))
        finally:
            raw.close()
        assert restored == original
    finally:
        subprocess.run(
            [
                "psql",
                "-X",
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                str(settings["PORT"]),
                "-U",
                "linli",
                "-d",
                "postgres",
                "-c",
                f'DROP DATABASE IF EXISTS "{target}"',
            ],
            check=False,
            env=env,
        )


def test_restore_refuses_a_file_that_is_not_a_backup(db, tmp_path):
    settings = connection.settings_dict
    env = {"PATH": "/usr/bin:/bin", "PGPORT": str(settings["PORT"]), "LINLI_DB": settings["NAME"]}
    bogus = tmp_path / "not-a-dump.dump"
    bogus.write_text("hello")
    out = subprocess.run(
        ["bash", ROOT / "scripts/backup.sh", "restore", bogus, "whatever_db"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0
    assert "Not a pg_dump custom-format file" in out.stderr
