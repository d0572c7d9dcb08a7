"""One HTTP entry point for every adapter: authenticate, verify, parse, decide, render.

Hot path. It skips DRF: the adapter parses the raw body, the redemption service runs a handful
of statements, and the stored response is replayed byte for byte to retries.
"""

import logging

import orjson
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from pos_adapters.base import AdapterResponse, PosAdapter
from pos_adapters.registry import get_adapter
from promotions.problems import Problem
from redemptions import selectors, services
from redemptions.models import PosIntegration

logger = logging.getLogger(__name__)


def _integration(adapter: PosAdapter, request) -> PosIntegration:
    presented = adapter.presented(request)
    integration = None
    if presented.api_key:
        integration = selectors.integration_for_key(presented.api_key)
    elif presented.account_id:
        integration = selectors.integration_for_account(adapter.name, presented.account_id)
    if integration is None:
        raise Problem(
            401,
            "unauthenticated",
            "Unknown or revoked POS credentials.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    signed = request.headers.get("X-Signature") or presented.account_id
    if signed or integration.require_signature:
        adapter.verify(
            request, selectors.signing_secrets(integration), required=integration.require_signature
        )
    return integration


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
        integration = _integration(adapter, request)
        items = adapter.parse(request, operation, **kwargs)

        def produce() -> services.StoredResponse:
            outcomes = [
                item
                if isinstance(item, Problem)
                else services.pos_request_handle(integration, item)
                for item in items
            ]
            rendered = adapter.render(operation, items, outcomes)
            return services.StoredResponse(
                rendered.status,
                orjson.dumps(rendered.body),
                rendered.content_type,
                rendered.headers,
            )

        stored = services.idempotent_call(
            integration,
            adapter.idempotency_key(request),
            services.request_fingerprint(request.method, request.path, request.body),
            produce,
        )
    except Problem as problem:
        return _http(adapter.render_error(problem))
    response = _http(stored, stored.body)
    if stored.replayed:
        response["Idempotent-Replayed"] = "true"
    return response
