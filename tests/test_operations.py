"""Health, metrics, request ids and logs: what an operator relies on."""

import logging
import subprocess

import pytest
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from config.celery import app as celery_app
from tests.factories import CodeFactory, PlacementFactory, pos_integration
from tests.helpers import RedisServer, Worker, close_database_pools, use_broker, wait_until


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.django_db
def test_live_and_ready(client_api):
    live = client_api.get("/health/live")
    ready = client_api.get("/health/ready")

    assert live.status_code == 200 and live.json() == {"status": "ok"}
    assert ready.status_code == 200
    assert {name: check["status"] for name, check in ready.json()["checks"].items()} == {
        "database": "ok",
        "migrations": "ok",
        "broker": "ok",
    }


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_ready_fails_while_redis_is_stopped_for_real(client_api):
    redis = RedisServer().start()
    use_broker(redis.url)
    celery_app.conf.task_always_eager = False
    try:
        assert client_api.get("/health/ready").status_code == 200
        redis.stop()
        down = client_api.get("/health/ready")
        assert down.status_code == 503, (
            down.json(),
            celery_app.conf.broker_url,
            celery_app.conf.task_always_eager,
        )
        assert down.json()["checks"]["broker"]["status"] == "error"
        assert down.json()["checks"]["database"]["status"] == "ok"
        redis.start()
        assert wait_until(lambda: client_api.get("/health/ready").status_code == 200, timeout=15)
    finally:
        redis.stop()
        use_broker(None)
        celery_app.conf.task_always_eager = True


@pytest.mark.outage
@pytest.mark.django_db(transaction=True)
def test_ready_fails_while_postgres_is_stopped_for_real(client_api, own_postgres):
    """PostgreSQL (a cluster of the test's own, see ``own_postgres``) stops for real."""
    close_database_pools()
    own_postgres.stop()
    try:
        down = client_api.get("/health/ready")
        assert down.status_code == 503
        assert down.json()["checks"]["database"]["status"] == "error"
        assert client_api.get("/health/live").status_code == 200
    finally:
        own_postgres.start()
        wait_until(own_postgres.ready, timeout=30)
        close_database_pools()
    assert wait_until(lambda: client_api.get("/health/ready").status_code == 200, timeout=15)


@pytest.mark.django_db
def test_metrics_count_a_walk_through(client_api, app_client, offer, store, brand, settings):
    placement = PlacementFactory(campaign=offer.campaign)
    _, key, _ = pos_integration(brand)
    till = APIClient()
    till.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    before = {
        "click": sample("touchpoints_total", kind="click"),
        "issued": sample("claims_total", outcome="issued"),
        "ok": sample(
            "pos_attempts_total",
            adapter="generic",
            action="redeem",
            outcome="accepted",
            decline_code="",
        ),
        "dup": sample(
            "pos_attempts_total",
            adapter="generic",
            action="redeem",
            outcome="declined",
            decline_code="already_redeemed",
        ),
    }

    client_api.get(f"/t/{placement.tracking_token}")
    code = app_client.post(
        f"/api/v1/offers/{offer.id}/claim", {"customer_ref": "m1"}, format="json"
    ).json()["code"]
    for txn in ("A", "B"):
        till.post(
            "/api/v1/pos/generic/redemptions",
            {
                "code": code,
                "store_id": store.external_id,
                "transaction_id": txn,
                "basket_total": "3",
            },
            format="json",
        )
    scraped = client_api.get("/metrics", REMOTE_ADDR="127.0.0.1")

    assert scraped.status_code == 200
    assert sample("touchpoints_total", kind="click") - before["click"] == 1
    assert sample("claims_total", outcome="issued") - before["issued"] == 1
    assert (
        sample(
            "pos_attempts_total",
            adapter="generic",
            action="redeem",
            outcome="accepted",
            decline_code="",
        )
        - before["ok"]
        == 1
    )
    assert (
        sample(
            "pos_attempts_total",
            adapter="generic",
            action="redeem",
            outcome="declined",
            decline_code="already_redeemed",
        )
        - before["dup"]
        == 1
    )
    assert b"http_request_duration_seconds_bucket" in scraped.content


@pytest.mark.django_db
def test_metrics_are_not_public(client_api, settings):
    assert client_api.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404
    settings.METRICS_TOKEN = "scrape-me"
    assert client_api.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404
    assert client_api.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-me").status_code == 200


@pytest.mark.django_db
def test_request_id_is_taken_from_the_caller_or_made_up(client_api):
    given = client_api.get("/health/live", HTTP_X_REQUEST_ID="till-7:req-0001")
    made_up = client_api.get("/health/live", HTTP_X_REQUEST_ID="bad id with spaces")

    assert given["X-Request-ID"] == "till-7:req-0001"
    assert len(made_up["X-Request-ID"]) == 32


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_one_redemptions_request_id_shows_in_web_and_worker_logs(
    broker, offer, store, brand, caplog
):
    caplog.set_level(logging.INFO)
    worker = Worker().start()
    try:
        _, key, _ = pos_integration(brand)
        code = CodeFactory(offer=offer)
        response = APIClient().post(
            "/api/v1/pos/generic/redemptions",
            {
                "code": code.code,
                "store_id": store.external_id,
                "transaction_id": "RID",
                "basket_total": "1",
            },
            format="json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
            HTTP_X_REQUEST_ID="rid-trace-42",
        )
        assert response.status_code == 201
        web_lines = [r for r in caplog.records if getattr(r, "request_id", "") == "rid-trace-42"]
        assert any("pos redeem accepted" in r.getMessage() for r in web_lines)
        assert wait_until(
            lambda: (
                '"request_id": "rid-trace-42"' in worker.log.read_text()
                and "attributed 1 redemption" in worker.log.read_text()
            ),
            timeout=30,
        ), worker.log.read_text()[-2000:]
    finally:
        worker.stop()


@pytest.mark.django_db
def test_logs_of_a_walk_through_carry_no_key_secret_or_full_code(brand, offer, store, caplog):
    caplog.set_level(logging.DEBUG)
    integration, key, secret = pos_integration(brand)
    app = APIClient()
    app.credentials(HTTP_X_APP_KEY=brand.app_key)
    code = app.post(
        f"/api/v1/offers/{offer.id}/claim", {"customer_ref": "log-1"}, format="json"
    ).json()["code"]
    till = APIClient()
    till.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    body = {
        "code": code,
        "store_id": store.external_id,
        "transaction_id": "L1",
        "basket_total": "5",
    }
    till.post("/api/v1/pos/generic/validate", body, format="json")
    till.post("/api/v1/pos/generic/redemptions", body, format="json")
    till.post("/api/v1/pos/generic/redemptions", {**body, "transaction_id": "L2"}, format="json")
    app.get(f"/api/v1/codes/{code}.png")
    APIClient().get(f"/api/v1/codes/{code}.png", HTTP_X_APP_KEY="app_wrong-key-123456")
    logging.getLogger("probe").warning("Authorization: Bearer %s and code %s", key, code)

    handler_output = "\n".join(
        logging.getLogger().handlers[0].formatter.format(r)
        if logging.getLogger().handlers
        else r.getMessage()
        for r in caplog.records
    )
    everything = handler_output + "\n".join(r.getMessage() for r in caplog.records)
    assert caplog.records
    for secret_value in (key, secret, brand.app_key, code, "app_wrong-key-123456"):
        assert secret_value not in everything
    assert code[-4:] in everything


@pytest.mark.django_db
def test_ready_fails_while_migrations_are_pending(client_api, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(
        MigrationExecutor,
        "migration_plan",
        lambda self, targets: [
            (type("M", (), {"app_label": "redemptions", "name": "0099_future"})(), False)
        ],
    )

    response = client_api.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["migrations"] == {
        "status": "error",
        "pending": ["redemptions.0099_future"],
    }


@pytest.mark.parametrize("server", ["granian", "gunicorn"])
def test_the_procfile_web_process_serves_and_stops_gracefully(transactional_db, campaign, server):
    """bin/web (the Procfile's web process) under either server: health, a tracking hit that
    the WSGI entry answers ahead of Django, and a clean exit on SIGTERM."""
    import os
    import signal
    import socket
    import urllib.request

    from tests.helpers import ROOT, _database_url

    placement = PlacementFactory(campaign=campaign, destination_url="https://shop.example/")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "WEB_SERVER": server,
        "BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "1",
        "LOG_LEVEL": "WARNING",
    }
    web = subprocess.Popen(
        ["bin/web"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)

    def get(path):
        try:
            with opener.open(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
                return response.status, response.headers
        except urllib.error.HTTPError as error:
            return error.code, error.headers
        except OSError:
            return None, None

    try:
        assert wait_until(lambda: get("/health/live")[0] == 200, timeout=60)
        status, headers = get(f"/t/{placement.tracking_token}?click_id=clk-1")
        assert status == 302 and headers["Location"] == "https://shop.example/?click_id=clk-1"
        assert headers["X-Request-ID"]
        assert placement.touchpoints.get().click_id == "clk-1"
    finally:
        web.send_signal(signal.SIGTERM)
        code = web.wait(timeout=40)
    assert code == 0, web.stderr.read().decode()[-2000:]
