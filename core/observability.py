"""Request ids, structured logs that never carry secrets or full codes, and Prometheus metrics.

A request id comes from ``X-Request-ID`` (when sane) or is made up; it is returned in the
response header, stamped on every log line, and travels in the headers of every Celery task the
request publishes, so one redemption can be followed from the web log into the worker log.
"""

import contextvars
import logging
import re
import time
import uuid
from functools import lru_cache

from django.conf import settings
from prometheus_client import Counter, Gauge, Histogram

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")

# --- Metrics (one registry per process; multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set)

REQUESTS = Counter("http_requests_total", "HTTP requests", ["route", "method", "status"])
REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)
POS_ATTEMPTS = Counter(
    "pos_attempts_total",
    "POS calls by adapter, action and outcome",
    ["adapter", "action", "outcome", "decline_code"],
)
CLAIMS = Counter("claims_total", "Code claims", ["outcome"])
TOUCHPOINTS = Counter("touchpoints_total", "Recorded touchpoints", ["kind"])
ATTRIBUTION_LAG = Histogram(
    "attribution_lag_seconds",
    "From redemption to attribution",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600),
)
TASKS = Counter("celery_tasks_total", "Celery task outcomes", ["task", "outcome"])
QUEUE_DEPTH = Gauge(
    "celery_queue_depth", "Messages waiting in the broker", ["queue"], multiprocess_mode="livemax"
)


# --- Logging --------------------------------------------------------------------------------

_CODE_LIKE = re.compile(r"\b([0-9A-HJKMNP-TV-Z]{4,})([0-9A-HJKMNP-TV-Z]{4})\b")
_SECRET_LIKE = re.compile(r"\b(pos|app|ing|whsec)_[A-Za-z0-9_-]{8,}")
_AUTH_HEADER = re.compile(
    r"(?i)(authorization|x-app-key|x-signature)(['\"]?\s*[:=]\s*['\"]?)[^'\",\s]+"
)


# More maskers the apps register (promotions: codes in any case and grouping), applied after
# these; core knows no app, so an app that knows a secret's shape brings its own.
MASKERS: list = []


def mask(text: str) -> str:
    """Codes keep their last 4 symbols; API keys, secrets and auth headers disappear."""
    for masker in MASKERS:
        text = masker(text)
    text = _SECRET_LIKE.sub(lambda m: m.group(1) + "_***", text)
    text = _AUTH_HEADER.sub(lambda m: m.group(1) + m.group(2) + "***", text)
    return _CODE_LIKE.sub(
        lambda m: "*" * len(m.group(1)) + m.group(2) if len(m.group(0)) >= 12 else m.group(0), text
    )


class ContextFilter(logging.Filter):
    """Stamps the request id on the record and masks what must never be logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the log line
            message = str(record.msg)
        record.msg, record.args = mask(message), None
        # django.request attaches the request itself; its repr carries the path (maybe a code).
        if hasattr(record, "request"):
            record.request = mask(repr(record.request))
        return True


# --- Middleware -----------------------------------------------------------------------------


def request_id_for(given: str) -> str:
    """The caller's ``X-Request-ID`` when it is sane, else a fresh one."""
    return given if _SANE_ID.match(given) else uuid.uuid4().hex


@lru_cache(maxsize=1024)
def _request_metrics(route: str, method: str, status: int) -> tuple:
    # prometheus_client looks a labelled child up under a lock on every ``labels()`` call
    return REQUESTS.labels(route, method, str(status)), REQUEST_SECONDS.labels(route)


def request_observe(route: str, method: str, status: int, started: float) -> None:
    requests, seconds = _request_metrics(route, method, status)
    requests.inc()
    seconds.observe(time.perf_counter() - started)


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_id_for(request.headers.get("X-Request-ID", ""))
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        match = getattr(request, "resolver_match", None)
        route = match.route if match and match.route else "unmatched"
        request_observe(route, request.method, response.status_code, started)
        response["X-Request-ID"] = request_id
        return response


def metrics_allowed(request) -> bool:
    """/metrics is for the operator's scraper: a bearer token, or an allowed network."""
    import hmac
    import ipaddress

    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net) for net in settings.METRICS_ALLOWED_NETWORKS)
