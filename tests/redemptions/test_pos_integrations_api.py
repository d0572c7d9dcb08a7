import pytest
from rest_framework.test import APIClient

from redemptions.models import PosCredential
from tests.factories import CodeFactory, StoreFactory
from tests.helpers import assert_problem

pytestmark = pytest.mark.django_db
URL = "/api/v1/manage/pos-integrations"


def test_create_shows_key_and_secret_once_and_the_key_works(marketer_client, brand, store, offer):
    created = marketer_client.post(
        URL, {"name": "Main till", "adapter": "generic", "stores": [store.id]}, format="json"
    )

    assert created.status_code == 201
    body = created.json()
    assert body["api_key"].startswith("pos_") and body["signing_secret"].startswith("whsec_")
    shown = marketer_client.get(f"{URL}/{body['id']}").json()
    assert "api_key" not in shown and "signing_secret" not in shown
    assert shown["key_prefixes"] == [body["api_key"][:10]]
    assert PosCredential.objects.get().key_hash != body["api_key"]
    till = APIClient()
    till.credentials(HTTP_AUTHORIZATION=f"Bearer {body['api_key']}")
    code = CodeFactory(offer=offer)
    redeemed = till.post(
        "/api/v1/pos/generic/redemptions",
        {
            "code": code.code,
            "store_id": store.external_id,
            "transaction_id": "1",
            "basket_total": "1",
        },
        format="json",
    )
    assert redeemed.status_code == 201


def test_rotate_then_revoke_old(marketer_client, brand):
    integration = marketer_client.post(URL, {"name": "T", "adapter": "toast"}, format="json").json()

    rotated = marketer_client.post(f"{URL}/{integration['id']}/rotate")
    revoked = marketer_client.post(f"{URL}/{integration['id']}/revoke-old")

    assert rotated.status_code == 201 and rotated.json()["api_key"] != integration["api_key"]
    assert revoked.json()["revoked"] == 1
    assert PosCredential.objects.filter(revoked_at__isnull=True).count() == 1


def test_bad_adapter_and_foreign_store_are_refused(marketer_client, other_brand):
    foreign = StoreFactory(brand=other_brand)

    assert_problem(
        marketer_client.post(URL, {"name": "x", "adapter": "clover"}, format="json"),
        400,
        "validation_error",
    )
    assert_problem(
        marketer_client.post(
            URL, {"name": "x", "adapter": "generic", "stores": [foreign.id]}, format="json"
        ),
        400,
        "validation_error",
    )
    assert not PosCredential.objects.exists()
