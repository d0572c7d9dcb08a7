"""What more than one test module uses: plain functions and constants, no fixtures (those live in
a conftest.py). A test module imports its helpers from here, never from another test module.
"""

from promotions.models import Touchpoint

REDEEM = "/api/v1/pos/generic/redemptions"
VALIDATE = "/api/v1/pos/generic/validate"


def assert_problem(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert {"type", "title", "detail"} <= set(body)


def assert_one_touch(kind, placement, customer_ref, click_id):
    touch = Touchpoint.objects.get()
    assert (touch.kind, touch.placement_id, touch.customer_ref, touch.click_id) == (
        kind,
        placement.id,
        customer_ref,
        click_id,
    )


def redeem(client, code, store, txn="T-1", basket="10.00", key=None, **extra):
    """A till's redeem through the generic adapter; ``code`` is a Code or the string typed."""
    body = {
        "code": code if isinstance(code, str) else code.code,
        "store_id": store.external_id,
        "transaction_id": txn,
        "basket_total": basket,
        **extra,
    }
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(REDEEM, body, format="json", **headers)
