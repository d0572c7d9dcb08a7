"""Daily roll-ups (campaign x placement x store x day), which the reports (``reports``) read.

A refresh recomputes whole (campaign, day) slices from raw rows and replaces them, so running
it twice changes nothing; it only visits slices that changed (new touchpoints past a
watermark, and the slices that attribution and voids marked stale). Days are UTC days.
"""

import logging
from collections import defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import Count, DecimalField, ExpressionWrapper, F, Max, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.bounds import EARLIEST_EVENT
from core.sql import converted
from promotions.models import Touchpoint
from redemptions.models import (
    Attribution,
    DailyRollup,
    Redemption,
    RollupDirtySlice,
    RollupWatermark,
)

MONEY = Decimal("0.01")
logger = logging.getLogger(__name__)


def rollups_refresh() -> int:
    """Bring every changed slice up to date; returns the number of slices rewritten."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_xact_lock(hashtext('rollups_refresh'))")
                if not cursor.fetchone()[0]:
                    return 0  # another refresh is running; it will see our changes
        watermark, _ = RollupWatermark.objects.get_or_create(name="touchpoints")
        top = Touchpoint.objects.aggregate(top=Max("id"))["top"] or 0
        slices = set(
            Touchpoint.objects.filter(
                id__gt=watermark.last_id, id__lte=top, occurred_at__gte=EARLIEST_EVENT
            )
            .annotate(day=TruncDate("occurred_at"))
            .values_list("campaign_id", "day")
            .distinct()
        )
        slices |= _slices_take()
        failed = []
        for campaign_id, day in sorted(slices):
            try:
                with transaction.atomic():  # a savepoint: one bad slice stops no other
                    _slice_rebuild(campaign_id, day)
            except Exception:
                logger.exception(
                    "roll-up of campaign %s on %s failed; kept for the next refresh",
                    campaign_id,
                    day,
                )
                failed.append(RollupDirtySlice(campaign_id=campaign_id, day=day))
        RollupDirtySlice.objects.bulk_create(failed, ignore_conflicts=True)
        watermark.last_id = top
        watermark.save(update_fields=["last_id"])
    return len(slices) - len(failed)


def slices_mark(changed) -> None:
    """Mark stale the slices of ``changed``, (campaign id, redeemed_at) pairs: the next refresh
    rebuilds them. Sorted, so concurrent markers queue on the same slice instead of deadlocking."""
    days = sorted({(campaign_id, timezone.localdate(at)) for campaign_id, at in changed})
    RollupDirtySlice.objects.bulk_create(
        [RollupDirtySlice(campaign_id=campaign_id, day=day) for campaign_id, day in days],
        ignore_conflicts=True,
    )


_SLICES_TAKE_SQL = f"DELETE FROM {RollupDirtySlice._meta.db_table} RETURNING campaign_id, day"
_SLICE_FIELDS = [RollupDirtySlice._meta.get_field(name) for name in ("campaign_id", "day")]


def _slices_take() -> set:
    """Take every mark (in the refresh's transaction: a failed refresh leaves them)."""
    with connection.cursor() as cursor:
        cursor.execute(_SLICES_TAKE_SQL)
        return {tuple(converted(_SLICE_FIELDS, row)) for row in cursor.fetchall()}


def _day_range(day) -> tuple[datetime, datetime]:
    """The day's first moment and the next day's, in the time zone the slices are cut in (the
    one TruncDate and ``slices_mark`` use): a range the indexes on the time columns can serve,
    where comparing each row's truncated date cannot."""
    start = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
    return start, datetime.combine(day + timedelta(days=1), time.min, tzinfo=start.tzinfo)


def _slice_rebuild(campaign_id: int, day) -> None:
    cells = defaultdict(lambda: defaultdict(Decimal))
    start, end = _day_range(day)
    for placement_id, kind, count in (
        Touchpoint.objects.filter(
            campaign_id=campaign_id, occurred_at__gte=start, occurred_at__lt=end
        )
        .values_list("placement_id", "kind")
        .annotate(n=Count("id"))
    ):
        cells[(placement_id, None)][kind + "s"] += count
    weighted = DecimalField(max_digits=20, decimal_places=8)
    for placement_id, store_id, credit, revenue, discount in (
        Attribution.objects.filter(
            redemption__campaign_id=campaign_id,
            redemption__status=Redemption.Status.REDEEMED,
            redemption__redeemed_at__gte=start,
            redemption__redeemed_at__lt=end,
        )
        .values_list("placement_id", "redemption__store_id")
        .annotate(
            credit_sum=Sum("credit"),
            revenue_sum=Sum(
                ExpressionWrapper(
                    F("credit") * F("redemption__basket_total"), output_field=weighted
                )
            ),
            discount_sum=Sum(
                ExpressionWrapper(F("credit") * F("redemption__discount"), output_field=weighted)
            ),
        )
    ):
        cell = cells[(placement_id, store_id)]
        cell["redemptions"] += credit
        cell["revenue"] += revenue
        cell["discount"] += discount
    for placement_id, store_id, count in (
        Redemption.objects.filter(
            campaign_id=campaign_id,
            status=Redemption.Status.VOIDED,
            redeemed_at__gte=start,
            redeemed_at__lt=end,
        )
        .values_list("placement_id", "store_id")
        .annotate(n=Count("id"))
    ):
        cells[(placement_id, store_id)]["voids"] += count
    DailyRollup.objects.filter(campaign_id=campaign_id, day=day).delete()
    DailyRollup.objects.bulk_create(
        DailyRollup(
            campaign_id=campaign_id,
            placement_id=placement_id,
            store_id=store_id,
            day=day,
            impressions=int(cell["impressions"]),
            clicks=int(cell["clicks"]),
            claims=int(cell["claims"]),
            redemptions=cell["redemptions"],
            voids=int(cell["voids"]),
            revenue=cell["revenue"].quantize(MONEY),
            discount=cell["discount"].quantize(MONEY),
        )
        for (placement_id, store_id), cell in cells.items()
    )
