"""Invariant 1 under real concurrency: threads, each with its own PostgreSQL connection."""

import pytest
from django.db import IntegrityError
from rest_framework.test import APIClient

from promotions.models import Code
from redemptions.models import Redemption
from tests.concurrency import run_concurrently, run_rounds
from tests.factories import (
    BrandFactory,
    CampaignFactory,
    CodeFactory,
    OfferFactory,
    StoreFactory,
    pos_integration,
)
from tests.pos_adapters.payloads import payload

pytestmark = [pytest.mark.races, pytest.mark.django_db(transaction=True)]
TILLS = 48
ROUNDS = 20


@pytest.fixture
def shop():
    brand = BrandFactory()
    store = StoreFactory(brand=brand)
    offer = OfferFactory(campaign=CampaignFactory(brand=brand))
    integration, key, _ = pos_integration(brand)
    toast, toast_key, _ = pos_integration(brand, adapter="toast")
    return {"store": store, "offer": offer, "key": key, "toast_key": toast_key}


def _post_redeem(shop, code, transaction_id):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {shop['key']}")
    return client.post(
        "/api/v1/pos/generic/redemptions",
        {
            "code": code,
            "store_id": shop["store"].external_id,
            "transaction_id": transaction_id,
            "basket_total": "10.00",
        },
        format="json",
    )


def _generic(shop, code):
    def redeem(i):
        response = _post_redeem(shop, code, f"T-{i}")
        return response.status_code, response.json().get("code")

    return redeem


def _toast(shop, code):
    def redeem(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {shop['toast_key']}")
        response = client.post(
            "/api/v1/pos/toast",
            payload("toast", "redeem", code=code, offer_id=shop["offer"].id),
            content_type="application/json",
            HTTP_TOAST_TRANSACTION_TYPE="LOYALTY_REDEEM",
            HTTP_TOAST_TRANSACTION_GUID=f"guid-{code}-{i}",
            HTTP_TOAST_RESTAURANT_EXTERNAL_ID=shop["store"].external_id,
        )
        body = response.json()
        return response.status_code, len(body["checkResponse"]["redemptions"]), body

    return redeem


def test_48_tills_redeem_one_code_exactly_once_over_http_20_times_over(shop):
    codes = [CodeFactory(offer=shop["offer"]).code for _ in range(ROUNDS)]

    rounds = run_rounds(lambda r, i: _generic(shop, codes[r])(i), TILLS, ROUNDS)

    for code, results in zip(codes, rounds, strict=True):
        assert sorted(results) == [(201, None)] + [(409, "already_redeemed")] * (TILLS - 1), results
        assert Redemption.objects.filter(code__code=code).count() == 1
        assert Code.objects.get(code=code).status == "redeemed"


def test_48_toast_loyalty_redeems_of_one_code_redeem_it_once_20_times_over(shop):
    codes = [CodeFactory(offer=shop["offer"]).code for _ in range(ROUNDS)]

    rounds = run_rounds(lambda r, i: _toast(shop, codes[r])(i), TILLS, ROUNDS)

    for code, results in zip(codes, rounds, strict=True):
        assert all(status == 200 for status, _, _ in results), results
        assert sorted(n for _, n, _ in results) == [0] * (TILLS - 1) + [1]
        rejected = [
            b["checkResponse"]["rejectedRedemptions"][0]["message"] for _, n, b in results if n == 0
        ]
        assert all(message.startswith("already_redeemed") for message in rejected)
        assert Redemption.objects.filter(code__code=code).count() == 1


def test_200_simultaneous_redeems_of_one_code_give_exactly_one_success(shop):
    code = CodeFactory(offer=shop["offer"]).code

    results = run_concurrently(_generic(shop, code), 200, timeout=120)

    assert sorted(results) == [(201, None)] + [(409, "already_redeemed")] * 199, [
        r for r in results if r != (409, "already_redeemed")
    ]
    assert Redemption.objects.filter(code__code=code).count() == 1


def test_retries_of_one_sale_racing_each_other_replay_one_redemption(shop):
    code = CodeFactory(offer=shop["offer"]).code

    def same_sale(i):
        response = _post_redeem(shop, code, "ONE-SALE")
        return response.status_code, response.json().get("redemption_id")

    results = run_concurrently(same_sale, 16)

    assert {status for status, _ in results} == {201}
    assert len({rid for _, rid in results}) == 1
    assert Redemption.objects.count() == 1


def test_void_racing_redeem_ends_consistent(shop):
    code = CodeFactory(offer=shop["offer"])
    first = _post_redeem(shop, code.code, "R-0").json()["redemption_id"]

    def act(i):
        if i % 2 == 0:
            c = APIClient()
            c.credentials(HTTP_AUTHORIZATION=f"Bearer {shop['key']}")
            return c.post(
                f"/api/v1/pos/generic/redemptions/{first}/void", {}, format="json"
            ).status_code
        return _post_redeem(shop, code.code, f"R-{i}").status_code

    results = run_concurrently(act, 20)

    assert sorted(results[0::2]).count(200) == 1  # exactly one void wins
    live = Redemption.objects.filter(code=code, status="redeemed").count()
    code.refresh_from_db()
    assert live <= 1
    assert code.status == ("redeemed" if live else "issued")
    assert results[1::2].count(201) == live


def test_the_database_refuses_a_second_live_redemption_behind_the_services_back(shop):
    code = CodeFactory(offer=shop["offer"])
    _post_redeem(shop, code.code, "A")
    original = Redemption.objects.get()

    with pytest.raises(IntegrityError):
        Redemption.objects.create(
            **{
                **{
                    f.attname: getattr(original, f.attname)
                    for f in Redemption._meta.concrete_fields
                },
                "id": None,
                "transaction_id": "B",
            }
        )
    assert Redemption.objects.count() == 1
