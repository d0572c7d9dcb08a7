"""One HTTP entry point for every adapter: authenticate, verify, parse, decide, render.

Hot path. It skips DRF: the adapter parses the raw body, the redemption service runs a handful
of statements, and the stored response is replayed byte for byte to retries.
"""

import logging

import orjson
from django.db import transaction
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from pos_adapters.base import AdapterResponse, PosAdapter, Presented
from pos_adapters.registry import get_adapter
from promotions.problems import Problem
from redemptions import selectors, services
from redemptions.canonical import RedeemRequest, ValidateRequest
from redemptions.models import PosIntegration

logger = logging.getLogger(__name__)


def _verify(
    adapter: PosAdapter, request, presented: Presented, integration: PosIntegration
) -> None:
    signed = request.headers.get("X-Signature") or presented.account_id
    if signed or integration.require_signature:
        adapter.verify(
            request, selectors.signing_secrets(integration), required=integration.require_signature
        )


def _http(
    response: AdapterResponse | services.StoredResponse, body: bytes | None = None
) -> HttpResponse:
    if isinstance(response, AdapterResponse):
        body = orjson.dumps(response.body)
    http = HttpResponse(body, status=response.status, content_type=response.content_type)
    for name, value in response.headers.items():
        http[name] = value
    return http


@csrf_exempt
def pos_endpoint(request, adapter_name: str, operation: str, **kwargs):
    adapter = get_adapter(adapter_name)
    if request.method != "POST":
        return _http(adapter.render_error(Problem(405, "method_not_allowed", "Use POST.")))
    try:
        stored = _call(adapter, request, operation, kwargs)
    except Problem as problem:
        return _http(adapter.render_error(problem))
    response = _http(stored, stored.body)
    if stored.replayed:
        response["Idempotent-Replayed"] = "true"
    return response


def _call(adapter: PosAdapter, request, operation: str, kwargs: dict) -> services.StoredResponse:
    """One transaction: authenticate, replay what an Idempotency-Key stored, or decide and store.

    The body is parsed first, so that the statement that authenticates a single validate or
    redeem can find its store and code too; a body that does not parse is answered only once
    the caller is known (an unknown caller hears 401, a replay its stored response). The
    response is stored in the same transaction as the redemption it reports, so both commit or
    neither does; a problem raised on the way rolls everything back.
    """
    presented = adapter.presented(request)
    try:
        items = adapter.parse(request, operation, **kwargs)
    except Problem as problem:
        items = problem
    with transaction.atomic():
        call = services.pos_call_open(
            adapter.name,
            presented.api_key,
            presented.account_id,
            adapter.idempotency_key(request),
            looking_for=_single_lookup(items),
        )
        if call.integration is None:
            raise Problem(
                401,
                "unauthenticated",
                "Unknown or revoked POS credentials.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        _verify(adapter, request, presented, call.integration)
        fingerprint = services.request_fingerprint(request.method, request.path, request.body)
        replayed = services.idempotent_replay(call, fingerprint)
        if replayed is not None:
            return replayed
        if isinstance(items, Problem):
            raise items
        outcomes = [
            item if isinstance(item, Problem) else services.pos_request_handle(call, item)
            for item in items
        ]
        rendered = adapter.render(operation, items, outcomes)
        response = services.StoredResponse(
            rendered.status, orjson.dumps(rendered.body), rendered.content_type, rendered.headers
        )
        services.idempotent_store(call, fingerprint, response)  # last: it may commit
        return response


def _single_lookup(items) -> ValidateRequest | RedeemRequest | None:
    """The call's one validate or redeem, whose store and code the authentication can find."""
    if isinstance(items, list) and len(items) == 1:
        if isinstance(items[0], ValidateRequest | RedeemRequest):
            return items[0]
    return None
