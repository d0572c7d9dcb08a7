"""The WSGI entry in front of Django: the calls that come in bursts or hold up a queue at a till
are answered without Django's middleware stack.

A click or an impression is one prepared INSERT, and ad traffic arrives in bursts; a till's
redeem or validate is a handful of prepared statements with a cashier waiting. Django's
middleware stack costs a large share of either (docs/benchmarks.md). So for the routes in
``FAST_ROUTES`` this entry calls the view the URL conf maps, and adds what the middleware would
have: the request id and request metrics (``config.observability``), and the headers of Django's
own SecurityMiddleware and XFrameOptionsMiddleware; an exception gets the response and the log
line Django's handler would give it. Everything else goes to Django, and so does a call for a
host not in ALLOWED_HOSTS or one SecurityMiddleware would redirect to HTTPS. Between calls the
entry keeps its thread's pooled connection; after a call that fails it does what Django's
handler does at the end of every request (``request_finished``: the connection goes back).
"""

import time
from functools import lru_cache

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve

from config.observability import request_id_for, request_id_var, request_observe

# URL name -> the methods this entry answers it for. The rest of the POS API (void, batches,
# Toast, Square) and every other route are answered by Django as usual.
FAST_ROUTES = {
    "track-click": ("GET", "HEAD"),
    "track-impression": ("GET", "HEAD"),
    "pos-generic-redeem": ("POST",),
    "pos-generic-validate": ("POST",),
}


@lru_cache(maxsize=8192)
def _fast_match(path: str):
    """The URL conf's match for ``path`` when it is one of FAST_ROUTES, else None."""
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match if match.url_name in FAST_ROUTES else None


def _unused_view(request):
    raise AssertionError("the response middleware here only post-processes responses")


class FastPath:
    """WSGI middleware: the routes in FAST_ROUTES are answered here, the rest by ``django_app``."""

    def __init__(self, django_app):
        self.django_app = django_app
        self.response_middleware = [
            SecurityMiddleware(_unused_view),
            XFrameOptionsMiddleware(_unused_view),
        ]

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        match = _fast_match(environ.get("PATH_INFO", ""))
        if match is None or method not in FAST_ROUTES[match.url_name]:
            return self.django_app(environ, start_response)
        request = WSGIRequest(environ)
        try:
            request.get_host()  # ALLOWED_HOSTS, checked as Django would
        except DisallowedHost:
            return self.django_app(environ, start_response)
        if settings.SECURE_SSL_REDIRECT and not request.is_secure():
            return self.django_app(environ, start_response)  # SecurityMiddleware redirects it
        request.resolver_match = match
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        context = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            response = match.func(request, *match.args, **match.kwargs)
        except Exception as exc:
            response = response_for_exception(request, exc)  # what Django answers, and logs
            # As after any Django request: a possibly broken connection goes back to the pool.
            signals.request_finished.send(sender=self.__class__)
        finally:
            request_id_var.reset(context)
        for middleware in self.response_middleware:
            response = middleware.process_response(request, response)
        response["X-Request-ID"] = request_id
        response.headers.setdefault("Content-Length", str(len(response.content)))
        request_observe(match.route, method, response.status_code, started)
        start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
        return [b"" if method == "HEAD" else response.content]
