"""Fault injection: kill the app server and the database in the middle of intake, and kill an import in
the middle; afterwards no acknowledged issue is missing and no partial import exists.

    make faults [FAULTS_SECONDS=40]

Runs on its own PostGIS cluster (PGDATA=.pgdata-faults, PGPORT=54499 unless FAULTS_PGPORT says
otherwise; scripts/pg.sh honours both), never on the developer's database, loopback only.
  1. intake: 8 Open311 clients post for FAULTS_SECONDS; at 1/4 the gunicorn master and workers get
     SIGKILL and are restarted; at 1/2 PostgreSQL is stopped with `pg_ctl -m immediate` (a crash: no
     checkpoint) and started again. Requests that fail during the outages are not acknowledged; every
     acknowledged one (a 201 with a service_request_id) must be in the database afterwards.
  2. import: `manage.py import_issues` of a large hotline file is killed with SIGKILL while it writes,
     then (second run) PostgreSQL is stopped -m immediate under it; each time afterwards none of its
     rows exist (one transaction); run again, all of them do.
Prints a summary and writes it to bench/out/faults.txt; exits 1 on any loss or partial import."""

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ["PGPORT"] = os.environ.get("FAULTS_PGPORT", "54499")
os.environ.setdefault("LOAD_DB", "linli")
os.environ.setdefault("LOAD_PORT", "8767")
sys.path.insert(0, str(ROOT))

from bench import load  # noqa: E402 -- after the environment above is set

PGDATA = str(ROOT / ".pgdata-faults")
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
SECONDS = int(os.environ.get("FAULTS_SECONDS", "40"))
IMPORT_ROWS = int(os.environ.get("FAULTS_IMPORT_ROWS", "40000"))
PY = sys.executable


def pg(action: str, env):
    subprocess.run(["bash", "scripts/pg.sh", action], cwd=ROOT, env=env, check=True)


def pg_crash(env):
    """Stop PostgreSQL like a power cut: immediate mode, no shutdown checkpoint."""
    cmd = [f"{PGBIN}/pg_ctl", "-D", PGDATA, "-m", "immediate", "-w", "stop"]
    if os.getuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    subprocess.run(cmd, check=True, capture_output=True)


def kill_server(server):
    os.killpg(server.pid, signal.SIGKILL)
    server.wait()


def intake_clients(deadline, services, lon, lat, acknowledged, failures, lock):
    import http.client

    def run(n):
        conn = http.client.HTTPConnection("127.0.0.1", load.PORT, timeout=10)
        i = 0
        while time.monotonic() < deadline:
            i += 1
            body = urllib.parse.urlencode(
                {
                    "api_key": load.KEY,
                    "service_code": services[i % len(services)],
                    "long": f"{lon:.6f}",
                    "lat": f"{lat:.6f}",
                    "description": f"故障测试 {n}-{i}",
                }
            )
            try:
                conn.request(
                    "POST",
                    "/open311/v2/requests.json",
                    body=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                resp = conn.getresponse()
                data = resp.read()
                if resp.status == 201:
                    code = json.loads(data)[0]["service_request_id"]
                    with lock:
                        acknowledged.append(code)
                else:
                    with lock:
                        failures[resp.status] = failures.get(resp.status, 0) + 1
            except (OSError, http.client.HTTPException, ValueError):
                with lock:
                    failures["connection"] = failures.get("connection", 0) + 1
                conn.close()
                time.sleep(0.2)
                conn = http.client.HTTPConnection("127.0.0.1", load.PORT, timeout=10)
        conn.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    return threads


def phase_intake(env, out_dir, lines) -> bool:
    lon, lat = map(
        float,
        load.psql(
            env,
            "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(geom) c FROM territory_area"
            " WHERE level = 'grid' AND valid_to IS NULL ORDER BY code LIMIT 1) t",
        ).split("|"),
    )
    services = load.psql(
        env, "SELECT string_agg(code, ',') FROM issues_category WHERE parent_id IS NOT NULL"
    ).split(",")
    server = load.start_server(env, out_dir, port=load.PORT)
    acknowledged, failures, lock = [], {}, threading.Lock()
    start = time.monotonic()
    # The clients go on for a while after the last fault, to show that intake recovers by itself.
    threads = intake_clients(start + SECONDS + 15, services, lon, lat, acknowledged, failures, lock)
    events = []
    time.sleep(SECONDS / 4)
    kill_server(server)
    events.append(f"{time.monotonic() - start:5.1f}s kill -9 gunicorn ({len(acknowledged)} acked)")
    time.sleep(1)
    server = load.start_server(env, out_dir, port=load.PORT)
    events.append(f"{time.monotonic() - start:5.1f}s gunicorn restarted")
    time.sleep(max(0.0, start + SECONDS / 2 - time.monotonic()))
    pg_crash(env)
    events.append(
        f"{time.monotonic() - start:5.1f}s pg_ctl -m immediate stop ({len(acknowledged)} acked)"
    )
    time.sleep(2)
    pg("start", env)
    events.append(f"{time.monotonic() - start:5.1f}s PostgreSQL started (crash recovery)")
    acked_at_restart = len(acknowledged)
    for t in threads:
        t.join()
    recovered = len(acknowledged) - acked_at_restart
    events.append(f"{time.monotonic() - start:5.1f}s end: {recovered} acknowledged after recovery")
    kill_server(server)
    found = load.count_codes(acknowledged, db=load.DB)
    ok = found == len(acknowledged) > 0 and recovered > 0
    lines += [
        f"intake under faults: 8 clients, {SECONDS} s",
        *[f"  {e}" for e in events],
        f"  acknowledged: {len(acknowledged)}; found after restart: {found}; "
        f"refused or dropped during outages: {failures}",
        f"  intake: {'OK' if ok else 'FAILED (acknowledged issues missing)'}",
    ]
    return ok


def phase_import(env, out_dir, lines, how: str) -> bool:
    """`how`: "sigkill" kills the import process; "database" crashes PostgreSQL under it."""
    prefix = "FLT" if how == "sigkill" else "FLD"  # each run imports its own rows
    lon, lat = map(
        float,
        load.psql(
            env,
            "SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_PointOnSurface(geom) c FROM territory_area"
            " WHERE level = 'grid' AND valid_to IS NULL ORDER BY code LIMIT 1) t",
        ).split("|"),
    )
    path = out_dir / f"faults-hotline-{how}.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["工单号", "受理时间", "状态", "类别", "内容", "纬度", "经度"])
        for n in range(IMPORT_ROWS):
            w.writerow(
                [f"{prefix}{n:07d}", "2026-10-01 09:00", "处理中", "纠纷", f"导入 {n}", lat, lon]
            )
    mapping = out_dir / "faults-mapping.json"
    mapping.write_text(
        json.dumps(
            {
                "columns": {
                    "ext_ref": "工单号",
                    "created_at": "受理时间",
                    "status": "状态",
                    "category": "类别",
                    "description": "内容",
                    "lat": "纬度",
                    "lon": "经度",
                },
                "values": {"status": {"处理中": "collected"}, "category": {"纠纷": "dispute"}},
                "defaults": {"source": "hotline"},
            },
            ensure_ascii=False,
        )
    )
    count_sql = {
        "FLT": "SELECT count(*) FROM issues_issue WHERE ext_ref LIKE 'FLT%'",
        "FLD": "SELECT count(*) FROM issues_issue WHERE ext_ref LIKE 'FLD%'",
    }[prefix]
    cmd = [PY, "manage.py", "import_issues", str(path), "--mapping", str(mapping)]
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    # Kill it once it is writing: wait until the server shows its INSERT/COPY running (not this query).
    waited = 0.0
    while waited < 120 and proc.poll() is None:
        busy = load.psql(
            env,
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state = 'active'"
            " AND query ~* '(insert|copy).*issues_issue'",
        )
        if busy != "0":
            break
        time.sleep(0.05)
        waited += 0.05
    killed_while_running = proc.poll() is None
    if how == "sigkill":
        proc.kill()
        proc.wait()
    else:
        pg_crash(env)
        proc.wait()  # the command fails on its lost connection
        pg("start", env)
    time.sleep(1)
    after_kill = int(load.psql(env, count_sql))
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    after_rerun = int(load.psql(env, count_sql))
    ok = killed_while_running and after_kill == 0 and after_rerun == IMPORT_ROWS
    lines += [
        f"import_issues of {IMPORT_ROWS} rows, "
        + ("killed with SIGKILL" if how == "sigkill" else "PostgreSQL stopped -m immediate")
        + f" while writing (after {waited:.1f} s; still running then: {killed_while_running})",
        f"  rows of the import in the database after the fault: {after_kill} (must be 0)",
        f"  after running it again: {after_rerun} (exit {done.returncode})",
        f"  import: {'OK' if ok else 'FAILED'}",
    ]
    return ok


def main():
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(parents=True, exist_ok=True)
    env = load.server_env()
    env.update(PGDATA=PGDATA, PGPORT=load.PGPORT)
    pg("start", env)
    try:
        load.prepare_database(env)
        lines = [f"fault run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"]
        ok = phase_intake(env, out_dir, lines)
        for how in ("sigkill", "database"):
            ok = phase_import(env, out_dir, lines, how) and ok
        lines.append("RESULT: " + ("OK" if ok else "FAILED"))
        text = "\n".join(lines)
        print(text)
        (out_dir / "faults.txt").write_text(text + "\n")
    finally:
        pg("stop", env)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
