"""What the boundary walk (test_boundaries.py) found at the doors, one test each, over HTTP:
each was a 500, a wrong answer or a value past the project's bounds before its fix; now a 4xx
problem with a stable code and nothing written, or the right answer."""

import json

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from pos_adapters.vendors.square import square_signature
from promotions.models import Campaign, Offer, Placement
from redemptions.models import Redemption, RedemptionAttempt
from tests.factories import CodeFactory, pos_integration
from tests.helpers import REDEEM, assert_problem

pytestmark = pytest.mark.django_db


def nothing_written():
    return not Redemption.objects.exists() and not RedemptionAttempt.objects.exists()


# --- The POS door ---------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["code", "store_id", "transaction_id"])
def test_a_lone_surrogate_in_a_till_field_is_a_400(till, offer, store, field):
    """JSON may escape half of a UTF-16 pair ("\\ud800"); PostgreSQL cannot store it."""
    sale = {
        "code": CodeFactory(offer=offer).code,
        "store_id": store.external_id,
        "transaction_id": "T-1",
        "basket_total": "10.00",
    }
    raw = json.dumps(sale).replace(json.dumps(sale[field]), '"A\\ud800"')

    response = till.generic("POST", REDEEM, raw, content_type="application/json")

    assert_problem(response, 400, "validation_error")
    assert response.json()["field"] == field and nothing_written()


def test_a_negative_zero_basket_is_a_zero_basket(till, offer, store):
    """ "-0" passed as 0 but was answered "-0.00", which no amount in the schema can be."""
    sale = {"code": CodeFactory(offer=offer).code, "store_id": store.external_id}
    response = till.post(
        REDEEM, {**sale, "transaction_id": "T-0", "basket_total": "-0"}, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["basket_total"] == response.json()["discount"] == "0.00"


@pytest.fixture
def square(brand, store):
    _, _, secret = pos_integration(brand, adapter="square", external_account_id="M-1")
    url = "/api/v1/pos/square/webhook"

    def send(order: dict, merchant: str = "M-1"):
        event = {"merchant_id": merchant, "type": "order.updated", "event_id": "e-1"}
        body = json.dumps({**event, "data": {"object": {"order": order}}}).encode()
        signature = square_signature(secret, settings.PUBLIC_BASE_URL + url, body)
        return APIClient().post(
            url, body, content_type="application/json", HTTP_X_SQUARE_HMACSHA256_SIGNATURE=signature
        )

    return send


def test_square_discounts_that_are_not_a_list_carry_no_code(square, store):
    response = square({"id": "O-1", "location_id": store.external_id, "discounts": 5})

    assert response.status_code == 200, response.content
    assert response.json()["results"] == [] and nothing_written()


def test_a_square_basket_whose_parts_fit_but_whose_sum_does_not_is_a_400(square, offer, store):
    code = CodeFactory(offer=offer).code
    response = square(
        {
            "id": "O-1",
            "location_id": store.external_id,
            "discounts": [{"metadata": {"promo_code": code}}],
            "total_money": {"amount": 999_999_999_999},  # 9,999,999,999.99
            "total_discount_money": {"amount": 100},
        }
    )

    assert_problem(response, 400, "validation_error")
    assert nothing_written()


def test_a_square_merchant_id_postgresql_cannot_hold_is_no_caller(square):
    response = square({"id": "O-1"}, merchant="M-\ud800")

    assert_problem(response, 401, "unauthenticated")


def test_a_toast_guid_longer_than_a_sale_id_is_refused(brand, offer, store):
    _, key, _ = pos_integration(brand, adapter="toast")
    check = {"loyaltyIdentifier": CodeFactory(offer=offer).code, "check": {"amount": 10}}
    response = APIClient().post(
        "/api/v1/pos/toast",
        {"checkTransactionInformation": check},
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        HTTP_TOAST_TRANSACTION_TYPE="LOYALTY_REDEEM",
        HTTP_TOAST_TRANSACTION_GUID="G" * 101,  # was cut to 100 characters and stored
        HTTP_TOAST_RESTAURANT_EXTERNAL_ID=store.external_id,
    )

    assert response.status_code == 400
    assert response.json()["transactionStatus"] == "ERROR_INVALID_INPUT_PROPERTIES"
    assert nothing_written()


# --- The management API's serializers ---------------------------------------------------------


def test_a_related_id_of_1e400_is_a_400(marketer_client):
    """JSON reads 1e400 as infinity; the id lookup raised OverflowError."""
    raw = '{"campaign": 1e400, "media_partner": "IG", "name": "P", "spend": "1.00",'
    raw += ' "destination_url": "https://shop.example/"}'

    response = marketer_client.generic(
        "POST", "/api/v1/manage/placements/", raw, content_type="application/json"
    )

    assert_problem(response, 400, "validation_error")
    assert not Placement.objects.exists()


@pytest.mark.parametrize(
    ("path", "field", "moment"),
    [
        ("campaigns", "starts_at", "0001-01-01T00:00:00Z"),
        ("campaigns", "ends_at", "9999-12-31T23:59:59Z"),
        ("offers", "valid_from", "1999-12-31T23:59:59Z"),
        ("offers", "valid_until", "2100-01-01T00:00:00Z"),
    ],
)
def test_schedules_outside_2000_to_2100_are_refused(marketer_client, offer, path, field, moment):
    """Year 1 and year 9999 were stored: no report broke on them yet, but every date sum on
    a schedule (windows, roll-up days) was one step from leaving datetime's range."""
    target = offer.campaign if path == "campaigns" else offer
    before = getattr(target, field)

    response = marketer_client.patch(
        f"/api/v1/manage/{path}/{target.id}/", {field: moment}, format="json"
    )

    assert_problem(response, 400, "validation_error")
    model = Campaign if path == "campaigns" else Offer
    assert getattr(model.objects.get(id=target.id), field) == before
