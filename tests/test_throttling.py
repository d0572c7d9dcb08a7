"""The management API and touchpoint ingestion: a budget of requests per token, in a shared cache."""

import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import redis
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from core.throttling import IngestThrottle, ManageThrottle
from promotions.tracking.services import ingest_key_issue
from tests.factories import BrandFactory, CampaignFactory, PlacementFactory, marketer
from tests.helpers import assert_problem

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db


@pytest.fixture
def tiny_rates(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"manage": "3/min", "ingest": "2/min"},
    }


def token_client(brand, token=None, scheme="Token") -> APIClient:
    token = token or marketer(brand, username=f"m-{uuid.uuid4().hex[:8]}")[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token}")
    client.token = token
    return client


def assert_throttled(response, period=60):
    assert_problem(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= period


def test_a_token_past_its_rate_gets_429_with_retry_after_and_another_token_does_not(
    tiny_rates, brand
):
    campaign = CampaignFactory(brand=brand)
    busy, other = token_client(brand), token_client(brand)

    # one budget across the whole management API, the redemption side's report included
    answers = [
        busy.get("/api/v1/manage/campaigns"),
        busy.get(f"/api/v1/manage/campaigns/{campaign.id}/report"),
        busy.get("/api/v1/manage/pos-integrations"),
    ]
    throttled = busy.get("/api/v1/manage/stores")

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert_throttled(throttled)
    assert other.get("/api/v1/manage/stores").status_code == 200
    # every spelling of the header is the same token, the same budget
    same = token_client(brand, token=busy.token, scheme="token ")
    assert_throttled(same.get("/api/v1/manage/stores"))


def test_ingestion_has_its_own_rate_per_ingest_key(tiny_rates, brand):
    placement = PlacementFactory(campaign=CampaignFactory(brand=brand))
    event = {
        "type": "click",
        "placement_token": placement.tracking_token,
        "occurred_at": timezone.now().isoformat(),
    }
    ad_server, other_ad_server = APIClient(), APIClient()
    ad_server.credentials(HTTP_AUTHORIZATION=f"Bearer {ingest_key_issue(brand)}")
    other_ad_server.credentials(HTTP_AUTHORIZATION=f"Bearer {ingest_key_issue(BrandFactory())}")

    def post(client):
        return client.post("/api/v1/touchpoints", {"events": [event]}, format="json")

    assert [post(ad_server).status_code for _ in range(2)] == [200, 200]
    assert_throttled(post(ad_server))
    assert post(other_ad_server).status_code == 200
    assert token_client(brand).get("/api/v1/manage/campaigns").status_code == 200


def test_the_default_rates_come_from_the_settings(settings):
    rates = settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert ManageThrottle().parse_rate(rates["manage"]) == (1200, 60)
    assert IngestThrottle().parse_rate(rates["ingest"])[1] == 60


def test_every_management_route_and_the_ingestion_are_throttled():
    """A new management endpoint cannot be forgotten: walked from the URL conf."""
    seen = {}

    def walk(patterns, prefix=""):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                route = prefix + str(entry.pattern)
                if route.startswith(("api/v1/manage/", "api/v1/touchpoints")):
                    seen[route] = getattr(entry.callback, "cls", None)

    walk(get_resolver().url_patterns)

    assert len(seen) > 10
    unthrottled = {
        route: view
        for route, view in seen.items()
        if (IngestThrottle if "touchpoints" in route else ManageThrottle)
        not in getattr(view, "throttle_classes", ())
    }
    assert unthrottled == {}


def test_an_unreachable_cache_lets_requests_through_and_says_so(settings, brand, caplog):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"manage": "1/min", "ingest": "1/min"},
    }
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    client = token_client(brand)

    with caplog.at_level(logging.WARNING, logger="core.throttling"):
        answers = [client.get("/api/v1/manage/campaigns").status_code for _ in range(3)]

    assert answers == [200, 200, 200]
    assert "throttle cache unavailable" in caplog.text


def test_the_count_lives_in_redis_where_every_process_reads_it(settings, brand):
    url = settings.CELERY_BROKER_URL
    if not url.startswith("redis://"):
        pytest.skip("needs a Redis (CELERY_BROKER_URL)")
    prefix = f"throttle-test-{uuid.uuid4().hex}"
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": prefix,
        }
    }
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"manage": "2/min", "ingest": "2/min"},
    }
    client = token_client(brand)
    other_process = redis.Redis.from_url(url)
    try:
        assert [client.get("/api/v1/manage/stores").status_code for _ in range(2)] == [200, 200]
        keys = other_process.keys(f"{prefix}:*")
        assert len(keys) == 1 and b"throttle_manage_" in keys[0]
        assert 0 < other_process.ttl(keys[0]) <= 60
        assert_throttled(client.get("/api/v1/manage/stores"))
    finally:
        for key in other_process.keys(f"{prefix}:*"):
            other_process.delete(key)


@pytest.mark.parametrize(
    "env, backend",
    [
        ({}, "django.core.cache.backends.locmem.LocMemCache"),
        ({"REDIS_URL": "redis://cache:6379/1"}, "django.core.cache.backends.redis.RedisCache"),
        ({"CACHE_URL": "redis://cache:6379/2"}, "django.core.cache.backends.redis.RedisCache"),
    ],
)
def test_settings_choose_redis_when_a_cache_url_is_set(env, backend):
    clean = {k: v for k, v in os.environ.items() if k not in ("CACHE_URL", "REDIS_URL")}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import config.settings as s; c = s.CACHES['default']; "
            "print(c['BACKEND'], c.get('LOCATION', ''))",
        ],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out[0] == backend
    assert out[1:] == list(env.values())
