"""Validate and redeem: a code redeems once, declines carry stable codes, shared codes
count their uses, unknown codes and stores are refused, repeated failures lock a store out."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from promotions import codes
from promotions.models import Code, Offer
from redemptions.models import Redemption, RedemptionAttempt
from tests.factories import CodeFactory, StoreFactory, pos_integration
from tests.helpers import VALIDATE, assert_problem, redeem

pytestmark = pytest.mark.django_db


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


def test_every_attempt_is_logged_without_the_full_code(till, code, store):
    redeem(till, code, store)
    redeem(till, code, store, txn="again")

    for attempt in RedemptionAttempt.objects.all():
        assert attempt.code_last4 == code.code[-4:]
        assert attempt.code_id == code.id and attempt.store_id == store.id
