"""Fuzz the whole HTTP API from its OpenAPI schema with schemathesis: zero 5xx responses allowed.

    make fuzz [FUZZ_SECONDS=300]

A fresh database (linli_fuzz on the local cluster) gets the demo district; gunicorn serves the app with
production settings (DEBUG false) on 127.0.0.1 only; schemathesis runs twice, anonymously and as a
logged-in superuser (session cookie + CSRF token), with the `not_a_server_error` check, bounded in time.
The summary is printed and written to bench/out/fuzz.txt."""

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PORT = int(os.environ.get("FUZZ_PORT", "8765"))
SECONDS = int(os.environ.get("FUZZ_SECONDS", "300"))
PGPORT = os.environ.get("PGPORT", "54329")
DB = "linli_fuzz"


def sh(args, env, **kw):
    return subprocess.run(args, cwd=ROOT, env=env, check=True, **kw)


def main():
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "DATABASE_URL": f"postgis://linli@127.0.0.1:{PGPORT}/{DB}",
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        # production settings need a PII key (apps.people.pii); a throw-away one for this database
        "LINLI_PII_KEY": secrets.token_urlsafe(48),
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    psql = [
        "psql",
        "-X",
        "-q",
        "-h",
        "127.0.0.1",
        "-p",
        PGPORT,
        "-U",
        "linli",
        "-d",
        "postgres",
        "-c",
    ]
    sh(psql + [f"DROP DATABASE IF EXISTS {DB}"], env)
    sh(psql + [f"CREATE DATABASE {DB}"], env)
    sh([PY, "manage.py", "migrate", "-v0"], env)
    sh([PY, "manage.py", "seed_demo", "--scale", "0.2", "-v0"], env)
    # A logged-in superuser session and a CSRF token, for the authenticated run.
    session = (
        subprocess.run(
            [
                PY,
                "manage.py",
                "shell",
                "-c",
                "from django.contrib.auth import get_user_model; from django.contrib.sessions.backends.db import SessionStore;"
                "u=get_user_model().objects.get(username='admin'); s=SessionStore();"
                "s['_auth_user_id']=str(u.pk); s['_auth_user_backend']='django.contrib.auth.backends.ModelBackend';"
                "s['_auth_user_hash']=u.get_session_auth_hash(); s.create(); print(s.session_key)",
            ],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    csrf = secrets.token_hex(16)

    server = subprocess.Popen(
        [
            str(Path(PY).parent / "gunicorn"),
            "geo.wsgi",
            "-b",
            f"127.0.0.1:{PORT}",
            "-w",
            "2",
            "--timeout",
            "60",
            "--access-logfile",
            "-",
            "--error-logfile",
            "-",
        ],
        cwd=ROOT,
        env=env,
        stdout=open(out_dir / "fuzz-server.log", "w"),
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/schema/", timeout=2)
                break
            except OSError:
                time.sleep(0.3)
        results = []
        runs = [
            ("anonymous", []),
            (
                "superuser",
                [
                    "-H",
                    f"Cookie: sessionid={session}; csrftoken={csrf}",
                    "-H",
                    f"X-CSRFToken: {csrf}",
                ],
            ),
        ]
        for label, extra in runs:
            cmd = [
                str(Path(PY).parent / "schemathesis"),
                "run",
                f"http://127.0.0.1:{PORT}/api/schema/",
                "--checks",
                "not_a_server_error",
                "--max-time",
                str(SECONDS // len(runs)),
                "--workers",
                "2",
                "--suppress-health-check",
                "all",
                "--no-color",
                *extra,
            ]
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
            results.append((label, proc.returncode, proc.stdout[-6000:]))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    server_errors = sum(
        1 for line in open(out_dir / "fuzz-server.log") if '" 5' in line and 'HTTP/1.1" 5' in line
    )
    report = [
        f"fuzz run {time.strftime('%Y-%m-%d %H:%M:%S')} budget {SECONDS}s, 5xx in server log: {server_errors}"
    ]
    for label, code, text in results:
        report.append(f"\n=== {label}: schemathesis exit {code}\n{text}")
    (out_dir / "fuzz.txt").write_text("\n".join(report))
    print("\n".join(report))
    failed = server_errors > 0 or any(code != 0 for _, code, _ in results)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
