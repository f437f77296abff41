"""Server-side prepared statements (SQL PREPARE / EXECUTE) for hot hand-written queries.

A small PostGIS query can cost more to plan than to run (LOCATE_SQL: ~0.7 ms planning, ~0.3 ms
execution). A statement PREPAREd once per database connection is parsed and analysed once; after five
executions PostgreSQL switches to a generic plan when it is not costlier than the custom ones
(plan_cache_mode = auto), so planning disappears from the hot path.

    LOCATE = Prepared("linli_locate", LOCATE_SQL, {"lon": "float8", "lat": "float8", ...})
    rows = LOCATE.fetchall({"lon": 117.3, "lat": 31.9, ...})

* The SQL is written with psycopg2's named placeholders (`%(name)s`, `%%` for a literal %), as for
  cursor.execute(); `types` gives every placeholder's SQL type, in the order of the $n parameters.
* Per connection: a statement is PREPAREd lazily, in the same round trip as its first EXECUTE
  ("PREPARE ...; EXECUTE ..."), so a first call is still one query. Which statements a connection holds
  is remembered on Django's connection wrapper against the psycopg2 connection object, so after a
  reconnect (CONN_MAX_AGE expiry, a failed health check, connection.close()) they are prepared again.
* Transactions: PREPARE is not transactional. A statement prepared inside a transaction that is
  rolled back (or whose later statement fails) stays prepared, and the bookkeeping says so. A call
  inside an already failed transaction fails like any other query and leaves nothing prepared.
  When the outcome of a failed first call is unknown, the next call asks pg_prepared_statements
  (outside a transaction) or runs the plain SQL (inside one, where a second error would abort it).
* If something deallocated the statement behind our back (DEALLOCATE ALL, DISCARD ALL), EXECUTE fails
  with "prepared statement does not exist"; outside a transaction it is prepared again and retried
  once, inside one the error propagates (the transaction is already aborted).
* Connection poolers: SQL-level prepared statements live in one server session. They work through a
  session-pooling pgbouncer (or pgbouncer >= 1.21 in any mode only for protocol-level statements, which
  these are not). With transaction or statement pooling the next EXECUTE may reach a session that never
  saw the PREPARE; such deployments already set Django's DISABLE_SERVER_SIDE_CURSORS for the same
  reason, and that setting (or LINLI_PREPARED_STATEMENTS=false) makes every call run the plain SQL.
"""

import os
import re
import weakref

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.utils import DatabaseError

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def placeholders(sql: str) -> set[str]:
    """The names of the `%(name)s` placeholders in `sql`."""
    return set(_PLACEHOLDER.findall(sql))


# SQLSTATEs
_UNDEFINED_STATEMENT = "26000"  # invalid_sql_statement_name: "prepared statement does not exist"
_DUPLICATE_STATEMENT = "42P05"  # duplicate_prepared_statement
_IN_FAILED_TRANSACTION = "25P02"

_UNKNOWN = object()  # a first call failed after (perhaps) preparing the statement


def _wrapper(using):
    """Django's connection wrapper for an alias (or the wrapper itself)."""
    return connections[using] if isinstance(using, str) else using


def enabled(using=DEFAULT_DB_ALIAS) -> bool:
    """False behind a transaction-pooling connection pooler (see the module docstring)."""
    flag = os.environ.get("LINLI_PREPARED_STATEMENTS", "true").strip().lower()
    if flag in ("0", "false", "no", "off"):
        return False
    return not _wrapper(using).settings_dict.get("DISABLE_SERVER_SIDE_CURSORS", False)


def _pgcode(exc: BaseException) -> str | None:
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    return getattr(cause, "pgcode", None)


class Prepared:
    """One named statement, prepared on each database connection that executes it."""

    def __init__(self, name: str, sql: str, types: dict[str, str]):
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"{name!r} is not a plain lower-case SQL identifier")
        used = placeholders(sql)
        if used != set(types):
            raise ValueError(
                f"placeholders {sorted(used)} and types {sorted(types)} of {name} differ"
            )
        self.name = name
        self.sql = sql
        self.order = list(types)
        number = {param: f"${i}" for i, param in enumerate(self.order, start=1)}
        # `%%` stays: the PREPARE text goes through psycopg2's interpolation with the EXECUTE.
        body = _PLACEHOLDER.sub(lambda m: number[m.group(1)], sql)
        self.prepare_sql = f"PREPARE {name} ({', '.join(types.values())}) AS {body}"
        self.execute_sql = f"EXECUTE {name} ({', '.join(['%s'] * len(self.order))})"

    # -- bookkeeping: {statement name: True | _UNKNOWN} for the wrapper's current psycopg2 connection

    def _state(self, conn) -> dict:
        held = getattr(conn, "_linli_prepared", None)
        if held is None or held[0]() is not conn.connection:
            held = (weakref.ref(conn.connection), {})
            conn._linli_prepared = held
        return held[1]

    def fetchall(self, params: dict, *, using=DEFAULT_DB_ALIAS) -> list[tuple]:
        """The rows of the statement for `params` (a dict keyed like the placeholders), on the
        database `using` (an alias, or a connection wrapper such as connections.create_connection())."""
        conn = _wrapper(using)
        if not enabled(conn):
            return self._run(conn, self.sql, params)
        values = [params[p] for p in self.order]
        # the cursor connects first, so the state below is the current session's
        with conn.cursor() as cur:
            state = self._state(conn)
            status = state.get(self.name)
            if status is _UNKNOWN:
                status = self._resolve(conn, cur, state)
            if status is True:
                try:
                    cur.execute(self.execute_sql, values)
                    return cur.fetchall()
                except DatabaseError as exc:
                    # Deallocated behind our back: forget it, and prepare it again now unless the
                    # transaction is aborted (then the next call, in a new transaction, does).
                    if _pgcode(exc) != _UNDEFINED_STATEMENT:
                        raise
                    state.pop(self.name, None)
                    if conn.in_atomic_block:
                        raise
            if status is _UNKNOWN:  # unresolved inside a transaction: the plain SQL is safe
                cur.execute(self.sql, params)
                return cur.fetchall()
            try:
                cur.execute(f"{self.prepare_sql};\n{self.execute_sql}", values)
            except DatabaseError as exc:
                code = _pgcode(exc)
                if code == _DUPLICATE_STATEMENT:
                    state[self.name] = True  # prepared after all (the EXECUTE did not run)
                    if conn.in_atomic_block:
                        raise
                    cur.execute(self.execute_sql, values)
                    return cur.fetchall()
                if code != _IN_FAILED_TRANSACTION:  # nothing runs in an aborted transaction
                    state[self.name] = _UNKNOWN
                raise
            state[self.name] = True
            return cur.fetchall()

    def _resolve(self, conn, cur, state):
        """Whether a statement whose first call failed is prepared; _UNKNOWN inside a transaction."""
        if conn.in_atomic_block:
            return _UNKNOWN
        cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = %s", [self.name])
        if cur.fetchone()[0]:
            state[self.name] = True
            return True
        state.pop(self.name, None)
        return None

    @staticmethod
    def _run(conn, sql, params):
        with conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall()

    def deallocate(self, *, using=DEFAULT_DB_ALIAS) -> None:
        """Drop the statement from the connection, if it holds it (tests, benchmarks)."""
        conn = _wrapper(using)
        with conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = %s", [self.name])
            if cur.fetchone()[0]:
                cur.execute(f"DEALLOCATE {self.name}")
            self._state(conn).pop(self.name, None)
