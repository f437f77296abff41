"""Run the benchmarks and print one table.

    python -m bench quick                  every bench/bench_*.py module, quick (demo + a small city)
    python -m bench all                    every module, full (city and megacity; long)
    python -m bench tiles locate           only bench_tiles.py and bench_locate.py (quick unless --full)
    python -m bench intake                 only bench_intake.py: issues/s filed over HTTP (Open311 POST)
    python -m bench all --dataset city     full measurements on a named dataset (or a --scale number)

A module is bench/bench_<topic>.py with `run(*, quick: bool) -> list[dict]`, found by its file name
(`modules()`: a new bench_<topic>.py joins `quick` and `all` and answers to `<topic>`), each row
{"benchmark", "value", "unit", "floor", "ratio", "target", "note"} (see bench.common.row). Every figure
sits beside a floor measured in the same run. The table is printed and written to bench/out/latest.md.
Runs in its own database (BENCH_DATABASE_URL, default linli_bench on the local cluster), never the dev one.
"""

import argparse
import datetime
import importlib
import os
import pkgutil
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out"
FIRST = ["generate"]  # generation builds the datasets the others measure on


def bench_database_url() -> str:
    explicit = os.environ.get("BENCH_DATABASE_URL")
    if explicit:
        return explicit
    port = os.environ.get("PGPORT", "54329")
    base = os.environ.get("DATABASE_URL", f"postgis://linli@127.0.0.1:{port}/linli")
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path="/linli_bench"))


def prepare_database(url: str) -> None:
    """Create (on the local cluster) and migrate the bench database."""
    parts = urlsplit(url)
    if parts.hostname in ("127.0.0.1", "localhost") and not os.environ.get("BENCH_DATABASE_URL"):
        env = {**os.environ, "LINLI_DB": parts.path.lstrip("/"), "PGPORT": str(parts.port)}
        subprocess.run(["bash", str(ROOT / "scripts" / "pg.sh"), "start"], check=True, env=env)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "geo.settings")
    os.environ.setdefault("DEBUG", "false")
    os.environ.setdefault("SECRET_KEY", "bench-only-not-secret")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def modules() -> list[str]:
    found = sorted(
        m.name[len("bench_") :]
        for m in pkgutil.iter_modules([str(Path(__file__).parent)])
        if m.name.startswith("bench_")
    )
    return [m for m in FIRST if m in found] + [m for m in found if m not in FIRST]


def fmt(value, digits=3) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


def table(rows: list[dict]) -> str:
    head = ["module", "benchmark", "value", "unit", "floor", "ratio", "target", "note"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r.get("module", ""),
            r["benchmark"],
            fmt(r["value"]),
            r["unit"],
            fmt(r["floor"]),
            fmt(r["ratio"]),
            r.get("target", ""),
            r.get("note", ""),
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return "\n".join(lines)


def machine() -> str:
    mem_kb = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    except OSError:
        pass
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT current_setting('server_version'), postgis_lib_version()")
        pg, postgis = cur.fetchone()
    return (
        f"{os.cpu_count()} cores ({platform.processor() or platform.machine()}), "
        f"{mem_kb / 1024 / 1024:.0f} GiB memory, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, PostgreSQL {pg}, PostGIS {postgis}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("what", nargs="+", help="quick, all, or module names (tiles, locate, ...)")
    parser.add_argument("--full", action="store_true", help="full sizes for named modules")
    parser.add_argument(
        "--dataset", help="dataset to measure on: demo, small-city, city, megacity or a scale"
    )
    args = parser.parse_args(argv)

    url = bench_database_url()
    prepare_database(url)
    from bench import common

    if args.dataset:
        common.DATASET_OVERRIDE = (
            args.dataset if args.dataset in common.SCALES else float(args.dataset)
        )
    available = modules()
    if args.what in (["quick"], ["all"]):
        quick, names = args.what == ["quick"], available
    else:
        unknown = [w for w in args.what if w not in available]
        if unknown:
            parser.error(
                f"unknown module(s) {', '.join(unknown)}; available: {', '.join(available)}"
            )
        quick, names = not args.full, [m for m in available if m in args.what]

    rows, failed = [], []
    started = time.perf_counter()
    for name in names:
        print(f"== bench_{name} ({'quick' if quick else 'full'})", flush=True)
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.bench_{name}")
            out = module.run(quick=quick)
        except Exception as exc:  # a broken module must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            out = [
                {
                    "benchmark": "(module failed)",
                    "value": float("nan"),
                    "unit": "",
                    "floor": None,
                    "ratio": None,
                    "target": "",
                    "note": f"{type(exc).__name__}: {exc}",
                }
            ]
        for r in out:
            r["module"] = name
        rows.extend(out)
        print(table(out), flush=True)
        print(f"   ({time.perf_counter() - t0:.0f} s)", flush=True)

    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    report = (
        f"# Benchmark run\n\n`{command}` on {now}, {time.perf_counter() - started:.0f} s\n\n"
        f"Machine: {machine()}\n\n{table(rows)}\n"
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "latest.md").write_text(report)
    print("\n" + report)
    print(f"written to {OUT / 'latest.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
