"""The campaign report: funnel, redemptions (attributed credit), money and cost per redemption,
grouped by placement, store or day, read from the daily roll-ups (``rollups``)."""

from decimal import Decimal

from django.db.models import Sum

from promotions.models import Campaign, Placement, Store
from redemptions.models import DailyRollup
from redemptions.rollups import MONEY

GROUPS = {"placement": "placement_id", "store": "store_id", "day": "day"}
COUNTS = ("impressions", "clicks", "claims", "voids")


def _metrics(sums: dict, spend: Decimal | None) -> dict:
    redemptions = sums.get("redemptions") or Decimal(0)
    revenue = (sums.get("revenue") or Decimal(0)).quantize(MONEY)
    body = {name: int(sums.get(name) or 0) for name in COUNTS}
    body.update(
        redemptions=float(round(redemptions, 6)),
        revenue=str(revenue),
        discount=str((sums.get("discount") or Decimal(0)).quantize(MONEY)),
        spend=None if spend is None else str(spend.quantize(MONEY)),
        cost_per_redemption=(
            str((spend / redemptions).quantize(MONEY))
            if spend is not None and redemptions
            else None
        ),
        roas=float(round(revenue / spend, 4)) if spend else None,
    )
    return body


def campaign_report(campaign: Campaign, group_by: str) -> dict:
    """The campaign report: totals and rows grouped by placement, store or day."""
    key = GROUPS[group_by]
    fields = ("impressions", "clicks", "claims", "redemptions", "voids", "revenue", "discount")
    rollups = DailyRollup.objects.filter(campaign=campaign)
    totals = rollups.aggregate(**{name: Sum(name) for name in fields})
    spend_by_placement = dict(
        Placement.objects.filter(campaign=campaign).values_list("id", "spend")
    )
    grouped = {
        row[key]: row
        for row in rollups.values(key)
        .annotate(**{name: Sum(name) for name in fields})
        .order_by(key)
    }
    if group_by == "placement":
        for placement_id in spend_by_placement:
            grouped.setdefault(placement_id, {key: placement_id})
    rows = []
    for value in sorted(grouped, key=lambda v: (v is None, v)):
        if group_by == "store" and value is None:
            continue  # impressions and clicks happen before any store
        spend = spend_by_placement.get(value) if group_by == "placement" and value else None
        label = value.isoformat() if group_by == "day" else value
        rows.append({group_by: label, **_metrics(grouped[value], spend)})
    return {
        "campaign": campaign.id,
        "group_by": group_by,
        "currency": campaign.brand.currency,
        "totals": _metrics(totals, sum(spend_by_placement.values(), Decimal(0))),
        "rows": rows,
    }


REPORT_COLUMNS = (
    "impressions",
    "clicks",
    "claims",
    "redemptions",
    "voids",
    "revenue",
    "discount",
    "spend",
    "cost_per_redemption",
    "roas",
)


def report_csv_rows(report: dict):
    """The report as CSV rows: each placement or store by id and by name, numbers as written
    (one redemption is ``1``, a third of one ``0.333333``)."""
    key = report["group_by"]
    names = _names(report) if key in ("placement", "store") else None
    head = [key, f"{key}_name"] if names is not None else [key]
    yield [*head, *REPORT_COLUMNS]
    for row in report["rows"]:
        value = row[key]
        if names is None:
            labels = [value]
        elif value is None:
            labels = ["", "organic (no ad)"]
        else:
            labels = [value, names.get(value, "")]
        yield [*labels, *(_plain(row[c]) for c in REPORT_COLUMNS)]
    yield [
        "total",
        *([""] if names is not None else []),
        *(_plain(report["totals"][c]) for c in REPORT_COLUMNS),
    ]


def _names(report: dict) -> dict:
    if report["group_by"] == "placement":
        return dict(
            Placement.objects.filter(campaign_id=report["campaign"]).values_list("id", "name")
        )
    return dict(
        Store.objects.filter(brand__campaigns__id=report["campaign"]).values_list("id", "name")
    )


def _plain(value):
    if isinstance(value, float):
        return format(Decimal(repr(value)).normalize(), "f")
    return "" if value is None else value
