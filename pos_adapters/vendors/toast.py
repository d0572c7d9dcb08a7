"""Toast's loyalty integration protocol: one endpoint, the transaction type in a header.

The shopper's code is the ``loyaltyIdentifier``; the offer it unlocks is the Toast offer
(``identifier`` = our offer id). LOYALTY_INQUIRE validates, LOYALTY_REDEEM redeems (the
Toast-Transaction-GUID is both the idempotency key and the transaction id), LOYALTY_REVERSE
voids the redemption made by an earlier transaction.
"""

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from core import bounds
from core.problems import Problem
from pos_adapters.base import (
    REPLAYED,
    AdapterResponse,
    PosAdapter,
    Route,
    json_body,
    money_field,
    text_field,
)
from redemptions.canonical import Outcome, RedeemRequest, ValidateRequest, VoidRequest

INQUIRE, REDEEM, REVERSE = "LOYALTY_INQUIRE", "LOYALTY_REDEEM", "LOYALTY_REVERSE"

# Our request-level problems in Toast's transactionStatus vocabulary.
ERROR_STATUS = {
    "unauthenticated": "ERROR_INVALID_TOKEN",
    "malformed_json": "ERROR_INVALID_INPUT_PROPERTIES",
    "validation_error": "ERROR_INVALID_INPUT_PROPERTIES",
    "invalid_transaction_type": "ERROR_INVALID_TOAST_TRANSACTION_TYPE",
    "idempotency_key_reused": "ERROR_INVALID_INPUT_PROPERTIES",
}
DECLINE_STATUS = {
    "unknown_code": (404, "ERROR_ACCOUNT_INVALID"),
    "unknown_store": (400, "ERROR_INVALID_RESTAURANT"),
    "too_many_failures": (400, "ERROR"),
    "redemption_not_found": (400, "ERROR_TRANSACTION_DOES_NOT_EXIST"),
    "already_voided": (400, "ERROR_TRANSACTION_CANNOT_BE_REVERSED"),
    "void_window_passed": (400, "ERROR_TRANSACTION_CANNOT_BE_REVERSED"),
}


# --- The protocol's shapes, for the OpenAPI schema (``ToastAdapter.route_schema``) -----------

MAX_AMOUNT = float(bounds.MONEY_MAX)


class ToastCheck(serializers.Serializer):
    """The check; only its amounts are read (``amount``, else ``totalAmount``)."""

    amount = serializers.FloatField(min_value=0, max_value=MAX_AMOUNT, required=False)
    totalAmount = serializers.FloatField(min_value=0, max_value=MAX_AMOUNT, required=False)


class ToastCheckTransaction(serializers.Serializer):
    """LOYALTY_INQUIRE and LOYALTY_REDEEM: the shopper's code and the check (its amount is
    required to redeem)."""

    loyaltyIdentifier = serializers.CharField(max_length=64, help_text="The shopper's code.")
    check = ToastCheck(required=False)


class ToastReverseTransaction(serializers.Serializer):
    """LOYALTY_REVERSE: the redeem to void, by its Toast-Transaction-GUID."""

    transactionId = serializers.CharField(max_length=100)
    loyaltyIdentifier = serializers.CharField(max_length=64, required=False)


class ToastLoyalty(serializers.Serializer):
    """Toast's loyalty call; Toast-Transaction-Type says which part is read."""

    toastTransactionType = serializers.ChoiceField([INQUIRE, REDEEM, REVERSE], required=False)
    checkTransactionInformation = ToastCheckTransaction(required=False)
    reverseTransactionInformation = ToastReverseTransaction(required=False)


class ToastOffer(serializers.Serializer):
    identifier = serializers.CharField(help_text="Our offer id.")
    name = serializers.CharField(allow_blank=True)
    applicable = serializers.BooleanField()
    selectionType = serializers.ChoiceField(["CHECK"])


class ToastRedemption(serializers.Serializer):
    identifier = serializers.CharField(allow_blank=True)
    amount = serializers.FloatField(help_text="The discount.")


class ToastRejectedRedemption(serializers.Serializer):
    redemption = ToastRedemption()
    message = serializers.CharField(help_text="`<decline code>: <detail>`.")


class ToastCheckResponse(serializers.Serializer):
    offers = ToastOffer(many=True)
    redemptions = ToastRedemption(many=True)
    rejectedRedemptions = ToastRejectedRedemption(many=True)
    userMessage = serializers.CharField(required=False, allow_blank=True)


class ToastLoyaltyResponse(serializers.Serializer):
    """Accepted: the check's offers and redemptions (a reverse answers the status alone); a
    code that cannot redeem now is a rejected redemption, as Toast expects."""

    transactionStatus = serializers.ChoiceField(["ACCEPT"])
    checkResponse = ToastCheckResponse(required=False)


class ToastError(serializers.Serializer):
    """A refusal in Toast's vocabulary."""

    transactionStatus = serializers.ChoiceField(
        sorted({"ERROR", *ERROR_STATUS.values(), *(s for _, s in DECLINE_STATUS.values())})
    )
    message = serializers.CharField(help_text="`<our code>: <detail>`.")


def _header(name: str, description: str, schema: dict) -> OpenApiParameter:
    return OpenApiParameter(name, schema, OpenApiParameter.HEADER, True, description)


HEADERS = [
    _header(
        "Toast-Transaction-Type",
        "What to do.",
        {"type": "string", "enum": [INQUIRE, REDEEM, REVERSE]},
    ),
    _header(
        "Toast-Transaction-GUID",
        "The call's id: its retry key, and the sale's id.",
        {"type": "string", "minLength": 1, "maxLength": 100},
    ),
    _header(
        "Toast-Restaurant-External-ID",
        "The store's external id.",
        {"type": "string", "minLength": 1, "maxLength": 64},
    ),
]


class ToastAdapter(PosAdapter):
    name = "toast"
    routes = (Route("api/v1/pos/toast", "loyalty", "pos-toast"),)
    fingerprint_headers = ("Toast-Transaction-Type", "Toast-Restaurant-External-ID")

    def route_schema(self, route):
        return {
            "summary": "Toast loyalty: inquire, redeem or reverse.",
            "request": ToastLoyalty,
            "parameters": [*HEADERS, REPLAYED],
            "responses": {200: ToastLoyaltyResponse, **dict.fromkeys((400, 404, 409), ToastError)},
        }

    def idempotency_key(self, request):
        # A GUID names one transaction of one type: an INQUIRE and the REDEEM that follows it
        # with the same GUID are two calls, each replayed only to itself.
        guid = request.headers.get("Toast-Transaction-GUID")
        kind = request.headers.get("Toast-Transaction-Type", "")
        return f"{kind}:{guid}" if guid else None

    def parse(self, request, operation, **kwargs):
        kind = request.headers.get("Toast-Transaction-Type", "")
        if kind not in (INQUIRE, REDEEM, REVERSE):
            raise Problem(
                400, "invalid_transaction_type", f"Unsupported transaction type {kind!r}."
            )
        guid = text_field(request.headers, "Toast-Transaction-GUID", max_length=100)
        store_id = text_field(
            request.headers, "Toast-Restaurant-External-ID", max_length=64, required=False
        )
        body = json_body(request)
        if kind == REVERSE:
            info = body.get("reverseTransactionInformation")
            if not isinstance(info, dict):
                raise Problem(400, "validation_error", "reverseTransactionInformation is required.")
            return [
                VoidRequest(
                    transaction_id=text_field(info, "transactionId", max_length=100),
                    code=text_field(info, "loyaltyIdentifier", max_length=64, required=False)
                    or None,
                    reason="LOYALTY_REVERSE",
                )
            ]
        info = body.get("checkTransactionInformation")
        if not isinstance(info, dict):
            raise Problem(400, "validation_error", "checkTransactionInformation is required.")
        code = text_field(info, "loyaltyIdentifier", max_length=64)
        check = info.get("check") if isinstance(info.get("check"), dict) else {}
        basket = money_field(check, "amount", required=False)
        if basket is None:
            basket = money_field(check, "totalAmount", required=kind == REDEEM)
        if kind == INQUIRE:
            return [ValidateRequest(code=code, store_id=store_id, basket_total=basket)]
        return [
            RedeemRequest(code=code, store_id=store_id, transaction_id=guid, basket_total=basket)
        ]

    def render(self, operation, items, outcomes) -> AdapterResponse:
        item, outcome = items[0], outcomes[0]
        if isinstance(item, VoidRequest):
            if outcome.accepted:
                return AdapterResponse(200, {"transactionStatus": "ACCEPT"})
            return self._error(outcome)
        if not outcome.accepted and outcome.decline_code in DECLINE_STATUS:
            return self._error(outcome)
        redeeming = isinstance(item, RedeemRequest)
        return AdapterResponse(
            200,
            {
                "transactionStatus": "ACCEPT",
                "checkResponse": self._check_response(outcome, redeeming=redeeming),
            },
        )

    def _check_response(self, outcome: Outcome, *, redeeming: bool) -> dict:
        offer = outcome.offer or {}
        identifier = str(offer.get("id", ""))
        redemption = {"identifier": identifier, "amount": float(outcome.discount or 0)}
        response = {
            "offers": [
                {
                    "identifier": identifier,
                    "name": offer.get("title", ""),
                    "applicable": outcome.accepted,
                    "selectionType": "CHECK",
                }
            ]
            if offer
            else [],
            "redemptions": [redemption] if outcome.accepted else [],
            "rejectedRedemptions": []
            if outcome.accepted
            else [
                {"redemption": redemption, "message": f"{outcome.decline_code}: {outcome.detail}"}
            ],
        }
        if redeeming and outcome.accepted:
            response["userMessage"] = f"Redeemed: {offer.get('title', '')}"
        elif not outcome.accepted:
            response["userMessage"] = outcome.detail
        return response

    def _error(self, outcome: Outcome) -> AdapterResponse:
        status, toast_status = DECLINE_STATUS.get(outcome.decline_code, (400, "ERROR"))
        headers = {"Retry-After": str(outcome.retry_after)} if outcome.retry_after else {}
        return AdapterResponse(
            status,
            {
                "transactionStatus": toast_status,
                "message": f"{outcome.decline_code}: {outcome.detail}",
            },
            headers=headers,
        )

    def render_error(self, problem: Problem) -> AdapterResponse:
        toast_status = ERROR_STATUS.get(problem.code, "ERROR")
        status = 409 if problem.code == "request_in_flight" else 400
        return AdapterResponse(
            status,
            {"transactionStatus": toast_status, "message": f"{problem.code}: {problem.detail}"},
            headers=problem.headers,
        )
