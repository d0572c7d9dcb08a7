"""What one POS request carries through the service: the caller, what was found, and the
decline that stops it."""

from dataclasses import dataclass

from core.errors import DomainError
from promotions.models import Code, Offer, Store
from redemptions.models import PosIntegration


class Decline(DomainError):
    """A POS request refused by the rules: answered to the till as a declined outcome, with its
    attempt logged, rather than rolled back as an error."""


@dataclass
class PosContext:
    integration: PosIntegration
    store: Store | None = None
    code: Code | None = None
    normalised: str = ""
    eligible: bool = True  # the offer is valid at ctx.store
    counters_dirty: bool = False  # some failure counter of these scopes is above zero
    attempt_written: bool = False  # the redeem statement wrote this call's attempt row

    @property
    def offer(self) -> Offer | None:
        return self.code.offer if self.code else None
