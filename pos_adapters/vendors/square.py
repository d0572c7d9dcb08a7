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
from rest_framework import serializers

from core import bounds
from core.problems import Problem
from pos_adapters.base import (
    AdapterResponse,
    OutcomeFields,
    PosAdapter,
    Presented,
    Route,
    json_body,
    json_object_or_none,
    money_value,
    outcome_json,
    problem_responses,
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
    discounts = order.get("discounts")
    for discount in discounts if isinstance(discounts, list) else []:
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


# --- The protocol's shapes, for the OpenAPI schema (``SquareAdapter.route_schema``) ----------


class SquareMoney(serializers.Serializer):
    amount = serializers.IntegerField(min_value=0, max_value=999_999_999_999, help_text="Cents.")
    currency = serializers.CharField(required=False)


class SquareDiscountMetadata(serializers.Serializer):
    promo_code = serializers.CharField(required=False, help_text="The code (or `code`).")
    code = serializers.CharField(required=False)


class SquareDiscount(serializers.Serializer):
    """An order discount: its code is in the metadata, or ends its name."""

    uid = serializers.CharField(required=False)
    name = serializers.CharField(required=False)
    metadata = SquareDiscountMetadata(required=False)


class SquareOrder(serializers.Serializer):
    """The order: a CANCELED one voids what it redeemed, any other redeems its codes."""

    id = serializers.CharField(max_length=100, help_text="The sale's id.")
    location_id = serializers.CharField(max_length=64, help_text="The store's external id.")
    state = serializers.ChoiceField(["OPEN", "COMPLETED", "CANCELED", "DRAFT"], required=False)
    discounts = SquareDiscount(many=True, required=False)
    total_money = SquareMoney(required=False)
    total_discount_money = SquareMoney(required=False)


class SquareEventObject(serializers.Serializer):
    order = SquareOrder(required=False)


class SquareEventData(serializers.Serializer):
    type = serializers.CharField(required=False)
    id = serializers.CharField(required=False)
    object = SquareEventObject()


class SquareWebhook(serializers.Serializer):
    """A Square notification; events other than order.created and order.updated (and those
    without their order) are acknowledged with no results."""

    merchant_id = serializers.CharField(help_text="Finds the integration.")
    type = serializers.CharField(help_text="`order.created` or `order.updated`.")
    event_id = serializers.CharField(max_length=240, help_text="Dedupes redeliveries.")
    created_at = serializers.DateTimeField(required=False)
    data = SquareEventData()


class SquareResult(OutcomeFields):
    """One code of the order: accepted (the redemption's fields) or declined (why)."""

    code_last4 = serializers.CharField(allow_blank=True)
    action = serializers.ChoiceField(["redeem", "void"])
    outcome = serializers.ChoiceField(["accepted", "declined"])
    replayed = serializers.BooleanField(required=False)
    code = serializers.CharField(required=False, help_text="A decline's code.")
    detail = serializers.CharField(required=False)


class SquareReceipt(serializers.Serializer):
    """Declines are answered 200 too: Square redelivers anything else."""

    received = serializers.BooleanField()
    results = SquareResult(many=True)


class SquareAdapter(PosAdapter):
    name = "square"
    routes = (Route("api/v1/pos/square/webhook", "webhook", "pos-square-webhook"),)
    security_schemes = {
        "SquareSignature": {
            "type": "apiKey",
            "in": "header",
            "name": "x-square-hmacsha256-signature",
            "description": "Base64 HMAC-SHA256 of the notification URL followed by the body, "
            "keyed with the subscription's signature key; `merchant_id` finds the integration.",
        }
    }

    def route_schema(self, route):
        return {
            "summary": "Square order webhook: redeem or void the codes of its discounts.",
            "request": SquareWebhook,
            "responses": {200: SquareReceipt, **problem_responses(400, 401, 409, 422)},
        }

    def presented(self, request):
        merchant = (json_object_or_none(request) or {}).get("merchant_id")
        # Storable text only: the look-up could not send a NUL or a lone surrogate to PostgreSQL.
        usable = isinstance(merchant, str) and not bounds.text_problem(merchant)
        return Presented(account_id=merchant if usable else None)

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
        basket = money_value(  # the sum of two amounts that fit may not
            _money(order.get("total_money"), "total_money")
            + _money(order.get("total_discount_money"), "total_discount_money"),
            "total_money",
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
