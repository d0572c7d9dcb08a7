"""What an offer takes off a basket, and how it is described to a till."""

from decimal import ROUND_HALF_UP, Decimal

from promotions.models import Offer

CENT = Decimal("0.01")


def discount_for(offer: Offer, basket_total: Decimal | None) -> Decimal | None:
    """The amount the till takes off; never more than the basket."""
    value = offer.reward_value
    if offer.reward_type == Offer.Reward.PERCENT_OFF:
        if basket_total is None:
            return None
        amount = basket_total * value / Decimal(100)
    else:  # amount_off, free_item (item price), bogo (price of the free item)
        amount = value
    if basket_total is not None:
        amount = min(amount, basket_total)
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def offer_summary(offer: Offer) -> tuple[dict, dict]:
    return (
        {"id": offer.id, "title": offer.title, "campaign": offer.campaign_id},
        {
            "type": offer.reward_type,
            "value": str(offer.reward_value),
            "pos_discount_ref": offer.pos_discount_ref,
        },
    )
