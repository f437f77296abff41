#!/usr/bin/env bash
# Backups of the local Linli database.
#   scripts/backup.sh backup [FILE]        pg_dump (custom format) to FILE, default backups/linli-<time>.dump
#   scripts/backup.sh restore FILE [DB]    restore FILE into a fresh database, check it, then swap it in as DB
#                                          (default linli); the previous database is kept as DB_before_<time>
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PGPORT=${PGPORT:-54329}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DB=${LINLI_DB:-linli}
conn=(-h 127.0.0.1 -p "$PGPORT" -U linli)
stamp=$(date -u +%Y%m%d-%H%M%S)

case ${1:-} in
  backup)
    file=${2:-$root/backups/$DB-$stamp.dump}
    mkdir -p "$(dirname "$file")"
    "$PGBIN/pg_dump" "${conn[@]}" -d "$DB" -Fc -Z 6 -f "$file.partial"
    mv "$file.partial" "$file"   # a backup file exists only once complete
    echo "Backup written: $file ($(du -h "$file" | cut -f1))"
    ;;
  restore)
    file=${2:?usage: $0 restore FILE [DB]}
    target=${3:-$DB}
    [[ -f $file ]] || { echo "No such backup file: $file" >&2; exit 1; }
    "$PGBIN/pg_restore" --list "$file" >/dev/null || { echo "Not a pg_dump custom-format file: $file" >&2; exit 1; }
    tmp="${target}_restore_$stamp"
    "$PGBIN/psql" -X -q "${conn[@]}" -d postgres -v ON_ERROR_STOP=1 -c "CREATE DATABASE \"$tmp\""
    if ! "$PGBIN/pg_restore" "${conn[@]}" -d "$tmp" --no-owner --exit-on-error "$file"; then
      "$PGBIN/psql" -X -q "${conn[@]}" -d postgres -c "DROP DATABASE \"$tmp\""
      echo "Restore failed; $target is unchanged." >&2
      exit 1
    fi
    # Swap: the restored database takes the name, the old one is kept aside (nothing is lost).
    "$PGBIN/psql" -X -q "${conn[@]}" -d postgres -v ON_ERROR_STOP=1 <<SQL
SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$target' AND pid <> pg_backend_pid();
SELECT format('ALTER DATABASE %I RENAME TO %I', '$target', '${target}_before_$stamp')
 WHERE EXISTS (SELECT 1 FROM pg_database WHERE datname = '$target')\gexec
ALTER DATABASE "$tmp" RENAME TO "$target";
SQL
    echo "Restored $file into $target (previous database kept as ${target}_before_$stamp if it existed)"
    ;;
  *) echo "usage: $0 backup [FILE] | restore FILE [DB]" >&2; exit 2 ;;
esac
