"""Voiding a redemption: once, within its window, only the integration's own brand, and the
code redeemable again."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from redemptions.models import Redemption
from tests.factories import CodeFactory, OfferFactory, StoreFactory, pos_integration
from tests.helpers import REDEEM, assert_problem, redeem

pytestmark = pytest.mark.django_db


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
