import pytest
from rest_framework.test import APIClient

from promotions import codes
from redemptions.models import Redemption
from tests.factories import CodeFactory, pos_integration
from tests.pos_adapters.payloads import payload

pytestmark = pytest.mark.django_db


@pytest.fixture
def toast(brand, store):
    integration, key, _ = pos_integration(brand, adapter="toast")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")

    def call(kind, name, guid, restaurant=store.external_id, **values):
        return client.post(
            "/api/v1/pos/toast",
            payload("toast", name, **values),
            content_type="application/json",
            HTTP_TOAST_TRANSACTION_TYPE=kind,
            HTTP_TOAST_TRANSACTION_GUID=guid,
            HTTP_TOAST_RESTAURANT_EXTERNAL_ID=restaurant,
        )

    return call


def test_inquire_lists_the_offer_as_applicable_and_changes_nothing(toast, offer):
    code = CodeFactory(offer=offer)

    response = toast("LOYALTY_INQUIRE", "inquire", "g-inq-1", code=code.code)

    assert response.status_code == 200
    body = response.json()
    assert body["transactionStatus"] == "ACCEPT"
    offers = body["checkResponse"]["offers"]
    assert offers == [
        {
            "identifier": str(offer.id),
            "name": offer.title,
            "applicable": True,
            "selectionType": "CHECK",
        }
    ]
    assert body["checkResponse"]["redemptions"][0]["amount"] == 3.68  # 20% of the 18.40 check
    assert not Redemption.objects.exists()


def test_redeem_then_retry_with_the_same_guid_replays_and_reverse_voids(toast, offer):
    code = CodeFactory(offer=offer)

    first = toast("LOYALTY_REDEEM", "redeem", "g-red-1", code=code.code, offer_id=offer.id)
    retry = toast("LOYALTY_REDEEM", "redeem", "g-red-1", code=code.code, offer_id=offer.id)
    other_till = toast("LOYALTY_REDEEM", "redeem", "g-red-2", code=code.code, offer_id=offer.id)
    reverse = toast(
        "LOYALTY_REVERSE",
        "reverse",
        "g-rev-1",
        code=code.code,
        offer_id=offer.id,
        redeem_guid="g-red-1",
    )
    reverse_again = toast(
        "LOYALTY_REVERSE",
        "reverse",
        "g-rev-2",
        code=code.code,
        offer_id=offer.id,
        redeem_guid="g-red-1",
    )

    assert first.status_code == 200 and first.json()["checkResponse"]["redemptions"] == [
        {"identifier": str(offer.id), "amount": 3.68}
    ]
    assert retry.content == first.content and retry["Idempotent-Replayed"] == "true"
    rejected = other_till.json()["checkResponse"]["rejectedRedemptions"]
    assert rejected[0]["message"].startswith("already_redeemed")
    assert reverse.status_code == 200 and reverse.json() == {"transactionStatus": "ACCEPT"}
    assert reverse_again.status_code == 400
    assert reverse_again.json()["transactionStatus"] == "ERROR_TRANSACTION_CANNOT_BE_REVERSED"
    redemption = Redemption.objects.get()
    assert redemption.transaction_id == "g-red-1" and redemption.status == "voided"


def test_unknown_identifier_is_an_invalid_account(toast):
    response = toast("LOYALTY_INQUIRE", "inquire", "g-x", code=codes.generate())

    assert response.status_code == 404
    assert response.json()["transactionStatus"] == "ERROR_ACCOUNT_INVALID"


def test_unknown_restaurant_and_transaction_type_and_bad_token(toast, offer, client_api):
    code = CodeFactory(offer=offer)

    restaurant = toast("LOYALTY_INQUIRE", "inquire", "g-1", restaurant="nowhere", code=code.code)
    kind = toast("LOYALTY_SEARCH", "inquire", "g-2", code=code.code)
    token = client_api.post(
        "/api/v1/pos/toast",
        payload("toast", "inquire", code=code.code),
        content_type="application/json",
        HTTP_TOAST_TRANSACTION_TYPE="LOYALTY_INQUIRE",
        HTTP_TOAST_TRANSACTION_GUID="g-3",
        HTTP_AUTHORIZATION="Bearer nope",
    )

    assert restaurant.json()["transactionStatus"] == "ERROR_INVALID_RESTAURANT"
    assert (
        kind.status_code == 400
        and kind.json()["transactionStatus"] == "ERROR_INVALID_TOAST_TRANSACTION_TYPE"
    )
    assert token.status_code == 400 and token.json()["transactionStatus"] == "ERROR_INVALID_TOKEN"


def test_reverse_of_an_unknown_transaction(toast, offer):
    response = toast(
        "LOYALTY_REVERSE", "reverse", "g-r", code="X", offer_id=offer.id, redeem_guid="never"
    )

    assert response.json()["transactionStatus"] == "ERROR_TRANSACTION_DOES_NOT_EXIST"


def test_malformed_toast_body(toast, store, brand):
    _, key, _ = pos_integration(brand, adapter="toast")
    response = APIClient().post(
        "/api/v1/pos/toast",
        b"{nope",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        HTTP_TOAST_TRANSACTION_TYPE="LOYALTY_REDEEM",
        HTTP_TOAST_TRANSACTION_GUID="g",
        HTTP_TOAST_RESTAURANT_EXTERNAL_ID=store.external_id,
    )

    assert response.status_code == 400
    assert response.json()["transactionStatus"] == "ERROR_INVALID_INPUT_PROPERTIES"


def test_a_redeem_with_the_guid_of_an_inquire_redeems(toast, offer):
    """A GUID names one transaction of one type: the INQUIRE's stored answer is not replayed
    to a REDEEM that reuses its GUID (which would leave the code unspent)."""
    code = CodeFactory(offer=offer)

    inquire = toast("LOYALTY_INQUIRE", "inquire", "g-same", code=code.code)
    redeem = toast("LOYALTY_REDEEM", "redeem", "g-same", code=code.code, offer_id=offer.id)

    assert inquire.status_code == redeem.status_code == 200
    assert "Idempotent-Replayed" not in redeem
    assert Redemption.objects.filter(code=code).count() == 1
    code.refresh_from_db()
    assert code.status == "redeemed"
