"""Enumeration, publish-after-commit, idempotency atomicity, retries vs visibility, deploy checks."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import transaction
from rest_framework.test import APIClient

from config.celery import app as celery_app
from core import publish as enqueue
from core.publish import forget_pending, publish_coalesced_on_commit, publish_on_commit
from promotions import codes
from redemptions import tasks
from redemptions.models import IdempotencyKey, Redemption, RedemptionAttempt
from redemptions.services import idempotency
from tests.concurrency import run_concurrently
from tests.factories import (
    BrandFactory,
    CampaignFactory,
    CodeFactory,
    OfferFactory,
    StoreFactory,
    pos_integration,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.races
@pytest.mark.django_db(transaction=True)
def test_50_parallel_wrong_guesses_cannot_get_past_the_threshold(settings):
    settings.POS_FAILURE_THRESHOLD_STORE = 10
    brand = BrandFactory()
    store = StoreFactory(brand=brand)
    valid = CodeFactory(offer=OfferFactory(campaign=CampaignFactory(brand=brand)))
    _, key, _ = pos_integration(brand)

    def guess(i):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        code = valid.code if i == 49 else codes.generate()
        response = client.post(
            "/api/v1/pos/generic/validate",
            {"code": code, "store_id": store.external_id},
            format="json",
        )
        return response.json().get("code")

    answers = run_concurrently(guess, 50)

    assert answers.count("unknown_code") <= 10
    assert answers.count("unknown_code") + answers.count("too_many_failures") >= 49
    assert RedemptionAttempt.objects.filter(decline_code="unknown_code").count() <= 10


@pytest.mark.django_db
def test_unknown_and_malformed_codes_get_the_same_answer(till, store):
    bodies = [
        till.post(
            "/api/v1/pos/generic/validate",
            {"code": c, "store_id": store.external_id},
            format="json",
        )
        for c in (codes.generate(), "7K3M-9QXR-2T4V-U", "x")
    ]

    assert {(r.status_code, r.json()["code"], r.json()["detail"]) for r in bodies} == {
        (404, "unknown_code", "No such code.")
    }


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_tasks_are_published_only_after_commit_and_never_for_a_rollback(broker):
    client = broker.connection_for_write().default_channel.client

    with pytest.raises(RuntimeError), transaction.atomic():
        publish_on_commit(tasks.attribute_redemption, 1)
        assert client.llen("celery") == 0
        raise RuntimeError("the sale failed")
    assert client.llen("celery") == 0
    with transaction.atomic():
        publish_on_commit(tasks.attribute_redemption, 2)
        assert client.llen("celery") == 0
    assert client.llen("celery") == 1


@pytest.mark.django_db(transaction=True)
def test_the_key_record_and_the_redemption_commit_or_roll_back_together(
    brand, store, offer, monkeypatch
):
    _, key, _ = pos_integration(brand)
    code = CodeFactory(offer=offer)
    till = APIClient(raise_request_exception=False)
    till.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    body = {
        "code": code.code,
        "store_id": store.external_id,
        "transaction_id": "ATOM",
        "basket_total": "5",
    }
    monkeypatch.setattr(
        idempotency, "_IDEMPOTENCY_INSERT_SQL", "INSERT INTO no_such_table VALUES (%s)"
    )

    failed = till.post(
        "/api/v1/pos/generic/redemptions", body, format="json", HTTP_IDEMPOTENCY_KEY="atom-1"
    )

    assert failed.status_code == 500
    assert not Redemption.objects.exists() and not IdempotencyKey.objects.exists()
    code.refresh_from_db()
    assert code.status == "issued"
    monkeypatch.undo()
    retried = till.post(
        "/api/v1/pos/generic/redemptions", body, format="json", HTTP_IDEMPOTENCY_KEY="atom-1"
    )
    assert retried.status_code == 201 and Redemption.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_till_that_dropped_the_connection_after_commit_gets_the_same_answer_on_retry(
    live_server, brand, store, offer
):
    _, key, _ = pos_integration(brand)
    code = CodeFactory(offer=offer)
    body = json.dumps(
        {
            "code": code.code,
            "store_id": store.external_id,
            "transaction_id": "DROP",
            "basket_total": "5",
        }
    ).encode()
    request = (
        b"POST /api/v1/pos/generic/redemptions HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: application/json\r\nAuthorization: Bearer "
        + key.encode()
        + b"\r\nIdempotency-Key: drop-1\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )
    address = urlsplit(live_server.url)
    with socket.create_connection((address.hostname, address.port)) as sock:
        sock.sendall(request)  # ...and hang up without reading the answer
    assert wait_for(lambda: Redemption.objects.exists())

    retried = APIClient().post(
        "/api/v1/pos/generic/redemptions",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {key}",
        HTTP_IDEMPOTENCY_KEY="drop-1",
    )

    assert retried.status_code == 201 and retried["Idempotent-Replayed"] == "true"
    assert retried.json()["redemption_id"] == Redemption.objects.get().id


def wait_for(predicate, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_the_longest_retry_countdown_is_below_the_visibility_timeout():
    for task in (
        tasks.attribute_redemption,
        tasks.unattribute_redemption,
        tasks.attribution_sweep,
        tasks.rollups_refresh,
        tasks.campaign_reattribute,
    ):
        assert task.acks_late and task.reject_on_worker_lost
        assert (
            task.retry_backoff_max < settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
        )
        assert task.retry_backoff_max * 2 < settings.CELERY_BROKER_VISIBILITY_TIMEOUT
    assert celery_app.conf.task_publish_retry is False


def test_check_deploy_is_clean_with_production_settings():
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "k" * 64 + "-production-secret-with-entropy-9f8e7d",
        "ALLOWED_HOSTS": "promotions.example.com",
        "SECURE_SSL_REDIRECT": "true",
        "SESSION_COOKIE_SECURE": "true",
        "CSRF_COOKIE_SECURE": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_coalesced_publishing_sends_one_run_per_window_and_nothing_for_a_rollback(
    broker, monkeypatch
):
    client = broker.connection_for_write().default_channel.client

    with pytest.raises(RuntimeError), transaction.atomic():
        publish_coalesced_on_commit(tasks.attribute_redemption, 1, window=30)
        raise RuntimeError("the sale failed")
    assert client.llen("celery") == 0
    for redemption_id in range(2, 7):
        with transaction.atomic():
            publish_coalesced_on_commit(tasks.attribute_redemption, redemption_id, window=30)
    assert client.llen("celery") == 1

    # A new window whose first publish fails (the broker is down): nothing is on its way, so the
    # next commit inside that same window must publish rather than wait for a run never sent.
    forget_pending()
    monkeypatch.setattr(enqueue, "publish", lambda *args, **kwargs: False)
    with transaction.atomic():
        publish_coalesced_on_commit(tasks.attribute_redemption, 7, window=30)
    monkeypatch.undo()
    with transaction.atomic():
        publish_coalesced_on_commit(tasks.attribute_redemption, 8, window=30)
    assert client.llen("celery") == 2
