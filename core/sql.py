"""Hot-path statements as PostgreSQL prepared statements.

PostgreSQL planned the redeem and tracking statements anew on every call, and planning cost
more than executing them (see docs/benchmarks.md). Turning psycopg's automatic preparing on for
every query lets PostgreSQL settle on generic plans for the bulk paths' long ``IN`` lists, which
were orders of magnitude slower. So only the statements that go through ``prepared_cursor`` are
prepared, on the same connection and in the same transaction as the ORM's work. psycopg honours
``prepare=True`` only while the connection has a prepare threshold; the settings give it one that
no query reaches (``DATABASE_PREPARED_STATEMENTS``).
"""

import json
import tempfile
from contextlib import contextmanager

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.postgresql.base import CursorDebugWrapper as PostgresCursorDebugWrapper
from django.db.backends.utils import CursorWrapper
from psycopg.pq import PipelineStatus, Trace, TransactionStatus

# The JSON aggregates hand-written statements use: PostgreSQL and SQLite (the demo) name them
# differently. ``json_list`` reads what they return.
JSON_AGG = {"postgresql": "json_agg", "sqlite": "json_group_array"}
JSON_ARRAY = {"postgresql": "json_build_array", "sqlite": "json_array"}


def json_list(value) -> list:
    """A JSON array a statement returned: psycopg parses it, SQLite hands over its text."""
    return value if isinstance(value, list) else json.loads(value)


class _PreparingCursor(psycopg.Cursor):
    """Server-side binding, and every statement prepared once per connection.

    The first statement of a Django transaction also carries the transaction's BEGIN: psycopg
    would send BEGIN on its own and wait for the answer, one round trip more for the caller to
    wait on (docs/perf-journal.md item 29). Here BEGIN and the statement go out in one pipeline
    instead. psycopg is put in autocommit mode first, so that it sends no BEGIN of its own; it
    stays there until the transaction ends (psycopg cannot leave it inside one), which changes
    nothing: psycopg sends COMMIT and ROLLBACK whenever a transaction is open, and Django, whose
    outermost atomic block opened the transaction, ends it with one of them and then turns
    autocommit back on. Only inside a Django atomic block, and only with PostgreSQL's default
    transaction mode.
    """

    def __init__(self, db):
        super().__init__(db.connection)
        self.db = db  # Django's wrapper of the same connection: is an atomic block open?

    def execute(self, query, params=None, *, prepare=True, binary=None):
        conn = self._conn
        if (
            self.db.in_atomic_block
            and not conn.autocommit
            and conn.info.transaction_status == TransactionStatus.IDLE
            and conn.info.pipeline_status == PipelineStatus.OFF
            and (conn.isolation_level, conn.read_only, conn.deferrable) == (None, None, None)
        ):
            conn.autocommit = True
            with conn.pipeline():
                conn.execute(b"BEGIN")
                return super().execute(query, params, prepare=prepare, binary=binary)
        return super().execute(query, params, prepare=prepare, binary=binary)

    def _send_query_prepared(self, name, pgq, *, binary=None):
        # psycopg records the statement only when it runs it unprepared; Django's query log
        # (DEBUG, CaptureQueriesContext) reads it back from here.
        self._query = pgq
        super()._send_query_prepared(name, pgq, binary=binary)


class _Kept:
    """A Django cursor wrapper kept with its connection: leaving ``with`` leaves it open."""

    def __exit__(self, *exc_info):
        return None


class _KeptCursor(_Kept, CursorWrapper):
    pass


class _KeptDebugCursor(_Kept, PostgresCursorDebugWrapper):
    pass


def prepared_cursor():
    """A cursor whose statements PostgreSQL prepares (a plain one on other databases), for
    ``with``.

    It is wrapped like any Django cursor: errors arrive as Django's (``IntegrityError``), a
    broken transaction is refused, and DEBUG / ``CaptureQueriesContext`` see its queries. On
    PostgreSQL the cursor and its two wrappers (logging queries or not) are made once per
    connection and kept: making them cost as much as a short statement.
    """
    # The thread's connection, looked up once: each attribute read through Django's
    # ``connection`` proxy looks it up again (a thread-local read), a dozen times per statement.
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql":
        return db.cursor()
    db.ensure_connection()
    db.validate_thread_sharing()
    kept = getattr(db, "_preparing_cursors", None)
    if kept is None or kept[0].cursor.closed or kept[0].cursor.connection is not db.connection:
        raw = _PreparingCursor(db)
        kept = db._preparing_cursors = (_KeptCursor(raw, db), _KeptDebugCursor(raw, db))
    return kept[1] if db.queries_logged else kept[0]


def execute_and_commit(query, params) -> int:
    """The last statement of the outermost atomic block, sent in one round trip with the
    transaction's COMMIT (one pipeline: the statement, COMMIT, Sync); its row count.

    Only as the very last thing inside the block: its end then finds the transaction committed
    and just runs the on_commit hooks. Errors, the COMMIT's own too (deferred constraints),
    arrive as Django's, and the block rolls back whatever is left. In a block inside another
    (savepoints: the tests' transactions), in one already bound to roll back, and on SQLite the
    statement runs alone and the block's end commits as usual.
    """
    db = connections[DEFAULT_DB_ALIAS]
    with prepared_cursor() as cursor:
        if db.vendor != "postgresql" or len(db.atomic_blocks) != 1 or db.needs_rollback:
            cursor.execute(query, params)
            return cursor.rowcount
        with db.wrap_database_errors, db.connection.pipeline():
            cursor.execute(query, params)
            db.connection.execute(b"COMMIT")
        return cursor.rowcount


@contextmanager
def round_trips_traced():
    """The round trips to PostgreSQL of the block, read from libpq's trace of this thread's
    connection: a list, filled when the block ends, with one entry per message the client sent
    that waits for the server's answer (a Sync, extended protocol, or a simple Query). Each
    entry lists what travelled in that round trip, as traced: ``Parse`` (a statement's text),
    ``Bind`` (the statement it runs, by name once prepared) and ``Query`` lines, message name
    first. For the tests and the benchmark."""
    db = connections[DEFAULT_DB_ALIAS]
    db.ensure_connection()
    pgconn = db.connection.pgconn
    trips = []
    with tempfile.TemporaryFile() as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield trips
        finally:
            pgconn.untrace()
            trace.seek(0)
            sent = []
            for line in trace.read().decode().splitlines():
                sender, _, message, *rest = line.split(maxsplit=3)
                if sender != "F":
                    continue
                if message in ("Parse", "Bind", "Query"):
                    sent.append(" ".join([message, *rest]))
                if message in ("Sync", "Query"):
                    trips.append(sent)
                    sent = []


def converted(fields, values) -> list:
    """A hand-written statement's values for ``fields``, as the ORM would hand them over.

    psycopg already returns the Python types. SQLite returns its own (naive UTC datetimes,
    plain numbers for decimals); the backend's converters, the ones the ORM applies, fix them.
    """
    if connection.vendor == "postgresql":
        return list(values)
    row = []
    for field, value in zip(fields, values, strict=True):
        column = field.get_col(field.model._meta.db_table)
        for convert in connection.ops.get_db_converters(column) + column.get_db_converters(
            connection
        ):
            value = convert(value, column, connection)
        row.append(value)
    return row
