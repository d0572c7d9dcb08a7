"""Ad tracking: the click redirect, the impression pixel, and the ad servers' batch endpoint.

The redirect and the pixel are hot paths: one indexed read of the placement, one INSERT.
"""

import base64
import hashlib
import secrets
import uuid
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.db import connection, transaction
from django.http import HttpResponse, HttpResponseRedirect
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.dateparse import parse_datetime
from django.utils.encoding import iri_to_uri
from django.utils.http import http_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import authentication, exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from config.observability import TOUCHPOINTS
from promotions.models import Brand, Campaign, Placement, Touchpoint
from promotions.problems import Problem, problem_response
from promotions.sql import prepared_cursor

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
MAX_BATCH = 10_000


def _placement(token: str):
    return (
        Placement.objects.filter(tracking_token=token)
        .values_list("id", "campaign_id", "campaign__brand_id", "destination_url")
        .first()
    )


def _clean(value: str | None, limit: int) -> str:
    return (value or "").strip()[:limit]


# Hot path: on PostgreSQL one statement finds the placement, records the touch and returns the
# destination (a CTE), instead of an ORM read plus an ORM insert.
_TOUCH_SQL = f"""
    WITH p AS (
        SELECT p.id, p.campaign_id, c.brand_id, p.destination_url
        FROM {Placement._meta.db_table} p JOIN {Campaign._meta.db_table} c ON c.id = p.campaign_id
        WHERE p.tracking_token = %(token)s
    ), touch AS (
        INSERT INTO {Touchpoint._meta.db_table}
            (brand_id, campaign_id, placement_id, kind, customer_ref, click_id, occurred_at, created_at)
        SELECT brand_id, campaign_id, id, %(kind)s, %(customer_ref)s, %(click_id)s, %(now)s, %(now)s FROM p
        RETURNING id
    )
    SELECT destination_url FROM p
"""


def _record_touch(token: str, kind: str, customer_ref: str, click_id: str) -> str | None:
    """Record one touch; the placement's destination, or None for an unknown token."""
    now = timezone.now()
    if connection.vendor == "postgresql":
        with prepared_cursor() as cursor:
            cursor.execute(
                _TOUCH_SQL,
                {
                    "token": token,
                    "kind": kind,
                    "customer_ref": customer_ref,
                    "click_id": click_id,
                    "now": now,
                },
            )
            row = cursor.fetchone()
        return row[0] if row else None
    found = _placement(token)
    if found is None:
        return None
    placement_id, campaign_id, brand_id, destination = found
    Touchpoint.objects.create(
        brand_id=brand_id,
        campaign_id=campaign_id,
        placement_id=placement_id,
        kind=kind,
        customer_ref=customer_ref,
        click_id=click_id,
        occurred_at=now,
    )
    return destination


# What a tracking hit answers: status, headers, body. The WSGI entry (config.fastpath) sends it
# as it is, with the headers Django's middleware would add; the views below make it a response.
Answer = tuple[int, list[tuple[str, str]], bytes]
REDIRECT_HEADERS = (("Content-Type", "text/html; charset=utf-8"), ("Cache-Control", "no-store"))
CLICKS, IMPRESSIONS = TOUCHPOINTS.labels("click"), TOUCHPOINTS.labels("impression")


def click_answer(params, token: str) -> Answer | HttpResponse:
    """Record a click on a placement's link and send the browser on to its destination, with
    the click's id added for the landing page (and a claim) to carry back. ``params``: the
    query string's."""
    click_id = _clean(params.get("click_id"), 64) or uuid.uuid4().hex
    destination = _record_touch(
        token, Touchpoint.Kind.CLICK, _clean(params.get("customer_ref"), 128), click_id
    )
    if destination is None:
        return problem_response(Problem(404, "not_found", "Unknown tracking link."))
    CLICKS.inc()
    before, after = _destination(destination)
    location = before + urlencode({"click_id": click_id}) + after
    return 302, [*REDIRECT_HEADERS, ("Location", location)], b""


def pixel_answer(params, token: str) -> Answer | HttpResponse:
    """Record an impression; the answer is a 1x1 GIF no cache may keep."""
    destination = _record_touch(
        token, Touchpoint.Kind.IMPRESSION, _clean(params.get("customer_ref"), 128), ""
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


def ingest_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def ingest_key_issue(brand: Brand) -> str:
    """A new ingest key for the brand's ad servers; only its digest is kept, the old one stops."""
    key = "ing_" + secrets.token_urlsafe(24)
    Brand.objects.filter(id=brand.id).update(ingest_key_hash=ingest_key_hash(key))
    return key


class IngestKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <brand ingest key>`` for ad servers posting touchpoints."""

    def authenticate(self, request):
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key:
            return None
        brand = Brand.objects.filter(ingest_key_hash=ingest_key_hash(key.strip())).first()
        if brand is None:
            raise exceptions.AuthenticationFailed("Unknown ingest key.")
        return _IngestClient(brand.id), brand.id

    def authenticate_header(self, request):
        return "Bearer"


class _IngestClient:
    is_authenticated = True

    def __init__(self, brand_id):
        self.brand_id = brand_id


def _touch_row(brand_id: int, placements: dict, item) -> Touchpoint:
    if not isinstance(item, dict):
        raise ValueError("each event must be an object")
    kind = item.get("type") or item.get("kind")
    if kind not in (Touchpoint.Kind.IMPRESSION, Touchpoint.Kind.CLICK):
        raise ValueError("type must be 'impression' or 'click'")
    placement = placements.get(item.get("placement_token"))
    if placement is None:
        raise ValueError("unknown placement_token")
    occurred = item.get("occurred_at")
    at = parse_datetime(occurred) if isinstance(occurred, str) else None
    if at is None or at.tzinfo is None:
        raise ValueError("occurred_at must be an ISO 8601 time with an offset")
    if at > timezone.now() + timezone.timedelta(minutes=5):
        raise ValueError("occurred_at is in the future")
    customer_ref, click_id = item.get("customer_ref", ""), item.get("click_id", "")
    if not isinstance(customer_ref, str) or len(customer_ref) > 128:
        raise ValueError("customer_ref must be a string of at most 128 characters")
    if not isinstance(click_id, str) or len(click_id) > 64:
        raise ValueError("click_id must be a string of at most 64 characters")
    placement_id, campaign_id = placement
    return Touchpoint(
        brand_id=brand_id,
        campaign_id=campaign_id,
        placement_id=placement_id,
        kind=kind,
        customer_ref=customer_ref,
        click_id=click_id or (uuid.uuid4().hex if kind == Touchpoint.Kind.CLICK else ""),
        occurred_at=at,
    )


class TouchpointBatchView(APIView):
    authentication_classes = [IngestKeyAuthentication]

    @extend_schema(
        operation_id="touchpoints_batch",
        request=OpenApiTypes.OBJECT,
        responses={200: OpenApiTypes.OBJECT},
    )
    def post(self, request):
        events = request.data.get("events") if isinstance(request.data, dict) else None
        if not isinstance(events, list) or not events:
            raise Problem(400, "validation_error", "events: a non-empty list is required.")
        if len(events) > MAX_BATCH:
            raise Problem(413, "batch_too_large", f"At most {MAX_BATCH} events per request.")
        brand_id = request.auth
        tokens = {e.get("placement_token") for e in events if isinstance(e, dict)}
        placements = {
            token: (pid, cid)
            for token, pid, cid in Placement.objects.filter(
                tracking_token__in=[t for t in tokens if isinstance(t, str)],
                campaign__brand_id=brand_id,
            ).values_list("tracking_token", "id", "campaign_id")
        }
        rows, errors = [], []
        for index, item in enumerate(events):
            try:
                rows.append(_touch_row(brand_id, placements, item))
            except ValueError as error:
                errors.append({"index": index, "code": "invalid_event", "detail": str(error)})
        with transaction.atomic():
            Touchpoint.objects.bulk_create(rows, batch_size=2000)
        for row in rows:
            TOUCHPOINTS.labels(row.kind).inc()
        return Response({"accepted": len(rows), "rejected": len(errors), "errors": errors})
