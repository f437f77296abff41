"""The migrated schema itself: what the catalog says about it."""

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

# Indexes of one table on the same columns, operator classes, expressions, predicate, uniqueness and
# NULL handling: one of them is pure cost (every write maintains both).
TWINS_SQL = """
SELECT i.indrelid::regclass::text, array_agg(i.indexrelid::regclass::text ORDER BY i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
 WHERE c.relnamespace = 'public'::regnamespace
 GROUP BY i.indrelid, i.indkey::text, i.indclass::text, i.indisunique, i.indnullsnotdistinct,
          COALESCE(pg_get_expr(i.indexprs, i.indrelid), ''), COALESCE(pg_get_expr(i.indpred, i.indrelid), '')
HAVING count(*) > 1
"""


def test_no_table_has_twin_indexes():
    with connection.cursor() as cur:
        cur.execute(TWINS_SQL)
        assert cur.fetchall() == []
