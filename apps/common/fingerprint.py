"""Row counts and content checksums of every table: what a restored backup must reproduce exactly."""

from django.db import connection as default_connection

SQL = """
SELECT count(*), COALESCE(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '')
  FROM {table} t
"""


def fingerprint(connection=None) -> dict[str, tuple[int, str]]:
    """{table: (rows, md5 of the sorted row hashes)} for every table in the public schema."""
    connection = connection or default_connection
    with connection.cursor() as cur:
        cur.execute(
            "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'"
            " AND tablename NOT IN ('spatial_ref_sys') ORDER BY 1"
        )
        tables = [row[0] for row in cur.fetchall()]
        result = {}
        for table in tables:
            cur.execute(SQL.format(table=table))  # names from the catalogue, quoted by quote_ident
            result[table] = tuple(cur.fetchone())
    return result
