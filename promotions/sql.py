"""Hot-path statements as PostgreSQL prepared statements.

PostgreSQL planned the redeem and tracking statements anew on every call, and planning cost
more than executing them (see docs/benchmarks.md). Django keeps psycopg's automatic preparing
off, and turning it on for every query lets PostgreSQL settle on generic plans for the bulk
paths' long ``IN`` lists, which were orders of magnitude slower. So only the statements that go
through ``prepared_cursor`` are prepared, on the same connection and in the same transaction as
the ORM's work.
"""

import time
from contextlib import contextmanager

import psycopg
from django.db import connection


class _PreparedCursor:
    def __init__(self, raw: psycopg.Cursor):
        self._raw = raw

    def execute(self, sql: str, params=None):
        started = time.monotonic()
        try:
            with connection.wrap_database_errors:  # IntegrityError and friends, as Django's
                self._raw.execute(sql, params, prepare=True)
        finally:
            if connection.queries_logged:  # DEBUG and CaptureQueriesContext see these too
                connection.queries_log.append(
                    {"sql": sql, "time": f"{time.monotonic() - started:.3f}"}
                )

    def fetchone(self):
        return self._raw.fetchone()

    def fetchall(self):
        return self._raw.fetchall()

    @property
    def rowcount(self) -> int:
        return self._raw.rowcount


@contextmanager
def prepared_cursor():
    """A cursor whose statements PostgreSQL prepares once per connection (a plain one elsewhere)."""
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            yield cursor
            return
        raw = psycopg.Cursor(connection.connection)
        try:
            yield _PreparedCursor(raw)
        finally:
            raw.close()
