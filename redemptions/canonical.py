"""The canonical POS requests every adapter translates into, and the outcome it renders back."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from core.errors import status_for


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
        return status_for(self.decline_code)
