import json

import pytest

from redemptions.models import Redemption
from tests.factories import CodeFactory
from tests.pos_adapters.payloads import payload

pytestmark = pytest.mark.django_db
URL = "/api/v1/pos/generic/batch"


def test_offline_batch_replays_in_order_with_per_item_results_and_is_idempotent(till, offer, store):
    c = [CodeFactory(offer=offer).code for _ in range(3)]
    body = payload(
        "generic", "batch", code_0=c[0], code_1=c[1], code_2=c[2], store_id=store.external_id
    )

    first = till.post(URL, body, content_type="application/json")
    again = till.post(URL, body, content_type="application/json")

    assert first.status_code == 200
    results = first.json()["results"]
    assert [r["outcome"] for r in results] == [
        "redeemed",
        "redeemed",
        "declined",
        "error",
        "declined",
    ]
    assert results[2]["code"] == "already_redeemed"
    assert results[3]["code"] == "validation_error"
    assert results[4]["code"] == "unknown_code"
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert Redemption.objects.count() == 2
    occurred = Redemption.objects.get(transaction_id="OFF-001").occurred_at
    assert occurred.isoformat() == "2026-11-22T09:15:00+00:00"
    replayed = again.json()["results"]
    assert [r["redemption_id"] for r in replayed[:2]] == [r["redemption_id"] for r in results[:2]]
    assert all(r["replayed"] for r in replayed[:2])
    assert Redemption.objects.count() == 2


def test_batch_shape_errors(till):
    assert till.post(URL, {"redemptions": []}, format="json").status_code == 400
    assert till.post(URL, {"items": [1]}, format="json").status_code == 400
    too_many = {"redemptions": [{"code": "x"}] * 1001}
    response = till.post(URL, json.dumps(too_many), content_type="application/json")
    assert response.status_code == 413 and response.json()["code"] == "batch_too_large"


def test_the_generic_redeem_fixture_redeems(till, offer, store):
    code = CodeFactory(offer=offer)
    body = payload("generic", "redeem", code=code.code, store_id=store.external_id)

    response = till.post("/api/v1/pos/generic/redemptions", body, content_type="application/json")

    assert response.status_code == 201 and response.json()["discount"] == "3.68"
