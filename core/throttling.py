"""Requests per credential and minute for the APIs callers reach with a token (DRF throttling).

Counts live in the default cache, shared by every web process when it is Redis (``CACHE_URL``).
The rate of each scope is read per request from ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``.
A throttled call is ``429 throttled`` with ``Retry-After`` (``core.problems.from_drf``).
"""

import hashlib
import logging

from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class TokenRateThrottle(SimpleRateThrottle):
    """One budget per authenticated credential (``request.auth``), per ``scope``.

    Throttles run after authentication, so only a valid credential gets a budget, and every
    spelling of its header shares it. The cache key holds a digest, never the credential. When
    the cache cannot be reached the request goes through: an outage of Redis must not stop
    the API, and the logs say so.
    """

    scope = ""

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]

    def get_cache_key(self, request, view):
        if request.auth is None:
            return None
        credential = getattr(request.auth, "pk", request.auth)
        ident = f"{type(request.auth).__name__}:{credential}"
        return self.cache_format % {
            "scope": self.scope,
            "ident": hashlib.sha256(ident.encode()).hexdigest()[:32],
        }

    def allow_request(self, request, view):
        try:
            return super().allow_request(request, view)
        except Exception as exc:
            logger.warning(
                "throttle cache unavailable (%s); %s request let through",
                type(exc).__name__,
                self.scope,
            )
            return True

    def wait(self):
        return super().wait() or self.duration


class ManageThrottle(TokenRateThrottle):
    """The marketers' management API, per API token."""

    scope = "manage"


class IngestThrottle(TokenRateThrottle):
    """Ad servers' touchpoint batches, per brand ingest key."""

    scope = "ingest"
