"""Bulk database helpers for generators and importers: COPY is 10-50x faster than INSERT."""

import csv
import io
from collections.abc import Iterable, Sequence

from django.db import connection


def reserve_ids(table: str, count: int) -> list[int]:
    """Take `count` ids from the table's id sequence, so rows that refer to each other can be
    COPYed in one pass. Safe under concurrency: each nextval is atomic."""
    if count == 0:
        return []
    with connection.cursor() as cur:
        cur.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, count],
        )
        return [row[0] for row in cur.fetchall()]


def copy_rows(
    table: str, columns: Sequence[str], rows: Iterable[Sequence], *, batch: int = 50_000
) -> int:
    """COPY rows into `table`. None becomes NULL; geometries must be EWKB hex or EWKT strings.
    `table` and `columns` are code constants, never user input."""
    total = 0
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    n = 0
    cols = ", ".join(f'"{c}"' for c in columns)
    sql = f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"

    def flush():
        buf.seek(0)
        with connection.cursor() as cur:
            cur.cursor.copy_expert(sql, buf)
        buf.seek(0)
        buf.truncate()

    for row in rows:
        writer.writerow(["\\N" if v is None else v for v in row])
        n += 1
        if n == batch:
            flush()
            total += n
            n = 0
    if n:
        flush()
        total += n
    return total
