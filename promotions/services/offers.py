"""The rules an offer applies before it issues or redeems a code."""

from core.errors import DomainError
from promotions.models import Offer


def offer_check_open(offer: Offer, now) -> None:
    """Raise the decline that stops ``offer`` from issuing or redeeming codes right now."""
    if offer.status != Offer.Status.LIVE:
        raise DomainError("offer_inactive", f"The offer is {offer.status}.")
    campaign = offer.campaign
    if now < offer.valid_from or now < campaign.starts_at:
        raise DomainError("not_started", "The offer has not started yet.")
    if (offer.valid_until and now >= offer.valid_until) or (
        campaign.ends_at and now >= campaign.ends_at
    ):
        raise DomainError("expired", "The offer has ended.")
