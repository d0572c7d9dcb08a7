"""Writing attribution: credits per redemption, set-based for backlogs, idempotent by design.

A run locks its redemption rows, deletes their credits and writes the new ones in one
transaction: a redelivered or repeated task rewrites the same rows, never a second set.
"""

import logging
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.observability import ATTRIBUTION_LAG
from promotions.models import Campaign, Touchpoint
from redemptions.attribution.engine import CLICK, IMPRESSION, ISSUANCE, Touch, attribute
from redemptions.models import Attribution, Redemption
from redemptions.rollups import slices_mark

BATCH = 2000
logger = logging.getLogger(__name__)


def redemptions_attribute(redemption_ids: list[int]) -> int:
    """(Re)compute the credits of these redemptions; voided ones lose theirs. Returns rows written."""
    if not redemption_ids:
        return 0
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Redemption.objects.select_for_update(of=("self",))
            .filter(id__in=redemption_ids)
            .select_related("code")
            .order_by("id")
            .only(
                "id",
                "status",
                "campaign_id",
                "brand_id",
                "customer_ref",
                "placement_id",
                "redeemed_at",
                "code__click_id",
                "code__placement_id",
                "code__issued_at",
            )
        )
        if not rows:
            return 0
        campaigns = {c.id: c for c in Campaign.objects.filter(id__in={r.campaign_id for r in rows})}
        touches = _touches_for(rows, campaigns)
        credits = []
        for redemption in rows:
            if redemption.status != Redemption.Status.REDEEMED:
                continue
            campaign = campaigns[redemption.campaign_id]
            candidate = list(touches.get((redemption.campaign_id, redemption.customer_ref), ()))
            code = redemption.code
            if code.placement_id and not code.click_id:
                # Bulk or shared code handed out through a placement: the code is the touch.
                candidate.append(Touch(code.placement_id, ISSUANCE, code.issued_at))
            for credit in attribute(
                redemption.redeemed_at,
                candidate,
                campaign.attribution_model,
                timedelta(days=campaign.click_window_days),
                timedelta(hours=campaign.view_window_hours),
                settings.ATTRIBUTION_HALF_LIFE,
            ):
                credits.append(
                    Attribution(
                        redemption_id=redemption.id,
                        placement_id=credit.placement_id,
                        credit=credit.credit,
                        model=campaign.attribution_model,
                        computed_at=now,
                    )
                )
        ids = [r.id for r in rows]
        Attribution.objects.filter(redemption_id__in=ids).delete()
        Attribution.objects.bulk_create(credits, batch_size=5000)
        Redemption.objects.filter(id__in=ids).update(attributed_at=now)
        slices_mark((r.campaign_id, r.redeemed_at) for r in rows)
    for redemption in rows:
        if redemption.status == Redemption.Status.REDEEMED:
            ATTRIBUTION_LAG.observe(max((now - redemption.redeemed_at).total_seconds(), 0.0))
    logger.info("attributed %d redemption(s): %d credit row(s)", len(rows), len(credits))
    return len(credits)


def redemption_attribute_with_backlog(redemption_id: int) -> tuple[int, bool]:
    """Attribute one new redemption, and up to ``BATCH`` others still waiting, in one pass.

    Under load, tasks queue faster than one-by-one attribution drains them; taking the waiting
    ones along turns the backlog into set-based batches, and the tasks that follow find their
    redemption done. A redelivered task recomputes the same rows (idempotent). Returns the
    credit rows written, and whether waiting redemptions were left for another run.
    """
    waiting = list(
        Redemption.objects.filter(status=Redemption.Status.REDEEMED, attributed_at__isnull=True)
        .exclude(id=redemption_id)
        .order_by("redeemed_at")
        .values_list("id", flat=True)[:BATCH]
    )
    left_over = len(waiting) == BATCH
    waiting = waiting[: BATCH - 1]
    mine = bool(redemption_id) and (
        Redemption.objects.filter(id=redemption_id, attributed_at__isnull=True).exists()
    )
    if not mine and not waiting:
        return 0, False
    return redemptions_attribute(([redemption_id] if mine else []) + waiting), left_over


def _touches_for(rows: list[Redemption], campaigns: dict) -> dict:
    """Clicks and impressions of the batch's customers, per (campaign, customer), in one query."""
    refs = {r.customer_ref for r in rows if r.customer_ref}
    if not refs:
        return {}
    longest = max(
        max(timedelta(days=c.click_window_days), timedelta(hours=c.view_window_hours))
        for c in campaigns.values()
    )
    earliest = min(r.redeemed_at for r in rows) - longest
    latest = max(r.redeemed_at for r in rows)
    found = defaultdict(list)
    for campaign_id, ref, placement_id, kind, at in Touchpoint.objects.filter(
        campaign_id__in=campaigns,
        customer_ref__in=refs,
        kind__in=[CLICK, IMPRESSION],
        occurred_at__gte=earliest,
        occurred_at__lte=latest,
    ).values_list("campaign_id", "customer_ref", "placement_id", "kind", "occurred_at"):
        found[(campaign_id, ref)].append(Touch(placement_id, kind, at))
    return found


def attribution_sweep(limit: int = 50_000) -> int:
    """Attribute what a lost message left behind (broker down, worker lost); drop stale credits.

    Redemptions younger than ATTRIBUTION_SWEEP_MIN_AGE are left to their own task.
    """
    cutoff = timezone.now() - settings.ATTRIBUTION_SWEEP_MIN_AGE
    done = 0
    while done < limit:
        ids = list(
            Redemption.objects.filter(
                status=Redemption.Status.REDEEMED,
                attributed_at__isnull=True,
                redeemed_at__lt=cutoff,
            )
            .order_by("redeemed_at")
            .values_list("id", flat=True)[:BATCH]
        )
        if not ids:
            break
        redemptions_attribute(ids)
        done += len(ids)
    stale = list(
        Attribution.objects.filter(redemption__status=Redemption.Status.VOIDED)
        .values_list("redemption_id", flat=True)
        .distinct()[:BATCH]
    )
    redemptions_attribute(stale)
    return done + len(stale)


def campaign_reattribute(campaign_id: int) -> int:
    """Recompute every redemption of a campaign (its model or windows changed)."""
    last_id, total = 0, 0
    while True:
        ids = list(
            Redemption.objects.filter(campaign_id=campaign_id, id__gt=last_id)
            .order_by("id")
            .values_list("id", flat=True)[:BATCH]
        )
        if not ids:
            return total
        total += redemptions_attribute(ids)
        last_id = ids[-1]
