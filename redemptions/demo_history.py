"""Sixty days of believable history for the demo brand, made by the product's own services.

Ad servers report impressions and clicks (``touchpoints_ingest``); shoppers claim codes, most
through an ad click (``code_claim``); tills validate, redeem and sometimes void
(``code_validate``, ``redemption_record``, ``redemption_void``); then attribution and the
roll-ups run as they do in production. The services read the time from
``django.utils.timezone.now``, so each claim and sale runs as of its own moment in the past
(``_as_of``), the way a time-travelling test would; nothing is written behind the services'
backs.

The story: a spring launch whose first week spikes, a weekly rhythm with busy weekends,
Instagram stories that clearly earn their spend, an audio spot and display ads that cost far
more per redemption, a few shoppers who find the offer in the app on their own (organic), a few
voids and declines. ``seed`` makes it repeatable: the same seed gives the same counts.
"""

import logging
import math
import random
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from core.errors import DomainError
from promotions import codes
from promotions.models import Campaign, Code, Offer, Placement, Store, Touchpoint
from promotions.services import code_claim
from promotions.tracking.services import touchpoints_ingest
from redemptions import rollups
from redemptions.attribution import credit
from redemptions.canonical import RedeemRequest, ValidateRequest, VoidRequest
from redemptions.models import PosIntegration, Redemption
from redemptions.services import code_validate, redemption_record, redemption_void

DAYS = 60


@dataclass(frozen=True)
class Channel:
    """How one placement's audience behaves on an ordinary weekday."""

    impressions: int
    click_rate: float  # clicks per impression
    claim_rate: float  # claims per click


CHANNELS = {  # by placement name, as promotions.demo creates them
    "Stories - spring launch": Channel(260, 0.070, 0.45),
    "Audio spot - morning": Channel(160, 0.020, 0.30),
    "Display - bay area": Channel(360, 0.011, 0.20),
}
ORGANIC_CLAIMS = 3  # a day: shoppers who find the offer in the app's list on their own
REDEEM_RATE = 0.6
VOID_RATE = 0.03
WEEKDAY = (0.85, 0.9, 0.95, 1.0, 1.15, 1.35, 1.25)  # Monday .. Sunday
OPENING, CLOSING = 14, 26  # shop hours in UTC (7 am to 7 pm in San Francisco)


def rhythm(moment: datetime, age_days: int) -> float:
    """The day's traffic against an ordinary weekday: the weekly rhythm and the launch spike."""
    return WEEKDAY[moment.weekday()] * (1 + 1.8 * math.exp(-age_days / 4))


@contextmanager
def _as_of(moment: datetime):
    """Run the services as of ``moment``: they read the time from django.utils.timezone.now."""
    real = timezone.now
    timezone.now = lambda: moment
    try:
        yield
    finally:
        timezone.now = real


def history_exists(campaign: Campaign) -> bool:
    return Redemption.objects.filter(
        campaign=campaign, redeemed_at__lt=timezone.now() - timedelta(days=1)
    ).exists()


def history_seed(
    campaign: Campaign, integration: PosIntegration, *, seed: int = 42, days: int = DAYS
) -> dict:
    """Make the campaign's history once, in one transaction (an existing history is left as it
    is), attribute it and refresh the roll-ups; what the history holds (``history_summary``).
    The services' log lines, one per sale, are held back meanwhile."""
    if not history_exists(campaign):
        logging.disable(logging.INFO)
        try:
            with transaction.atomic():
                _history_make(campaign, integration, random.Random(seed), days)
        finally:
            logging.disable(logging.NOTSET)
        credit.attribution_sweep()  # whatever the sales' own attribution runs left
        rollups.rollups_refresh()
    return history_summary(campaign)


def history_summary(campaign: Campaign) -> dict:
    touches = dict(
        Touchpoint.objects.filter(campaign=campaign)
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    redemptions = Redemption.objects.filter(campaign=campaign)
    return {
        "impressions": touches.get(Touchpoint.Kind.IMPRESSION, 0),
        "clicks": touches.get(Touchpoint.Kind.CLICK, 0),
        "claims": Code.objects.filter(offer__campaign=campaign).count(),
        "claimed_through_ads": touches.get(Touchpoint.Kind.CLAIM, 0),
        "redemptions": redemptions.filter(status=Redemption.Status.REDEEMED).count(),
        "voids": redemptions.filter(status=Redemption.Status.VOIDED).count(),
    }


def _history_make(
    campaign: Campaign, integration: PosIntegration, rng: random.Random, days: int
) -> None:
    now = timezone.now()
    start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    latest = now - timedelta(hours=1)  # the history ends before the walk-through begins
    _open_from(campaign, start)
    placements = list(Placement.objects.filter(campaign=campaign, name__in=CHANNELS).order_by("id"))
    offers = list(Offer.objects.filter(campaign=campaign).order_by("id"))
    stores = list(Store.objects.filter(brand_id=campaign.brand_id).order_by("id"))
    claims = []  # (moment, the ad click's id or "" for a shopper who found the offer alone)
    for age in range(days):
        day = start + timedelta(days=age)
        events = []
        for index, placement in enumerate(placements):
            channel = CHANNELS[placement.name]
            seen = round(channel.impressions * rhythm(day, age) * rng.uniform(0.85, 1.15))
            clicked = round(seen * channel.click_rate * rng.uniform(0.8, 1.2))
            for n in range(seen):
                kind = "click" if n < clicked else "impression"
                moment = _shop_hours(day, rng)
                if moment > latest:
                    continue
                event = {"type": kind, "placement_token": placement.tracking_token}
                event["occurred_at"] = moment.isoformat()
                if kind == "click":
                    event["click_id"] = f"demo-{age:02d}-{index}-{n}"
                    if rng.random() < channel.claim_rate:
                        claims.append((moment + _minutes(rng, 1, 20), event["click_id"]))
                events.append(event)
        for _ in range(round(ORGANIC_CLAIMS * rhythm(day, age) * rng.uniform(0.5, 1.5))):
            moment = _shop_hours(day, rng)
            if moment <= latest:
                claims.append((moment, ""))
        touchpoints_ingest(campaign.brand_id, events)
    with connection.cursor() as cursor:  # fresh statistics: the click stitch uses its index
        cursor.execute(f"ANALYZE {Touchpoint._meta.db_table}")
    claims.sort()
    sales = []
    for number, (moment, click_id) in enumerate(claims):
        offer = offers[0] if rng.random() < 0.7 or len(offers) == 1 else offers[1]
        try:
            with _as_of(moment), transaction.atomic():
                claimed = code_claim(
                    brand_id=campaign.brand_id,
                    offer_id=offer.id,
                    customer_ref=f"demo-shopper-{number:05d}",
                    click_id=click_id,
                )
        except DomainError:  # the offer's cap: the shopper goes without
            continue
        redeem_at = moment + _minutes(rng, 30, 60 * 48)
        if rng.random() < REDEEM_RATE and redeem_at <= latest:
            sales.append((redeem_at, number, claimed.code.code, offer, claimed.store_ids))
    sales.sort(key=lambda sale: sale[0])
    for redeem_at, number, code, offer, store_ids in sales:
        eligible = [s for s in stores if not store_ids or s.id in store_ids]
        store = rng.choice(eligible)
        basket = Decimal(rng.randint(450, 1800)) / 100
        if number % 25 == 0:
            _declined_checks(integration, offer, code, store, redeem_at)
        request = RedeemRequest(code, store.external_id, f"H-{number:05d}", max(basket, Decimal(5)))
        with _as_of(redeem_at), transaction.atomic():
            outcome = redemption_record(integration, request)
        if not outcome.accepted:
            continue
        if rng.random() < VOID_RATE:
            with _as_of(redeem_at + _minutes(rng, 2, 30)), transaction.atomic():
                redemption_void(
                    integration, VoidRequest(outcome.redemption_id, reason="wrong basket")
                )


def _open_from(campaign: Campaign, start: datetime) -> None:
    """The campaign and its offers run from ``start``, so that the history's claims are valid."""
    if campaign.starts_at > start:
        Campaign.objects.filter(id=campaign.id).update(starts_at=start)
    Offer.objects.filter(campaign=campaign, valid_from__gt=start).update(valid_from=start)


def _declined_checks(integration, offer, code, store, moment) -> None:
    """A cashier's mistakes before the sale: a mistyped code, and for an offer with a minimum
    basket, a basket below it. Each is a declined attempt in the log."""
    typo = codes.generate(offer.code_prefix, offer.code_length)  # well formed, never issued
    with _as_of(moment - timedelta(minutes=2)), transaction.atomic():
        code_validate(integration, ValidateRequest(typo, store.external_id, Decimal("12.00")))
    if offer.min_basket:
        with _as_of(moment - timedelta(minutes=1)), transaction.atomic():
            below = offer.min_basket - Decimal("1.00")
            code_validate(integration, ValidateRequest(code, store.external_id, below))


def _shop_hours(day: datetime, rng: random.Random) -> datetime:
    return day + timedelta(hours=rng.uniform(OPENING, CLOSING))


def _minutes(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(minutes=rng.uniform(low, high))
