"""Idempotency-Key: a retried POS call gets the stored answer, byte for byte.

A key is scoped to its integration and lives for IDEMPOTENCY_TTL; reused with another request
it is refused; while a call holds it, another call with it is told to retry shortly.
"""

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from core.errors import DomainError
from core.sql import execute_and_commit
from redemptions.models import IdempotencyKey

if TYPE_CHECKING:
    from redemptions.services.pos_call import PosCall


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: bytes
    content_type: str
    headers: dict = field(default_factory=dict)
    replayed: bool = False


def request_fingerprint(method: str, path: str, body: bytes, headers: tuple = ()) -> str:
    """What makes two calls the same call: method, path, body, and the values of the headers
    the vendor's protocol gives meaning to (``PosAdapter.fingerprint_headers``)."""
    head = b"%s %s\n" % (method.encode(), path.encode())
    for value in headers:
        head += b"%s\n" % (value or "").encode()
    return hashlib.sha256(head + body).hexdigest()


def key_usable(key: str) -> bool:
    return len(key) <= 255 and key.isprintable()


def idempotent_replay(call: "PosCall", fingerprint: str) -> StoredResponse | None:
    """The response stored under the call's Idempotency-Key, if it is to be replayed.

    A key lives for IDEMPOTENCY_TTL; reused with a different request it is a ``422``; while
    another call holds it, a ``409``.
    """
    if not call.key:
        return None
    if not key_usable(call.key):
        raise DomainError(
            "validation_error", "Idempotency-Key is at most 255 printable characters."
        )
    if call.in_flight:
        raise in_flight()
    if call.stored is None:
        return None
    created_at, request_hash, status, body, content_type = call.stored
    if created_at <= timezone.now() - settings.IDEMPOTENCY_TTL:
        IdempotencyKey.objects.filter(integration_id=call.integration.id, key=call.key).delete()
        return None
    if request_hash != fingerprint:
        raise DomainError(
            "idempotency_key_reused",
            "This Idempotency-Key was used with a different request.",
        )
    return StoredResponse(status, bytes(body), content_type, replayed=True)


def idempotent_store(call: "PosCall", fingerprint: str, response: StoredResponse) -> None:
    """Keep the response for retries under the call's key, in the call's transaction: both
    commit or neither does. Server errors and rate limits are not kept: a retry runs again.

    The call's last statement: on PostgreSQL it goes with the transaction's COMMIT, one round
    trip for both (``execute_and_commit``); nothing may follow it inside the transaction."""
    if not call.key or response.status >= 500 or response.status == 429:
        return
    stored = execute_and_commit(
        _IDEMPOTENCY_INSERT_SQL,
        [
            call.integration.id,
            call.key,
            fingerprint,
            response.status,
            response.body,
            response.content_type,
            timezone.now(),
        ],
    )
    if stored == 0:  # SQLite has no advisory locks: the unique key decides
        raise in_flight()


_IDEMPOTENCY_INSERT_SQL = f"""
    INSERT INTO {IdempotencyKey._meta.db_table} (integration_id, key, request_hash,
        response_status, response_body, response_content_type, created_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (integration_id, key) DO NOTHING
"""


def in_flight() -> DomainError:
    return DomainError(
        "request_in_flight",
        "A request with this Idempotency-Key is still being processed; retry shortly.",
        retry_after=1,
    )


def idempotency_keys_purge() -> int:
    cutoff = timezone.now() - settings.IDEMPOTENCY_TTL
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=cutoff).delete()
    return deleted
