"""The click redirect and the impression pixel (hot paths, also answered by ``config.fastpath``),
and the ad servers' batch endpoint."""

import base64
import uuid
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.http import HttpResponse, HttpResponseRedirect
from django.utils.cache import add_never_cache_headers
from django.utils.encoding import iri_to_uri
from django.utils.http import http_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from core.observability import TOUCHPOINTS
from core.problems import Problem, problem_response
from core.throttling import IngestThrottle
from promotions.models import Touchpoint
from promotions.tracking import services
from promotions.tracking.auth import IngestKeyAuthentication

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


# What a tracking hit answers: status, headers, body. The WSGI entry (config.fastpath) sends it
# as it is, with the headers Django's middleware would add; the views below make it a response.
Answer = tuple[int, list[tuple[str, str]], bytes]


REDIRECT_HEADERS = (("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"))


CLICKS, IMPRESSIONS = TOUCHPOINTS.labels("click"), TOUCHPOINTS.labels("impression")


def click_answer(params, token: str) -> Answer | HttpResponse:
    """Record a click on a placement's link and send the browser on to its destination, with
    the click's id added for the landing page (and a claim) to carry back. ``params``: the
    query string's."""
    click_id = services.clean(params.get("click_id"), 64) or uuid.uuid4().hex
    destination = services.touch_record(
        token, Touchpoint.Kind.CLICK, services.clean(params.get("customer_ref"), 128), click_id
    )
    if destination is None:
        return problem_response(Problem(404, "not_found", "Unknown tracking link."))
    CLICKS.inc()
    before, after = _destination(destination)
    location = before + urlencode({"click_id": click_id}) + after
    return 302, [*REDIRECT_HEADERS, ("Location", location)], b""


def pixel_answer(params, token: str) -> Answer | HttpResponse:
    """Record an impression; the answer is a 1x1 GIF no cache may keep."""
    destination = services.touch_record(
        token, Touchpoint.Kind.IMPRESSION, services.clean(params.get("customer_ref"), 128), ""
    )
    if destination is None:
        return problem_response(Problem(404, "not_found", "Unknown pixel."))
    IMPRESSIONS.inc()
    return 200, [*_pixel_headers(), ("Expires", http_date())], PIXEL


@lru_cache(maxsize=4096)
def _destination(url: str) -> tuple[str, str]:
    """A destination split around the ``click_id`` the redirect adds: what comes before it (the
    query's other parameters included, encoded), and after it (the fragment). Worked out once
    per destination; a destination Django would not redirect to is refused the same way."""
    HttpResponseRedirect(url)  # raises DisallowedRedirect, as the redirect itself would
    parts = urlsplit(iri_to_uri(url))
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "click_id"]
    query = urlencode(kept)
    before = urlunsplit(parts._replace(query="", fragment="")) + (
        "?" + query + "&" if kept else "?"
    )
    return before, ("#" + parts.fragment if parts.fragment else "")


@lru_cache(maxsize=1)
def _pixel_headers() -> tuple[tuple[str, str], ...]:
    """The pixel's type and the Cache-Control Django's ``never_cache`` gives (its Expires is the
    time of the answer, added to each)."""
    response = HttpResponse(content_type="image/gif")
    add_never_cache_headers(response)
    return tuple((k, v) for k, v in response.items() if k != "Expires")


def _as_response(answer: Answer | HttpResponse) -> HttpResponse:
    if isinstance(answer, HttpResponse):
        return answer
    status, headers, body = answer
    return HttpResponse(body, status=status, headers=dict(headers))


def track_click(request, token: str):
    return _as_response(click_answer(request.GET, token))


def track_impression(request, token: str):
    return _as_response(pixel_answer(request.GET, token))


class TouchpointBatchView(APIView):
    authentication_classes = [IngestKeyAuthentication]
    throttle_classes = [IngestThrottle]

    @extend_schema(
        operation_id="touchpoints_batch",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        events = request.data.get("events") if isinstance(request.data, dict) else None
        if not isinstance(events, list) or not events:
            raise Problem(400, "validation_error", "events: a non-empty list is required.")
        if len(events) > services.MAX_BATCH:
            raise Problem(
                413, "batch_too_large", f"At most {services.MAX_BATCH} events per request."
            )
        accepted, errors = services.touchpoints_ingest(request.auth, events)
        return Response({"accepted": accepted, "rejected": len(errors), "errors": errors})
