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
from contextlib import contextmanager

import psycopg
from django.db import connection

# The JSON aggregates hand-written statements use: PostgreSQL and SQLite (the demo) name them
# differently. ``json_list`` reads what they return.
JSON_AGG = {"postgresql": "json_agg", "sqlite": "json_group_array"}
JSON_ARRAY = {"postgresql": "json_build_array", "sqlite": "json_array"}


def json_list(value) -> list:
    """A JSON array a statement returned: psycopg parses it, SQLite hands over its text."""
    return value if isinstance(value, list) else json.loads(value)


class _PreparingCursor(psycopg.Cursor):
    """Server-side binding, and every statement prepared once per connection."""

    def execute(self, query, params=None, *, prepare=True, binary=None):
        return super().execute(query, params, prepare=prepare, binary=binary)

    def _send_query_prepared(self, name, pgq, *, binary=None):
        # psycopg records the statement only when it runs it unprepared; Django's query log
        # (DEBUG, CaptureQueriesContext) reads it back from here.
        self._query = pgq
        super()._send_query_prepared(name, pgq, binary=binary)


@contextmanager
def prepared_cursor():
    """A cursor whose statements PostgreSQL prepares (a plain one on other databases).

    It is wrapped like any Django cursor: errors arrive as Django's (``IntegrityError``), a
    broken transaction is refused, and DEBUG / ``CaptureQueriesContext`` see its queries.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            yield cursor
        return
    connection.ensure_connection()
    connection.validate_thread_sharing()
    # One cursor per connection, kept open: creating one cost as much as a short statement.
    raw = getattr(connection, "_preparing_cursor", None)
    if raw is None or raw.closed or raw.connection is not connection.connection:
        raw = connection._preparing_cursor = _PreparingCursor(connection.connection)
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    yield wrap(raw)


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
