"""A retried call has no second effect: the Idempotency-Key replays the stored answer, a sale
retried without one replays by its natural key, and keys expire."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from promotions.models import Offer
from redemptions import services
from redemptions.models import IdempotencyKey, Redemption
from tests.factories import CodeFactory, OfferFactory, pos_integration
from tests.helpers import assert_problem, redeem

pytestmark = pytest.mark.django_db


def test_same_idempotency_key_replays_the_same_redemption(till, code, store):
    first = redeem(till, code, store, key="till-7-0001")
    again = redeem(till, code, store, key="till-7-0001")

    assert first.status_code == again.status_code == 201
    assert again.json()["redemption_id"] == first.json()["redemption_id"]
    assert again["Idempotent-Replayed"] == "true"
    assert Redemption.objects.count() == 1


def test_same_key_with_a_different_body_is_422(till, code, store):
    redeem(till, code, store, key="k-1", basket="10.00")

    response = redeem(till, code, store, key="k-1", basket="99.00")

    assert_problem(response, 422, "idempotency_key_reused")
    assert Redemption.objects.get().basket_total == Decimal("10.00")


def test_retry_of_the_same_sale_without_a_key_replays_by_natural_key(till, code, store):
    first = redeem(till, code, store, txn="SALE-9")
    again = redeem(till, code, store, txn="SALE-9")

    assert (
        again.status_code == 201 and again.json()["redemption_id"] == first.json()["redemption_id"]
    )
    assert Redemption.objects.count() == 1


def test_a_declined_answer_is_replayed_too(till, code, store, offer):
    offer.min_basket = Decimal("50")
    offer.save()

    first = redeem(till, code, store, key="k-min", basket="10.00")
    Offer.objects.filter(id=offer.id).update(min_basket=0)
    again = redeem(till, code, store, key="k-min", basket="10.00")

    assert_problem(first, 422, "min_basket_not_met")
    assert_problem(again, 422, "min_basket_not_met")
    assert not Redemption.objects.exists()


def test_keys_are_scoped_to_the_integration(brand, code, store):
    clients = []
    for _ in range(2):
        _, key, _ = pos_integration(brand)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        clients.append(client)

    first = redeem(clients[0], code, store, key="shared-key", txn="A")
    other = redeem(clients[1], code, store, key="shared-key", txn="B")

    assert first.status_code == 201
    assert_problem(other, 409, "already_redeemed")  # not a replay of the first integration's answer
    assert IdempotencyKey.objects.count() == 2


@pytest.mark.parametrize("key", ["k" * 256, "a\x00b", "tab\there"])
def test_an_unusable_idempotency_key_is_400_and_changes_nothing(till, code, store, key):
    response = redeem(till, code, store, key=key)

    assert_problem(response, 400, "validation_error")
    assert not Redemption.objects.exists() and not IdempotencyKey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_key_still_in_flight_gets_409_with_retry_after(brand, store):
    integration, api_key, _ = pos_integration(brand)
    code = CodeFactory(offer=OfferFactory(campaign__brand=brand))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    import psycopg

    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname=db["NAME"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", [integration.id, "busy-key"])
        response = redeem(client, code, store, key="busy-key")

    assert_problem(response, 409, "request_in_flight")
    assert response["Retry-After"] == "1"
    assert not Redemption.objects.exists()


def test_a_retried_sale_of_a_shared_code_replays_and_uses_it_once(till, offer, store):
    shared = CodeFactory(offer=offer, kind="shared", max_uses=3, customer_ref="")
    first = redeem(till, shared, store, txn="SALE-7")
    shared.refresh_from_db()
    last_use = shared.redeemed_at

    again = redeem(till, shared, store, txn="SALE-7")

    assert again.status_code == 201
    assert again.json()["redemption_id"] == first.json()["redemption_id"]
    shared.refresh_from_db()
    assert (shared.use_count, shared.redeemed_at) == (1, last_use)
    assert Redemption.objects.count() == 1


def test_expired_idempotency_keys_are_purged(till, code, store):
    redeem(till, code, store, key="old")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    redeem(till, CodeFactory(offer=code.offer), store, key="fresh", txn="T-2")

    assert services.idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]


@pytest.mark.django_db(transaction=True)
def test_a_commit_that_fails_with_the_key_leaves_nothing_behind(till, code, store):
    """The Idempotency-Key row travels with the COMMIT: when the COMMIT itself is refused (here
    a deferred check that fails at commit), the till hears a 500 and nothing of the call stays:
    no redemption, no stored response, the code still redeemable."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS
                $$ BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
            CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON redemptions_idempotencykey
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit();
            """
        )
    till.raise_request_exception = False  # answer as the server would
    try:
        refused = redeem(till, code, store, key="refused")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TRIGGER refuse_at_commit ON redemptions_idempotencykey;"
                " DROP FUNCTION refuse_at_commit()"
            )
    left = (Redemption.objects.count(), IdempotencyKey.objects.count())
    retried = redeem(till, code, store, key="refused")

    assert_problem(refused, 500, "internal_error")
    assert left == (0, 0)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert Redemption.objects.count() == 1
    assert IdempotencyKey.objects.get().key == "refused"
