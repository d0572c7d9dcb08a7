"""core.sql leans on psycopg internals; these fail loudly the day a psycopg upgrade moves them."""

import inspect

import psycopg

from core.sql import _PreparingCursor


def test_psycopg_is_the_minor_version_the_override_was_written_for():
    major, minor = (int(part) for part in psycopg.__version__.split(".")[:2])
    assert (major, minor) == (3, 3), (
        "core.sql._PreparingCursor overrides psycopg.Cursor._send_query_prepared, written for "
        f"psycopg 3.3; this is {psycopg.__version__}: check the method, then move the pin."
    )


def test_the_private_method_overridden_still_exists_with_its_signature():
    method = getattr(psycopg.Cursor, "_send_query_prepared", None)
    assert method is not None, "psycopg.Cursor._send_query_prepared is gone: core.sql must change"
    assert list(inspect.signature(method).parameters) == ["self", "name", "pgq", "binary"]
    assert inspect.signature(method).parameters["binary"].kind is inspect.Parameter.KEYWORD_ONLY
    assert _PreparingCursor._send_query_prepared is not method  # ours wraps it


def test_a_prepared_statement_is_still_seen_by_djangos_query_log(db):
    """Once prepared, psycopg no longer records the query; the override puts it back."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core.sql import prepared_cursor

    with CaptureQueriesContext(connection) as queries:
        for value in (7, 8, 9):  # the first runs unprepared, the next ones prepared
            with prepared_cursor() as cursor:
                cursor.execute("SELECT %s::int AS prepared_probe", [value])
                assert cursor.fetchone() == (value,)

    logged = [q["sql"] for q in queries.captured_queries if "prepared_probe" in q["sql"]]
    assert len(logged) == 3 and all("::int" in sql for sql in logged)
