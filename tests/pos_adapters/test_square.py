import pytest
from django.conf import settings
from rest_framework.test import APIClient

from pos_adapters.vendors.square import square_signature
from promotions import codes
from redemptions.models import Redemption, RedemptionAttempt
from tests.factories import CodeFactory, pos_integration
from tests.pos_adapters.payloads import payload

pytestmark = pytest.mark.django_db
URL = "/api/v1/pos/square/webhook"


@pytest.fixture
def square(brand, store):
    _, _, secret = pos_integration(brand, adapter="square", external_account_id="MLX7YQ2B9Z")

    def send(name, *, secret_=None, tamper=False, **values):
        body = payload(
            "square", name, merchant_id="MLX7YQ2B9Z", store_id=store.external_id, **values
        )
        signature = square_signature(secret_ or secret, settings.PUBLIC_BASE_URL + URL, body)
        if tamper:
            body = body.replace(b"COMPLETED", b"COMPLETEd")
        return APIClient().post(
            URL, body, content_type="application/json", HTTP_X_SQUARE_HMACSHA256_SIGNATURE=signature
        )

    return send


def test_completed_order_with_a_code_discount_redeems_it_once(square, offer):
    code = CodeFactory(offer=offer)
    display = codes.display(code.code)

    first = square("order_updated_completed", display_code=display)
    redelivered = square("order_updated_completed", display_code=display)

    assert first.status_code == 200
    result = first.json()["results"][0]
    assert result["outcome"] == "accepted" and result["code_last4"] == code.code[-4:]
    assert redelivered.content == first.content and redelivered["Idempotent-Replayed"] == "true"
    redemption = Redemption.objects.get()
    assert redemption.transaction_id == "Q8rZpQ9vV2yQmDkP3wXa5TbCdeZY"
    assert str(redemption.basket_total) == "11.00"  # 8.80 paid + 2.20 discount


def test_canceled_order_voids_its_redemption(square, offer):
    code = CodeFactory(offer=offer)
    square("order_updated_completed", display_code=codes.display(code.code))

    response = square("order_updated_canceled", display_code=codes.display(code.code))

    assert response.json()["results"][0]["outcome"] == "accepted"
    assert Redemption.objects.get().status == "voided"
    code.refresh_from_db()
    assert code.status == "issued"


def test_summary_only_event_is_acknowledged_without_effect(square):
    response = square("order_created_summary_only")

    assert response.status_code == 200 and response.json() == {"received": True, "results": []}
    assert not Redemption.objects.exists()


def test_bad_signature_is_refused(square, offer):
    code = CodeFactory(offer=offer)

    tampered = square("order_updated_completed", tamper=True, display_code=code.code)
    wrong_key = square("order_updated_completed", secret_="not-the-key", display_code=code.code)

    assert tampered.status_code == 401 and wrong_key.status_code == 401
    assert not Redemption.objects.exists() and not RedemptionAttempt.objects.exists()


@pytest.mark.parametrize("merchant", ["UNKNOWN", r"MLX7\u0000YQ2B9Z"])
def test_unknown_merchant_is_refused(offer, merchant):
    body = payload(
        "square", "order_updated_completed", merchant_id=merchant, store_id="x", display_code="x"
    )
    response = APIClient().post(
        URL, body, content_type="application/json", HTTP_X_SQUARE_HMACSHA256_SIGNATURE="x"
    )

    assert response.status_code == 401
