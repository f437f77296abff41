#!/usr/bin/env bash
# A project-local PostGIS cluster: data in .pgdata/ (git-ignored), listening on 127.0.0.1:$PGPORT only.
#   scripts/pg.sh start   initialise if needed, start if not running, create role, database and extensions
#   scripts/pg.sh stop    stop it
#   scripts/pg.sh status  say whether it runs
# initdb refuses to run as root, so as root the server runs as the `postgres` user.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
PGPORT=${PGPORT:-54329}
PGDATA=${PGDATA:-$root/.pgdata}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DB=${LINLI_DB:-linli}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

psql_admin() { "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 "$@"; }

running() { as_owner "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; }

init() {
  [[ -f $PGDATA/PG_VERSION ]] && return
  echo "Initialising PostGIS cluster in $PGDATA (port $PGPORT)"
  if [[ $(id -u) -eq 0 ]]; then
    # The postgres user must be able to reach the data directory: let it traverse the ancestors.
    d=$root
    while [[ $d != / ]]; do
      runuser -u postgres -- test -x "$d" || chmod o+x "$d"
      d=$(dirname "$d")
    done
    mkdir -p "$PGDATA" && chown postgres:postgres "$PGDATA" && chmod 700 "$PGDATA"
  fi
  as_owner "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
  cat >> "$PGDATA/postgresql.conf" <<CONF
# Linli local cluster
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
shared_buffers = 1GB
work_mem = 32MB
maintenance_work_mem = 512MB
effective_cache_size = 8GB
max_wal_size = 4GB
random_page_cost = 1.1
jit = off
CONF
}

start() {
  init
  if ! running; then
    as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -o "-p $PGPORT" -l "$PGDATA/server.log" -w -t 60 start >/dev/null \
      || { echo "PostgreSQL failed to start; its log:" >&2; tail -n 30 "$PGDATA/server.log" >&2; exit 1; }
  fi
  # Role and database, created once. The local role is a superuser so tests can create test databases
  # with the postgis extension.
  psql_admin -d postgres <<SQL
SELECT 'CREATE ROLE linli LOGIN SUPERUSER' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'linli')\gexec
SELECT 'CREATE DATABASE $DB OWNER linli' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB')\gexec
SQL
  psql_admin -d "$DB" -c "CREATE EXTENSION IF NOT EXISTS postgis; CREATE EXTENSION IF NOT EXISTS btree_gist;" 2>/dev/null
}

stop() {
  if [[ -f $PGDATA/PG_VERSION ]] && running; then
    as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null && echo "PostgreSQL stopped"
  else
    echo "PostgreSQL is not running"
  fi
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running on 127.0.0.1:$PGPORT, data in $PGDATA"; else echo "stopped"; exit 3; fi ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
