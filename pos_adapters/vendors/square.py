"""Square ``order.created`` / ``order.updated`` webhooks whose order discounts carry a code.

Square signs each notification: ``x-square-hmacsha256-signature`` is the base64 HMAC-SHA256,
keyed with the subscription's signature key, of the notification URL followed by the raw body.
The merchant id routes the event to its integration; ``event_id`` dedupes redeliveries.

The code is read from a discount's ``metadata.promo_code`` (or ``metadata.code``), else from a
discount ``name`` that ends with a well-formed code. A completed or open order redeems each
code once (natural key: order id + code); a ``CANCELED`` order voids what it redeemed.
Square retries anything but a 2xx, so declines are answered ``200`` with per-code results.
"""

import base64
import hashlib
import hmac
from decimal import Decimal

from django.conf import settings

from core import bounds
from core.problems import Problem
from pos_adapters.base import (
    AdapterResponse,
    PosAdapter,
    Presented,
    Route,
    json_body,
    json_object_or_none,
    outcome_json,
    text_field,
)
from promotions import codes
from redemptions.canonical import RedeemRequest, VoidRequest

EVENT_TYPES = ("order.created", "order.updated")


def square_signature(secret: str, url: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), url.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _money(value, name: str) -> Decimal:
    """A Square Money object (integer amount in the currency's smallest unit) in dollars."""
    amount = value.get("amount", 0) if isinstance(value, dict) else 0
    if isinstance(amount, bool) or not isinstance(amount, int):
        return Decimal(0)
    try:
        return bounds.money(Decimal(amount) / 100)
    except ValueError as error:
        raise Problem(400, "validation_error", f"{name}.amount: {error}.", field=name) from None


def discount_codes(order: dict) -> list[str]:
    found = []
    for discount in order.get("discounts") or []:
        if not isinstance(discount, dict):
            continue
        metadata = discount.get("metadata") if isinstance(discount.get("metadata"), dict) else {}
        candidate = metadata.get("promo_code") or metadata.get("code")
        if not candidate and isinstance(discount.get("name"), str):
            words = discount["name"].split()
            candidate = words[-1] if words else ""
        if isinstance(candidate, str) and codes.is_valid(codes.normalise(candidate)):
            found.append(codes.normalise(candidate))
    return list(dict.fromkeys(found))


class SquareAdapter(PosAdapter):
    name = "square"
    routes = (Route("api/v1/pos/square/webhook", "webhook", "pos-square-webhook"),)

    def presented(self, request):
        merchant = (json_object_or_none(request) or {}).get("merchant_id")
        return Presented(account_id=merchant if isinstance(merchant, str) else None)

    def verify(self, request, secrets, *, required):
        given = request.headers.get("X-Square-HmacSha256-Signature", "")
        url = settings.PUBLIC_BASE_URL + request.get_full_path()
        for secret in secrets:
            if given and hmac.compare_digest(square_signature(secret, url, request.body), given):
                return
        raise Problem(401, "invalid_signature", "The Square signature does not match.")

    def idempotency_key(self, request):
        event_id = (json_object_or_none(request) or {}).get("event_id")
        return f"square:{event_id}" if isinstance(event_id, str) and event_id else None

    def parse(self, request, operation, **kwargs):
        body = json_body(request)
        if body.get("type") not in EVENT_TYPES:
            return []
        data = body.get("data") if isinstance(body.get("data"), dict) else {}
        obj = data.get("object") if isinstance(data.get("object"), dict) else {}
        order = obj.get("order")
        if not isinstance(order, dict) or not isinstance(order.get("id"), str):
            return []
        order_id = text_field(order, "id", max_length=100)
        location = text_field(order, "location_id", max_length=64, required=False)
        found = discount_codes(order)
        if order.get("state") == "CANCELED":
            return [
                VoidRequest(transaction_id=order_id, code=c, reason="order canceled") for c in found
            ]
        basket = _money(order.get("total_money"), "total_money") + _money(
            order.get("total_discount_money"), "total_discount_money"
        )
        return [
            RedeemRequest(
                code=code,
                store_id=location,
                transaction_id=order_id,
                basket_total=basket,
                occurred_at=None,
            )
            for code in found
        ]

    def render(self, operation, items, outcomes) -> AdapterResponse:
        results = []
        for item, outcome in zip(items, outcomes, strict=True):
            result = {
                "code_last4": item.code[-4:] if item.code else "",
                "action": "void" if isinstance(item, VoidRequest) else "redeem",
            }
            if outcome.accepted:
                result.update(
                    outcome="accepted", replayed=outcome.replayed, **outcome_json(outcome)
                )
            else:
                result.update(outcome="declined", code=outcome.decline_code, detail=outcome.detail)
            results.append(result)
        return AdapterResponse(200, {"received": True, "results": results})
