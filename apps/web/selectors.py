"""Reads the console needs beyond the domain apps' own: how many issues the current filters match, up to
a bound (does the issues layer fit in one GeoJSON download, or must it come as vector tiles?)."""

from django.db import connection

from apps.issues.selectors import IssueFilter

# Why raw SQL: the WHERE clause is the issues GeoJSON's own (IssueFilter.sql over the same joins), so
# the count is exactly what /api/issues.geojson would return; the LIMIT inside stops the scan after
# `at_most` rows, so a city of a million issues costs no more than the threshold.
COUNT_SQL = """
SELECT count(*) FROM (
    SELECT 1
      FROM issues_issue i
      JOIN issues_category c ON c.id = i.category_id
      LEFT JOIN issues_category sc ON sc.id = i.subcategory_id
     WHERE {where}
     LIMIT %(at_most)s
) s
"""


def issues_count_upto(*, filters: IssueFilter, at_most: int) -> int:
    """The number of issues matching `filters`, counted up to `at_most` (a larger number is `at_most`)."""
    where, params = filters.sql()
    params["at_most"] = at_most
    with connection.cursor() as cur:
        # `where` is assembled from constant fragments by IssueFilter.sql; values are parameters.
        cur.execute(COUNT_SQL.replace("{where}", where), params)
        return cur.fetchone()[0]
