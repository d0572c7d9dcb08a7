"""The redemption service: the one place that validates, redeems and voids codes.

A POS call runs in ``pos_call`` (authenticate, replay a stored answer, or decide and store);
each request is decided in ``redeem`` (validate, redeem) or ``void``, after ``lookup`` found its
store and code and ``lockout`` checked the enumeration defence; ``attempts`` logs every one,
``idempotency`` keeps answers for retries, ``credentials`` issues keys. Every guarantee is held
by the database, not by Python (``redeem``'s docstring says how).
"""

from redemptions.services.credentials import (
    IssuedCredential,
    pos_credential_issue,
    pos_credentials_revoke_old,
)
from redemptions.services.idempotency import (
    StoredResponse,
    idempotency_keys_purge,
    idempotent_replay,
    idempotent_store,
    request_fingerprint,
)
from redemptions.services.pos_call import PosCall, pos_call_open, pos_call_run, pos_request_handle
from redemptions.services.redeem import code_validate, redemption_record
from redemptions.services.rewards import discount_for
from redemptions.services.void import redemption_void

__all__ = [
    "IssuedCredential",
    "PosCall",
    "StoredResponse",
    "code_validate",
    "discount_for",
    "idempotency_keys_purge",
    "idempotent_replay",
    "idempotent_store",
    "pos_call_open",
    "pos_call_run",
    "pos_credential_issue",
    "pos_credentials_revoke_old",
    "pos_request_handle",
    "redemption_record",
    "redemption_void",
    "request_fingerprint",
]
