"""Our own REST protocol (README, docs/operations.md): JSON bodies, problem+json declines, optional HMAC."""

import hashlib
import hmac
import time

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from core.problems import Problem
from pos_adapters.base import (
    IDEMPOTENCY_KEY,
    REPLAYED,
    RETRY_AFTER,
    AdapterResponse,
    MoneyString,
    OutcomeFields,
    ParsedItem,
    PosAdapter,
    PosDecline,
    Route,
    json_body,
    money_field,
    outcome_json,
    problem_responses,
    text_field,
    time_field,
)
from redemptions.canonical import Outcome, RedeemRequest, ValidateRequest, VoidRequest

MAX_BATCH = 1000


def signature_header(secret: str, method: str, path: str, body: bytes, timestamp: int) -> str:
    """``X-Signature`` for a request: ``t=<unix>,v1=<hex hmac-sha256 of "t.METHOD.path.body">``."""
    message = f"{timestamp}.{method}.{path}.".encode() + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# --- The protocol's shapes, for the OpenAPI schema (``GenericAdapter.route_schema``) ---------


class GenericValidate(serializers.Serializer):
    """Would this code redeem at this store, now? Changes nothing."""

    code = serializers.CharField(max_length=64, help_text="The code as shown (any case, dashes).")
    store_id = serializers.CharField(max_length=64, help_text="The store's external id.")
    basket_total = MoneyString(required=False, help_text="Checks the offer's minimum basket.")


class GenericRedeem(GenericValidate):
    """A sale that redeems a code."""

    transaction_id = serializers.CharField(max_length=100, help_text="The till's sale id.")
    basket_total = MoneyString()
    occurred_at = serializers.DateTimeField(
        required=False, help_text="When the sale happened (with a UTC offset); default: now."
    )


class GenericVoid(serializers.Serializer):
    """Why the redemption is voided (within the void window)."""

    reason = serializers.CharField(max_length=200, required=False)


class GenericBatch(serializers.Serializer):
    """Sales made offline, redeemed in order: one item's refusal does not stop the others."""

    redemptions = serializers.ListField(child=GenericRedeem(), min_length=1, max_length=MAX_BATCH)


class GenericRedemption(OutcomeFields):
    """The redemption, as recorded (or voided)."""

    redemption_id = serializers.IntegerField()
    status = serializers.ChoiceField(["redeemed", "voided"])


class GenericValidation(OutcomeFields):
    """The code would redeem: the offer, and the discount for the basket when one was given."""

    redeemable = serializers.BooleanField(help_text="Always true: a refusal is a problem.")


class GenericBatchResult(OutcomeFields):
    """One item's answer: redeemed (the redemption's fields), declined or error (why)."""

    index = serializers.IntegerField(help_text="The item's position in `redemptions`.")
    transaction_id = serializers.CharField(required=False)
    outcome = serializers.ChoiceField(["redeemed", "declined", "error"])
    http_status = serializers.IntegerField(help_text="What the item alone would have answered.")
    replayed = serializers.BooleanField(required=False)
    code = serializers.CharField(required=False, help_text="Declines and errors: why.")
    detail = serializers.CharField(required=False)


class GenericBatchResults(serializers.Serializer):
    """One result per item, in the request's order."""

    results = GenericBatchResult(many=True)


SIGNATURE = OpenApiParameter(
    "X-Signature",
    str,
    OpenApiParameter.HEADER,
    pattern=r"^t=\d+,v1=[0-9a-f]{64}$",
    description='`t=<unix time>,v1=<hex HMAC-SHA256 of "t.METHOD.path.body">` keyed with the '
    "integration's signing secret; required when the integration requires signatures.",
)
# Declines are problem documents too, with the offer when the code was known.
DECLINES = {
    **problem_responses(400, 401),
    **problem_responses(404, 409, 422, 429, schema=PosDecline),
}
OPERATIONS = {  # operation -> (request body, responses, summary)
    "validate": (GenericValidate, {200: GenericValidation, **DECLINES}, "Would this code redeem?"),
    "redeem": (GenericRedeem, {201: GenericRedemption, **DECLINES}, "Redeem a code, once."),
    "void": (GenericVoid, {200: GenericRedemption, **DECLINES}, "Void a redemption."),
    "batch": (
        GenericBatch,
        {200: GenericBatchResults, **problem_responses(400, 401, 409, 413, 422)},
        "Redeem an offline batch: each item is answered in `results`.",
    ),
}


class GenericAdapter(PosAdapter):
    name = "generic"
    routes = (
        Route("api/v1/pos/generic/validate", "validate", "pos-generic-validate"),
        Route("api/v1/pos/generic/redemptions", "redeem", "pos-generic-redeem"),
        Route(
            "api/v1/pos/generic/redemptions/<int:redemption_id>/void", "void", "pos-generic-void"
        ),
        Route("api/v1/pos/generic/batch", "batch", "pos-generic-batch"),
    )

    def route_schema(self, route):
        request, responses, summary = OPERATIONS[route.operation]
        return {
            "summary": summary,
            "request": request,
            "parameters": [IDEMPOTENCY_KEY, SIGNATURE, REPLAYED, RETRY_AFTER],
            "responses": responses,
        }

    def verify(self, request, secrets, *, required):
        header = request.headers.get("X-Signature")
        if not header:
            if required:
                raise Problem(401, "signature_required", "This integration requires X-Signature.")
            return
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        try:
            timestamp = int(parts.get("t", ""))
        except ValueError:
            raise Problem(401, "invalid_signature", "Malformed X-Signature.") from None
        if abs(time.time() - timestamp) > settings.SIGNATURE_TOLERANCE_SECONDS:
            raise Problem(401, "invalid_signature", "The signature timestamp is too far off.")
        given = parts.get("v1", "")
        for secret in secrets:
            expected = signature_header(
                secret, request.method, request.path, request.body, timestamp
            )
            if hmac.compare_digest(expected.rsplit("=", 1)[1], given):
                return
        raise Problem(401, "invalid_signature", "The signature does not match.")

    def parse(self, request, operation, **kwargs) -> list[ParsedItem]:
        body = json_body(request)
        if operation == "validate":
            return [
                ValidateRequest(
                    code=text_field(body, "code", max_length=64),
                    store_id=text_field(body, "store_id", max_length=64),
                    basket_total=money_field(body, "basket_total", required=False),
                )
            ]
        if operation == "redeem":
            return [self._redeem(body)]
        if operation == "void":
            return [
                VoidRequest(
                    redemption_id=kwargs["redemption_id"],
                    reason=text_field(body, "reason", max_length=200, required=False),
                )
            ]
        if operation == "batch":
            items = body.get("redemptions")
            if not isinstance(items, list) or not items:
                raise Problem(400, "validation_error", "redemptions: a non-empty list is required.")
            if len(items) > MAX_BATCH:
                raise Problem(413, "batch_too_large", f"At most {MAX_BATCH} redemptions per batch.")
            parsed: list[ParsedItem] = []
            for item in items:
                try:
                    if not isinstance(item, dict):
                        raise Problem(400, "validation_error", "Each item must be an object.")
                    parsed.append(self._redeem(item))
                except Problem as problem:
                    parsed.append(problem)
            return parsed
        raise Problem(404, "not_found", "No such POS operation.")

    def _redeem(self, data: dict) -> RedeemRequest:
        return RedeemRequest(
            code=text_field(data, "code", max_length=64),
            store_id=text_field(data, "store_id", max_length=64),
            transaction_id=text_field(data, "transaction_id", max_length=100),
            basket_total=money_field(data, "basket_total"),
            occurred_at=time_field(data, "occurred_at"),
        )

    def render(self, operation, items, outcomes) -> AdapterResponse:
        if operation == "batch":
            return AdapterResponse(
                200,
                {
                    "results": [
                        self._batch_result(i, item, outcome)
                        for i, (item, outcome) in enumerate(zip(items, outcomes, strict=True))
                    ]
                },
            )
        outcome: Outcome = outcomes[0]
        if not outcome.accepted:
            return self._decline(outcome, redeemable=operation == "validate")
        body = outcome_json(outcome)
        if operation == "validate":
            return AdapterResponse(200, {"redeemable": True, **body})
        if operation == "redeem":
            headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
            return AdapterResponse(201, body, headers=headers)
        return AdapterResponse(200, body)

    def _decline(self, outcome: Outcome, *, redeemable: bool) -> AdapterResponse:
        problem = Problem(outcome.http_status, outcome.decline_code, outcome.detail)
        body = problem.as_dict()
        if redeemable:
            body["redeemable"] = False
        if outcome.offer is not None:
            body["offer"] = outcome.offer
        headers = {"Retry-After": str(outcome.retry_after)} if outcome.retry_after else {}
        return AdapterResponse(problem.status, body, "application/problem+json", headers)

    def _batch_result(self, index: int, item, outcome) -> dict:
        result = {"index": index}
        if isinstance(item, RedeemRequest):
            result["transaction_id"] = item.transaction_id
        if isinstance(outcome, Problem):
            return {
                **result,
                "outcome": "error",
                "http_status": outcome.status,
                "code": outcome.code,
                "detail": outcome.detail,
            }
        if outcome.accepted:
            return {
                **result,
                "outcome": "redeemed",
                "http_status": 201,
                "replayed": outcome.replayed,
                **outcome_json(outcome),
            }
        return {
            **result,
            "outcome": "declined",
            "http_status": outcome.http_status,
            "code": outcome.decline_code,
            "detail": outcome.detail,
        }
