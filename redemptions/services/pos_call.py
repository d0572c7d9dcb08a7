"""One POS call, in one transaction: who is calling, what its Idempotency-Key stored, and the
decision, in that order (``pos_call_run``).

The adapter translates (credentials presented, payload parsed, outcomes rendered); this module
decides in which order things happen, so every adapter gets the same guarantees: an unknown
caller hears 401 before anything else, a replay gets its stored answer, and the response is
stored in the same transaction as the redemption it reports.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import orjson
from django.db import connection, transaction

from core.problems import Problem
from core.sql import converted, prepared_cursor
from promotions import codes
from redemptions import selectors
from redemptions.canonical import (
    CanonicalRequest,
    Outcome,
    RedeemRequest,
    ValidateRequest,
    VoidRequest,
)
from redemptions.models import IdempotencyKey, PosCredential, PosIntegration, key_hash
from redemptions.services.idempotency import (
    StoredResponse,
    idempotent_replay,
    idempotent_store,
    key_usable,
    request_fingerprint,
)
from redemptions.services.lookup import StoreAndCode, looked_up_code, store_and_code_sql
from redemptions.services.redeem import code_validate, redemption_record
from redemptions.services.void import redemption_void


@dataclass(frozen=True)
class PosCall:
    """An authenticated POS call in its transaction: who, its Idempotency-Key, what was stored,
    and the store-and-code look-up for its request, when it was made with the authentication."""

    integration: PosIntegration | None
    key: str | None = None
    stored: tuple | None = None  # (created_at, request_hash, status, body, content_type)
    in_flight: bool = False  # another call holds the key's lock
    found: StoreAndCode | None = None


_INTEGRATION_FIELDS = PosIntegration._meta.concrete_fields


_IDEMPOTENCY_FIELDS = [
    IdempotencyKey._meta.get_field(name)
    for name in (
        "created_at",
        "request_hash",
        "response_status",
        "response_body",
        "response_content_type",
    )
]


# While a call with an Idempotency-Key runs, a transaction-scoped advisory lock marks the key as
# in flight (SQLite has none: there the key's unique constraint decides, at the end).
_IN_FLIGHT_LOCK = {
    "postgresql": "CASE WHEN %(key)s IS NULL THEN true"
    " ELSE pg_try_advisory_xact_lock(i.id::integer, hashtext(%(key)s)) END",
    "sqlite": "1",
}


_CALLER = {
    "api_key": (
        f"JOIN {PosCredential._meta.db_table} cred ON cred.integration_id = i.id",
        "cred.key_hash = %(caller)s AND cred.revoked_at IS NULL AND i.is_active",
    ),
    "account": (
        "",
        "i.adapter = %(adapter)s AND i.external_account_id = %(caller)s AND i.is_active",
    ),
}


# The store-and-code look-up of a single-request call, made with the authentication on
# PostgreSQL (SQLite has no LATERAL): its columns follow the call's.
_LOOK_UP = (
    "LEFT JOIN LATERAL ("
    + store_and_code_sql("postgresql", "i.id", "'i:' || i.id", "i.brand_id")
    + ") found_code ON true"
)


# Hot path (every POS call starts here): one hand-written statement authenticates the call, takes
# its Idempotency-Key's in-flight lock and reads the response stored under it, and for a single
# validate or redeem on PostgreSQL also finds its store and code: one round trip where there
# were three, and no compiled ORM query. Covered by the POS tests.
_OPEN_SQL = {
    (vendor, caller, look_up): f"""
    SELECT {", ".join("i." + f.column for f in _INTEGRATION_FIELDS)}, {lock},
        {", ".join("found." + f.column for f in _IDEMPOTENCY_FIELDS)}
        {", found_code.*" if look_up else ""}
    FROM {PosIntegration._meta.db_table} i
    {join}
    LEFT JOIN {IdempotencyKey._meta.db_table} found
        ON found.integration_id = i.id AND found.key = %(key)s
    {_LOOK_UP if look_up else ""}
    WHERE {where}
    ORDER BY i.id LIMIT 1
"""
    for vendor, lock in _IN_FLIGHT_LOCK.items()
    for caller, (join, where) in _CALLER.items()
    for look_up in ((False, True) if vendor == "postgresql" else (False,))
}


def pos_call_open(
    adapter: str,
    api_key: str | None,
    account_id: str | None,
    key: str | None,
    looking_for: ValidateRequest | RedeemRequest | None = None,
) -> PosCall:
    """Authenticate a POS call, by its API key or else its vendor account id, as the first
    statement of the call's transaction; with an Idempotency-Key, also take the key's in-flight
    lock and read what is stored under it (``idempotent_replay`` answers for both). On
    PostgreSQL the same statement finds the store and code of ``looking_for``, the call's one
    validate or redeem, for ``pos_request_handle``."""
    if api_key:
        caller, who = "api_key", key_hash(api_key)
    elif account_id and "\x00" not in account_id:  # PostgreSQL text cannot hold NUL
        caller, who = "account", account_id
    else:
        return PosCall(None)
    usable_key = key if key and key_usable(key) else None
    params = {"caller": who, "adapter": adapter, "key": usable_key}
    look_up = looking_for is not None and connection.vendor == "postgresql"
    if look_up:
        params["external_id"] = looking_for.store_id
        params["code"] = looked_up_code(codes.normalise(looking_for.code or ""))
    with prepared_cursor() as cursor:
        cursor.execute(_OPEN_SQL[connection.vendor, caller, look_up], params)
        row = cursor.fetchone()
    if row is None:
        return PosCall(None, key)
    n = len(_INTEGRATION_FIELDS)
    integration = PosIntegration.from_db(
        connection.alias,
        [f.attname for f in _INTEGRATION_FIELDS],
        converted(_INTEGRATION_FIELDS, row[:n]),
    )
    locked, stored = row[n], row[n + 1 : n + 1 + len(_IDEMPOTENCY_FIELDS)]
    found = None
    if look_up:
        store_and_code = row[n + 1 + len(_IDEMPOTENCY_FIELDS) :]
        found = StoreAndCode(looking_for, store_and_code if store_and_code[0] is not None else None)
    return PosCall(
        integration,
        key,
        converted(_IDEMPOTENCY_FIELDS, stored) if stored[0] is not None else None,
        in_flight=not locked,
        found=found,
    )


HANDLERS: dict[type, Callable[..., Outcome]] = {
    ValidateRequest: code_validate,
    RedeemRequest: redemption_record,
    VoidRequest: redemption_void,
}


def pos_request_handle(call: "PosCall", request: CanonicalRequest) -> Outcome:
    """One request of an authenticated call, with the look-up its authentication made for it."""
    handler = HANDLERS[type(request)]
    if call.found is not None and call.found.request is request:  # a validate or a redeem
        return handler(call.integration, request, call.found)
    return handler(call.integration, request)


class Adapter(Protocol):
    """What this module needs of a vendor's adapter (``pos_adapters.base.PosAdapter``)."""

    name: str
    fingerprint_headers: tuple[str, ...]

    def presented(self, request): ...
    def idempotency_key(self, request) -> str | None: ...
    def parse(self, request, operation: str, **kwargs) -> list: ...
    def verify(self, request, secrets: list[str], *, required: bool) -> None: ...
    def render(self, operation: str, items: list, outcomes: list): ...


def pos_call_run(adapter: Adapter, request, operation: str, kwargs: dict) -> StoredResponse:
    """One transaction: authenticate, replay what an Idempotency-Key stored, or decide and store.

    The body is parsed first, so that the statement that authenticates a single validate or
    redeem can find its store and code too; a body that does not parse is answered only once
    the caller is known (an unknown caller hears 401, a replay its stored response). The
    response is stored in the same transaction as the redemption it reports, so both commit or
    neither does; an error raised on the way rolls everything back.
    """
    presented = adapter.presented(request)
    try:
        items = adapter.parse(request, operation, **kwargs)
    except Problem as problem:
        items = problem
    with transaction.atomic():
        call = pos_call_open(
            adapter.name,
            presented.api_key,
            presented.account_id,
            adapter.idempotency_key(request),
            looking_for=_single_lookup(items),
        )
        if call.integration is None:
            raise Problem(
                401,
                "unauthenticated",
                "Unknown or revoked POS credentials.",
                headers={"WWW-Authenticate": "Bearer"},
            )
        _verify(adapter, request, presented, call.integration)
        fingerprint = request_fingerprint(
            request.method,
            request.path,
            request.body,
            tuple(request.headers.get(name) for name in adapter.fingerprint_headers),
        )
        replayed = idempotent_replay(call, fingerprint)
        if replayed is not None:
            return replayed
        if isinstance(items, Problem):
            raise items
        outcomes = [
            item if isinstance(item, Problem) else pos_request_handle(call, item) for item in items
        ]
        rendered = adapter.render(operation, items, outcomes)
        response = StoredResponse(
            rendered.status, orjson.dumps(rendered.body), rendered.content_type, rendered.headers
        )
        idempotent_store(call, fingerprint, response)  # last: it may commit
        return response


def _verify(adapter: Adapter, request, presented, integration: PosIntegration) -> None:
    signed = request.headers.get("X-Signature") or presented.account_id
    if signed or integration.require_signature:
        adapter.verify(
            request, selectors.signing_secrets(integration), required=integration.require_signature
        )


def _single_lookup(items) -> ValidateRequest | RedeemRequest | None:
    """The call's one validate or redeem, whose store and code the authentication can find."""
    if isinstance(items, list) and len(items) == 1:
        if isinstance(items[0], ValidateRequest | RedeemRequest):
            return items[0]
    return None
