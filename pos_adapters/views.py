"""One HTTP entry point for every adapter: the adapter translates, the redemption service runs
the call (``redemptions.services.pos_call.pos_call_run``), errors answer in the vendor's format.

Hot path. It skips DRF: the adapter parses the raw body, the service runs a handful of
statements, and the stored response is replayed byte for byte to retries.
"""

import orjson
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from core.errors import DomainError
from core.problems import Problem
from pos_adapters.base import AdapterResponse
from pos_adapters.registry import get_adapter
from redemptions.services import StoredResponse, pos_call_run


def _http(response: AdapterResponse | StoredResponse, body: bytes | None = None) -> HttpResponse:
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
        stored = pos_call_run(adapter, request, operation, kwargs)
    except DomainError as error:
        return _http(adapter.render_error(Problem.of(error)))
    except Problem as problem:
        return _http(adapter.render_error(problem))
    response = _http(stored, stored.body)
    if stored.replayed:
        response["Idempotent-Replayed"] = "true"
    return response
