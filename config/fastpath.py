"""The WSGI entry in front of Django: the calls that come in bursts or hold up a queue at a till
are answered without Django's middleware stack.

A click or an impression is one prepared INSERT, and ad traffic arrives in bursts; a till's
redeem is a handful of prepared statements with a cashier waiting. Django's
middleware stack costs a large share of either (docs/benchmarks.md). So for the routes in
``FAST_ROUTES`` this entry calls the view the URL conf maps, and adds what the middleware would
have: the request id and request metrics (``core.observability``), and the headers of Django's
own SecurityMiddleware and XFrameOptionsMiddleware; an exception gets the response and the log
line Django's handler would give it. Everything else goes to Django, and so does a call for a
host not in ALLOWED_HOSTS or one SecurityMiddleware would redirect to HTTPS. Between calls the
entry keeps its thread's pooled connection; after a call that fails it does what Django's
handler does at the end of every request (``request_finished``: the connection goes back).

A tracking hit goes further (docs/perf-journal.md item 32): it is answered from its query string
without a request or a response object. Whether a host is allowed, and the headers the
middleware adds, are worked out once from the settings (with Django's own request and
middleware) and remembered.
"""

import time
from functools import lru_cache
from http import HTTPStatus

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost, ImproperlyConfigured
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIRequest, get_bytes_from_wsgi
from django.core.signals import setting_changed
from django.http import HttpResponse, QueryDict
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve

from core.bounds import nul_in_request
from core.observability import request_id_for, request_id_var, request_observe
from promotions.tracking import views as tracking

# URL name -> the methods this entry answers it for: only routes whose gain is measured
# (docs/benchmarks.md: the click, and the pixel on the same statement; the generic redeem).
# The rest of the POS API and every other route are answered by Django as usual.
FAST_ROUTES = {
    "track-click": ("GET", "HEAD"),
    "track-impression": ("GET", "HEAD"),
    "pos-generic-redeem": ("POST",),
}

# Every middleware the settings may hold, and what it does to a fast route's answer. A
# middleware not listed here would silently not apply to the fast routes, so the entry refuses
# to start with one (``check_middleware``); reproduce its effect here, list it, and add it to
# the parity tests (tests/test_fast_entry.py).
MIDDLEWARE_HANDLED = {
    "core.observability.RequestIdMiddleware": "reproduced: request id, request metrics",
    "core.bounds.RefuseNulMiddleware": "reproduced: a NUL in the path or query goes to Django, "
    "which refuses it",
    "django.middleware.security.SecurityMiddleware": "reproduced: its response headers; an "
    "HTTPS redirect is left to Django",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "reproduced: X-Frame-Options",
    "django.middleware.common.CommonMiddleware": "reproduced: Content-Length; the routes resolve "
    "as sent (no APPEND_SLASH redirect); PREPEND_WWW and DISALLOWED_USER_AGENTS must stay unset",
    "whitenoise.middleware.WhiteNoiseMiddleware": "inert: answers only under STATIC_URL",
    "django.contrib.sessions.middleware.SessionMiddleware": "inert: the views never touch the "
    "session, so no cookie and no Vary",
    "django.middleware.csrf.CsrfViewMiddleware": "inert: tracking is GET, the POS view is "
    "csrf_exempt",
    "django.contrib.auth.middleware.AuthenticationMiddleware": "inert: the views never read "
    "request.user",
    "django.contrib.messages.middleware.MessageMiddleware": "inert: the views add no messages",
    "django_otp.middleware.OTPMiddleware": "inert: wraps request.user, which the views never read",
    "promotions.admin.sign_in.TwoFactorMiddleware": "inert: acts on admin views only",
    "axes.middleware.AxesMiddleware": "inert: acts only on a request a login attempt marked "
    "locked out; the views never authenticate through django.contrib.auth",
}


def check_middleware() -> None:
    """Refuse to start when the settings hold a middleware whose effect this entry would skip."""
    unknown = [name for name in settings.MIDDLEWARE if name not in MIDDLEWARE_HANDLED]
    if unknown:
        raise ImproperlyConfigured(
            f"config.fastpath does not reproduce {', '.join(unknown)}: add it to "
            "MIDDLEWARE_HANDLED with what it does to the fast routes, or remove it."
        )
    if settings.PREPEND_WWW or settings.DISALLOWED_USER_AGENTS:
        raise ImproperlyConfigured(
            "config.fastpath does not reproduce CommonMiddleware's PREPEND_WWW or "
            "DISALLOWED_USER_AGENTS; unset them or reproduce them there."
        )


# The tracking hits answer from their query string alone and without a response object
# (promotions.tracking.views: status, headers, body); a problem comes back as the usual response.
ANSWERS = {"track-click": tracking.click_answer, "track-impression": tracking.pixel_answer}

# What Django's ``get_host()`` and ``is_secure()`` read from the environ, besides the
# SECURE_PROXY_SSL_HEADER the settings name.
HOST_KEYS = (
    "HTTP_HOST",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
    "SERVER_NAME",
    "SERVER_PORT",
    "wsgi.url_scheme",
)


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
        check_middleware()
        self.django_app = django_app
        self.response_middleware = [
            SecurityMiddleware(_unused_view),
            XFrameOptionsMiddleware(_unused_view),
        ]
        # Worked out once from the settings, forgotten when they change (tests): a host's
        # (allowed, over HTTPS) and, for HTTPS or not, the headers the middleware adds.
        self._hosts = {}
        self._added_headers = {}
        setting_changed.connect(self._settings_changed, weak=False)

    def _settings_changed(self, **kwargs):
        self._hosts.clear()
        self._added_headers.clear()

    def __call__(self, environ, start_response):
        method = environ.get("REQUEST_METHOD")
        match = _fast_match(environ.get("PATH_INFO", ""))
        if match is None or method not in FAST_ROUTES[match.url_name]:
            return self.django_app(environ, start_response)
        allowed, secure = self._host_and_scheme(environ)
        if not allowed or (settings.SECURE_SSL_REDIRECT and not secure):
            return self.django_app(environ, start_response)  # refused, or redirected to HTTPS
        if nul_in_request(environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")):
            return self.django_app(environ, start_response)  # refused there
        request_id = request_id_for(environ.get("HTTP_X_REQUEST_ID", ""))
        context = request_id_var.set(request_id)
        started = time.perf_counter()
        request = None
        try:
            answer = ANSWERS.get(match.url_name)
            if answer is not None:
                query = QueryDict(get_bytes_from_wsgi(environ, "QUERY_STRING", ""))
                response = answer(query, *match.args, **match.kwargs)
            else:
                request = _request(environ, match)
                response = match.func(request, *match.args, **match.kwargs)
        except Exception as exc:
            request = request or _request(environ, match)
            response = response_for_exception(request, exc)  # what Django answers, and logs
            # As after any Django request: a possibly broken connection goes back to the pool.
            signals.request_finished.send(sender=self.__class__)
        finally:
            request_id_var.reset(context)
        if isinstance(response, HttpResponse):
            request = request or _request(environ, match)
            for middleware in self.response_middleware:
                response = middleware.process_response(request, response)
            response["X-Request-ID"] = request_id
            response.headers.setdefault("Content-Length", str(len(response.content)))
            status, headers, body = response.status_code, list(response.items()), response.content
            status_line = f"{status} {response.reason_phrase}"
        else:
            status, headers, body = response
            status_line = f"{status} {HTTPStatus(status).phrase}"
            headers = [
                *headers,
                *self._headers_added(environ, secure),
                ("X-Request-ID", request_id),
                ("Content-Length", str(len(body))),
            ]
        request_observe(match.route, method, status, started)
        start_response(status_line, headers)
        return [b"" if method == "HEAD" else body]

    def _host_and_scheme(self, environ) -> tuple[bool, bool]:
        """Whether Django would accept the request's host (ALLOWED_HOSTS), and whether it came
        over HTTPS (SECURE_PROXY_SSL_HEADER), as its request would answer them, remembered per
        combination of what the two read: a hit skips building a request to ask."""
        proxy_header = settings.SECURE_PROXY_SSL_HEADER
        key = tuple(map(environ.get, HOST_KEYS)), proxy_header and environ.get(proxy_header[0])
        known = self._hosts.get(key)
        if known is None:
            request = WSGIRequest(dict(environ))  # a copy: the request rewrites PATH_INFO
            try:
                request.get_host()
            except DisallowedHost:
                known = (False, request.is_secure())
            else:
                known = (True, request.is_secure())
            if len(self._hosts) >= 1024:  # Host headers are the caller's to vary
                self._hosts.clear()
            self._hosts[key] = known
        return known

    def _headers_added(self, environ, secure: bool) -> list[tuple[str, str]]:
        """The headers the response middleware adds to a response that has none of them: they
        depend only on the settings and on HTTPS, so a hit's answer gets them without a
        response object to run the middleware on."""
        added = self._added_headers.get(secure)
        if added is None:
            blank, request = HttpResponse(), WSGIRequest(dict(environ))
            before = set(blank.headers)
            for middleware in self.response_middleware:
                blank = middleware.process_response(request, blank)
            added = self._added_headers[secure] = [
                (k, v) for k, v in blank.items() if k not in before
            ]
        return added


def _request(environ, match) -> WSGIRequest:
    request = WSGIRequest(environ)
    request.resolver_match = match
    return request
