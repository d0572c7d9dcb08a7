"""The WSGI entry in front of Django: the calls that come in bursts or hold up a queue at a till
are answered before Django's request cycle.

A click or an impression is one prepared INSERT, and ad traffic arrives in bursts; a till's
redeem or validate is a handful of prepared statements with a cashier waiting. Django's
middleware stack and URL resolution cost a large share of either (docs/benchmarks.md). So a
``GET``/``HEAD`` of ``/t/<token>`` or ``/i/<token>.gif`` is answered here by the same functions
Django's views call (``promotions.tracking``), and a ``POST`` to the generic POS redeem or validate
by the POS view itself, found in the URL conf. Either gets what the middleware would have added:
the request id, the request metrics, the security headers; an exception gets the response and
the log line Django's handler would give it. Everything else goes to Django, and so does a call
for a host not in ALLOWED_HOSTS or one SecurityMiddleware would redirect to HTTPS. Between calls
the entry keeps its thread's pooled connection; after a call that fails it does what Django's
handler does at the end of every request (``request_finished``: the connection goes back).
"""

import re
import time
from functools import partial
from http import HTTPStatus
from urllib.parse import parse_qsl

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.urls import resolve, reverse

from config.observability import request_id_for, request_id_var, request_observe
from promotions.tracking import click_answer, impression_answer

# Django's routes for the same views, so the metrics do not tell the two entries apart.
_TRACKING_ROUTES = {
    "t": ("t/<str:token>", click_answer),
    "i": ("i/<str:token>.gif", impression_answer),
}
_TRACKING_PATH = re.compile(r"^/(?:(t)/([A-Za-z0-9_-]{1,64})|(i)/([A-Za-z0-9_-]{1,64})\.gif)$")
# The POS calls a till waits on; the rest of the POS API (void, batches, Toast, Square) is
# answered by Django as usual.
_POS_ROUTE_NAMES = ("pos-generic-redeem", "pos-generic-validate")


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


def _pos_views() -> dict:
    """The POS calls a till waits on, from the URL conf: path -> (route, view, its arguments)."""
    views = {}
    for name in _POS_ROUTE_NAMES:
        path = reverse(name)
        match = resolve(path)
        views[path] = (match.route, match.func, match.kwargs)
    return views


def _tracking_answer(request, kind: str, token: str):
    """Status, headers, body of a tracking hit."""
    _, answer_for = _TRACKING_ROUTES[kind]
    params = dict(parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True))
    answer = answer_for(token, params)
    return answer.status, answer.headers, answer.body


def _view_answer(request, view, kwargs):
    """Status, headers, body of a Django view called without the middleware."""
    response = view(request, **kwargs)
    return response.status_code, list(response.items()), response.content


class FastPath:
    """WSGI middleware: tracking hits and the POS calls a till waits on are answered here, the
    rest by ``django_app``."""

    def __init__(self, django_app):
        self.django_app = django_app
        self.pos_views = _pos_views()

    def _route(self, environ):
        """(route, answer) when this entry answers the request, else None."""
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
        if method in ("GET", "HEAD") and (match := _TRACKING_PATH.match(path)):
            kind, token = match.group(1) or match.group(3), match.group(2) or match.group(4)
            return _TRACKING_ROUTES[kind][0], partial(_tracking_answer, kind=kind, token=token)
        if method == "POST" and path in self.pos_views:
            route, view, kwargs = self.pos_views[path]
            return route, partial(_view_answer, view=view, kwargs=kwargs)
        return None

    def __call__(self, environ, start_response):
        routed = self._route(environ)
        secure = _secure(environ)
        if routed is None or (settings.SECURE_SSL_REDIRECT and not secure):
            return self.django_app(environ, start_response)
        request = WSGIRequest(environ)
        try:
            request.get_host()  # ALLOWED_HOSTS, checked as Django would
        except DisallowedHost:
            return self.django_app(environ, start_response)
        route, answer = routed
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        context = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            status, headers, body = answer(request)
        except Exception as exc:
            response = response_for_exception(request, exc)  # what Django answers, and logs
            # As after any Django request: a possibly broken connection goes back to the pool.
            signals.request_finished.send(sender=self.__class__)
            status, headers, body = response.status_code, list(response.items()), response.content
        finally:
            request_id_var.reset(context)
        request_observe(route, environ["REQUEST_METHOD"], status, started)
        headers = [
            *headers,
            ("Content-Length", str(len(body))),
            ("X-Request-ID", request_id),
            *_security_headers(secure),
        ]
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [b"" if environ["REQUEST_METHOD"] == "HEAD" else body]
