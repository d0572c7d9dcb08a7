"""The canonical POS requests every adapter translates into, and the outcome it renders back."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class ValidateRequest:
    code: str
    store_id: str
    basket_total: Decimal | None = None


@dataclass(frozen=True)
class RedeemRequest:
    code: str
    store_id: str
    transaction_id: str
    basket_total: Decimal
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class VoidRequest:
    """Void by our redemption id, or by the till's own transaction id (and optionally code)."""

    redemption_id: int | None = None
    transaction_id: str | None = None
    code: str | None = None
    reason: str = ""


CanonicalRequest = ValidateRequest | RedeemRequest | VoidRequest

# Stable decline codes and the HTTP status the generic REST API answers them with.
DECLINE_STATUS = {
    "unknown_code": 404,
    "unknown_store": 422,
    "already_redeemed": 409,
    "expired": 422,
    "not_started": 422,
    "offer_inactive": 422,
    "code_revoked": 422,
    "store_not_eligible": 422,
    "cap_reached": 422,
    "min_basket_not_met": 422,
    "too_many_failures": 429,
    "redemption_not_found": 404,
    "already_voided": 409,
    "void_window_passed": 422,
}


@dataclass(frozen=True)
class Outcome:
    """What happened to one canonical request."""

    accepted: bool
    decline_code: str = ""
    detail: str = ""
    redemption_id: int | None = None
    redemption_status: str = ""
    offer: dict | None = None
    reward: dict | None = None
    discount: Decimal | None = None
    basket_total: Decimal | None = None
    code_last4: str = ""
    replayed: bool = False
    retry_after: int | None = None

    @property
    def http_status(self) -> int:
        if self.accepted:
            return 200
        return DECLINE_STATUS.get(self.decline_code, 422)
