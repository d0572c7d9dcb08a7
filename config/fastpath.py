"""The WSGI entry in front of Django: ad-tracking hits are answered before Django's request cycle.

A click or an impression is one prepared INSERT, and ad traffic arrives in bursts; Django's
middleware stack and request objects cost several times that INSERT (docs/benchmarks.md). So a
``GET``/``HEAD`` of ``/t/<token>`` or ``/i/<token>.gif`` is answered here by the same functions
Django's views call (``promotions.tracking``), with what the middleware would have added: the
request id, the request metrics, the security headers. Everything else goes to Django, and so
does a tracking hit for a host not in ALLOWED_HOSTS or one SecurityMiddleware would redirect
to HTTPS. Between hits the entry keeps its thread's pooled connection; a hit that fails gives
it back.
"""

import logging
import re
import time
from urllib.parse import parse_qsl

import orjson
from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIRequest
from django.db import connection

from config.observability import request_id_for, request_id_var, request_observe
from promotions.problems import CONTENT_TYPE as PROBLEM_TYPE
from promotions.problems import Problem
from promotions.tracking import click_answer, impression_answer

logger = logging.getLogger("django.request")

# Django's routes for the same views, so the metrics do not tell the two entries apart.
_ROUTES = {
    "t": ("t/<str:token>", click_answer),
    "i": ("i/<str:token>.gif", impression_answer),
}
_TRACKING_PATH = re.compile(r"^/(?:(t)/([A-Za-z0-9_-]{1,64})|(i)/([A-Za-z0-9_-]{1,64})\.gif)$")
_REASONS = {200: "OK", 302: "Found", 404: "Not Found", 500: "Internal Server Error"}


def _secure(environ) -> bool:
    header, value = settings.SECURE_PROXY_SSL_HEADER or (None, None)
    if header and environ.get(header) is not None:
        return environ[header].split(",")[0].strip() == value
    return environ.get("wsgi.url_scheme") == "https"


def _security_headers(secure: bool) -> list[tuple[str, str]]:
    """What SecurityMiddleware and XFrameOptionsMiddleware put on every Django response."""
    headers = []
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append(("X-Content-Type-Options", "nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        headers.append(("Referrer-Policy", policy if isinstance(policy, str) else ",".join(policy)))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(("Cross-Origin-Opener-Policy", settings.SECURE_CROSS_ORIGIN_OPENER_POLICY))
    headers.append(("X-Frame-Options", settings.X_FRAME_OPTIONS))
    if secure and settings.SECURE_HSTS_SECONDS:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append(("Strict-Transport-Security", hsts))
    return headers


def _host_allowed(environ) -> bool:
    """Django's own ALLOWED_HOSTS check; Django answers the request when it fails."""
    try:
        WSGIRequest(environ).get_host()
    except DisallowedHost:
        return False
    return True


class FastPath:
    """WSGI middleware: tracking hits here, the rest to ``django_app``."""

    def __init__(self, django_app):
        self.django_app = django_app

    def __call__(self, environ, start_response):
        match = _TRACKING_PATH.match(environ.get("PATH_INFO", ""))
        secure = _secure(environ)
        if (
            match is None
            or environ.get("REQUEST_METHOD") not in ("GET", "HEAD")
            or (settings.SECURE_SSL_REDIRECT and not secure)
            or not _host_allowed(environ)
        ):
            return self.django_app(environ, start_response)
        kind = match.group(1) or match.group(3)
        token = match.group(2) or match.group(4)
        route, answer_for = _ROUTES[kind]
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        context = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
            answer = answer_for(token, params)
            status, headers, body = answer.status, answer.headers, answer.body
        except Exception:
            logger.exception("tracking hit failed: %s", route)
            connection.close()  # maybe broken: the next hit takes a fresh one from the pool
            problem = Problem(500, "internal_error", "Something went wrong on our side.")
            status, headers = 500, [("Content-Type", PROBLEM_TYPE)]
            body = orjson.dumps(problem.as_dict())
        finally:
            request_id_var.reset(context)
        request_observe(route, environ["REQUEST_METHOD"], status, started)
        headers = [
            *headers,
            ("Content-Length", str(len(body))),
            ("X-Request-ID", request_id),
            *_security_headers(secure),
        ]
        start_response(f"{status} {_REASONS[status]}", headers)
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]
