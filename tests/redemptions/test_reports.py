"""Attribution persistence, roll-ups and the campaign report, recounted from raw rows."""

import csv
import io
from collections import defaultdict
from decimal import Decimal
from unittest import mock

import pytest
from django.db import DataError
from django.db.models import Sum
from django.utils import timezone
from rest_framework.test import APIClient

from promotions.models import Campaign, Code, Touchpoint
from redemptions import rollups
from redemptions.attribution import credit
from redemptions.models import Attribution, DailyRollup, Redemption, RollupDirtySlice
from tests.factories import (
    CampaignFactory,
    CodeFactory,
    PlacementFactory,
    StoreFactory,
    pos_integration,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def loop(brand, campaign, offer, app_client, marketer_client):
    """A small campaign walked through the whole loop, over the real endpoints."""
    Campaign.objects.filter(id=campaign.id).update(attribution_model="linear")
    p1 = PlacementFactory(campaign=campaign, spend=Decimal("100.00"))
    p2 = PlacementFactory(campaign=campaign, spend=Decimal("50.00"))
    s1, s2 = StoreFactory(brand=brand), StoreFactory(brand=brand)
    _, key, _ = pos_integration(brand)
    till = APIClient()
    till.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    web = APIClient()

    def claim(ref, click_id=""):
        return app_client.post(
            f"/api/v1/offers/{offer.id}/claim",
            {"customer_ref": ref, "click_id": click_id},
            format="json",
        ).json()["code"]

    def redeem(code, store, basket, txn):
        return till.post(
            "/api/v1/pos/generic/redemptions",
            {
                "code": code,
                "store_id": store.external_id,
                "transaction_id": txn,
                "basket_total": basket,
            },
            format="json",
        ).json()

    web.get(f"/t/{p1.tracking_token}", {"click_id": "c1-a", "customer_ref": "c1"})
    web.get(f"/t/{p2.tracking_token}", {"click_id": "c1-b"})
    redeem(claim("c1", "c1-b"), s1, "20.00", "t1")  # linear over two clicks: 0.5 / 0.5
    web.get(f"/i/{p1.tracking_token}.gif", {"customer_ref": "c2"})
    redeem(claim("c2"), s2, "10.00", "t2")  # an impression only: all to p1
    redeem(claim("c3"), s1, "30.00", "t3")  # no touch: organic
    voided = redeem(claim("c4"), s2, "99.00", "t4")
    till.post(f"/api/v1/pos/generic/redemptions/{voided['redemption_id']}/void", {}, format="json")
    bulk = CodeFactory(offer=offer, placement=p2, customer_ref="")
    redeem(bulk.code, s2, "40.00", "t5")  # a bulk code handed out through p2
    web.get(f"/i/{p2.tracking_token}.gif")  # an impression nobody redeemed after
    credit.redemptions_attribute(list(Redemption.objects.values_list("id", flat=True)))
    rollups.rollups_refresh()
    return {"campaign": campaign, "p1": p1, "p2": p2, "s1": s1, "s2": s2, "client": marketer_client}


def report(loop, group_by):
    response = loop["client"].get(
        f"/api/v1/manage/campaigns/{loop['campaign'].id}/report", {"group_by": group_by}
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_credits_follow_the_campaign_model(loop):
    by_txn = defaultdict(dict)
    for txn, placement_id, share in Attribution.objects.values_list(
        "redemption__transaction_id", "placement_id", "credit"
    ):
        by_txn[txn][placement_id] = share

    p1, p2 = loop["p1"].id, loop["p2"].id
    assert by_txn == {
        "t1": {p1: Decimal("0.5"), p2: Decimal("0.5")},
        "t2": {p1: Decimal(1)},
        "t3": {None: Decimal(1)},
        "t5": {p2: Decimal(1)},
    }


def test_report_by_placement_has_spend_cost_and_roas(loop):
    body = report(loop, "placement")
    rows = {row["placement"]: row for row in body["rows"]}

    p1, p2 = rows[loop["p1"].id], rows[loop["p2"].id]
    assert (p1["clicks"], p1["impressions"], p1["redemptions"]) == (1, 1, 1.5)
    assert (p1["revenue"], p1["spend"], p1["cost_per_redemption"], p1["roas"]) == (
        "20.00",
        "100.00",
        "66.67",
        0.2,
    )
    assert (p2["clicks"], p2["impressions"], p2["claims"], p2["redemptions"]) == (1, 1, 1, 1.5)
    assert (p2["revenue"], p2["cost_per_redemption"], p2["roas"]) == ("50.00", "33.33", 1.0)
    assert rows[None]["redemptions"] == 1.0 and rows[None]["revenue"] == "30.00"
    totals = body["totals"]
    assert (totals["redemptions"], totals["voids"], totals["revenue"], totals["spend"]) == (
        4.0,
        1,
        "100.00",
        "150.00",
    )
    assert (totals["cost_per_redemption"], totals["roas"]) == ("37.50", 0.6667)


def test_reports_recount_from_raw_rows(loop):
    campaign = loop["campaign"]
    live = Redemption.objects.filter(campaign=campaign, status="redeemed")
    raw = {
        "impressions": Touchpoint.objects.filter(campaign=campaign, kind="impression").count(),
        "clicks": Touchpoint.objects.filter(campaign=campaign, kind="click").count(),
        "claims": Touchpoint.objects.filter(campaign=campaign, kind="claim").count(),
        "redemptions": float(
            Attribution.objects.filter(redemption__in=live).aggregate(s=Sum("credit"))["s"]
        ),
        "voids": Redemption.objects.filter(campaign=campaign, status="voided").count(),
        "revenue": str(live.aggregate(s=Sum("basket_total"))["s"]),
        "discount": str(live.aggregate(s=Sum("discount"))["s"]),
    }
    by_store = defaultdict(Decimal)
    for store_id, basket in live.values_list("store_id", "basket_total"):
        by_store[store_id] += basket

    for group_by in ("placement", "store", "day"):
        body = report(loop, group_by)
        assert {k: body["totals"][k] for k in raw} == raw, group_by
    stores = {row["store"]: row for row in report(loop, "store")["rows"]}
    assert {sid: Decimal(row["revenue"]) for sid, row in stores.items()} == by_store
    days = report(loop, "day")["rows"]
    assert len(days) == 1 and days[0]["redemptions"] == 4.0


def test_refresh_and_attribution_are_idempotent(loop):
    before = list(DailyRollup.objects.order_by("id").values())
    credits_before = sorted(
        Attribution.objects.values_list("redemption_id", "placement_id", "credit")
    )

    credit.redemptions_attribute(list(Redemption.objects.values_list("id", flat=True)))
    rollups.rollups_refresh()

    strip = [{k: v for k, v in row.items() if k != "id"} for row in before]
    assert [
        {k: v for k, v in row.items() if k != "id"}
        for row in DailyRollup.objects.order_by("id").values()
    ] == strip
    assert (
        sorted(Attribution.objects.values_list("redemption_id", "placement_id", "credit"))
        == credits_before
    )


def test_changes_mark_their_slice_and_the_refresh_takes_the_marks(loop, monkeypatch):
    cells = ("placement_id", "store_id", "redemptions", "revenue")
    before = sorted(DailyRollup.objects.values_list(*cells), key=repr)
    one = Redemption.objects.get(transaction_id="t1")
    assert not RollupDirtySlice.objects.exists()  # the loop's refresh took them all
    DailyRollup.objects.all().delete()

    credit.redemptions_attribute([one.id])

    marked = list(RollupDirtySlice.objects.values_list("campaign_id", "day"))
    assert marked == [(one.campaign_id, one.redeemed_at.date())]
    monkeypatch.setattr(rollups, "_slice_rebuild", mock.Mock(side_effect=RuntimeError("killed")))
    assert rollups.rollups_refresh() == 0
    assert RollupDirtySlice.objects.count() == 1  # a slice that fails keeps its mark
    monkeypatch.undo()
    monkeypatch.setattr(rollups.RollupWatermark, "save", mock.Mock(side_effect=RuntimeError("x")))
    with pytest.raises(RuntimeError):
        rollups.rollups_refresh()
    assert RollupDirtySlice.objects.count() == 1  # a refresh that dies leaves its marks
    monkeypatch.undo()
    rollups.rollups_refresh()
    assert not RollupDirtySlice.objects.exists()
    after = sorted(DailyRollup.objects.values_list(*cells), key=repr)
    assert after == before


def test_one_slice_that_cannot_be_rebuilt_stops_no_other(loop, monkeypatch, caplog):
    """A refresh rebuilds every slice it can; the one that fails is logged and kept marked."""
    campaigns = sorted({r.campaign_id for r in Redemption.objects.all()})
    other = CampaignFactory(brand=loop["campaign"].brand)
    day = timezone.now().date()
    RollupDirtySlice.objects.bulk_create(
        [RollupDirtySlice(campaign_id=c, day=day) for c in (*campaigns, other.id)]
    )
    real = rollups._slice_rebuild

    def rebuild(campaign_id, day):
        if campaign_id == other.id:
            raise DataError("date too small")
        real(campaign_id, day)

    monkeypatch.setattr(rollups, "_slice_rebuild", rebuild)
    rebuilt = rollups.rollups_refresh()

    assert rebuilt == len(campaigns)
    assert list(RollupDirtySlice.objects.values_list("campaign_id", flat=True)) == [other.id]
    assert "roll-up of campaign" in caplog.text


def test_a_void_removes_the_credit_and_the_report_follows(loop):
    redemption = Redemption.objects.get(transaction_id="t2")
    Redemption.objects.filter(id=redemption.id).update(
        status="voided", voided_at=redemption.redeemed_at
    )
    credit.redemptions_attribute([redemption.id])
    rollups.rollups_refresh()

    assert not Attribution.objects.filter(redemption=redemption).exists()
    totals = report(loop, "placement")["totals"]
    assert (totals["redemptions"], totals["voids"]) == (3.0, 2)


def test_changing_the_model_and_reattributing_changes_the_credits(loop):
    Campaign.objects.filter(id=loop["campaign"].id).update(attribution_model="last_touch")

    credit.campaign_reattribute(loop["campaign"].id)

    t1 = Attribution.objects.filter(redemption__transaction_id="t1")
    assert list(t1.values_list("placement_id", "credit", "model")) == [
        (loop["p2"].id, Decimal(1), "last_touch")
    ]


def test_report_csv_and_bad_group_by(loop):
    response = loop["client"].get(
        f"/api/v1/manage/campaigns/{loop['campaign'].id}/report.csv", {"group_by": "placement"}
    )
    rows = list(csv.reader(io.StringIO(response.content.decode())))

    assert response["Content-Type"] == "text/csv"
    assert rows[0][:6] == [
        "placement",
        "placement_name",
        "impressions",
        "clicks",
        "claims",
        "redemptions",
    ]
    names = {row[0]: row[1] for row in rows[1:-1]}
    placements = dict(loop["campaign"].placements.values_list("id", "name"))
    assert {int(k): v for k, v in names.items() if k} == placements  # a name beside each id
    assert names.get("") in (None, "organic (no ad)")
    assert rows[-1][0] == "total" and rows[-1][5] == "4"  # one redemption is 1, not 1.0
    bad = loop["client"].get(
        f"/api/v1/manage/campaigns/{loop['campaign'].id}/report", {"group_by": "week"}
    )
    assert bad.status_code == 400 and bad.json()["code"] == "validation_error"


def test_report_of_another_brands_campaign_is_404(marketer_client, other_brand):
    from tests.factories import CampaignFactory

    foreign = CampaignFactory(brand=other_brand)
    response = marketer_client.get(f"/api/v1/manage/campaigns/{foreign.id}/report")

    assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert Code.objects.count() == 0


def _redeem_five_unattributed(brand, offer, store) -> list[int]:
    """Five redemptions through the POS API; inside the test's transaction nothing commits, so
    no attribution run is published for them."""
    _, key, _ = pos_integration(brand)
    till = APIClient()
    till.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    ids = [
        till.post(
            "/api/v1/pos/generic/redemptions",
            {
                "code": CodeFactory(offer=offer).code,
                "store_id": store.external_id,
                "transaction_id": f"B{i}",
                "basket_total": "1",
            },
            format="json",
        ).json()["redemption_id"]
        for i in range(5)
    ]
    assert not Redemption.objects.filter(attributed_at__isnull=False).exists()
    return ids


def test_an_attribution_task_takes_the_waiting_backlog_along(brand, offer, store):
    from redemptions.tasks import attribute_redemption

    ids = _redeem_five_unattributed(brand, offer, store)

    written = attribute_redemption(ids[-1])

    assert written == 5 and not Redemption.objects.filter(attributed_at__isnull=True).exists()
    assert attribute_redemption(ids[0]) == 0  # its own redemption is done: nothing to do
    assert Attribution.objects.count() == 5


def test_a_backlog_longer_than_one_run_is_chained_not_left_for_the_sweep(
    brand, offer, store, monkeypatch
):
    """After a burst the next run starts at once: no commit may come to publish it."""
    from redemptions.attribution import credit
    from redemptions.tasks import attribute_redemption

    monkeypatch.setattr(credit, "BATCH", 2)
    ids = _redeem_five_unattributed(brand, offer, store)

    attribute_redemption(ids[0])  # takes two; the runs it chains (in-process here) take the rest

    assert not Redemption.objects.filter(attributed_at__isnull=True).exists()
    assert Attribution.objects.filter(redemption_id__in=ids).count() == 5


@pytest.mark.django_db(transaction=True)
def test_changing_a_campaigns_model_through_the_api_recomputes_its_credits(
    brand, campaign, offer, store, marketer_client
):
    a, b = PlacementFactory(campaign=campaign), PlacementFactory(campaign=campaign)
    web = APIClient()
    web.get(f"/t/{a.tracking_token}", {"click_id": "k-a", "customer_ref": "c"})
    web.get(f"/t/{b.tracking_token}", {"click_id": "k-b", "customer_ref": "c"})
    code = CodeFactory(offer=offer, customer_ref="c")
    _, key, _ = pos_integration(brand)
    APIClient().post(
        "/api/v1/pos/generic/redemptions",
        {
            "code": code.code,
            "store_id": store.external_id,
            "transaction_id": "R",
            "basket_total": "1",
        },
        format="json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert list(Attribution.objects.values_list("placement_id", "credit")) == [(b.id, Decimal(1))]

    response = marketer_client.patch(
        f"/api/v1/manage/campaigns/{campaign.id}", {"attribution_model": "linear"}, format="json"
    )

    assert response.status_code == 200
    assert sorted(Attribution.objects.values_list("placement_id", "credit", "model")) == [
        (a.id, Decimal("0.5"), "linear"),
        (b.id, Decimal("0.5"), "linear"),
    ]
