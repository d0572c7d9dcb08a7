import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from core.sql import round_trips_traced
from pos_adapters.vendors.generic import signature_header
from promotions import codes
from promotions.models import Code, Offer
from redemptions import services
from redemptions.models import IdempotencyKey, Redemption, RedemptionAttempt
from tests.factories import CodeFactory, OfferFactory, StoreFactory, pos_integration
from tests.helpers import assert_problem

pytestmark = pytest.mark.django_db

REDEEM = "/api/v1/pos/generic/redemptions"
VALIDATE = "/api/v1/pos/generic/validate"


@pytest.fixture
def code(offer):
    return CodeFactory(offer=offer)


def redeem(client, code, store, txn="T-1", basket="10.00", key=None, **extra):
    body = {
        "code": code if isinstance(code, str) else code.code,
        "store_id": store.external_id,
        "transaction_id": txn,
        "basket_total": basket,
        **extra,
    }
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(REDEEM, body, format="json", **headers)


def test_validate_answers_without_changing_anything(till, code, store):
    response = till.post(
        VALIDATE,
        {"code": code.code, "store_id": store.external_id, "basket_total": "25.00"},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["redeemable"] is True and body["discount"] == "5.00"
    assert body["offer"]["id"] == code.offer_id and body["reward"]["type"] == "percent_off"
    code.refresh_from_db()
    assert code.status == "issued" and not Redemption.objects.exists()
    assert RedemptionAttempt.objects.get().action == "validate"


def test_redeem_once_then_already_redeemed(till, code, store):
    first = redeem(till, code, store, txn="T-1", basket="25.00")
    second = redeem(till, code, store, txn="T-2")

    assert first.status_code == 201
    body = first.json()
    assert body["status"] == "redeemed" and body["discount"] == "5.00"
    redemption = Redemption.objects.get()
    assert body["redemption_id"] == redemption.id
    assert (redemption.basket_total, redemption.discount) == (Decimal("25.00"), Decimal("5.00"))
    assert_problem(second, 409, "already_redeemed")
    code.refresh_from_db()
    assert code.status == "redeemed" and code.redeemed_at is not None
    attempts = list(
        RedemptionAttempt.objects.order_by("id").values_list("accepted", "decline_code")
    )
    assert attempts == [(True, ""), (False, "already_redeemed")]


def test_lower_case_and_hyphenated_input_redeems(till, code, store):
    typed = codes.display(code.code).lower().replace("0", "o")

    assert redeem(till, typed, store).status_code == 201


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


def test_void_once_then_409_and_the_code_redeems_again(till, code, store):
    redemption_id = redeem(till, code, store, txn="T-1").json()["redemption_id"]

    void = till.post(f"{REDEEM}/{redemption_id}/void", {"reason": "changed mind"}, format="json")
    again = till.post(f"{REDEEM}/{redemption_id}/void", {}, format="json")
    re_redeem = redeem(till, code, store, txn="T-2")

    assert void.status_code == 200 and void.json()["status"] == "voided"
    assert_problem(again, 409, "already_voided")
    assert re_redeem.status_code == 201 and re_redeem.json()["redemption_id"] != redemption_id
    assert list(Redemption.objects.order_by("id").values_list("status", flat=True)) == [
        "voided",
        "redeemed",
    ]


def test_void_after_the_window_is_refused(till, code, store, settings):
    redemption_id = redeem(till, code, store).json()["redemption_id"]
    Redemption.objects.filter(id=redemption_id).update(
        redeemed_at=timezone.now() - timedelta(days=2)
    )

    assert_problem(
        till.post(f"{REDEEM}/{redemption_id}/void", {}, format="json"), 422, "void_window_passed"
    )
    assert Redemption.objects.get().status == "redeemed"


def test_void_of_another_brands_redemption_is_404(till, other_brand):
    foreign_store = StoreFactory(brand=other_brand)
    _, key, _ = pos_integration(other_brand)
    other = APIClient()
    other.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    foreign_code = CodeFactory(offer=OfferFactory(campaign__brand=other_brand))
    foreign_id = redeem(other, foreign_code, foreign_store).json()["redemption_id"]

    assert_problem(
        till.post(f"{REDEEM}/{foreign_id}/void", {}, format="json"), 404, "redemption_not_found"
    )
    assert Redemption.objects.get().status == "redeemed"


@pytest.mark.parametrize(
    "setup, decline, status",
    [
        (
            lambda c, s: Code.objects.filter(id=c.id).update(
                expires_at=timezone.now() - timedelta(seconds=1)
            ),
            "expired",
            422,
        ),
        (
            lambda c, s: Offer.objects.filter(id=c.offer_id).update(
                valid_from=timezone.now() + timedelta(days=1), valid_until=None
            ),
            "not_started",
            422,
        ),
        (
            lambda c, s: Offer.objects.filter(id=c.offer_id).update(status="paused"),
            "offer_inactive",
            422,
        ),
        (
            lambda c, s: Offer.objects.get(id=c.offer_id).stores.set([StoreFactory(brand=s.brand)]),
            "store_not_eligible",
            422,
        ),
        (
            lambda c, s: Offer.objects.filter(id=c.offer_id).update(min_basket=100),
            "min_basket_not_met",
            422,
        ),
        (
            lambda c, s: Code.objects.filter(id=c.id).update(
                kind="shared", max_uses=2, use_count=2
            ),
            "cap_reached",
            422,
        ),
    ],
)
def test_declines_carry_stable_codes_and_write_no_redemption(
    till, code, store, setup, decline, status
):
    setup(code, store)

    assert_problem(redeem(till, code, store), status, decline)
    assert not Redemption.objects.exists()
    assert RedemptionAttempt.objects.get().decline_code == decline


def test_unknown_code_and_bad_check_symbol_get_the_same_answer(till, store, code):
    unknown = codes.generate()
    typo = code.code[:-1] + next(s for s in codes.ALPHABET if s != code.code[-1])

    a, b, c = redeem(till, unknown, store), redeem(till, typo, store), redeem(till, "!!", store)

    for response in (a, b, c):
        assert_problem(response, 404, "unknown_code")
    assert a.json()["detail"] == b.json()["detail"] == c.json()["detail"]
    assert set(a.json()) == set(b.json())


def test_unknown_store_is_refused(till, code):
    assert_problem(
        redeem(till, code, type("S", (), {"external_id": "NOPE"})()), 422, "unknown_store"
    )


def test_integration_limited_to_some_stores_cannot_redeem_elsewhere(brand, code, store):
    other_store = StoreFactory(brand=brand)
    integration, key, _ = pos_integration(brand)
    integration.stores.set([other_store])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    assert_problem(redeem(client, code, store), 422, "unknown_store")


def test_shared_codes_count_uses_up_to_their_bound(till, offer, store):
    shared = CodeFactory(offer=offer, kind="shared", max_uses=3, customer_ref="")

    statuses = [redeem(till, shared, store, txn=f"T-{i}").status_code for i in range(4)]

    assert statuses == [201, 201, 201, 422]
    shared.refresh_from_db()
    assert shared.use_count == 3 and shared.status == "issued"


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


def test_the_same_sale_after_a_void_leaves_the_code_as_the_void_left_it(till, code, store):
    first = redeem(till, code, store, txn="SALE-8").json()
    voided = till.post(f"{REDEEM}/{first['redemption_id']}/void", {}, format="json")

    again = redeem(till, code, store, txn="SALE-8")

    assert voided.status_code == 200
    assert again.status_code == 201 and again.json()["redemption_id"] == first["redemption_id"]
    assert again.json()["status"] == "voided"
    code.refresh_from_db()
    assert (code.status, code.use_count, code.redeemed_at) == ("issued", 0, None)
    assert Redemption.objects.count() == 1
    assert redeem(till, code, store, txn="SALE-9").status_code == 201


def test_consecutive_unknown_codes_lock_the_store_out_until_cool_down(till, code, store, settings):
    settings.POS_FAILURE_THRESHOLD_STORE = 3
    answers = [redeem(till, codes.generate(), store).status_code for _ in range(5)]

    blocked = redeem(till, code, store)

    assert answers == [404, 404, 404, 429, 429]
    assert_problem(blocked, 429, "too_many_failures")
    assert int(blocked["Retry-After"]) > 0
    assert not Redemption.objects.exists()
    settings.POS_FAILURE_COOLDOWN = timedelta(seconds=0)
    assert redeem(till, code, store).status_code == 201


def test_a_success_resets_the_consecutive_failure_count(till, offer, store, settings):
    settings.POS_FAILURE_THRESHOLD_STORE = 3
    for i in range(3):
        redeem(till, codes.generate(), store)
        assert redeem(till, CodeFactory(offer=offer), store, txn=f"ok-{i}").status_code == 201

    assert redeem(till, codes.generate(), store).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": "X", "store_id": "1", "transaction_id": "T"},
        {"code": "X", "store_id": "1", "transaction_id": "T", "basket_total": "-1"},
        {"code": "X", "store_id": "1", "transaction_id": "T", "basket_total": "abc"},
        {"code": "X", "store_id": "1", "transaction_id": "", "basket_total": "1"},
        {"code": ["X"], "store_id": "1", "transaction_id": "T", "basket_total": "1"},
        {
            "code": "X",
            "store_id": "1",
            "transaction_id": "T",
            "basket_total": "1",
            "occurred_at": "yesterday",
        },
    ],
)
def test_bad_bodies_are_400_and_write_nothing(till, body):
    assert_problem(till.post(REDEEM, body, format="json"), 400, "validation_error")
    assert not Redemption.objects.exists() and not RedemptionAttempt.objects.exists()


def test_malformed_json_is_400(till):
    response = till.post(REDEEM, "{oops", content_type="application/json")
    assert_problem(response, 400, "malformed_json")


def test_a_body_that_does_not_parse_is_answered_after_the_caller_is_known(client_api, till):
    """The body is parsed before authentication (its store and code are looked up with it), but
    an unknown caller still hears 401, not what was wrong with the body."""
    client_api.credentials(HTTP_AUTHORIZATION="Bearer pos_wrong")
    assert_problem(
        client_api.post(REDEEM, "{oops", content_type="application/json"), 401, "unauthenticated"
    )
    assert_problem(client_api.post(REDEEM, {"code": 7}, format="json"), 401, "unauthenticated")
    assert_problem(till.post(REDEEM, {"code": 7}, format="json"), 400, "validation_error")


def test_missing_wrong_or_revoked_key_is_401(client_api, pos, code, store):
    integration, api_key, _ = pos
    assert_problem(redeem(client_api, code, store), 401, "unauthenticated")
    client_api.credentials(HTTP_AUTHORIZATION="Bearer pos_wrong")
    assert_problem(redeem(client_api, code, store), 401, "unauthenticated")
    integration.credentials.update(revoked_at=timezone.now())
    client_api.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key}")
    assert_problem(redeem(client_api, code, store), 401, "unauthenticated")
    assert not Redemption.objects.exists()


def signed_post(client, secret, path, body: bytes, *, skew=0, tamper=False):
    header = signature_header(secret, "POST", path, body, int(time.time()) + skew)
    if tamper:
        body = body.replace(b"10.00", b"10.01")
    return client.post(path, body, content_type="application/json", HTTP_X_SIGNATURE=header)


def test_hmac_signatures_are_checked(brand, store, code):
    integration, key, secret = pos_integration(brand, require_signature=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    body = b'{"code": "%s", "store_id": "%s", "transaction_id": "T-1", "basket_total": "10.00"}' % (
        code.code.encode(),
        store.external_id.encode(),
    )

    assert_problem(
        client.post(REDEEM, body, content_type="application/json"), 401, "signature_required"
    )
    assert_problem(signed_post(client, secret, REDEEM, body, tamper=True), 401, "invalid_signature")
    assert_problem(signed_post(client, secret, REDEEM, body, skew=-301), 401, "invalid_signature")
    assert_problem(signed_post(client, "whsec_other", REDEEM, body), 401, "invalid_signature")
    assert not Redemption.objects.exists()
    assert signed_post(client, secret, REDEEM, body).status_code == 201
    replay = signed_post(client, secret, REDEEM, body)
    assert replay.status_code == 201 and Redemption.objects.count() == 1


def test_both_secrets_verify_during_rotation_and_a_revoked_one_does_not(brand, store, offer):
    integration, old_key, old_secret = pos_integration(brand, require_signature=True)
    new = services.pos_credential_issue(integration)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {new.api_key}")

    def body(txn):
        c = CodeFactory(offer=offer)
        return b'{"code": "%s", "store_id": "%s", "transaction_id": "%s", "basket_total": "1"}' % (
            c.code.encode(),
            store.external_id.encode(),
            txn.encode(),
        )

    assert signed_post(client, old_secret, REDEEM, body("a")).status_code == 201
    assert signed_post(client, new.signing_secret, REDEEM, body("b")).status_code == 201
    services.pos_credentials_revoke_old(integration, new.credential)
    assert_problem(signed_post(client, old_secret, REDEEM, body("c")), 401, "invalid_signature")
    old_client = APIClient()
    old_client.credentials(HTTP_AUTHORIZATION=f"Bearer {old_key}")
    assert_problem(
        signed_post(old_client, new.signing_secret, REDEEM, body("d")), 401, "unauthenticated"
    )


def test_expired_idempotency_keys_are_purged(till, code, store):
    redeem(till, code, store, key="old")
    IdempotencyKey.objects.update(created_at=timezone.now() - timedelta(hours=25))
    redeem(till, CodeFactory(offer=code.offer), store, key="fresh", txn="T-2")

    assert services.idempotency_keys_purge() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]


def test_every_attempt_is_logged_without_the_full_code(till, code, store):
    redeem(till, code, store)
    redeem(till, code, store, txn="again")

    for attempt in RedemptionAttempt.objects.all():
        assert attempt.code_last4 == code.code[-4:]
        assert attempt.code_id == code.id and attempt.store_id == store.id


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


@pytest.mark.parametrize(
    "field, value",
    [
        ("store_id", "S-\x001"),
        ("transaction_id", "T\x00"),
        ("occurred_at", "0000-01-01T00:00:00Z"),
        ("occurred_at", "2026-02-31T10:00:00Z"),
    ],
)
def test_nul_characters_and_impossible_times_are_400_not_500(till, code, store, field, value):
    body = {"code": code.code, "store_id": store.external_id, "transaction_id": "T-1"}

    paths = (REDEEM, VALIDATE) if field == "store_id" else (REDEEM,)  # validate takes no more
    for path in paths:
        response = till.post(path, {**body, "basket_total": "10.00", field: value}, format="json")
        assert_problem(response, 400, "validation_error")
    assert not Redemption.objects.exists()
