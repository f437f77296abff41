"""Data versions for tile caching.

One row per source table of a tile layer (the issues table, written by every intake, has 16:
`issues_issue#0` ... `issues_issue#15`, each transaction bumping one, so intakes do not queue on one
row; migration 0004). A statement-level trigger on each table bumps its row in the
same transaction as the write (migration 0001), so the new version becomes visible exactly when the new
data does: a reader that sees version N+1 also sees the data that made it. Versions are drawn from a sequence, so a rolled-back write never
leaves a number that a later, different write could reuse. Tile ETags and cache keys
include the versions of a layer's tables, so a change to the territory invalidates every cached tile
built from it, whoever wrote it (ORM, COPY, raw SQL, another process).
"""

from django.db import models


class DataVersion(models.Model):
    table = models.CharField(max_length=63, primary_key=True)
    version = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.table} v{self.version}"
