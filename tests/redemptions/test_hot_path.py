"""What a redeem costs the database: three statements, three round trips, each hot statement
prepared once per connection."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.sql import round_trips_traced
from redemptions.models import IdempotencyKey, Redemption, RedemptionAttempt
from tests.factories import CodeFactory
from tests.helpers import redeem

pytestmark = pytest.mark.django_db


def test_a_redeem_is_three_statements(till, offer, store):
    """Round trips cost as much CPU as the work they carry, so a redeem makes few: one
    authenticates, reads the Idempotency-Key and finds the store and the code, one takes the
    code and writes the redemption and its attempt, one stores the response."""
    CodeFactory(offer=offer)  # the statements are prepared: the first call is no different
    code = CodeFactory(offer=offer)

    with CaptureQueriesContext(connection) as queries:
        response = redeem(till, code, store, key="three-statements")

    assert response.status_code == 201
    statements = [
        " ".join(q["sql"].split())
        for q in queries.captured_queries
        if "SAVEPOINT" not in q["sql"]  # the test's own transaction; a till's call has none
    ]
    assert len(statements) == 3
    assert "pg_try_advisory_xact_lock" in statements[0] and "key_hash" in statements[0]
    assert "LEFT JOIN LATERAL" in statements[0] and "promotions_store" in statements[0]
    assert statements[1].startswith("WITH take AS ( UPDATE promotions_code")
    assert "INSERT INTO redemptions_redemptionattempt" in statements[1]
    assert statements[2].startswith("INSERT INTO redemptions_idempotencykey")
    assert RedemptionAttempt.objects.get().redemption_id == response.json()["redemption_id"]


@pytest.mark.django_db(transaction=True)
def test_a_redeem_is_three_round_trips(till, offer, store):
    """BEGIN travels with the first statement, and the response's Idempotency-Key row with the
    COMMIT: what libpq sends, read from its trace (each Sync or simple Query waits for the
    server)."""
    redeem(till, CodeFactory(offer=offer), store, txn="T-0", key="warm")  # connects, prepares
    code = CodeFactory(offer=offer)
    with round_trips_traced() as trips:
        response = redeem(till, code, store, txn="T-1", key="three-round-trips")
    # after the COMMIT's round trip, the attribution task runs eagerly
    commit = next(n for n, sent in enumerate(trips) if 'Parse "" "COMMIT"' in " ".join(sent))

    assert response.status_code == 201
    assert commit == 2
    assert trips[0][0].startswith('Parse "" "BEGIN"') and len(trips[0]) == 3  # and its statement
    assert [sent.split()[0] for sent in trips[2]] == ["Bind", "Parse", "Bind"]  # the key, COMMIT
    assert Redemption.objects.filter(transaction_id="T-1").exists()
    assert IdempotencyKey.objects.filter(key="three-round-trips").exists()


def test_the_redeem_statements_are_prepared_once_per_connection(till, offer, store):
    """Planning a hot statement cost more than running it, so PostgreSQL plans each one once."""
    for txn in ("T-1", "T-2", "T-3"):
        assert redeem(till, CodeFactory(offer=offer), store, txn=txn).status_code == 201

    with connection.cursor() as cursor:
        cursor.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        runs = {" ".join(sql.split()): count for sql, count in cursor.fetchall()}
    redeem_statement = [
        count
        for sql, count in runs.items()
        if sql.startswith("WITH take AS ( UPDATE promotions_code SET")
        and "INSERT INTO redemptions_redemption " in sql
    ]
    assert redeem_statement == [3]
    assert not [sql for sql in runs if '"promotions_' in sql]  # the ORM's queries stay unprepared
