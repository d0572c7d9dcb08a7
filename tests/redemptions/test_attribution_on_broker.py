"""Attribution through a real Redis broker and a real Celery worker (with beat)."""

import os
import signal
import time
from decimal import Decimal

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient

from config.celery import app as celery_app
from promotions.models import Campaign
from redemptions.models import Attribution, Redemption
from tests.factories import PlacementFactory, StoreFactory, pos_integration
from tests.helpers import RedisServer, Worker, use_broker, wait_until

pytestmark = [pytest.mark.broker, pytest.mark.django_db(transaction=True)]
FAST_BEAT = {
    "ATTRIBUTION_SWEEP_SECONDS": "1",
    "ROLLUPS_REFRESH_SECONDS": "1",
    "ATTRIBUTION_SWEEP_MIN_AGE_SECONDS": "1",
}


@pytest.fixture
def shop(brand, campaign, offer, app_client, marketer_client):
    store = StoreFactory(brand=brand)
    _, key, _ = pos_integration(brand)
    till = APIClient()
    till.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    placements = [PlacementFactory(campaign=campaign) for _ in range(3)]

    def claim(ref, click_id=""):
        response = app_client.post(
            f"/api/v1/offers/{offer.id}/claim",
            {"customer_ref": ref, "click_id": click_id},
            format="json",
        )
        return response.json()["code"]

    def redeem(code, txn):
        return till.post(
            "/api/v1/pos/generic/redemptions",
            {
                "code": code,
                "store_id": store.external_id,
                "transaction_id": txn,
                "basket_total": "10.00",
            },
            format="json",
        )

    def report():
        url = f"/api/v1/manage/campaigns/{campaign.id}/report"
        return {
            row["placement"]: row
            for row in marketer_client.get(url, {"group_by": "placement"}).json()["rows"]
        }

    return {
        "campaign": campaign,
        "placements": placements,
        "claim": claim,
        "redeem": redeem,
        "report": report,
        "web": APIClient(),
        "offer": offer,
    }


def test_click_claim_redeem_shows_in_the_report_within_60_seconds(broker, shop):
    worker = Worker(extra_env=FAST_BEAT, beat=True).start()
    try:
        clicked, seen, _ = shop["placements"]
        web = shop["web"]
        web.get(f"/i/{seen.tracking_token}.gif", {"customer_ref": "c-1"})
        web.get(f"/t/{clicked.tracking_token}", {"click_id": "clk-1"})
        assert shop["redeem"](shop["claim"]("c-1", "clk-1"), "T-1").status_code == 201
        assert shop["redeem"](shop["claim"]("c-organic"), "T-2").status_code == 201
        started = time.monotonic()

        def reported():
            rows = shop["report"]()
            return (
                rows
                if rows.get(clicked.id, {}).get("redemptions") == 1.0 and None in rows
                else None
            )

        rows = wait_until(reported, timeout=60, interval=0.5)
        assert rows, worker.log.read_text()[-3000:]
        assert time.monotonic() - started < 60
        assert rows[seen.id]["redemptions"] == 0.0 and rows[seen.id]["impressions"] == 1
        assert rows[None]["redemptions"] == 1.0
    finally:
        worker.stop()


def test_linear_over_two_clicked_placements_gives_half_each(broker, celery_worker, shop):
    Campaign.objects.filter(id=shop["campaign"].id).update(attribution_model="linear")
    a, b, _ = shop["placements"]
    shop["web"].get(f"/t/{a.tracking_token}", {"click_id": "k-a", "customer_ref": "c-2"})
    shop["web"].get(f"/t/{b.tracking_token}", {"click_id": "k-b"})

    redemption_id = shop["redeem"](shop["claim"]("c-2", "k-b"), "T-L").json()["redemption_id"]

    credits = wait_until(
        lambda: dict(
            Attribution.objects.filter(redemption_id=redemption_id).values_list(
                "placement_id", "credit"
            )
        ),
        timeout=30,
    )
    assert credits == {a.id: Decimal("0.5"), b.id: Decimal("0.5")}


def test_broker_down_redeem_still_answers_and_the_sweep_catches_up_exactly_once(shop):
    redis = RedisServer(6391).start()
    use_broker(redis.url)
    celery_app.conf.task_always_eager = False
    worker = Worker(extra_env=FAST_BEAT, beat=True, broker_url=redis.url)
    try:
        worker.start()
        code = shop["claim"]("c-3")
        redis.stop()

        started = time.monotonic()
        response = shop["redeem"](code, "T-DOWN")
        elapsed = time.monotonic() - started

        assert response.status_code == 201 and elapsed < 1.0, elapsed
        assert celery_app.conf.broker_url == redis.url  # the outage really hit this publisher
        redemption = Redemption.objects.get()
        assert redemption.attributed_at is None
        redis.start()
        attributed = wait_until(
            lambda: Redemption.objects.get().attributed_at, timeout=90, interval=0.5
        )
        assert attributed, worker.log.read_text()[-3000:]
        time.sleep(3)  # more sweeps run; none may add a second set
        assert list(Attribution.objects.values_list("redemption_id", "placement_id", "credit")) == [
            (redemption.id, None, Decimal(1))
        ]
    finally:
        worker.stop()
        redis.stop()
        use_broker(None)
        celery_app.conf.task_always_eager = True


def test_a_worker_killed_mid_attribution_leaves_exactly_one_set_of_credits(broker, shop):
    worker = Worker(extra_env={"CELERY_VISIBILITY_TIMEOUT": "30"})
    a, _, _ = shop["placements"]
    shop["web"].get(f"/t/{a.tracking_token}", {"click_id": "k-kill"})
    code = shop["claim"]("c-4", "k-kill")
    db = connection.settings_dict
    params = {
        "host": db["HOST"] or "127.0.0.1",
        "port": db["PORT"] or 5432,
        "user": db["USER"],
        "dbname": db["NAME"],
    }
    blocker = psycopg.connect(**params)
    # pg_stat_activity is a snapshot per transaction: watch from a connection of its own that
    # commits between looks, never from the blocker's open transaction.
    watcher = psycopg.connect(**params, autocommit=True)
    try:
        # The task waits in the queue; hold the redemption's row lock, then start the worker,
        # so the task blocks mid-way inside its transaction.
        redemption_id = shop["redeem"](code, "T-KILL").json()["redemption_id"]
        blocker.execute(
            "SELECT id FROM redemptions_redemption WHERE id = %s FOR UPDATE", [redemption_id]
        )
        worker.start()
        waiting = wait_until(
            lambda: watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))",
                [blocker.info.backend_pid],
            ).fetchone()[0],
            timeout=30,
        )
        assert waiting, worker.log.read_text()[-3000:]
        for child in worker.children():
            os.kill(child, signal.SIGKILL)
        blocker.rollback()

        def one_set():
            rows = list(
                Attribution.objects.filter(redemption_id=redemption_id).values_list(
                    "placement_id", "credit"
                )
            )
            return rows if rows else None

        rows = wait_until(one_set, timeout=60, interval=0.5)
        assert rows == [(a.id, Decimal(1))], worker.log.read_text()[-3000:]
        assert "WorkerLostError" in worker.log.read_text()  # the kill really hit the running task
    finally:
        blocker.close()
        watcher.close()
        worker.stop()


def test_a_burst_of_redeems_is_attributed_by_one_coalesced_run(broker, shop, settings):
    """Five redeems within the publish window send one message; its run attributes all five.

    The worker runs without beat, so no sweep can stand in for the coalesced run.
    """
    settings.ATTRIBUTION_PUBLISH_WINDOW = 2.0
    queue = broker.connection_for_write().default_channel.client
    codes = [shop["claim"](f"c-burst-{i}") for i in range(5)]
    ids = [shop["redeem"](code, f"T-B{i}").json()["redemption_id"] for i, code in enumerate(codes)]
    assert queue.llen("celery") == 1  # one delayed run, not five tasks

    worker = Worker().start()
    try:
        done = wait_until(
            lambda: Redemption.objects.filter(id__in=ids, attributed_at__isnull=False).count() == 5,
            timeout=30,
        )
        assert done, worker.log.read_text()[-3000:]
        assert Attribution.objects.filter(redemption_id__in=ids).count() == 5
    finally:
        worker.stop()
