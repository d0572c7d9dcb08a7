"""Domain errors: a service refuses with a stable machine code; the edge decides the HTTP status.

Services raise ``DomainError("cap_reached", "...")`` and know nothing of HTTP. ``STATUS`` is the
one table that maps each code to the status every API answers it with (``core.problems``).
"""

STATUS = {
    # the request itself is unusable
    "validation_error": 400,
    "malformed_json": 400,
    # no such thing, for this caller
    "not_found": 404,
    "unknown_code": 404,
    "redemption_not_found": 404,
    # a state the request conflicts with
    "already_redeemed": 409,
    "already_voided": 409,
    "request_in_flight": 409,
    "vendor_account_taken": 409,
    # understood, but the rules refuse it
    "unknown_store": 422,
    "expired": 422,
    "not_started": 422,
    "offer_inactive": 422,
    "code_revoked": 422,
    "store_not_eligible": 422,
    "cap_reached": 422,
    "customer_cap_reached": 422,
    "min_basket_not_met": 422,
    "void_window_passed": 422,
    "idempotency_key_reused": 422,
    # slow down
    "too_many_failures": 429,
    # ours to fix, or to retry
    "code_space_exhausted": 503,
}
DEFAULT_STATUS = 422


def status_for(code: str) -> int:
    return STATUS.get(code, DEFAULT_STATUS)


class DomainError(Exception):
    """A refusal by a service, named by a stable ``code`` (a key of ``STATUS``).

    ``retry_after`` (seconds) tells the caller when trying again makes sense; ``extra`` fields
    travel into the problem document.
    """

    def __init__(self, code: str, detail: str = "", *, retry_after: int | None = None, **extra):
        super().__init__(code)
        self.code = code
        self.detail = detail or code.replace("_", " ").capitalize() + "."
        self.retry_after = retry_after
        self.extra = extra

    @property
    def status(self) -> int:
        return status_for(self.code)
